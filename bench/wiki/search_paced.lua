-- search.lua at a chosen load: before each request a connection waits a random
-- (exponential) time of mean MEAN_DELAY_MS, so the offered rate is about
-- connections / mean delay and latency is measured below saturation.
--   wrk -t1 -c64 -d10s -s search_paced.lua http://127.0.0.1:PORT -- paths.txt MEAN_DELAY_MS
-- (A separate script because wrk times every request once a script defines delay().)
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "search.lua")

local closed_loop_init = init
local mean_delay = 0

function init(args)
  closed_loop_init(args)
  mean_delay = tonumber(args[2]) or 0
end

function delay()
  return math.floor(-math.log(1 - math.random()) * mean_delay + 0.5)
end
