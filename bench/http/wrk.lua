-- wrk script for bench/http/run.py.
--
-- Usage: wrk ... -s wrk.lua URL -- MODE [ARGS]
--   plain               one request per write (no `request` function, so wrk stays on its
--                       static fast path)
--   pipeline DEPTH      DEPTH copies of the request in one write, like TechEmpower's
--                       pipeline.lua; wrk waits for DEPTH responses before writing again
--   range SIZE CHUNK    each request asks for CHUNK bytes at a random offset of a SIZE-byte
--                       file, with a `Range: bytes=A-B` header
--
-- `request` is defined inside init (wrk decides static vs dynamic after init), and `done`
-- prints one machine-readable line, "WRKJSON {...}", that run.py parses instead of wrk's
-- human summary. Latencies are in microseconds. With pipelining wrk records one sample per
-- batch but corrects for coordinated omission using the per-response rate; the synthetic
-- samples land below its recorded minimum, where its percentile walk never looks, so its
-- percentiles read 0 (or too high): run.py does not report them for pipelined runs.

function init(args)
   local mode = args[1] or "plain"
   if mode == "pipeline" then
      local depth = tonumber(args[2]) or 16
      local batch = {}
      for i = 1, depth do
         batch[i] = wrk.format()
      end
      local payload = table.concat(batch)
      request = function()
         return payload
      end
   elseif mode == "range" then
      local size = tonumber(args[2])
      local chunk = tonumber(args[3])
      local headers = {}
      for name, value in pairs(wrk.headers) do
         headers[name] = value
      end
      -- A different sequence per thread and per run.
      math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
      request = function()
         local first = math.random(0, size - chunk)
         headers["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1)
         return wrk.format(nil, nil, headers)
      end
   elseif mode ~= "plain" then
      error("wrk.lua: unknown mode '" .. mode .. "'; use plain, pipeline DEPTH or range SIZE CHUNK")
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "bytes": %d, "duration_us": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, "p99": %d, '
         .. '"max": %d}}\n',
      summary.requests, summary.bytes, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
