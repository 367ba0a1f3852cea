-- wrk script for bench/soak.sh: EXACTLY SOAK_REQUESTS chat completions, 1 in SOAK_STREAM_EVERY streaming, each
-- with its own x-request-id (soak-NNNNNNN, 0 .. N-1; the gateway copies it into the record's attributes.id).
-- Run with ONE wrk thread (-t1): the counters below are per thread, and the first call of request() is wrk's
-- check of the script (see request()), which only thread 0 gets.
--
-- wrk keeps every connection busy until the thread stops, so once all N POSTs are issued, request() hands out
-- `GET /health` (no telemetry record, no upstream call) until the last POST has been answered; then response()
-- stops the thread. Every POST response is checked: status 200, a non-streaming body of SOAK_NONSTREAM_BYTES
-- bytes, a stream ending with `data: [DONE]`. done() prints one SOAK_RESULT line.

local n = tonumber(os.getenv("SOAK_REQUESTS") or "1000000")
local every = tonumber(os.getenv("SOAK_STREAM_EVERY") or "4")
local nonstream_bytes = tonumber(os.getenv("SOAK_NONSTREAM_BYTES") or "0")

local msgs = '"messages":[{"role":"system","content":"You are a helpful assistant."},'
  .. '{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
local body_plain = '{"model":"gpt-4o-mini",' .. msgs
local body_stream = '{"model":"gpt-4o-mini","stream":true,' .. msgs
local health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

issued, answered, ok, ok_stream, bad_status, bad_body, health_answers = 0, 0, 0, 0, 0, 0, 0
first_bad = ""
local verified = false
local done_file = os.getenv("SOAK_DONE_FILE")

function request()
  -- wrk calls request() once on thread 0's state before connecting, only to check (and count pipelined
  -- requests in) what it returns; that request is never sent. Hand it a /health so that no id is consumed.
  if not verified then
    verified = true
    return health
  end
  if issued >= n then
    return health
  end
  local i = issued
  issued = issued + 1
  local body = (i % every == 0) and body_stream or body_plain
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    .. "Authorization: Bearer sk-bench\r\nx-request-id: " .. string.format("soak-%07d", i)
    .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
  if string.sub(body, 1, 10) == '{"status":' then   -- GET /health
    health_answers = health_answers + 1
  else
    answered = answered + 1
    if status ~= 200 then
      bad_status = bad_status + 1
      if first_bad == "" then first_bad = "status " .. status .. ": " .. string.sub(body, 1, 200) end
    elseif string.find(body, "data: [DONE]", -20, true) then
      ok = ok + 1
      ok_stream = ok_stream + 1
    elseif nonstream_bytes == 0 or #body == nonstream_bytes then
      ok = ok + 1
    else
      bad_body = bad_body + 1
      if first_bad == "" then first_bad = "body of " .. #body .. " bytes: " .. string.sub(body, -120) end
    end
  end
  if answered >= n and not stopping then
    stopping = true
    wrk.thread:stop()
    -- wrk's main thread sleeps for -d whatever its threads do: bench/soak.sh sees this file and sends SIGINT
    -- (once this thread has exited, so that the signal reaches the main thread), and wrk prints done().
    if done_file then
      local f = io.open(done_file, "w")
      f:write("done\n")
      f:close()
    end
  end
end

local thread_ref
function setup(thread)
  thread_ref = thread
end

function done(summary, latency, requests)
  local t = thread_ref
  local e = summary.errors
  io.write(string.format(
    "SOAK_RESULT issued=%d answered=%d ok=%d ok_stream=%d bad_status=%d bad_body=%d health=%d " ..
    "wrk_requests=%d duration_us=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "p50_us=%.0f p99_us=%.0f p999_us=%.0f\n",
    t:get("issued"), t:get("answered"), t:get("ok"), t:get("ok_stream"), t:get("bad_status"), t:get("bad_body"),
    t:get("health_answers"), summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
  local fb = t:get("first_bad")
  if fb ~= "" then io.write("SOAK_FIRST_BAD " .. fb .. "\n") end
end
