-- wrk script of the server benchmarks (benchmarks/_servers.py runs wrk with it).
--
-- The request comes from the environment, so one script serves every endpoint:
-- WRK_METHOD (default GET), WRK_BODY_FILE (a file whose bytes are the body; wrk
-- adds its Content-Length) and WRK_CONTENT_TYPE. When wrk is done, one line
-- "WRK_JSON {...}" carries the exact figures, in microseconds, instead of the
-- rounded ones of wrk's own summary.

local method = os.getenv("WRK_METHOD")
if method and method ~= "" then
  wrk.method = method
end

local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local file = assert(io.open(body_file, "rb"))
  wrk.body = file:read("*a")
  file:close()
end

local content_type = os.getenv("WRK_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f, '
      .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status
  ))
end
