-- Counts answers outside 2xx (wrk itself only counts >= 400) and prints one line at the
-- end that loadtests/scale-test.sh and scaling-report.sh read:
--   WRK_RESULT requests=N non2xx=N connect=N read=N write=N timeout=N duration_us=N
--   wrk -t2 -c32 -d60s -s count.lua http://127.0.0.1:8080/api/v1/products/
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("non2xx") or 0) end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d duration_us=%d p99_us=%d\n",
    summary.requests, n, e.connect, e.read, e.write, e.timeout, summary.duration, latency:percentile(99)))
end
