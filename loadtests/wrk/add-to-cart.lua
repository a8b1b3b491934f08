-- Adds to carts through the front door, each add with its own Idempotency-Key:
--   wrk -t2 -c64 -d20s -s add-to-cart.lua http://127.0.0.1:8080 -- LINES_FILE
-- LINES_FILE has one "TOKEN PRODUCT_ID" per line (a session token and a product);
-- requests walk the lines round robin. Prints the WRK_RESULT line of count.lua.
local lines = {}
local at = 0
local n = 0
tag = ""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tag", tostring(#threads) .. "-" .. tostring(os.time()))
end

function init(args)
  non2xx = 0
  for line in io.lines(args[1]) do
    local token, product = line:match("^(%S+)%s+(%S+)$")
    if token then lines[#lines + 1] = { token, product } end
  end
  if #lines == 0 then error("no 'TOKEN PRODUCT_ID' lines in " .. tostring(args[1])) end
  at = math.random(#lines)
end

function request()
  at = at % #lines + 1
  n = n + 1
  local l = lines[at]
  return wrk.format("POST", "/api/v1/cart/", {
    ["Authorization"] = "Bearer " .. l[1],
    ["Idempotency-Key"] = "wrk-" .. tag .. "-" .. n,
    ["Content-Type"] = "application/json",
  }, '{"product_id":"' .. l[2] .. '","quantity":1}')
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local c = 0
  for _, t in ipairs(threads) do c = c + (t:get("non2xx") or 0) end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d duration_us=%d p99_us=%d\n",
    summary.requests, c, e.connect, e.read, e.write, e.timeout, summary.duration, latency:percentile(99)))
end
