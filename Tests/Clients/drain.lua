-- wrk script for DrainTests and bench/drain.py: GET / and POST /echo in turn on every connection, and the
-- counts as one JSON line at the end. A "read" error is a request whose connection closed
-- before any response (wrk reconnects after a response that says Connection: close).
local sent = 0

request = function()
   sent = sent + 1
   if sent % 2 == 0 then
      return wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, "drain body " .. sent)
   end
   return wrk.format("GET", "/")
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
      summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
