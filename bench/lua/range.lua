-- bench: each request asks for a random 64 KiB range of the 100 MiB file (206 Partial
-- Content); the offsets differ per request so no server can answer from one cached range.
local size = 104857600  -- RANGE_FILE_BYTES in lib/scenarios.sh
local chunk = 65536
math.randomseed(os.time())

request = function()
    local first = math.random(0, size - chunk)
    return wrk.format("GET", nil, { ["Range"] = "bytes=" .. first .. "-" .. (first + chunk - 1) })
end
