-- wrk script for bench/run.py: method, body and headers from the environment, an optional pool of
-- refresh tokens (one per request, never reused), and a machine-readable summary line at the end.
--
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          request body (POST)
--   BENCH_HEADERS       "Name: value" lines separated by "\n"
--   BENCH_LINES_FILE    one request per line, "<header value>\t<body>", each sent once (refresh
--                       tokens, signed webhook events); the file is split between wrk's threads
--   BENCH_LINE_HEADER   the header the first field goes into (e.g. Stripe-Signature); none if empty
--   BENCH_THREADS       wrk's -t, to split the file

local threads_started = 0
local lines = {}
local next_line = 0
local line_header = os.getenv("BENCH_LINE_HEADER") or ""

wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.body = os.getenv("BENCH_BODY")
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end

function setup(thread)
  thread:set("thread_index", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  local path = os.getenv("BENCH_LINES_FILE")
  if path and path ~= "" then
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    local n = 0
    for line in io.lines(path) do
      if n % count == thread_index then
        lines[#lines + 1] = line
      end
      n = n + 1
    end
  end
end

function request()
  if #lines == 0 then
    return wrk.format()
  end
  next_line = next_line + 1
  -- Past the end of the file a request is sent again and fails (counted as an error): size the pool.
  local line = lines[next_line] or lines[#lines]
  local value, body = string.match(line, "^([^\t]*)\t(.*)$")
  local headers = {}
  for name, v in pairs(wrk.headers) do
    headers[name] = v
  end
  if line_header ~= "" then
    headers[line_header] = value
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end
