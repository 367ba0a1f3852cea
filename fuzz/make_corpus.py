#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ from the recorded transcripts in
tests/testdata/providers/transcripts (Vercel AI SDK, Apache-2.0; see
SOURCES.md there). Event-stream frames are encoded here, with zlib's CRC32,
independently of the C++ decoder. The first byte of every seed is the
fuzzers' control byte (piece size, include_usage). Run from the repository root."""
import json
import os
import struct
import zlib

T = "tests/testdata/providers/transcripts"
OUT = "fuzz/corpus"


def frame(headers, payload):
    h = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        h += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h + payload
    return body + struct.pack(">I", zlib.crc32(body))


def bedrock(lines):
    out = b""
    for line in lines:
        obj = json.loads(line)
        (key, payload), = obj.items()
        data = json.dumps(payload, separators=(",", ":")).encode()
        if key.startswith("exception:"):
            out += frame([(":exception-type", key[10:]), (":content-type", "application/json"),
                          (":message-type", "exception")], data)
        else:
            out += frame([(":event-type", key), (":content-type", "application/json"),
                          (":message-type", "event")], data)
    return out


def lines(name):
    return [l for l in open(os.path.join(T, name)).read().splitlines() if l.strip()]


def write(target, name, data):
    os.makedirs(os.path.join(OUT, "fuzz_" + target), exist_ok=True)
    with open(os.path.join(OUT, "fuzz_" + target, name), "wb") as f:
        f.write(data)


for name in ["bedrock-text", "bedrock-tool"]:
    stream = bedrock(lines(name + ".chunks.jsonl"))
    write("event_stream_decoder", name, b"\x07" + stream)
    write("event_stream_decoder", name + "-bytewise", b"\x00" + stream)
    write("bedrock_stream", name, b"\x85" + stream)
    write("bedrock_stream", name + "-json", b"\x01" + open(os.path.join(T, name + ".json"), "rb").read())
write("bedrock_stream", "exception", b"\x10" + bedrock(
    lines("bedrock-text.chunks.jsonl")[:2] + ['{"exception:throttlingException":{"message":"slow down"}}']))
write("event_stream_decoder", "bad-crc", b"\x03" + bytes(frame([(":message-type", "event")], b"{}")[:-1]) + b"\x00")

# fuzz_bedrock_messages: control byte 0x80 and a Messages body (request
# mode), or a piece size and a ConverseStream / Converse answer (stream mode).
M = "tests/testdata/providers/bedrock/messages"
for name in ["bedrock-text", "bedrock-tool"]:
    write("bedrock_messages", name, b"\x05" + bedrock(lines(name + ".chunks.jsonl")))
    write("bedrock_messages", name + "-json", b"\x3f" + open(os.path.join(T, name + ".json"), "rb").read())
write("bedrock_messages", "thinking-stream", b"\x0b" + bedrock(
    [l for l in open(os.path.join(M, "thinking-stream", "upstream_response.jsonl")).read().splitlines() if l.strip()]))
write("bedrock_messages", "exception", b"\x02" + bedrock(
    lines("bedrock-text.chunks.jsonl")[:3] + ['{"exception:throttlingException":{"message":"slow down"}}']))
for case in ["text", "tool-result", "count-tokens", "reject-image-url", "reject-server-tool"]:
    write("bedrock_messages", "request-" + case,
          b"\x80" + json.dumps(json.load(open(os.path.join(M, case, "request.json"))), separators=(",", ":")).encode())

for name in ["anthropic-text", "anthropic-tool"]:
    sse = "".join("event: %s\ndata: %s\n\n" % (json.loads(l)["type"], l) for l in lines(name + ".chunks.jsonl"))
    write("anthropic_stream", name, b"\x8f" + sse.encode())
    write("anthropic_stream", name + "-crlf", b"\x05" + sse.replace("\n", "\r\n").encode())
write("anthropic_stream", "error-event",
      b"\x20event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")

# Gemini's streamGenerateContent?alt=sse: one GenerateContentResponse per
# event, CRLF line ends; the -json seeds are generateContent bodies.
for name in ["gemini-text", "gemini-tool", "gemini-reasoning"]:
    sse = "".join("data: %s\r\n\r\n" % l for l in lines(name + ".chunks.jsonl"))
    write("gemini_stream", name, b"\x8f" + sse.encode())
    write("gemini_stream", name + "-json", b"\x01" + open(os.path.join(T, name + ".json"), "rb").read())
write("gemini_stream", "error-event",
      b"\x20data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n")


# --- Seeds for the request-path, relay, config, pricing and exporter targets.
P = "tests/testdata/providers"


def compact(path):
    return json.dumps(json.load(open(path)), separators=(",", ":")).encode()


def lp(data):
    """A FuzzInput length-prefixed string (fuzz_support.h): one length byte."""
    assert len(data) < 256
    return bytes([len(data)]) + data


def http_request(target, headers, body=b"", method="POST", chunked=False):
    head = "%s %s HTTP/1.1\r\nHost: localhost:3000\r\n" % (method, target)
    for name, value in headers:
        head += "%s: %s\r\n" % (name, value)
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        out = head.encode()
        for i in range(0, len(body), 100):
            part = body[i:i + 100]
            out += b"%x\r\n" % len(part) + part + b"\r\n"
        return out + b"0\r\n\r\n"
    if body or method == "POST":
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


JSON = [("Content-Type", "application/json")]
KEY = [("x-gateway-key", "gw-key-1")]
TRACK = [("x-project-id", "proj-42"), ("x-organisation-id", "org-7"), ("x-user-id", "user-9"),
         ("x-thread-id", "thread-1"), ("x-experiment-id", "exp-3"), ("x-request-id", "req-abc")]
openai_body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}],"temperature":0.2}'
openai_stream = (b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"Be brief"},'
                 b'{"role":"user","content":"Say hi"}]}')
for name, provider in [("anthropic", "anthropic"), ("bedrock", "bedrock"), ("gemini", "gemini")]:
    for case in ["text", "text-stream", "tool-stream", "multi-turn-system", "tool-results"]:
        path = os.path.join(P, name, case, "request.json")
        if os.path.exists(path):
            write("http_request", "%s-%s" % (name, case),
                  http_request("/v1/chat/completions", [("x-provider", provider)] + JSON + KEY, compact(path)))
write("http_request", "openai-chat", http_request("/v1/chat/completions", JSON + KEY + TRACK, openai_body))
write("http_request", "openai-stream-injected-usage",
      http_request("/v1/chat/completions", JSON + KEY + [("Authorization", "Bearer sk-client")], openai_stream))
write("http_request", "openai-stream-client-usage", http_request(
    "/v1/chat/completions", JSON + KEY,
    b'{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}'))
write("http_request", "groq-prefix", http_request(
    "/v1/chat/completions", JSON + KEY,
    b'{"model":"groq/llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}'))
write("http_request", "gemini-prefix", http_request(
    "/v1/chat/completions", JSON + KEY,
    b'{"model":"gemini/gemini-2.5-flash","n":2,"messages":[{"role":"user","content":"hi"}]}'))
write("http_request", "together-slash-model", http_request(
    "/v1/chat/completions?trace=1", JSON + KEY + [("x-provider", "together")],
    b'{"model":"meta-llama/Llama-3.3-70B-Instruct-Turbo","messages":[{"role":"user","content":"hi"}]}'))
write("http_request", "bedrock-client-credentials", http_request(
    "/v1/chat/completions", JSON + KEY + [("x-provider", "bedrock"), ("x-aws-access-key-id", "AKIDCLIENT"),
                                         ("x-aws-secret-access-key", "secretsecret"), ("x-aws-session-token", "tok"),
                                         ("x-aws-region", "eu-west-1")],
    b'{"model":"anthropic.claude-3-haiku-20240307-v1:0","stream":true,"max_tokens":50,'
    b'"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}'))
write("http_request", "chunked-pipelined",
      http_request("/v1/chat/completions", JSON + KEY, openai_body, chunked=True) +
      http_request("/v1/models", KEY, method="GET") +
      http_request("/v1/embeddings", JSON + KEY, b'{"model":"text-embedding-3-small","input":["a","b"]}'))
write("http_request", "multipart-upload", http_request(
    "/v1/files", KEY + [("Content-Type", "multipart/form-data; boundary=XyZ")],
    b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--XyZ--\r\n'))
write("http_request", "expect-continue", http_request(
    "/v1/completions", JSON + KEY + [("Expect", "100-continue")], b'{"model":"gpt-3.5-turbo-instruct","prompt":"x"}'))

# fuzz_sse_parser: stop-after byte, piece sizes, stream.
# The first chunks and the usage-only chunk at the end: small seeds fuzz faster.
openai_lines = lines("openai-stream.chunks.jsonl")
openai_sse = "".join("data: %s\n\n" % l for l in openai_lines[:6] + openai_lines[-2:]) + "data: [DONE]\n\n"
write("sse_parser", "openai-stream", b"\xff" + lp(b"\x07\x01\x20\x03") + openai_sse.encode())
write("sse_parser", "openai-stream-crlf", b"\xff" + lp(b"\x00\x05") + openai_sse.replace("\n", "\r\n").encode())
anthropic_sse = open(os.path.join(P, "anthropic", "tool-stream", "upstream_response.sse"), "rb").read()
write("sse_parser", "anthropic-stream", b"\x03" + lp(b"\x0d") + anthropic_sse)
write("sse_parser", "fields", b"\xff" + lp(b"\x01") +
      b": comment\nid: 7\nevent: ping\ndata: a\ndata:b\r\ndata\rretry: 10\n\n\r\nevent: x\n\n")

# fuzz_provider_response: control (provider | stream 0x04 | usage 0x08 |
# not-chat 0x10 | azure 0x20 | responses API 0x40 | upstream breaks 0x80),
# head (status | content type << 3), piece sizes, body.
def response(control, status_idx, type_idx, sizes, body):
    return bytes([control, status_idx | (type_idx << 3)]) + lp(sizes) + body
openai_json = open(os.path.join(T, "openai-chat.json"), "rb").read()
write("provider_response", "openai-json", response(0x00, 0, 1, b"\x40", openai_json))
write("provider_response", "openai-stream-injected", response(0x04, 0, 0, b"\x11\x02", openai_sse.encode()))
write("provider_response", "openai-stream-passthrough", response(0x0c, 0, 3, b"\x80", openai_sse.encode()))
write("provider_response", "openai-error", response(0x00, 5, 1, b"",
      b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}'))
write("provider_response", "anthropic-json", response(0x01, 0, 1, b"\x30",
      open(os.path.join(T, "anthropic-text.json"), "rb").read()))
write("provider_response", "anthropic-stream", response(0x0d, 0, 0, b"\x09\x21", anthropic_sse))
write("provider_response", "anthropic-error", response(0x01, 3, 1, b"",
      open(os.path.join(T, "anthropic-error.json"), "rb").read()))
write("provider_response", "bedrock-json", response(0x02, 0, 1, b"\x50",
      open(os.path.join(T, "bedrock-tool.json"), "rb").read()))
write("provider_response", "bedrock-stream", response(0x0e, 0, 2, b"\x05\x40",
      bedrock(lines("bedrock-text.chunks.jsonl"))))
write("provider_response", "bedrock-error", response(0x02, 4, 1, b"",
      b'{"message":"The security token included in the request is invalid."}'))
# Groq reporting usage only under x_groq (include_usage injected, ignored).
groq_sse = "".join("data: %s\n\n" % json.dumps(c, separators=(",", ":")) for c in [
    {"id": "g", "object": "chat.completion.chunk", "model": "llama-3.1-8b-instant",
     "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}], "x_groq": {"id": "req_1"}},
    {"id": "g", "object": "chat.completion.chunk", "model": "llama-3.1-8b-instant",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
     "x_groq": {"id": "req_1", "usage": {"queue_time": 0.01, "prompt_tokens": 18, "completion_tokens": 50,
                                         "total_tokens": 68}}}]) + "data: [DONE]\n\n"
write("provider_response", "groq-stream-xgroq", response(0x07, 0, 0, b"\x0d", groq_sse.encode()))
# The usage-only chunk written over several lines, usage first, with spaces.
layout_sse = ('data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}], "usage" : null }\n\n'
              'data: {\ndata:   "usage": {"prompt_tokens": 3, "completion_tokens": 4},\ndata:   "choices": [ ]\n'
              'data: }\n\ndata: [DONE]\n\n')
write("provider_response", "openai-stream-usage-layouts", response(0x04, 0, 0, b"\x07\x13", layout_sse.encode()))
# Azure: a stream with its prompt_filter_results chunk, and an error body.
azure_sse = ('data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}\n\n'
             + openai_sse)
write("provider_response", "azure-stream", response(0x24, 0, 0, b"\x21", azure_sse.encode()))
write("provider_response", "azure-error", response(0x20, 3, 1, b"",
      b'{"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter",'
      b'"innererror":{"code":"ResponsibleAIPolicyViolation"}}}'))
# A Responses API stream the upstream breaks in the middle of an event.
responses_sse = "".join("event: %s\ndata: %s\n\n" % (json.loads(l)["type"], l)
                        for l in lines("openai-responses-text.chunks.jsonl"))
write("provider_response", "responses-stream-broken", response(0xc4, 0, 3, b"\x35",
      responses_sse.encode()[:len(responses_sse) // 2]))

# fuzz_upstream_response: piece size byte, then an upstream response.
write("upstream_response", "openai-json", b"\x20" + b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      b"Content-Length: %d\r\nx-request-id: req_1\r\nx-ratelimit-remaining-requests: 99\r\n\r\n" % len(openai_json)
      + openai_json)
write("upstream_response", "openai-stream-chunked", b"\x07" + b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in
      [("data: %s\n\n" % l).encode() for l in lines("openai-stream.chunks.jsonl")[:3]]) + b"0\r\n\r\n")
write("upstream_response", "error-close", b"\x03" + b"HTTP/1.0 429 Too Many Requests\r\nRetry-After: 2\r\n"
      b"Connection: close\r\n\r\n{\"error\":{\"type\":\"rate_limit\"}}")

# fuzz_config: YAML, NUL, environment lines.
write("config", "exporters", b"""# magicapi-gateway --config
port: 8080
host: 0.0.0.0
worker_threads: 2
log_level: debug
enabled_exporters:
  - console
  - elasticsearch
  - otlp
elasticsearch_url: https://es.internal:9200
elasticsearch_index: gateway-logs
otel_exporter_otlp_endpoint: http://collector:4318
otel_resource_attributes: k8s.pod.name=gw-0,team=ai
cors_allowed_origins: "*"
\x00DD_API_KEY=abc
ENABLED_EXPORTERS=console,prometheus,datadog
MAX_REQUEST_BODY_BYTES=1048576
""")
write("config", "providers", b"""default_provider: anthropic
anthropic_base_url: http://127.0.0.1:9000
bedrock_base_url: https://bedrock-runtime.{region}.amazonaws.com
gateway_api_keys: [k1, k2]
upstream_timeout_ms: 30000
\x00AWS_REGION=us-west-2
OPENAI_BASE_URL=http://localhost:11434/v1
RUST_LOG=info
""")
# The providers: list (custom providers): every type, every key, and the
# mistakes start-up must refuse.
write("config", "custom-providers", b"""port: 3000
default_provider: team-llama
providers:
  - name: team-llama
    type: openai_compatible
    base_url: http://10.0.0.5:8000/v1
    api_key_env: TEAM_LLAMA_KEY
    headers: {X-Team: research, x-budget: "42"}
  - name: fast-llama
    type: openai_compatible
    base_url: https://llama.example.com/openai/v1
    pricing_provider: groq
  - {name: team-claude, type: anthropic, base_url: "http://127.0.0.1:9100", api_key_env: TEAM_CLAUDE_KEY}
  - {name: team-gemini, type: gemini, base_url: "http://127.0.0.1:9200"}
  - name: eu-bedrock
    type: bedrock
    base_url: https://bedrock-runtime.{region}.example.com
    headers:
      x-amzn-trace-id: Root=1
\x00TEAM_LLAMA_KEY=sk-team-llama
TEAM_CLAUDE_KEY=sk-ant-team
AWS_REGION=eu-west-1
""")
write("config", "custom-providers-bad", b"""providers:
  - &p {name: a, type: azure, base_url: "ftp://h", api_key_env: UNSET, api_key: x}
  - *p
  - just-a-name
  - {name: openai, type: openai_compatible, base_url: "http://h", headers: [x]}
  - {name: Bad/Name, type: bedrock, base_url: "http://h", api_key_env: K,
     headers: {authorization: x, X-Amz-Date: y, "x-a": "v\\r\\nx: 1", "": e}, pricing_provider: "Groq!"}
Providers: []
\x00K=
""")
write("config", "postgres-newrelic", b"""enabled_exporters: postgres,newrelic,file
postgres_url: postgresql://gw:pw@db:5432/gateway
postgres_table: public.request_logs
new_relic_license_key: NRAK-123
new_relic_region: EU
file_exporter_path: /tmp/gw.ndjson
telemetry_batch_size: 100
\x00""")
write("config", "routes", b"""providers:
  - {name: team, type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}
routes:
  - model: smart
    strategy: weighted
    targets:
      - {provider: openai, model: gpt-4o, weight: 3}
      - {provider: team, weight: 1.5}
      - {provider: openai, api_key_env: OPENAI_KEY_2}
    retry: {attempts: 3, on: [429, 500, connect_error, timeout], backoff_ms: 200, max_retry_after_ms: 5000}
    fallbacks: [claude, 'gpt-4o*']
    cooldown: {failures: 3, window_ms: 10000, for_ms: 30000}
  - model: claude
    strategy: lowest_latency
    targets: [{provider: anthropic, model: claude-sonnet-4-5}]
  - model: 'gpt-4o*'
    strategy: least_busy
    targets: [{provider: openai}]
\x00OPENAI_API_KEY=sk-1
OPENAI_KEY_2=sk-2
ANTHROPIC_API_KEY=ak-1
""")
write("config", "routes-bad", b"""routes:
  - {model: a, targets: [{provider: openai, weight: 0}], fallbacks: [b]}
  - {model: b, strategy: fastest, targets: [{provider: opnai}], fallbacks: [a]}
  - {model: 'x*?', targets: []}
\x00OPENAI_API_KEY=sk-1
""")
write("config", "bad-values", b"port: 99999\nlog_level: loud\n\x00ENABLED_EXPORTERS=nope\nPORT=-1\n")

# fuzz_pricing: presence bits, 6 x (flag, 8 bytes), then the table.
usage = bytes([0x3f]) + b"".join(b"\x00" + struct.pack(">q", v) for v in [1200, 300, 1500, 200, 100, 50])
extreme = bytes([0x3f]) + b"".join(b"\x80" + struct.pack(">q", v) for v in [-2**63, 2**63 - 1, 0, 2**63 - 1, -1, -2**63])
prices = json.load(open("data/model_prices_and_context_window.json"))
subset = {k: prices[k] for k in ["sample_spec", "gpt-4o", "gpt-4o-mini", "groq/llama-3.1-8b-instant",
                                  "claude-3-5-sonnet-20241022", "anthropic.claude-3-haiku-20240307-v1:0",
                                  "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct"] if k in prices}
write("pricing", "litellm-subset", usage + json.dumps(subset, indent=1).encode())
write("pricing", "extreme-usage", extreme + json.dumps(subset, separators=(",", ":")).encode())
write("pricing", "wrong-types", usage + b'{"m":{"input_cost_per_token":"1","output_cost_per_token":null},'
      b'"n":[],"o":{"input_cost_per_token":1e308,"output_cost_per_token":-1,"litellm_provider":7}}')

# fuzz_exporters: mode 1 (odd control byte) is a record as the spool reads it.
R = "tests/testdata/telemetry/records"
for name in sorted(os.listdir(R)):
    write("exporters", "record-" + name[:-5], b"\x01" + compact(os.path.join(R, name)))
    write("exporters", "record-batch-" + name[:-5], b"\x0f" + compact(os.path.join(R, name)))
write("exporters", "built-stream", b"\x00" + bytes(range(1, 200)) * 2)
write("exporters", "built-record", b"\x06\x00\x01" + lp(b"t-1") + b"\x01" + lp(b"org-\xff\xfe") + b"\x00" * 4 +
      b"\x00\x00\x00\x00" + lp(b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}') +
      lp(b'{"id":"x","usage":{"prompt_tokens":5,"completion_tokens":2}}') + b"\x00\x01\x07" + b"\x01" * 64)

# fuzz_backend_responses: item count, then the backend's answer.
write("backend_responses", "es-bulk-mixed", b"\x02" + b'{"took":3,"errors":true,"items":['
      b'{"create":{"_index":"g","_id":"a","status":201}},'
      b'{"create":{"_index":"g","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception"}}},'
      b'{"create":{"_index":"g","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception"}}}]}')
write("backend_responses", "es-bulk-ok", b"\x00" + b'{"took":1,"errors":false,"items":[{"create":{"status":201}}]}')
write("backend_responses", "es-error", b"\x01" + b'{"error":{"type":"illegal_argument_exception","reason":"x"},"status":400}')
# ExportLogsServiceResponse{partial_success{rejected_log_records=2, error_message="bad"}}
write("backend_responses", "otlp-partial-success", b"\x00" + b"\x0a\x07\x08\x02\x12\x03bad")
# google.rpc.Status{code=3, message="invalid"}
write("backend_responses", "otlp-status", b"\x00" + b"\x08\x03\x12\x07invalid")

# fuzz_stream_assembly: a stream's chunks separated by 0x1E.
write("stream_assembly", "openai-stream", "\x1e".join(openai_lines).encode())
write("stream_assembly", "openai-stream-head", "\x1e".join(openai_lines[:4]).encode())
write("stream_assembly", "mixed", "\x1e".join([
    openai_lines[0],
    '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}}]}',
    '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}}]}',
    '{"error":{"type":"server_error"}}', '{"x":{"api_key":"sk-1"}}', '{"id":"a","id":"b"}',
    '{"choices":[{"index":1,"text":"t"}]}\n', 'not json', '[1]']).encode())
# Groq's usage under x_groq, then a top-level usage chunk.
write("stream_assembly", "groq-x-groq-usage", "\x1e".join([
    '{"id":"g","choices":[{"index":0,"delta":{"content":"Hi"}}],"x_groq":{"id":"req_1"}}',
    '{"id":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    '"x_groq":{"id":"req_1","usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68}}}',
    '{"id":"g","choices":[],"usage":{"prompt_tokens":18,"completion_tokens":50,"total_tokens":68}}']).encode())

# Chunks that differ from the one before only in their content and padding
# strings (StreamAssembler's template path), and lookalikes that are no one
# string there: an injected member, a trailing backslash, a line break.
template_chunk = ('{"id":"t","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"},'
                  '"finish_reason":null}],"obfuscation":"%s"}')
write("stream_assembly", "template-lookalikes", "\x1e".join(
    template_chunk % pair for pair in [
        ("a", "p1"), ("b", ""), ("\\\"q\\u00e9", "pp"), ('c\",\"x\":\"y', "p"), ("d\\", "p"),
        ("e", "p\nq"), ("f", "p"), ("g", "p\\u0041")]).encode())

# fuzz_content_decoder: control byte (coding | piece size << 3 | read buffer << 6),
# then the coded body (coding 7: a length-prefixed Content-Encoding value first).
# Brotli through the system's libbrotlienc (libbrotli-dev), so no Python module is needed.
import ctypes
import gzip as gzip_module

_brotlienc = ctypes.CDLL("libbrotlienc.so.1")


def br(data, quality=5, lgwin=22):
    size = ctypes.c_size_t(len(data) + 1024)
    out = ctypes.create_string_buffer(size.value)
    assert _brotlienc.BrotliEncoderCompress(quality, lgwin, 0, ctypes.c_size_t(len(data)), data,
                                            ctypes.byref(size), out)
    return out.raw[:size.value]


def gz(data):
    return gzip_module.compress(data, 6, mtime=0)


def deflate(data, wbits):
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def control(coding, piece, cap):
    return bytes([coding | piece << 3 | cap << 6])


chat = openai_json
stream = "".join("data: %s\n\n" % l for l in openai_lines[:6]).encode()
write("content_decoder", "gzip", control(0, 4, 2) + gz(chat))
write("content_decoder", "gzip-members", control(0, 3, 1) + gz(chat[:1000]) + gz(b"") + gz(chat[1000:]))
write("content_decoder", "gzip-cut", control(0, 6, 3) + gz(stream)[:-5])
write("content_decoder", "gzip-trailing", control(0, 6, 2) + gz(chat) + b"\r\n")
write("content_decoder", "gzip-zeros", control(0, 7, 2) + gz(bytes(200000)))
write("content_decoder", "deflate-zlib", control(1, 5, 0) + deflate(chat, 15))
write("content_decoder", "deflate-raw", control(1, 0, 3) + deflate(stream, -15))
write("content_decoder", "br", control(2, 6, 2) + br(stream))
write("content_decoder", "br-small-window", control(2, 2, 1) + br(chat, 9, 10))
write("content_decoder", "x-gzip", control(3, 7, 3) + gz(stream))
write("content_decoder", "gzip-br", control(4, 2, 2) + br(gz(chat)))
write("content_decoder", "deflate-gzip", control(5, 4, 1) + gz(deflate(chat, 15)))
write("content_decoder", "br-deflate", control(6, 5, 2) + deflate(br(stream), -15))
write("content_decoder", "header-list", control(7, 4, 2) + lp(b"Identity , GZip") + gz(chat))
write("content_decoder", "header-unknown", control(7, 4, 2) + lp(b"zstd") + b"\x28\xb5\x2f\xfd")


# fuzz_redis: control byte 0 and a REDIS_URL; 1, piece sizes (length-prefixed)
# and a reply stream; 2 and length-prefixed command arguments.
for name, url in [("plain", b"redis://localhost"), ("full", b"rediss://app:s3cret@cache.internal:6380/3"),
                  ("password-only", b"redis://:p%40ss@10.0.0.5:6379/0"), ("ipv6", b"redis://[::1]:6390/2"),
                  ("query", b"redis://h/0?ssl_cert_reqs=none"), ("user-no-password", b"redis://u@h"),
                  ("bad-port", b"redis://u:secret-pw@h:99999"), ("bad-db", b"redis://h/x")]:
    write("redis", "url-" + name, b"\x00" + url)
resp = (b"+OK\r\n-ERR wrong type\r\n:-42\r\n$5\r\nhe\x00lo\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
        b"*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n-NOSCRIPT No matching script\r\n")
write("redis", "replies", b"\x01" + lp(b"\x01\x05\x02\x40") + resp)
write("redis", "replies-bytewise", b"\x05" + lp(b"\x00") + resp)
write("redis", "deep", b"\x01" + lp(b"") + b"*1\r\n" * 8 + b":1\r\n")
write("redis", "huge-array", b"\x01" + lp(b"") + b"*2147483647\r\n")
write("redis", "huge-bulk", b"\x01" + lp(b"\x10") + b"$1000000000\r\n" + b"x" * 600)
write("redis", "eval-reply", b"\x01" + lp(b"\x03") + b"*2\r\n:12\r\n$2\r\n60\r\n:5\r\n")
write("redis", "resp3", b"\x01" + lp(b"") + b"%1\r\n+a\r\n+b\r\n")
write("redis", "garbage", b"\x01" + lp(b"") + b"+PONG\r\nhello\r\n")
write("redis", "command", b"\x02" + lp(b"EVALSHA") + lp(b"0" * 40) + lp(b"1") + lp(b"key") + lp(b"a\r\nb\x00"))


# fuzz_admin_json: one JSON document, given to every key and budget parser.
full_key = {"name": "ci", "project_id": "p1", "org_id": "o1", "user_id": "u1",
            "allowed_models": ["gpt-4o*", "*mini", "claude-3-5-sonnet"], "limits": {"rpm": 60, "tpm": 100000},
            "budget": {"usd": 12.5, "period": "month"}, "expires_at": 1893456000}
stored_key = dict(full_key, id="vk_0123456789abcdef01234567", object="virtual_key", created_at=1796551200,
                  revoked=True, revoked_at=1796551260, hash="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
for name, doc in [
        ("create-full", full_key),
        ("create-rfc3339", {"expires_at": "2027-01-01T01:00:00.250+01:00", "budget": {"usd": 0.5, "period": "day"}}),
        ("create-leap-day", {"expires_at": "2028-02-29T23:59:60Z", "limits": {"tpm": 1000000000000}}),
        ("patch-clear", {"name": None, "limits": {"tpm": None}, "budget": None, "allowed_models": None}),
        ("admin-read-back", dict(stored_key, usage={"period": "month", "requests": 3}, hash=None)),
        ("stored", stored_key),
        ("budget-put", {"object": "budget", "scope": "project", "id": "p1", "usd": 50, "period": "month"}),
        ("refused-numbers", {"limits": {"rpm": 1e3, "tpm": 10.0}, "budget": {"usd": -1}, "expires_at": 1.5}),
        ("refused-fields", {"rmp": 5, "key": "gw-" + "a" * 64, "budget": {"usd": 1, "scope": "x"}}),
        ("refused-date", {"expires_at": "2026-02-30T00:00:00Z"}),
        ("not-an-object", [1, "two", None])]:
    if name == "admin-read-back":
        del doc["hash"]
    write("admin_json", name, json.dumps(doc, separators=(",", ":")).encode())

# fuzz_record_body: one body, as a request or response carries it.
for name in ["openai-chat", "openai-responses-text", "anthropic-text", "anthropic-error", "gemini-tool"]:
    write("record_body", name, open(os.path.join(T, name + ".json"), "rb").read())
write("record_body", "request", openai_body)
write("record_body", "secrets-and-edges", (
    b'{"model":"m","api_key":"sk-1","nested":[{"Authorization":{"a":[1]}},{"x":"\\u0041\\n\\ud83d\\ude00"}],'
    b'"choices":[{"finish_reason":"stop"},{"finish_reason":""}],"n":-0,"f":1.5e-3,"big":18446744073709551616}'))
write("record_body", "repeated-key", b'{"model":"a","model":"b","t":1e999}')
write("record_body", "not-json", b'{"api_key": "sk-cut')
