"""The native Anthropic Messages API (POST /v1/messages and
/v1/messages/count_tokens) served by the bedrock provider, through the real
binary, against a strict mock of Bedrock (docs/providers.md, "Bedrock:
Anthropic Messages API").

The mock answers only what Bedrock would: POST /model/{modelId}/converse,
/converse-stream or /count-tokens, signed with SigV4 (it checks the
signature with the secret it knows for the access key id), with a body in
Converse's shape. Anything else gets Bedrock's 400 ValidationException and is
kept in `mock.problems`, which every test checks is empty. Its answers are the
recorded transcripts in tests/testdata/providers/transcripts/bedrock-*; the
stream is encoded as AWS event-stream frames here, split over HTTP chunks at
odd offsets. Streams of model bedrock-slow send one frame every 200 ms
(noting in `mock.closed` a gateway that closed the connection); of
bedrock-reset, four frames, then a TCP reset.

Records come from the console exporter on stdout; each test finds its own by
the x-request-id it sent.
"""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import struct
import threading
import time
import unittest
import zlib
from urllib.parse import quote, unquote, urlsplit

from harness import HERE, SLOW, Gateway, http_request, peer_closed, reset_connection, wait_until

TRANSCRIPTS = os.path.join(HERE, "..", "testdata", "providers", "transcripts")
ENV_KEY_ID = "AKIDGATEWAYENV"
ENV_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-ENVSECRET"
ENV_TOKEN = "FwoGZXIvYXdzEXAMPLE-ENV-SESSION-TOKEN"
CLIENT_KEY_ID = "AKIDCLIENTKEY"
CLIENT_SECRET = "client-secret-access-key-0123456789"
CLIENT_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-CLIENT-SESSION-TOKEN"
SECRETS = {ENV_KEY_ID: ENV_SECRET, CLIENT_KEY_ID: CLIENT_SECRET}
TOKENS = {ENV_KEY_ID: ENV_TOKEN, CLIENT_KEY_ID: CLIENT_TOKEN}
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NO_TOKENS = {"input": None, "output": None, "total": None, "cached_input": None, "cache_creation": None,
             "reasoning": None}
PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))


def cost(tokens_in, tokens_out):
    e = PRICES[MODEL]
    return tokens_in * e["input_cost_per_token"] + tokens_out * e["output_cost_per_token"]

CONVERSE_FIELDS = {"messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields"}
COUNT_FIELDS = {"messages", "system", "toolConfig", "additionalModelRequestFields"}
INFERENCE_FIELDS = {"maxTokens", "temperature", "topP", "stopSequences"}
BLOCK_KINDS = {"text", "image", "toolUse", "toolResult", "reasoningContent", "cachePoint"}


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), "rb") as f:
        return f.read()


def frame(headers, payload):
    """One application/vnd.amazon.eventstream message (string headers)."""
    h = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        h += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 12 + len(h) + len(payload) + 4, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_stream(lines):
    out = b""
    for line in lines:
        (key, payload), = json.loads(line).items()
        data = json.dumps(payload, separators=(",", ":")).encode()
        if key.startswith("exception:"):
            out += frame([(":exception-type", key[10:]), (":content-type", "application/json"),
                          (":message-type", "exception")], data)
        else:
            out += frame([(":event-type", key), (":content-type", "application/json"),
                          (":message-type", "event")], data)
    return out


def chunk_lines(name):
    return [l for l in transcript(name).decode().splitlines() if l.strip()]


def sigv4_problem(method, path, headers, body):
    """What is wrong with the request's AWS Signature Version 4, or None:
    the signature is computed here, from AWS's specification, with the
    secret this mock knows for the access key id."""
    auth = headers.get("authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([a-z0-9-]+)/bedrock/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", auth)
    if not m:
        return "not a SigV4 authorization: %r" % auth[:60]
    key_id, date, region, signed, signature = m.groups()
    if key_id not in SECRETS:
        return "unknown access key id"
    amz_date = headers.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != date:
        return "bad x-amz-date %r" % amz_date
    now = datetime.datetime.now(datetime.timezone.utc)
    sent = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs((now - sent).total_seconds()) > 300:
        return "x-amz-date too far from now"
    names = signed.split(";")
    for required in ("host", "x-amz-date", "content-type"):
        if required not in names:
            return "%s is not signed" % required
    if headers.get("x-amz-security-token") != TOKENS[key_id]:
        return "the session token does not go with the access key id"
    if "x-amz-security-token" not in names:
        return "x-amz-security-token is not signed"
    canonical_headers = "".join("%s:%s\n" % (n, " ".join(headers.get(n, "").split())) for n in names)
    # Every service but S3: the path as sent, URI-encoded once more.
    canonical_request = "\n".join([method, quote(path, safe="/-_.~"), "", canonical_headers, signed,
                                   hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/bedrock/aws4_request" % (date, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + SECRETS[key_id]).encode()
    for part in (date, region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
        return "the signature does not match"
    return None


def messages_problem(messages):
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for i, m in enumerate(messages):
        if set(m) != {"role", "content"} or m["role"] != ("user" if i % 2 == 0 else "assistant"):
            return "messages[%d] is not an alternating user/assistant turn: %r" % (i, m)
        if not isinstance(m["content"], list) or not m["content"]:
            return "messages[%d] has no content" % i
        for b in m["content"]:
            if not isinstance(b, dict) or len(b) != 1 or not set(b) <= BLOCK_KINDS:
                return "messages[%d] has a block Converse does not know: %r" % (i, b)
    return None


def uses_tools(messages):
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


class StrictBedrock:
    """A Bedrock runtime mock that refuses anything Bedrock would not take."""

    def __init__(self):
        self.requests = []  # (path, headers, body) of every request
        self.problems = []
        self.closed = []  # the models of the streams the gateway closed before their end
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.path, headers, body))
                problem, model, operation, doc = outer.check(self.path, headers, body)
                if problem:
                    outer.problems.append(problem)
                    return self.reply(400, {"message": "mock: " + problem}, "ValidationException")
                if model == "bedrock-error":
                    return self.reply(400, {"message": "The provided model identifier is invalid."},
                                      "ValidationException")
                if model == "bedrock-echo-token":
                    # What a careless upstream might do: quote the token back.
                    return self.reply(403, {"message": "The security token %s is invalid."
                                            % headers["x-amz-security-token"]}, "UnrecognizedClientException")
                if operation == "count-tokens":
                    return self.reply(200, {"inputTokens": 17})
                tools = "toolConfig" in doc
                if operation == "converse":
                    return self.reply(200, transcript("bedrock-tool.json" if tools else "bedrock-text.json"))
                lines = chunk_lines("bedrock-tool.chunks.jsonl" if tools else "bedrock-text.chunks.jsonl")
                if model == "bedrock-throttle":
                    lines = lines[:3] + ['{"exception:throttlingException":{"message":"Too many requests, please '
                                         'wait before trying again."}}']
                blob = event_stream(lines)
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-amzn-RequestId", "req-bedrock-messages-1")
                self.end_headers()
                if model in ("bedrock-slow", "bedrock-reset"):
                    return self.frame_by_frame(model, lines)
                # Frames split over HTTP chunks at odd offsets, as a network might.
                for i in range(0, len(blob), 37):
                    part = blob[i:i + 37]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    time.sleep(0.002)
                self.wfile.write(b"0\r\n\r\n")

            def frame_by_frame(self, model, lines):
                """One frame per HTTP chunk: bedrock-slow, one every 200 ms;
                bedrock-reset, the first four, then a reset."""
                for i, line in enumerate(lines):
                    if model == "bedrock-reset" and i == 4:
                        time.sleep(0.05)
                        return reset_connection(self)
                    frame_bytes = event_stream([line])
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(frame_bytes), frame_bytes))
                    self.wfile.flush()
                    if model == "bedrock-slow" and peer_closed(self.connection, 0.2 * SLOW):
                        outer.closed.append(model)
                        self.close_connection = True
                        return
                self.wfile.write(b"0\r\n\r\n")

            def reply(self, status, doc, error_type=None):
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type + ":http://internal.amazon.com/coral/com.amazon.bedrock/")
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def check(self, target, headers, body):
        """(problem or None, model id, operation, parsed body)."""
        url = urlsplit(target)
        m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream|count-tokens)", url.path)
        if not m or url.query:
            return "unexpected target %s" % target, None, None, None
        model, operation = unquote(m.group(1)), m.group(2)
        problem = sigv4_problem("POST", url.path, headers, body)
        if problem:
            return problem, model, operation, None
        for name in headers:
            if name.startswith(("x-aws-", "anthropic-", "x-provider", "x-api-key", "x-gateway")):
                return "a client header reached Bedrock: %s" % name, model, operation, None
        if headers.get("content-type") != "application/json":
            return "content-type %r" % headers.get("content-type"), model, operation, None
        accept = "application/vnd.amazon.eventstream" if operation == "converse-stream" else "application/json"
        if headers.get("accept") != accept:
            return "accept %r for %s" % (headers.get("accept"), operation), model, operation, None
        try:
            doc = json.loads(body)
        except ValueError:
            return "the body is not JSON", model, operation, None
        if operation == "count-tokens":
            if not isinstance(doc, dict) or set(doc) != {"input"} or set(doc["input"]) != {"converse"}:
                return "a CountTokens body is {\"input\":{\"converse\":{...}}}: %r" % doc, model, operation, None
            converse, allowed = doc["input"]["converse"], COUNT_FIELDS
        else:
            converse, allowed = doc, CONVERSE_FIELDS
        if not isinstance(converse, dict) or set(converse) - allowed:
            return "fields Bedrock does not take here: %s" % sorted(set(converse) - allowed), model, operation, None
        problem = messages_problem(converse.get("messages"))
        if problem:
            return problem, model, operation, None
        if set(converse.get("inferenceConfig", {})) - INFERENCE_FIELDS:
            return "bad inferenceConfig %r" % converse["inferenceConfig"], model, operation, None
        for b in converse.get("system", []):
            if len(b) != 1 or not set(b) <= {"text", "cachePoint"}:
                return "bad system block %r" % b, model, operation, None
        if uses_tools(converse["messages"]) and "toolConfig" not in converse:
            return "toolConfig is required with toolUse and toolResult blocks", model, operation, None
        for tool in converse.get("toolConfig", {}).get("tools", []):
            spec = tool.get("toolSpec")
            if not spec or set(spec) - {"name", "description", "inputSchema"} or "json" not in spec["inputSchema"]:
                return "bad tool %r" % tool, model, operation, None
        return None, model, operation, converse

    def last(self):
        path, headers, body = self.requests[-1]
        return path, headers, json.loads(body)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def messages_events(payload):
    """The SSE events of a Messages stream as (type, data), checking that
    every event has an event: line naming its data's type."""
    events = []
    text = payload.decode()
    assert text.endswith("\n\n"), text[-200:]
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:], block
        events.append((data["type"], data))
    return events


class BedrockMessagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = StrictBedrock()
        cls.gw = Gateway({"BEDROCK_BASE_URL": "http://127.0.0.1:%d" % cls.mock.port,
                          "AWS_ACCESS_KEY_ID": ENV_KEY_ID, "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
                          "AWS_SESSION_TOKEN": ENV_TOKEN, "AWS_REGION": "us-west-2",
                          "ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50"})

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, code
        out = cls.gw.stderr_seen.decode("utf-8", "replace") + cls.gw.stdout_text()
        for secret in (ENV_SECRET, ENV_TOKEN, CLIENT_SECRET, CLIENT_TOKEN):
            assert secret not in out, "a secret leaked into the gateway's output"

    def tearDown(self):
        problems, self.mock.problems = self.mock.problems, []
        self.assertEqual(problems, [], "the mock Bedrock refused a request")

    def post(self, rid, body, path="/v1/messages", headers=None):
        h = {"x-request-id": rid, "x-provider": "bedrock", "anthropic-version": "2023-06-01"}
        h.update(headers or {})
        return http_request(self.gw.port, "POST", path, body, {k: v for k, v in h.items() if v is not None})

    def record(self, rid, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            text = self.gw.stdout_text()
            for line in text[:text.rfind("\n") + 1].splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if rec["attributes"]["id"] == rid:
                        return rec["attributes"], rec["attributes"]["metadata"]
            if time.time() > deadline:
                raise AssertionError("no record with id %r" % rid)
            time.sleep(0.02)

    def test_non_streamed_message(self):
        status, headers, payload = self.post("bm-plain", {
            "model": MODEL, "max_tokens": 300, "temperature": 0.2, "top_k": 5, "stop_sequences": ["###"],
            "system": "Be brief.", "metadata": {"user_id": "u-1"},
            "messages": [{"role": "user", "content": "How many r's are in the word strawberry?"}]})
        self.assertEqual(status, 200, payload)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        path, sent_headers, sent = self.mock.last()
        self.assertEqual(path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse")
        self.assertIn("Credential=%s/" % ENV_KEY_ID, sent_headers["authorization"])
        self.assertIn("/us-west-2/bedrock/aws4_request", sent_headers["authorization"])
        self.assertEqual(sent, {
            "messages": [{"role": "user", "content": [{"text": "How many r's are in the word strawberry?"}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.2, "stopSequences": ["###"]},
            "additionalModelRequestFields": {"top_k": 5}})

        doc = json.loads(payload)
        self.assertRegex(doc["id"], r"^msg_[0-9a-f]{32}$")
        del doc["id"]
        self.assertEqual(doc, {
            "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": json.loads(transcript("bedrock-text.json"))["output"]["message"]
                         ["content"][0]["text"]}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 22, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": 57}})

        a, m = self.record("bm-plain")
        self.assertEqual((a["provider"], a["model"]), ("bedrock", MODEL))
        self.assertEqual(m["tokens"], {"input": 22, "output": 57, "total": 79, "cached_input": 0,
                                       "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], cost(22, 57), delta=1e-12)
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("success", 200, 200))
        self.assertEqual(m["path"], "/v1/messages")
        self.assertEqual(a["response"]["content"], json.loads(payload)["content"])

    def test_streamed_message_event_by_event(self):
        status, headers, payload = self.post("bm-stream", {
            "model": "bedrock/" + MODEL, "max_tokens": 300, "stream": True,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "How many r's?"}]}]},
            headers={"x-provider": None})  # the model's prefix selects the provider
        self.assertEqual(status, 200, payload)
        self.assertTrue(headers["content-type"].startswith("text/event-stream"))
        path, _, sent = self.mock.last()
        self.assertEqual(path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream")
        self.assertEqual(sent["messages"], [{"role": "user", "content": [{"text": "How many r's?"}]}])

        events = messages_events(payload)
        deltas = [e for e in events if e[0] == "content_block_delta"]
        self.assertEqual([t for t, _ in events],
                         ["message_start", "content_block_start"] + ["content_block_delta"] * len(deltas) +
                         ["content_block_stop", "message_delta", "message_stop"])
        start = events[0][1]["message"]
        self.assertEqual((start["role"], start["model"], start["content"], start["stop_reason"]),
                         ("assistant", MODEL, [], None))
        self.assertRegex(start["id"], r"^msg_[0-9a-f]{32}$")
        self.assertEqual(events[1][1], {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}})
        text = "".join(d["delta"]["text"] for _, d in deltas)
        expected = "".join(json.loads(l)["contentBlockDelta"]["delta"]["text"]
                           for l in chunk_lines("bedrock-text.chunks.jsonl") if "contentBlockDelta" in l)
        self.assertEqual(text, expected)
        self.assertEqual(events[-2][1], {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                         "usage": {"input_tokens": 22, "output_tokens": 55}})

        a, m = self.record("bm-stream")
        self.assertEqual((a["provider"], a["model"]), ("bedrock", MODEL))
        self.assertEqual(m["status"], "success")
        self.assertEqual((m["tokens"]["input"], m["tokens"]["output"], m["tokens"]["total"]), (22, 55, 77))
        self.assertAlmostEqual(m["cost"], cost(22, 55), delta=1e-12)

    def test_tool_use_and_tool_result_round_trip(self):
        bash = {"name": "bash", "description": "Run a shell command.",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                                 "required": ["command"]}}
        ask = [{"role": "user", "content": "List the files."}]
        status, _, payload = self.post("bm-tool", {"model": MODEL, "max_tokens": 300, "messages": ask,
                                                   "tools": [bash], "tool_choice": {"type": "tool", "name": "bash"}})
        self.assertEqual(status, 200, payload)
        _, _, sent = self.mock.last()
        self.assertEqual(sent["toolConfig"], {"tools": [{"toolSpec": {
            "name": "bash", "description": "Run a shell command.", "inputSchema": {"json": bash["input_schema"]}}}],
            "toolChoice": {"tool": {"name": "bash"}}})
        doc = json.loads(payload)
        self.assertEqual(doc["stop_reason"], "tool_use")
        self.assertEqual(doc["content"], [{"type": "tool_use", "id": "tool-use-id", "name": "bash",
                                           "input": {"command": "ls -l"}}])
        _, m = self.record("bm-tool")
        self.assertEqual(m["tokens"], {"input": 10, "output": 20, "total": 30, "cached_input": None,
                                       "cache_creation": None, "reasoning": None})
        self.assertAlmostEqual(m["cost"], cost(10, 20), delta=1e-12)

        # The client sends the call back with its result, the way Anthropic's SDKs do.
        history = ask + [{"role": "assistant", "content": doc["content"]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tool-use-id",
                                                       "content": "a.txt\nb.txt", "is_error": False}]}]
        status, _, payload = self.post("bm-tool-2", {"model": MODEL, "max_tokens": 300, "messages": history,
                                                     "tools": [bash]})
        self.assertEqual(status, 200, payload)
        _, _, sent = self.mock.last()
        self.assertEqual(sent["messages"][1:], [
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tool-use-id", "name": "bash",
                                                           "input": {"command": "ls -l"}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tool-use-id",
                                                         "content": [{"text": "a.txt\nb.txt"}]}}]}])

    def test_tool_use_streamed(self):
        status, _, payload = self.post("bm-tool-stream", {
            "model": MODEL, "max_tokens": 300, "stream": True,
            "messages": [{"role": "user", "content": "Name a holiday."}],
            "tools": [{"name": "test-tool", "input_schema": {"type": "object",
                                                             "properties": {"value": {"type": "string"}}}}]})
        self.assertEqual(status, 200, payload)
        events = messages_events(payload)
        self.assertEqual([t for t, _ in events], ["message_start", "content_block_start", "content_block_delta",
                                                   "content_block_delta", "content_block_stop", "message_delta",
                                                   "message_stop"])
        self.assertEqual(events[1][1]["content_block"], {"type": "tool_use", "id": "tool-use-id",
                                                         "name": "test-tool", "input": {}})
        partial = "".join(d["delta"]["partial_json"] for t, d in events if t == "content_block_delta")
        self.assertEqual(json.loads(partial), {"value": "Sparkle Day"})
        self.assertEqual(events[5][1]["delta"]["stop_reason"], "tool_use")
        _, m = self.record("bm-tool-stream")
        self.assertEqual((m["tokens"]["input"], m["tokens"]["output"]), (125, 45))
        self.assertAlmostEqual(m["cost"], cost(125, 45), delta=1e-12)

    def test_count_tokens(self):
        status, _, payload = self.post("bm-count", {
            "model": MODEL, "system": "Be brief.", "messages": [{"role": "user", "content": "Hello"}]},
            path="/v1/messages/count_tokens")
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload), {"input_tokens": 17})
        path, _, sent = self.mock.last()
        self.assertEqual(path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/count-tokens")
        self.assertEqual(sent, {"input": {"converse": {"messages": [{"role": "user", "content": [{"text": "Hello"}]}],
                                                       "system": [{"text": "Be brief."}]}}})
        _, m = self.record("bm-count")
        # Counting is not billed: the record has no tokens and no cost.
        self.assertEqual(m["tokens"], {"input": None, "output": None, "total": None, "cached_input": None,
                                       "cache_creation": None, "reasoning": None})
        self.assertIsNone(m["cost"])
        self.assertEqual(m["path"], "/v1/messages/count_tokens")

    def test_upstream_error_is_anthropic_shaped(self):
        status, _, payload = self.post("bm-error", {"model": "bedrock-error", "max_tokens": 10,
                                                    "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 400, payload)
        self.assertEqual(json.loads(payload), {"type": "error", "error": {
            "type": "invalid_request_error", "message": "The provided model identifier is invalid."}})
        _, m = self.record("bm-error")
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("error", 400, 400))
        self.assertEqual(m["provider_error_type"], "ValidationException")

    def test_an_echoed_session_token_never_reaches_the_client(self):
        for rid, headers, token in (
                ("bm-echo-env", {}, ENV_TOKEN),
                ("bm-echo-client", {"x-aws-access-key-id": CLIENT_KEY_ID, "x-aws-secret-access-key": CLIENT_SECRET,
                                    "x-aws-session-token": CLIENT_TOKEN, "x-aws-region": "eu-west-1"}, CLIENT_TOKEN)):
            status, _, payload = self.post(rid, {"model": "bedrock-echo-token", "max_tokens": 10,
                                                 "messages": [{"role": "user", "content": "x"}]}, headers=headers)
            self.assertEqual(status, 403, payload)
            self.assertEqual(self.mock.last()[1]["x-amz-security-token"], token)  # the mock really echoed it
            self.assertNotIn(token.encode(), payload)
            err = json.loads(payload)
            self.assertEqual(err["type"], "error")
            self.assertEqual(err["error"]["type"], "permission_error")
            _, m = self.record(rid)
            self.assertEqual(m["provider_error_type"], "UnrecognizedClientException")

    def test_exception_mid_stream_ends_with_an_error_event(self):
        status, _, payload = self.post("bm-throttle", {"model": "bedrock-throttle", "max_tokens": 10, "stream": True,
                                                       "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 200, payload)
        events = messages_events(payload)
        self.assertEqual([t for t, _ in events], ["message_start", "content_block_start", "content_block_delta",
                                                   "content_block_delta", "error"])
        self.assertEqual(events[-1][1], {"type": "error", "error": {
            "type": "rate_limit_error", "message": "Too many requests, please wait before trying again."}})
        a, m = self.record("bm-throttle")
        self.assertEqual(m["provider_error_type"], "throttlingException")
        # The provider's own error event ends the stream without the answer:
        # the request failed as the provider said (as for Anthropic's error
        # events and the Responses API's response.failed), though the client's
        # status stays 200.
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_http_error", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"], m["provider_error_count"]), (200, 200, 1))
        self.assertEqual(a["response"]["streamed_data"][-1], events[-1][1], "the provider's error event is kept")

    def test_client_gone_mid_stream(self):
        body = json.dumps({"model": "bedrock-slow", "max_tokens": 64, "stream": True,
                           "messages": [{"role": "user", "content": "How many r's?"}]}).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"x-provider: bedrock\r\nanthropic-version: 2023-06-01\r\nx-request-id: bm-cancel\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        buf = b""
        deadline = time.time() + 10
        while b"event: message_start\ndata: {" not in buf:
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()
        a, m = self.record("bm-cancel")
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertIsNone(m["provider_latency"])
        self.assertEqual(a["response"]["streamed_data"][0]["type"], "message_start")
        self.assertLess(len(a["response"]["streamed_data"]), 4)
        # Converse gives its counts only in its last event: none arrived, and
        # the zeros of the message_start the gateway wrote are no count.
        self.assertEqual(m["tokens"], NO_TOKENS)
        self.assertIsNone(m["cost"])
        wait_until("the gateway closed the upstream stream", lambda: "bedrock-slow" in self.mock.closed)

    def test_upstream_reset_mid_stream_ends_with_an_error_event(self):
        status, _, payload = self.post("bm-reset", {"model": "bedrock-reset", "max_tokens": 64, "stream": True,
                                                    "messages": [{"role": "user", "content": "How many r's?"}]})
        # http.client read the chunked body to its last chunk (else it raises): the response ended properly.
        self.assertEqual(status, 200, payload)
        events = messages_events(payload)
        self.assertEqual([t for t, _ in events], ["message_start", "content_block_start", "content_block_delta",
                                                   "content_block_delta", "content_block_delta", "error"])
        self.assertEqual(events[-1][1]["error"]["type"], "api_error")
        self.assertTrue(events[-1][1]["error"]["message"])
        a, m = self.record("bm-reset")
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_broken", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual(m["response_size"], len(payload))
        # The provider reported no error: the connection broke.
        self.assertEqual((m["provider_error_count"], m["provider_error_type"]), (0, None))
        self.assertEqual(a["response"]["streamed_data"], [data for _, data in events[:-1]])
        self.assertEqual(m["tokens"], NO_TOKENS)
        self.assertIsNone(m["cost"])

    def test_requests_converse_cannot_take_are_refused_and_nothing_is_sent(self):
        before = len(self.mock.requests)
        for rid, body, field in (
                ("bm-no-max", {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
                ("bm-url-image", {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]}]},
                 "messages.0.content.0.source.type"),
                ("bm-server-tool", {"model": MODEL, "max_tokens": 5,
                                    "messages": [{"role": "user", "content": "x"}],
                                    "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
                 "tools.0.type")):
            status, _, payload = self.post(rid, body)
            self.assertEqual(status, 400, payload)
            self.assertIn(field + ": ", payload.decode())
        self.assertEqual(len(self.mock.requests), before)

    def test_the_mock_checks_the_signature(self):
        # The checks above mean something only if the mock refuses what
        # Bedrock would: replay a signed request with its body changed.
        status, _, payload = self.post("bm-replay", {"model": MODEL, "max_tokens": 5,
                                                     "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 200, payload)
        path, headers, body = self.mock.requests[-1]
        sent = {k: v for k, v in headers.items() if k not in ("content-length", "connection")}
        status, _, payload = http_request(self.mock.port, "POST", path, body.replace(b'"x"', b'"y"'), sent)
        self.assertEqual(status, 400, payload)
        self.assertEqual(self.mock.problems, ["the signature does not match"])
        self.mock.problems = []

    def test_other_messages_paths_are_not_found(self):
        before = len(self.mock.requests)
        status, _, payload = self.post("bm-batches", {"requests": []}, path="/v1/messages/batches")
        self.assertEqual(status, 404, payload)
        self.assertEqual(len(self.mock.requests), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
