"""The native Anthropic Messages API through the real binary (docs/providers.md,
"The Messages API"): /v1/messages and /v1/messages/count_tokens passed to
anthropic unchanged (streams event by event), the gateway's own errors in
Anthropic's shape, a break mid-stream ended by an Anthropic error event, and
records whose tokens and cost are the recorded transcripts' (cache reads and
writes included; a stream's counts are the last of each, never a sum).
"""
import json
import os
import socket
import time
import unittest

from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until
from mock_upstream import messages_sse, transcript
from test_records import RecordAssertions, Records, gateway_version

PRICES = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                                     "model_prices_and_context_window.json")))


def cost(model, uncached, read, write, output):
    e = PRICES[model]
    return (uncached * e["input_cost_per_token"] + read * e["cache_read_input_token_cost"]
            + write * e["cache_creation_input_token_cost"] + output * e["output_cost_per_token"])


class MessagesApiTest(unittest.TestCase, RecordAssertions):
    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = MockUpstream()
        # DEFAULT_PROVIDER is openai (the default): Messages requests still go to anthropic.
        cls.gw = Gateway({"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % cls.mock.port, "ANTHROPIC_API_KEY": TEST_KEY,
                          "OPENAI_BASE_URL": cls.mock.url, "ENABLED_EXPORTERS": "console",
                          "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        cls.records = Records(cls.gw)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    def send(self, rid, path, body, headers=None):
        h = {"x-request-id": rid}
        h.update(headers or {})
        status, hdrs, payload = http_request(self.gw.port, "POST", path, body, h)
        self.assertEqual(hdrs.get("x-request-id"), rid)
        self.assertNotIn(TEST_KEY.encode(), payload)
        return status, hdrs, payload

    def record(self, rid):
        found = self.records.wait_for(rid)
        self.assertEqual(len(found), 1, "exactly one record per request")
        self.assertNotIn(TEST_KEY, json.dumps(found[0]))
        return self.assert_shape(found[0])

    def upstream_requests(self):
        return [e for e in self.mock.events() if e.get("event") == "request"]

    def assert_anthropic_error(self, payload, error_type, message=None):
        body = json.loads(payload)
        self.assertEqual(set(body), {"type", "error"})
        self.assertEqual(body["type"], "error")
        self.assertEqual(body["error"]["type"], error_type)
        if message is not None:
            self.assertEqual(body["error"]["message"], message)

    # --- relayed ------------------------------------------------------------

    def test_non_stream_relayed_unchanged_with_cache_tokens_and_cost(self):
        body = {"model": "native-cache", "max_tokens": 64, "messages": [{"role": "user", "content": "Say OK"}]}
        status, hdrs, payload = self.send("msg-text", "/v1/messages?beta=true", body,
                                          {"x-api-key": "sk-ant-client-key", "anthropic-beta": "x-2025"})
        self.assertEqual(status, 200)
        self.assertEqual(payload, transcript("anthropic-cache.json"), "the body is relayed unchanged")
        self.assertEqual(hdrs.get("request-id"), "req_native_1", "the upstream's headers reach the client")
        up = [e for e in self.upstream_requests() if e["model"] == "native-cache" and "?beta=true" in e["path"]][-1]
        self.assertEqual(up["path"], "/v1/messages?beta=true")
        self.assertEqual(json.loads(up["body"]), body)
        self.assertEqual(up["headers"]["x-api-key"], "sk-ant-client-key")
        self.assertEqual(up["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual(up["headers"]["anthropic-beta"], "x-2025")
        a, m = self.record("msg-text")
        self.assertEqual((a["provider"], a["model"]), ("anthropic", "native-cache"))
        self.assertEqual(a["response"], json.loads(transcript("anthropic-cache.json")))
        self.assertEqual(m["tokens"], {"input": 13, "output": 4, "total": 17, "cached_input": 0,
                                       "cache_creation": 0, "reasoning": 0})
        # Priced by the model the answer names (claude-opus-4-8).
        self.assertAlmostEqual(m["cost"], cost("claude-opus-4-8", 13, 0, 0, 4), places=15)
        # The mock sends x-request-id too, which the gateway prefers to request-id.
        self.assertEqual((m["status"], m["path"], m["provider_request_id"]), ("success", "/v1/messages", "req_upstream_1"))

    def test_stream_relayed_event_by_event_with_last_value_tokens(self):
        body = {"model": "native-cache", "max_tokens": 64, "stream": True,
                "messages": [{"role": "user", "content": "Sum the squares"}]}
        status, hdrs, payload = self.send("msg-stream", "/v1/messages", body,
                                          {"authorization": "Bearer sk-ant-client-key"})
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        self.assertEqual(payload, messages_sse("anthropic-cache.chunks.jsonl"), "every event, unchanged")
        a, m = self.record("msg-stream")
        self.assertEqual(m["tokens"], {"input": 6 + 6289 + 3337, "output": 198, "total": 6 + 6289 + 3337 + 198,
                                       "cached_input": 6289, "cache_creation": 3337, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], cost("claude-sonnet-5", 6, 6289, 3337, 198), places=15)
        response = a["response"]
        streamed = response.pop("streamed_data")
        events = [json.loads(l) for l in transcript("anthropic-cache.chunks.jsonl").decode().splitlines() if l.strip()]
        self.assertEqual(streamed, [e for e in events if e["type"] != "ping"])
        self.assertEqual(response["id"], "msg_011CdYfpjpVtBoXyXCQD1tQP")
        self.assertEqual(response["stop_reason"], "end_turn")
        self.assertEqual(response["content"][-1]["text"], "The sum of the squares of the numbers 1 through 12 is **650**.")
        self.assertEqual((m["status"], m["provider_request_id"], m["response_size"]),
                         ("success", "req_native_stream", len(payload)))

    def test_tool_use_relayed_unchanged_with_tokens_and_cost(self):
        # anthropic-tool.*: a tool_use answer, priced as the model it names (claude-haiku-4-5-20251001).
        body = {"model": "native-tool", "max_tokens": 256,
                "messages": [{"role": "user", "content": "Weather in four cities, as JSON"}],
                "tools": [{"name": "json", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "json"}}
        status, _, payload = self.send("msg-tool", "/v1/messages", body)
        self.assertEqual(status, 200)
        self.assertEqual(payload, transcript("anthropic-tool.json"), "the body is relayed unchanged")
        a, m = self.record("msg-tool")
        self.assertEqual(a["response"], json.loads(payload))
        self.assertEqual(m["tokens"], {"input": 1151, "output": 87, "total": 1238, "cached_input": 0,
                                       "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], cost("claude-haiku-4-5-20251001", 1151, 0, 0, 87), places=15)

        status, _, payload = self.send("msg-tool-stream", "/v1/messages", dict(body, stream=True))
        self.assertEqual(status, 200)
        self.assertEqual(payload, messages_sse("anthropic-tool.chunks.jsonl"), "every event, unchanged")
        a, m = self.record("msg-tool-stream")
        # message_start says 849 in and 10 out, the cumulative message_delta 849 in and 47 out.
        self.assertEqual(m["tokens"], {"input": 849, "output": 47, "total": 896, "cached_input": 0,
                                       "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], cost("claude-haiku-4-5-20251001", 849, 0, 0, 47), places=15)
        response = a["response"]
        self.assertEqual(response["stop_reason"], "tool_use")
        self.assertEqual(response["content"], [{
            "type": "tool_use", "id": "toolu_01KFbKqPYSuAKujiL6mTfzYA", "name": "json",
            "input": {"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}}])
        events = [json.loads(l) for l in transcript("anthropic-tool.chunks.jsonl").decode().splitlines() if l.strip()]
        self.assertEqual(response["streamed_data"], [e for e in events if e["type"] != "ping"])

    def test_count_tokens_is_relayed_and_not_billed(self):
        status, _, payload = self.send("msg-count", "/v1/messages/count_tokens",
                                       {"model": "native-cache", "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual((status, json.loads(payload)), (200, {"input_tokens": 42}))
        a, m = self.record("msg-count")
        self.assertIsNone(m["tokens"]["input"])
        self.assertIsNone(m["cost"])
        self.assertEqual(a["response"], {"input_tokens": 42})

    def test_client_gone_mid_stream_still_makes_a_cancelled_record(self):
        body = json.dumps({"model": "native-slow", "max_tokens": 64, "stream": True,
                           "messages": [{"role": "user", "content": "Hi"}]}).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"x-request-id: msg-cancel\r\nx-api-key: sk-ant-client-key\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        buf = b""
        deadline = time.time() + 10
        while b"event: content_block_start\ndata: {" not in buf:
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()  # mid-stream
        a, m = self.record("msg-cancel")
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        streamed = a["response"]["streamed_data"]
        self.assertEqual([e["type"] for e in streamed[:2]], ["message_start", "content_block_start"])
        self.assertEqual(m["tokens"]["input"], 12 + 0 + 0, "message_start's counts")
        wait_until("the upstream request is cancelled",
                   lambda: any(e.get("event") == "closed" and e.get("model") == "native-slow"
                               for e in self.mock.events()))

    # --- errors ---------------------------------------------------------------

    def test_an_upstream_error_keeps_its_status_and_anthropic_body(self):
        status, hdrs, payload = self.send("msg-529", "/v1/messages",
                                          {"model": "native-overload", "max_tokens": 5, "messages": []})
        self.assertEqual(status, 529)
        self.assert_anthropic_error(payload, "overloaded_error", "Overloaded")
        self.assertEqual(hdrs.get("request-id"), "req_overloaded_1")
        _, m = self.record("msg-529")
        self.assertEqual((m["status"], m["provider_status_code"], m["provider_error_type"]),
                         ("error", 529, "overloaded_error"))

    def test_gateway_errors_are_in_anthropics_shape_and_never_reach_the_upstream(self):
        before = len(self.upstream_requests())
        cases = [
            ("msg-bad-json", b'{"model": "native-cache", ', 400, "invalid_request_error"),
            ("msg-empty", b"", 400, "invalid_request_error"),
            ("msg-array", b"[]", 400, "invalid_request_error"),
            ("msg-no-max", {"model": "native-cache", "messages": []}, 400, "invalid_request_error"),
            ("msg-zero-max", {"model": "native-cache", "max_tokens": 0, "messages": []}, 400, "invalid_request_error"),
            ("msg-no-messages", {"model": "native-cache", "max_tokens": 5}, 400, "invalid_request_error"),
            ("msg-messages-string", {"model": "native-cache", "max_tokens": 5, "messages": "hi"}, 400,
             "invalid_request_error"),
            ("msg-no-model", {"max_tokens": 5, "messages": []}, 400, "invalid_request_error"),
        ]
        for rid, body, want_status, want_type in cases:
            status, hdrs, payload = self.send(rid, "/v1/messages", body)
            self.assertEqual(status, want_status, rid)
            self.assertTrue(hdrs["content-type"].startswith("application/json"), rid)
            self.assert_anthropic_error(payload, want_type)
        status, _, payload = self.send("msg-count-no-model", "/v1/messages/count_tokens", {"messages": []})
        self.assertEqual(status, 400)
        self.assert_anthropic_error(payload, "invalid_request_error", "model: Field required (a string)")
        status, _, payload = self.send("msg-unknown-provider", "/v1/messages",
                                       {"model": "native-cache", "max_tokens": 5, "messages": []},
                                       {"x-provider": "nope"})
        self.assertEqual(status, 400)
        self.assert_anthropic_error(payload, "invalid_request_error")
        self.assertEqual(len(self.upstream_requests()), before, "no malformed request reached the upstream")
        _, m = self.record("msg-no-max")
        self.assertEqual((m["status"], m["status_code"], m["error_type"]), ("error", 400, "invalid_request"))

    def test_missing_key_is_an_anthropic_401(self):
        gw = Gateway({"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % self.mock.port})
        try:
            status, _, payload = http_request(gw.port, "POST", "/v1/messages",
                                              {"model": "native-cache", "max_tokens": 5, "messages": []})
        finally:
            gw.stop()
        self.assertEqual(status, 401)
        self.assert_anthropic_error(payload, "authentication_error")

    def test_default_provider_serving_messages_takes_them(self):
        # DEFAULT_PROVIDER=bedrock serves the Messages API: it takes a request that names no provider.
        base = "http://127.0.0.1:%d" % self.mock.port
        gw = Gateway({"DEFAULT_PROVIDER": "bedrock", "BEDROCK_BASE_URL": base, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                      "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AWS_REGION": "us-east-1",
                      "ANTHROPIC_BASE_URL": base})
        try:
            status, _, payload = http_request(gw.port, "POST", "/v1/messages",
                                              {"model": "anthropic.claude-3-haiku", "max_tokens": 5,
                                               "messages": [{"role": "user", "content": "Hi"}]})
        finally:
            gw.stop()
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["type"], "message")
        self.assertTrue(any(e["path"] == "/model/anthropic.claude-3-haiku/converse" for e in self.upstream_requests()))

    def test_a_break_mid_stream_ends_with_an_anthropic_error_event(self):
        status, _, payload = self.send("msg-reset", "/v1/messages",
                                       {"model": "native-reset", "max_tokens": 5, "stream": True, "messages": []})
        self.assertEqual(status, 200)
        text = payload.decode()
        blocks = [b for b in text.split("\n\n") if b]
        last = blocks[-1].split("\n")
        self.assertEqual(last[0], "event: error")
        self.assertEqual(json.loads(last[1][len("data: "):])["error"]["type"], "api_error")
        for b in blocks[:-1]:  # every event before it is whole
            self.assertTrue(b.startswith("event: ") and "\ndata: {" in b, b)
            json.loads(b.split("\ndata: ", 1)[1])
        _, m = self.record("msg-reset")
        self.assertEqual((m["status"], m["error_type"]), ("error", "upstream_broken"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
