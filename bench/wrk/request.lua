-- wrk script for bench/run.py: method, body and headers from the environment, an optional pool of
-- refresh tokens (one per request, never reused), and a machine-readable summary line at the end.
--
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          request body (POST)
--   BENCH_HEADERS       "Name: value" lines separated by "\n"
--   BENCH_TOKENS_FILE   one refresh token per line; each request sends the next unused one as
--                       {"refresh_token": ...}; the file is split between wrk's threads
--   BENCH_THREADS       wrk's -t, to split the token file

local threads_started = 0
local tokens = {}
local next_token = 0

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
  local path = os.getenv("BENCH_TOKENS_FILE")
  if path and path ~= "" then
    local count = tonumber(os.getenv("BENCH_THREADS") or "1")
    local n = 0
    for line in io.lines(path) do
      if n % count == thread_index then
        tokens[#tokens + 1] = line
      end
      n = n + 1
    end
  end
end

function request()
  if #tokens == 0 then
    return wrk.format()
  end
  next_token = next_token + 1
  -- Past the end of the pool the request fails with 401 and counts as an error: size the pool.
  local token = tokens[next_token] or "pool-exhausted"
  return wrk.format("POST", nil, nil, '{"refresh_token": "' .. token .. '"}')
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
