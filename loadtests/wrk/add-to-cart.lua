-- Adds to carts through the front door, each add with its own Idempotency-Key:
--   wrk -t2 -c64 -d20s -s add-to-cart.lua http://127.0.0.1:8080 -- LINES_FILE
-- LINES_FILE has one "TOKEN PRODUCT_ID" per line (a session token and a product);
-- requests walk the lines round robin. Prints the WRK_RESULT line of count.lua.
-- A cart line holds at most MAX_LINE_QUANTITY (10) units, so every 4th visit of a line
-- by a thread sets it back to 1 (PUT, the same kind of cart write) instead of adding:
-- with two threads a line never holds more than 1 + 3 + 3 units.
local lines = {}
local visits = {}
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
  local headers = {
    ["Authorization"] = "Bearer " .. l[1],
    ["Idempotency-Key"] = "wrk-" .. tag .. "-" .. n,
    ["Content-Type"] = "application/json",
  }
  visits[at] = (visits[at] or 0) + 1
  if visits[at] % 4 == 0 then
    return wrk.format("PUT", "/api/v1/cart/items/" .. l[2] .. "/", headers, '{"quantity":1}')
  end
  return wrk.format("POST", "/api/v1/cart/", headers, '{"product_id":"' .. l[2] .. '","quantity":1}')
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
