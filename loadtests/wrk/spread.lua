-- Spreads wrk's requests over the paths listed in a file, one per line:
--   wrk -t2 -c64 -d10s --latency -s spread.lua http://127.0.0.1:8082 -- paths.txt
-- Each thread starts at its own random place and walks the list round robin. At the
-- end it prints one line, `WRK_JSON {...}`, that ceiling-bench reads.
local paths = {}
local at = 0

function init(args)
  local file = args[1]
  if file == nil then error("usage: wrk ... -s spread.lua URL -- PATHS_FILE") end
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no paths in " .. file) end
  local seed = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + seed % 1000003)
  at = math.random(#paths)
end

function request()
  at = at % #paths + 1
  return wrk.format("GET", paths[at])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
