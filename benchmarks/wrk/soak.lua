-- wrk script of benchmarks/soak.py: a mix of requests to benchmarks/soak_app.py, and
-- every answer sorted into 2xx, the intended 404 and anything else.
--
-- Each connection takes the next request of a shuffled cycle of 20 (the weights
-- below). The intended 404 is told apart by the header the app adds to it
-- (x-soak-intended), so an unexpected 404 of another route still counts as an
-- error. When wrk is done, one line "SOAK_JSON {...}" carries the figures
-- (latency in microseconds) and the counts summed over wrk's threads.

-- kind, weight (out of 20)
local MIX = {
  { "plaintext", 5 },
  { "json", 3 },
  { "form", 3 },
  { "upload", 3 },
  { "stream", 2 },
  { "astream", 2 },
  { "missing", 1 },
}
local BOUNDARY = "soak-boundary-5f1c0e"

local function json_body()
  local items = {}
  for i = 1, 40 do
    items[i] = string.format('{"id":%d,"label":"item number %d"}', i, i)
  end
  return '{"name":"soak","items":[' .. table.concat(items, ",") .. "]}"
end

local function form_body()
  local fields = {}
  for i = 0, 19 do
    fields[#fields + 1] = string.format("field%d=value+%d%%21", i, i)
  end
  return table.concat(fields, "&")
end

local function upload_body()
  local parts = {
    "--" .. BOUNDARY .. '\r\nContent-Disposition: form-data; name="title"\r\n\r\nsoak upload\r\n',
  }
  for i = 1, 3 do
    parts[#parts + 1] = "--" .. BOUNDARY
      .. string.format('\r\nContent-Disposition: form-data; name="file"; filename="f%d.txt"', i)
      .. "\r\nContent-Type: text/plain\r\n\r\n"
      .. string.rep(string.char(96 + i), 1024 * i) .. "\r\n"
  end
  return table.concat(parts) .. "--" .. BOUNDARY .. "--\r\n"
end

local function build(kind)
  if kind == "plaintext" then
    return wrk.format("GET", "/plaintext")
  elseif kind == "json" then
    return wrk.format("POST", "/json", { ["Content-Type"] = "application/json" }, json_body())
  elseif kind == "form" then
    local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    return wrk.format("POST", "/form", headers, form_body())
  elseif kind == "upload" then
    local headers = { ["Content-Type"] = "multipart/form-data; boundary=" .. BOUNDARY }
    return wrk.format("POST", "/upload", headers, upload_body())
  elseif kind == "stream" then
    return wrk.format("GET", "/stream")
  elseif kind == "astream" then
    return wrk.format("GET", "/astream")
  else
    return wrk.format("GET", "/missing")
  end
end

-- Per thread: what was sent and what came back (globals, so that done() can
-- read them through thread:get).
ok = 0
intended = 0
unintended = 0
first_unintended = ""
local cycle = {}
local kinds = {}
local position = 0

function init(args)
  for _, entry in ipairs(MIX) do
    local kind, weight = entry[1], entry[2]
    local raw = build(kind)
    _G["sent_" .. kind] = 0
    for _ = 1, weight do
      cycle[#cycle + 1] = raw
      kinds[#kinds + 1] = kind
    end
  end
  -- A fixed shuffle: the kinds are spread out, the same way on every run.
  math.randomseed(20240607)
  for i = #cycle, 2, -1 do
    local j = math.random(i)
    cycle[i], cycle[j] = cycle[j], cycle[i]
    kinds[i], kinds[j] = kinds[j], kinds[i]
  end
end

function request()
  position = position % #cycle + 1
  local name = "sent_" .. kinds[position]
  _G[name] = _G[name] + 1
  return cycle[position]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 404 and (headers["x-soak-intended"] or headers["X-Soak-Intended"]) == "404" then
    intended = intended + 1
  else
    unintended = unintended + 1
    if first_unintended == "" then
      first_unintended = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

local threads = {}

-- A JSON string literal: quotes, backslashes and control characters escaped.
local function json_string(text)
  return '"' .. text:gsub('[%c"\\\128-\255]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local totals = { ok = 0, intended = 0, unintended = 0 }
  local sent = {}
  local first = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    for _, entry in ipairs(MIX) do
      local kind = entry[1]
      sent[kind] = (sent[kind] or 0) + thread:get("sent_" .. kind)
    end
    if first == "" then
      first = thread:get("first_unintended")
    end
  end
  local sent_json = {}
  for _, entry in ipairs(MIX) do
    sent_json[#sent_json + 1] = string.format('"%s": %d', entry[1], sent[entry[1]])
  end
  local errors = summary.errors
  io.write(string.format(
    'SOAK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f, '
      .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d, '
      .. '"ok": %d, "intended": %d, "unintended": %d, "sent": {%s}, "first_unintended": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status,
    totals.ok, totals.intended, totals.unintended, table.concat(sent_json, ", "), json_string(first)
  ))
end
