"""The gemini provider through the real binary, against a strict mock of the
Gemini API (docs/providers.md).

The mock answers only what Gemini would: POST
/v1beta/models/{model}:generateContent or
:streamGenerateContent?alt=sse, the key in x-goog-api-key and no
Authorization header, a body in Gemini's shape (no OpenAI fields). Anything
else gets Gemini's 400 error body and is kept in `mock.problems`, which every
test checks is empty. Its answers are the recorded transcripts in
tests/testdata/providers/transcripts/gemini-*: the tool call when the
request has tools, else the text answer, unless a test set `answer_next`.
Streams of model gemini-slow send one event every 200 ms (noting in
`mock.closed` a gateway that closed the connection); of gemini-reset, two
events, then a TCP reset.

Records come from the console exporter on stdout; each test finds its own by
the x-request-id it sent.
"""
import http.server
import json
import os
import socket
import threading
import time
import unittest
from urllib.parse import urlsplit

from harness import (HERE, SLOW, TEST_KEY, Gateway, http_request, peer_closed, reset_connection, sse_events,
                     wait_until)

TRANSCRIPTS = os.path.join(HERE, "..", "testdata", "providers", "transcripts")
PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))
CLIENT_KEY = "AIzaSy-CLIENT-gemini-5d4c3b2a"
MODEL = "gemini-3-pro-preview"
GEMINI_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
GENERATION_CONFIG = {"temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount", "seed",
                     "responseMimeType", "responseJsonSchema"}


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), "rb") as f:
        return f.read()


def chunk_lines(name):
    return [l for l in transcript(name).decode().splitlines() if l.strip()]


def cost(model, tokens_in, tokens_out):
    entry = PRICES["gemini/" + model]
    return tokens_in * entry["input_cost_per_token"] + tokens_out * entry["output_cost_per_token"]


class StrictGemini:
    """A Gemini API mock that refuses anything Gemini would not take."""

    def __init__(self):
        self.requests = []  # (path, headers, body) of every request
        self.problems = []
        self.keys = set()
        self.answer_next = None  # a transcript's name (gemini-reasoning): the next answer's
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
                problem, doc = outer.check(self.path, headers, body)
                if problem:
                    outer.problems.append(problem)
                    return self.reply(400, {"error": {"code": 400, "message": "mock: " + problem,
                                                      "status": "INVALID_ARGUMENT"}})
                model, method = urlsplit(self.path).path.rsplit("/", 1)[1].split(":", 1)
                if model == "gemini-echo-key":
                    # What a careless upstream might do: quote the key back.
                    return self.reply(400, {"error": {"code": 400, "message": "API key not valid: %s. Please pass a "
                                                      "valid API key." % headers["x-goog-api-key"],
                                                      "status": "INVALID_ARGUMENT"}})
                name = outer.answer_next or ("gemini-tool" if doc.get("tools") else "gemini-text")
                outer.answer_next = None
                if method == "generateContent":
                    return self.reply(200, transcript(name + ".json"))
                events = chunk_lines(name + ".chunks.jsonl")
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, line in enumerate(events):
                    if model == "gemini-reset" and i == 2:
                        time.sleep(0.05)
                        return reset_connection(self)
                    data = ("data: %s\r\n\r\n" % line).encode()
                    # Each event split over two HTTP chunks, as a network might.
                    for part in (data[:17], data[17:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    if model == "gemini-slow":
                        if peer_closed(self.connection, 0.2 * SLOW):
                            outer.closed.append(model)
                            self.close_connection = True
                            return
                    else:
                        time.sleep(0.01)
                self.wfile.write(b"0\r\n\r\n")

            def reply(self, status, doc):
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def check(self, target, headers, body):
        """What Gemini would refuse, or None; and the parsed body."""
        url = urlsplit(target)
        parts = url.path.split("/")
        if len(parts) != 4 or parts[:3] != ["", "v1beta", "models"] or ":" not in parts[3]:
            return "unexpected path %s" % url.path, None
        method = parts[3].split(":", 1)[1]
        if method == "generateContent" and url.query:
            return "unexpected query %s" % url.query, None
        if method == "streamGenerateContent" and url.query != "alt=sse":
            return "a stream needs alt=sse, got %r" % url.query, None
        if method not in ("generateContent", "streamGenerateContent"):
            return "unknown method %s" % method, None
        if "authorization" in headers:
            return "an Authorization header reached Gemini", None
        key = headers.get("x-goog-api-key")
        if not key:
            return "no x-goog-api-key", None
        self.keys.add(key)
        if not headers.get("content-type", "").startswith("application/json"):
            return "content-type %r" % headers.get("content-type"), None
        try:
            doc = json.loads(body)
        except ValueError:
            return "the body is not JSON", None
        if not isinstance(doc, dict):
            return "the body is not an object", None
        if set(doc) - GEMINI_FIELDS:
            return "fields Gemini does not know: %s" % sorted(set(doc) - GEMINI_FIELDS), None
        contents = doc.get("contents")
        if not isinstance(contents, list) or not contents:
            return "no contents", None
        for c in contents:
            if c.get("role") not in ("user", "model") or not c.get("parts"):
                return "bad content %r" % c, None
            for p in c["parts"]:
                if not isinstance(p, dict) or not (set(p) & {"text", "inlineData", "functionCall", "functionResponse"}):
                    return "bad part %r" % p, None
        if "systemInstruction" in doc and not doc["systemInstruction"].get("parts"):
            return "systemInstruction without parts", None
        for tool in doc.get("tools", []):
            for d in tool.get("functionDeclarations", []):
                if set(d) - {"name", "description", "parametersJsonSchema"}:
                    return "bad function declaration %r" % d, None
        if set(doc.get("generationConfig", {})) - GENERATION_CONFIG:
            return "generationConfig fields Gemini does not know: %s" % sorted(
                set(doc["generationConfig"]) - GENERATION_CONFIG), None
        return None, doc

    def last(self):
        path, headers, body = self.requests[-1]
        return path, headers, json.loads(body)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class GeminiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = StrictGemini()
        cls.gw = Gateway({"GEMINI_BASE_URL": "http://127.0.0.1:%d" % cls.mock.port, "GEMINI_API_KEY": TEST_KEY,
                          "ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50"})

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, code
        out = cls.gw.stderr_seen.decode("utf-8", "replace") + cls.gw.stdout_text()
        for secret in (TEST_KEY, CLIENT_KEY):
            assert secret not in out, "a key leaked into the gateway's output"

    def tearDown(self):
        problems, self.mock.problems = self.mock.problems, []
        self.assertEqual(problems, [], "the mock Gemini refused a request")

    def chat(self, rid, body, headers=None):
        h = {"x-request-id": rid}
        h.update(headers or {})
        return http_request(self.gw.port, "POST", "/v1/chat/completions", body, h)

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

    def test_non_streamed_chat_completion(self):
        status, headers, payload = self.chat("gem-plain", {
            "model": MODEL, "temperature": 0.3, "max_tokens": 500, "user": "u-1",
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "How many r's are in the word strawberry?"}]},
            {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(headers["x-request-id"], "gem-plain")
        path, sent_headers, sent = self.mock.last()
        self.assertEqual(path, "/v1beta/models/%s:generateContent" % MODEL)
        self.assertEqual(sent_headers["x-goog-api-key"], TEST_KEY)
        self.assertEqual(sent, {"systemInstruction": {"parts": [{"text": "Be brief."}]},
                                "contents": [{"role": "user",
                                              "parts": [{"text": "How many r's are in the word strawberry?"}]}],
                                "generationConfig": {"temperature": 0.3, "maxOutputTokens": 500}})

        doc = json.loads(payload)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["id"], "Un6LacrVMcjUxs0PmJfWoQc")
        self.assertEqual(doc["model"], MODEL)
        message = doc["choices"][0]["message"]
        self.assertEqual(message["role"], "assistant")
        self.assertTrue(message["content"].startswith("There are **3** r's in strawberry."))
        self.assertEqual(doc["choices"][0]["finish_reason"], "stop")
        self.assertEqual(doc["usage"], {"prompt_tokens": 9, "completion_tokens": 272, "total_tokens": 281,
                                        "completion_tokens_details": {"reasoning_tokens": 244}})

        a, m = self.record("gem-plain")
        self.assertEqual((a["provider"], a["model"]), ("gemini", MODEL))
        self.assertEqual(m["tokens"], {"input": 9, "output": 272, "total": 281, "cached_input": None, "cache_creation": None, "reasoning": 244})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 9, 272), delta=1e-12)
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("success", 200, 200))
        self.assertEqual(a["response"], doc)

    def test_streamed_chat_completion_with_a_model_prefix(self):
        status, headers, payload = self.chat("gem-stream", {
            "model": "gemini/" + MODEL, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "How many r's are in the word strawberry?"}]},
            {"Authorization": "Bearer " + CLIENT_KEY})
        self.assertEqual(status, 200, payload)
        self.assertTrue(headers["content-type"].startswith("text/event-stream"))
        path, sent_headers, sent = self.mock.last()
        self.assertEqual(path, "/v1beta/models/%s:streamGenerateContent?alt=sse" % MODEL)
        self.assertEqual(sent_headers["x-goog-api-key"], CLIENT_KEY)  # the client's key wins
        self.assertEqual(sent, {"contents": [{"role": "user",
                                              "parts": [{"text": "How many r's are in the word strawberry?"}]}]})

        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertTrue(all(c["id"] == "bH6LaZW8Fp_3nsEPqtaSwQ4" and c["model"] == MODEL for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(text, "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y")
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], "stop")
        # Gemini repeats its cumulative usage in every event: the last one counts.
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"], {"prompt_tokens": 9, "completion_tokens": 208, "total_tokens": 217,
                                               "completion_tokens_details": {"reasoning_tokens": 185}})

        a, m = self.record("gem-stream")
        self.assertEqual((a["provider"], a["model"]), ("gemini", MODEL))
        self.assertEqual(m["tokens"], {"input": 9, "output": 208, "total": 217, "cached_input": None, "cache_creation": None, "reasoning": 185})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 9, 208), delta=1e-12)
        self.assertEqual(m["status"], "success")
        self.assertEqual(a["response"]["choices"][0]["delta"]["content"], text)
        self.assertEqual(a["response"]["streamed_data"], chunks)

    def test_stream_without_usage_chunk_still_records_tokens(self):
        status, _, payload = self.chat("gem-stream-nousage", {
            "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}, {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        chunks = [json.loads(e) for e in sse_events(payload)[:-1]]
        self.assertFalse(any("usage" in c for c in chunks))
        _, m = self.record("gem-stream-nousage")
        self.assertEqual(m["tokens"], {"input": 9, "output": 208, "total": 217, "cached_input": None, "cache_creation": None, "reasoning": 185})

    def test_tool_call_and_tool_result_round_trip(self):
        weather = {"type": "function", "function": {
            "name": "weather", "description": "Get the weather in a location",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                           "required": ["location"], "additionalProperties": False}}}
        ask = [{"role": "user", "content": "What is the weather in San Francisco?"}]
        status, _, payload = self.chat("gem-tool", {"model": MODEL, "messages": ask, "tools": [weather],
                                                    "tool_choice": {"type": "function",
                                                                    "function": {"name": "weather"}}},
                                       {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        _, _, sent = self.mock.last()
        self.assertEqual(sent["tools"], [{"functionDeclarations": [{
            "name": "weather", "description": "Get the weather in a location",
            "parametersJsonSchema": weather["function"]["parameters"]}]}])
        self.assertEqual(sent["toolConfig"], {"functionCallingConfig": {"mode": "ANY",
                                                                        "allowedFunctionNames": ["weather"]}})
        doc = json.loads(payload)
        choice = doc["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        self.assertIsNone(choice["message"]["content"])
        call = choice["message"]["tool_calls"][0]
        self.assertEqual(call["id"], "call_0")
        self.assertEqual(call["function"]["name"], "weather")
        self.assertEqual(json.loads(call["function"]["arguments"]), {"location": "San Francisco"})
        _, m = self.record("gem-tool")
        self.assertEqual(m["tokens"], {"input": 29, "output": 908, "total": 937, "cached_input": None, "cache_creation": None, "reasoning": 893})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 29, 908), delta=1e-12)

        # The client sends the call back with its result, the way the OpenAI SDK does.
        history = ask + [choice["message"], {"role": "tool", "tool_call_id": call["id"],
                                             "content": json.dumps({"temperature": 58, "condition": "sunny"})}]
        status, _, payload = self.chat("gem-tool-2", {"model": MODEL, "messages": history, "tools": [weather]},
                                       {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        _, _, sent = self.mock.last()
        self.assertEqual(sent["contents"][1], {"role": "model", "parts": [{
            "functionCall": {"name": "weather", "args": {"location": "San Francisco"}},
            "thoughtSignature": "skip_thought_signature_validator"}]})
        self.assertEqual(sent["contents"][2], {"role": "user", "parts": [{"functionResponse": {
            "name": "weather", "response": {"temperature": 58, "condition": "sunny"}}}]})

    def test_tool_call_streamed(self):
        weather = {"type": "function", "function": {"name": "weather", "parameters": {
            "type": "object", "properties": {"location": {"type": "string"}}}}}
        status, _, payload = self.chat("gem-tool-s", {"model": MODEL, "stream": True, "tools": [weather],
                                                      "messages": [{"role": "user", "content": "Weather in SF?"}]},
                                       {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        chunks = [json.loads(e) for e in sse_events(payload)[:-1]]
        calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks
                 if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
        self.assertEqual(calls[0]["id"], "call_0")
        self.assertEqual(calls[0]["function"]["name"], "weather")
        self.assertEqual(json.loads("".join(c["function"]["arguments"] for c in calls)), {"location": "San Francisco"})
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "tool_calls")
        _, m = self.record("gem-tool-s")
        self.assertEqual(m["tokens"], {"input": 29, "output": 60, "total": 89, "cached_input": None, "cache_creation": None, "reasoning": 45})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 29, 60), delta=1e-12)

    def test_reasoning_replayed(self):
        # gemini-reasoning.*: thoughts counted in the output and apart as reasoning.
        ask = {"model": MODEL, "messages": [{"role": "user", "content": "How many r's are in strawberry?"}]}
        self.mock.answer_next = "gemini-reasoning"
        status, _, payload = self.chat("gem-reason", ask, {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        doc = json.loads(payload)
        self.assertEqual(doc["choices"][0]["message"]["content"],
                         "There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.")
        self.assertEqual(doc["usage"], {"prompt_tokens": 9, "completion_tokens": 29 + 282, "total_tokens": 320,
                                        "completion_tokens_details": {"reasoning_tokens": 282}})
        _, m = self.record("gem-reason")
        self.assertEqual(m["tokens"], {"input": 9, "output": 311, "total": 320, "cached_input": None,
                                       "cache_creation": None, "reasoning": 282})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 9, 311), delta=1e-12)

        self.mock.answer_next = "gemini-reasoning"
        status, _, payload = self.chat("gem-reason-s", dict(ask, stream=True), {"x-provider": "gemini"})
        self.assertEqual(status, 200, payload)
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(text, "There are **3** \"r\"s in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.")
        a, m = self.record("gem-reason-s")
        # The last event's cumulative usageMetadata: 9 prompt, 29 candidates, 256 thoughts.
        self.assertEqual(m["tokens"], {"input": 9, "output": 285, "total": 294, "cached_input": None,
                                       "cache_creation": None, "reasoning": 256})
        self.assertAlmostEqual(m["cost"], cost(MODEL, 9, 285), delta=1e-12)
        self.assertEqual(a["response"]["streamed_data"], chunks)

    def test_upstream_error_is_openai_shaped_and_never_shows_the_key(self):
        for rid, headers, key in (("gem-err-env", {"x-provider": "gemini"}, TEST_KEY),
                                  ("gem-err-client", {"x-provider": "gemini", "Authorization": "Bearer " + CLIENT_KEY},
                                   CLIENT_KEY)):
            status, _, payload = self.chat(rid, {"model": "gemini-echo-key",
                                                 "messages": [{"role": "user", "content": "x"}]}, headers)
            self.assertEqual(status, 400, payload)
            self.assertEqual(self.mock.last()[1]["x-goog-api-key"], key)  # the mock really echoed it
            self.assertNotIn(key.encode(), payload)
            err = json.loads(payload)["error"]
            self.assertEqual(err["type"], "invalid_request_error")
            self.assertEqual(err["code"], "INVALID_ARGUMENT")
            self.assertTrue(err["message"].startswith("API key not valid: "), err)
            _, m = self.record(rid)
            self.assertEqual((m["status_code"], m["provider_status_code"]), (400, 400))
            self.assertEqual(m["provider_error_type"], "INVALID_ARGUMENT")
            self.assertEqual(m["error_type"], "upstream_http_error")

    def test_client_gone_mid_stream(self):
        body = json.dumps({"model": "gemini-slow", "stream": True,
                           "messages": [{"role": "user", "content": "How many r's?"}]}).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"x-provider: gemini\r\nx-request-id: gem-cancel\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        buf = b""
        deadline = time.time() + 10
        while b"There are **3**" not in buf:  # the first event's text
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()
        a, m = self.record("gem-cancel")
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertIsNone(m["provider_latency"])
        # The usage the first event carried (cumulative: 9 prompt, 5 candidates, 185 thoughts).
        self.assertEqual(m["tokens"], {"input": 9, "output": 190, "total": 199, "cached_input": None,
                                       "cache_creation": None, "reasoning": 185})
        self.assertLessEqual(len(a["response"]["streamed_data"]), 2)
        wait_until("the gateway closed the upstream stream", lambda: "gemini-slow" in self.mock.closed)

    def test_upstream_reset_mid_stream(self):
        status, _, payload = self.chat("gem-reset", {"model": "gemini-reset", "stream": True,
                                                     "messages": [{"role": "user", "content": "How many r's?"}]},
                                       {"x-provider": "gemini"})
        # http.client read the chunked body to its last chunk (else it raises): the response ended properly.
        self.assertEqual(status, 200)
        events = sse_events(payload)
        self.assertNotIn("[DONE]", events)
        last = json.loads(events[-1])
        self.assertEqual(set(last), {"error"}, last)
        self.assertTrue(last["error"]["message"])
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(text, "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y",
                         "both events before the reset")
        a, m = self.record("gem-reset")
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_broken", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual(m["response_size"], len(payload))
        self.assertEqual(a["response"]["streamed_data"][:len(chunks)], chunks)
        self.assertEqual((m["tokens"]["input"], m["tokens"]["output"]), (9, 208), "the second event's usage")

    def test_request_gemini_cannot_take_is_a_400_and_nothing_is_sent(self):
        before = len(self.mock.requests)
        status, _, payload = self.chat("gem-reject", {
            "model": MODEL, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]},
            {"x-provider": "gemini"})
        self.assertEqual(status, 400, payload)
        self.assertEqual(json.loads(payload)["error"]["code"], "unsupported_parameter")
        self.assertEqual(len(self.mock.requests), before)


class GeminiWithoutKeyTest(unittest.TestCase):
    def test_no_key_anywhere_is_401_and_nothing_is_sent(self):
        mock = StrictGemini()
        self.addCleanup(mock.stop)
        gw = Gateway({"GEMINI_BASE_URL": "http://127.0.0.1:%d" % mock.port})
        self.addCleanup(gw.stop)
        status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions",
                                          {"model": "gemini/" + MODEL, "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 401, payload)
        err = json.loads(payload)["error"]
        self.assertEqual(err["code"], "missing_api_key")
        self.assertIn("GEMINI_API_KEY", err["message"])
        self.assertEqual(mock.requests, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
