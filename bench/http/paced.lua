-- The same offered load for every server: each connection waits an exponential think time
-- of mean args[2] ms before each GET args[1], so latency is measured below saturation
-- (closed-loop wrk measures a server's queue at its own peak, which differs by server).
--   wrk -t1 -c64 -d3s -s paced.lua http://127.0.0.1:PORT -- /plaintext 10
-- Prints one RESULT line (milliseconds) for tail.py.
local path = "/plaintext"
local mean_delay = 0
function init(args)
  path = args[1] or path
  mean_delay = tonumber(args[2]) or 0
end
function request()
  return wrk.format("GET", path)
end
function delay()
  return math.floor(-math.log(1 - math.random()) * mean_delay + 0.5)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50=%.3f p99=%.3f p999=%.3f max=%.3f\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
