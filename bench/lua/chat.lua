-- wrk script for the load harness: POST /v1/chat/completions with a small, fixed chat request (or, with
-- BENCH_API, a streamed Responses API or Messages API request).
-- BENCH_STREAM=1 adds "stream": true (the mock then answers with 23 SSE chunks and data: [DONE]);
-- BENCH_CLIENT_USAGE=1 (below) also asks for the usage chunk.
-- done() prints one machine-readable line that bench/run.sh parses; keep its format in sync with
-- parse_wrk in bench/lib/common.sh.
--
-- No response() callback on purpose: it makes wrk hand every body to Lua and costs the load generator
-- more CPU than the proxy under test. Non-2xx answers are counted by wrk itself (summary.errors.status),
-- and bench/run.sh checks one response from every target byte-for-byte before measuring.

local stream = os.getenv("BENCH_STREAM") == "1"
-- BENCH_CLIENT_USAGE=1: the client asks for the usage chunk itself (stream_options.include_usage), so every
-- target receives the same upstream stream whether or not it would have asked for usage on its own.
local client_usage = os.getenv("BENCH_CLIENT_USAGE") == "1"

-- BENCH_API: the API the client speaks. "chat" (default): POST /v1/chat/completions; "responses": a streamed
-- POST /v1/responses; "messages": a streamed POST /v1/messages (Anthropic's Messages API).
local api = os.getenv("BENCH_API") or "chat"

local body, path
if api == "responses" then
  path = "/v1/responses"
  body = '{"model":"gpt-4o-mini","stream":true,"instructions":"You are a helpful assistant.",'
    .. '"input":"Write one short sentence about load testing.","max_output_tokens":64}'
elseif api == "messages" then
  path = "/v1/messages"
  body = '{"model":"claude-sonnet-4-5","stream":true,"system":"You are a helpful assistant.",'
    .. '"messages":[{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
else
  path = "/v1/chat/completions"
  body = '{"model":"gpt-4o-mini",'
  if stream then
    body = body .. '"stream":true,'
    if client_usage then body = body .. '"stream_options":{"include_usage":true},' end
  end
  body = body .. '"messages":[{"role":"system","content":"You are a helpful assistant."},'
    .. '{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
end

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
-- BENCH_HEADERS="Name: value|Name: value": extra headers (bench/race.sh uses it for Portkey's x-portkey-provider /
-- x-portkey-custom-host, sent to every target alike, which the other targets simply forward or ignore; bench/run.sh
-- adds a target's own headers, e.g. the virtual key of gateway-keys-redis). A header named as one above (any
-- case) replaces it: "Authorization: Bearer gw-..." replaces Bearer sk-bench.
for h in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = string.match(h, "^%s*([^:]+):%s*(.-)%s*$")
  if name then
    for known in pairs(wrk.headers) do
      if string.lower(known) == string.lower(name) then wrk.headers[known] = nil end
    end
    wrk.headers[name] = value
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f mean_us=%.1f max_us=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
