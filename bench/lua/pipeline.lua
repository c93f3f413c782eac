-- wrk script for bench/run.sh (scenario pipeline-c64): HTTP/1.1 pipelining, 16 requests per
-- write. wrk counts every response, so req/s is responses per second; its latency figures are
-- per batch of 16 (from the write to the 16th response).
local depth = 16

init = function(args)
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil)  -- GET of the URL's path, with wrk's default headers
   end
   req = table.concat(r)
end

request = function()
   return req
end
