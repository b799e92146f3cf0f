-- wrk script for the Tandem benches (bench/harness.py sets every BENCH_* variable).
--
-- BENCH_PATHS    request paths separated by "|", taken in turn
-- BENCH_METHOD   GET (default) or POST
-- BENCH_HEADERS  extra headers, "Name: value" separated by newlines (cookie, CSRF, ...)
-- BENCH_ANSWERS  for autosave: "instrument:item1,item2,...": a JSON answer per request,
--                cycling through the items and the values 1 to 5
--
-- At the end it prints one line, "BENCH_RESULT {...}", with requests, duration,
-- latency percentiles (microseconds) and error counts for the harness to read.

local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
  table.insert(paths, path)
end

local method = os.getenv("BENCH_METHOD") or "GET"
local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then
    headers[name] = value
  end
end

local instrument, items = nil, {}
local answers = os.getenv("BENCH_ANSWERS")
if answers and answers ~= "" then
  local list
  instrument, list = string.match(answers, "^([^:]+):(.*)$")
  for item in string.gmatch(list, "[^,]+") do
    table.insert(items, item)
  end
end

local counter = 0

request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local body = nil
  if instrument then
    local item = items[(counter % #items) + 1]
    body = string.format('{"instrument": "%s", "item": "%s", "value": %d}', instrument, item, (counter % 5) + 1)
  end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d, '
      .. '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout
  ))
end
