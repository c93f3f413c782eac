-- wrk script for bench/run.sh (scenario post-64kib): every request is a POST with a 64 KiB
-- body (wrk adds Content-Length). The server must read it all before answering.
wrk.method = "POST"
wrk.body = string.rep("x", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
