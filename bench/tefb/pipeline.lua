-- wrk script: send DEPTH requests back to back on each connection (HTTP pipelining),
-- as the TechEmpower plaintext test does with a depth of 16.
-- Usage: wrk -s pipeline.lua URL -- 16
init = function(args)
   local depth = tonumber(args[1]) or 1
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format()
   end
   pipelined = table.concat(requests)
end

request = function()
   return pipelined
end
