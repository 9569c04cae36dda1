-- wrk script for bench/ack_path.py: replays pre-rendered, uniquely signed requests.
--
-- wrk -t C -c C (one connection per thread) -s ack_path.lua URL -- PREFIX QUOTA SECONDS RATE C
--   PREFIX.<id>      this thread's requests: records of "<byte length>\n<raw HTTP request>"
--   QUOTA            responses after which this thread stops
--   SECONDS          this thread also stops after this long (checked after each response)
--   RATE             this thread's requests per second; 0 = as fast as possible
--   C                the number of threads (to spread the threads' schedules)
-- Each thread writes PREFIX.<id>.json when it stops (counters and every latency, in us) and
-- PREFIX.<id>.err (the first non-2xx response); a thread still waiting when wrk ends gets its
-- counters (no latencies) written by done(), with "finished": false. Own clock and counters are
-- used instead of
-- wrk's summary: wrk sleeps for the whole -d even when every thread stopped early, and it
-- "corrects" its latency histogram with synthetic samples.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } ack_timespec;
int clock_gettime(int clock_id, ack_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("ack_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local COUNTERS = { "sent", "responses", "ok2xx", "received", "duplicate", "non2xx", "overflow" }

-- `r` holds the counters, flat (thread:get() cannot copy nested tables); `statuses` maps
-- status codes to counts and `latencies` lists microseconds, both empty when unknown.
local function write_report(path, r, statuses, latencies)
  local parts = {}
  for status, count in pairs(statuses) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local file = assert(io.open(path .. ".tmp", "wb"))
  file:write(string.format('{"thread":%d,"finished":%s,', r.id, tostring(r.finished)))
  for _, name in ipairs(COUNTERS) do
    file:write(string.format('"%s":%d,', name, r[name]))
  end
  file:write(string.format(
    '"first_sent":%.6f,"last_response":%.6f,"statuses":{%s},"latencies_us":[%s]}',
    r.first_sent or 0, r.last_response or 0, table.concat(parts, ","),
    table.concat(latencies, ",")
  ))
  file:close()
  os.rename(path .. ".tmp", path)
end

-- Main state: number the threads so each one loads its own slice; report unfinished ones.
local thread_count, threads_seen = 0, {}
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  threads_seen[#threads_seen + 1] = thread
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads_seen) do
    local r = thread:get("report")
    if r and not r.finished then
      write_report(thread:get("prefix") .. ".json", r, {}, {})
    end
  end
end

-- Thread state. `report` and `prefix` are globals so that done() can read them.
local requests, quota, deadline, interval, threads, sent_at
local statuses, latencies = {}, {}
local index, scheduled_start, scheduled = 0, nil, 0
-- wrk calls request() once on thread 0 before the run to check the request parses.
local verify_call_pending

local function load_requests(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local list, pos = {}, 1
  while pos <= #data do
    local newline = assert(data:find("\n", pos, true), "truncated request file")
    local length = tonumber(data:sub(pos, newline - 1))
    list[#list + 1] = data:sub(newline + 1, newline + length)
    pos = newline + length + 1
  end
  return list
end

-- wrk calls delay() before every request, the first one included; the n-th request is due
-- at start + n * interval (its share of the rate), whatever the latency of the earlier ones.
local function rate_limited_delay()
  local at = now()
  if not scheduled_start then
    scheduled_start = at + interval * id / threads -- spread the threads over one interval
  end
  local wait = scheduled_start + scheduled * interval - at
  scheduled = scheduled + 1
  if wait <= 0 then
    return 0
  end
  return math.floor(wait * 1000 + 0.5)
end

function init(args)
  prefix = args[1] .. "." .. id
  quota = tonumber(args[2])
  deadline = now() + tonumber(args[3])
  local rate = tonumber(args[4])
  threads = tonumber(args[5])
  requests = load_requests(prefix)
  verify_call_pending = (id == 0)
  report = { id = id, finished = false }
  for _, name in ipairs(COUNTERS) do
    report[name] = 0
  end
  if rate > 0 then
    interval = 1 / rate
    delay = rate_limited_delay -- wrk checks for a global delay() after init
  end
end

function request()
  if verify_call_pending then
    verify_call_pending = false
    return requests[1]
  end
  index = index + 1
  if index > #requests then
    -- Never expected (QUOTA < #requests); counted so the harness can flag the run.
    report.overflow = report.overflow + 1
    index = 1
  end
  report.sent = report.sent + 1
  sent_at = now()
  report.first_sent = report.first_sent or sent_at
  return requests[index]
end

local function write_error_sample(status, body)
  local file = io.open(prefix .. ".err", "wb")
  if file then
    file:write(tostring(status), "\n", body or "")
    file:close()
  end
end

function response(status, headers, body)
  local at = now()
  local r = report
  r.last_response = at
  r.responses = r.responses + 1
  latencies[r.responses] = math.floor((at - sent_at) * 1e6 + 0.5)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status <= 299 then
    r.ok2xx = r.ok2xx + 1
    if body:find('"status":%s*"received"') then
      r.received = r.received + 1
    elseif body:find('"status":%s*"duplicate"') then
      r.duplicate = r.duplicate + 1
    end
  else
    if r.non2xx == 0 then
      write_error_sample(status, body)
    end
    r.non2xx = r.non2xx + 1
  end
  if r.responses >= quota or at >= deadline then
    r.finished = true
    write_report(prefix .. ".json", r, statuses, latencies)
    wrk.thread:stop()
  end
end
