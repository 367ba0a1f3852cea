"""The OpenAI Responses API through the real binary (docs/records.md, "The
Responses API"): POST /v1/responses relayed unchanged (streams event by
event, "event:" lines kept), GET/DELETE /v1/responses/{id} passed through,
and records with the tokens, cost, final response and events of the
recorded transcripts (tests/testdata/providers/transcripts/) that
mock_upstream.py serves.
"""
import json
import os
import socket
import sys
import time
import unittest

from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until
from mock_upstream import RESPONSES_ERRORS, responses_events, responses_sse, transcript
from test_records import RecordAssertions, Records, gateway_version

PRICES = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                                     "model_prices_and_context_window.json")))


def cost(model, tokens_in, tokens_out, cached=0):
    e = PRICES[model]
    return ((tokens_in - cached) * e["input_cost_per_token"] + cached * e.get("cache_read_input_token_cost", 0)
            + tokens_out * e["output_cost_per_token"])


class ResponsesApiTest(unittest.TestCase, RecordAssertions):
    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY,
                          "ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        cls.records = Records(cls.gw)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    def send(self, rid, method, path, body=None):
        status, hdrs, payload = http_request(self.gw.port, method, path, body, {"x-request-id": rid})
        self.assertEqual(hdrs.get("x-request-id"), rid)
        self.assertNotIn(TEST_KEY.encode(), payload)
        return status, hdrs, payload

    def record(self, rid):
        found = self.records.wait_for(rid)
        self.assertEqual(len(found), 1, "exactly one record per request")
        self.assertNotIn(TEST_KEY, json.dumps(found[0]))
        return self.assert_shape(found[0])

    def upstream_request(self, path, method="POST"):
        events = [e for e in self.mock.events() if e.get("event") == "request" and e["path"] == path
                  and e["method"] == method]
        self.assertTrue(events, "the request reached the upstream")
        return events[-1]

    def assert_tokens(self, m, i, o, total, cached, reasoning):
        self.assertEqual(m["tokens"], {"input": i, "output": o, "total": total, "cached_input": cached,
                                       "cache_creation": None, "reasoning": reasoning})

    # --- not streamed ------------------------------------------------------

    def test_non_stream_text(self):
        body = {"model": "gpt-4o-mini-2024-07-18", "input": "Say OK"}
        status, hdrs, payload = self.send("resp-text", "POST", "/v1/responses", body)
        self.assertEqual(status, 200)
        self.assertEqual(payload, transcript("openai-responses-text.json"), "the body is relayed unchanged")
        a, m = self.record("resp-text")
        self.assertEqual((a["provider"], a["model"]), ("openai", "gpt-4o-mini-2024-07-18"))
        self.assertEqual(a["request"], body)
        self.assertEqual(a["response"], json.loads(transcript("openai-responses-text.json")))
        self.assert_tokens(m, 12, 2, 14, 0, 0)
        self.assertAlmostEqual(m["cost"], cost("gpt-4o-mini-2024-07-18", 12, 2), places=15)
        self.assertEqual((m["status"], m["path"], m["method"]), ("success", "/v1/responses", "POST"))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual(m["provider_request_id"], "req_upstream_1")
        self.assertEqual(m["response_size"], len(payload))

    def test_non_stream_reasoning_priced_by_the_response_model(self):
        # The requested model is unknown to the price table: the response's
        # (gpt-5-mini-2025-08-07) prices it.
        status, _, payload = self.send("resp-reason", "POST", "/v1/responses",
                                       {"model": "responses-reasoning", "input": "Hi"})
        self.assertEqual(status, 200)
        self.assertEqual(payload, transcript("openai-responses-reasoning.json"))
        a, m = self.record("resp-reason")
        self.assertEqual(a["model"], "responses-reasoning", "the model as sent upstream")
        self.assert_tokens(m, 865, 163, 1028, 0, 128)
        self.assertAlmostEqual(m["cost"], cost("gpt-5-mini-2025-08-07", 865, 163), places=15)

    # --- streamed ----------------------------------------------------------

    def test_stream_relayed_unchanged_and_recorded(self):
        body = {"model": "gpt-4o-mini-2024-07-18", "input": "Say OK", "stream": True}
        status, hdrs, payload = self.send("resp-stream", "POST", "/v1/responses", body)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        self.assertEqual(payload, responses_sse("gpt-4o-mini"), "every event, in order, event: lines kept")
        sent = self.upstream_request("/v1/responses")["body"]
        self.assertEqual(json.loads(sent), body)
        self.assertNotIn("stream_options", sent, "the Responses API has no stream_options")
        lines = [json.loads(l) for l in responses_events("gpt-4o-mini")]
        a, m = self.record("resp-stream")
        response = dict(a["response"])
        streamed = response.pop("streamed_data")
        self.assertEqual(streamed, lines)
        self.assertEqual(response, lines[-1]["response"], "the response of response.completed")
        self.assert_tokens(m, 12, 2, 14, 0, 0)
        self.assertAlmostEqual(m["cost"], cost("gpt-4o-mini-2024-07-18", 12, 2), places=15)
        self.assertEqual(m["status"], "success")
        self.assertEqual(m["provider_request_id"], "req_upstream_responses")
        self.assertEqual(m["response_size"], len(payload))
        self.assertIsNone(m["provider_error_type"])

    def test_stream_reasoning(self):
        status, _, payload = self.send("resp-stream-reason", "POST", "/v1/responses",
                                       {"model": "responses-reasoning", "input": "Hi", "stream": True})
        self.assertEqual(status, 200)
        self.assertEqual(payload, responses_sse("responses-reasoning"))
        a, m = self.record("resp-stream-reason")
        self.assertEqual(len(a["response"]["streamed_data"]), 56)
        self.assertEqual(a["response"]["status"], "completed")
        self.assert_tokens(m, 134, 28, 162, 0, 0)
        self.assertAlmostEqual(m["cost"], cost("gpt-5.1-codex-max", 134, 28), places=15)

    def test_stream_failed(self):
        status, _, payload = self.send("resp-stream-failed", "POST", "/v1/responses",
                                       {"model": "responses-failed", "input": "Hi", "stream": True})
        self.assertEqual(status, 200)
        self.assertEqual(payload, responses_sse("responses-failed"))
        a, m = self.record("resp-stream-failed")
        self.assertEqual(a["response"]["status"], "failed")
        self.assertEqual((m["provider_error_count"], m["provider_error_type"]), (1, "server_error"))
        self.assertEqual((m["status"], m["error_type"], m["error_count"], m["status_code"]),
                         ("error", "upstream_http_error", 1, 200))
        self.assert_tokens(m, 7, 0, 7, 0, 0)

    def test_stream_cut_mid_way_ends_with_the_responses_error_event(self):
        status, _, payload = self.send("resp-cut", "POST", "/v1/responses",
                                       {"model": "responses-cut", "input": "Hi", "stream": True})
        self.assertEqual(status, 200)
        whole = b"".join(b"event: %s\ndata: %s\n\n" % (json.loads(l)["type"].encode(), l)
                         for l in responses_events("responses-cut")[:4])
        self.assertTrue(payload.startswith(whole), "the whole events first, unchanged")
        tail = payload[len(whole):].decode()
        self.assertTrue(tail.startswith("event: error\ndata: "), tail)
        self.assertTrue(tail.endswith("\n\n"), tail)
        self.assertEqual(tail.count("\n\n"), 1, "one event, and nothing of the half event")
        event = json.loads(tail[len("event: error\ndata: "):])
        self.assertEqual(set(event), {"type", "code", "message", "param", "sequence_number"})
        self.assertEqual(event["type"], "error")
        self.assertEqual(event["sequence_number"], 4, "one past the last event the client got")
        self.assertIsNone(event["param"])
        self.assertIsInstance(event["code"], str)
        self.assertTrue(event["message"])
        a, m = self.record("resp-cut")
        self.assertEqual(m["status"], "error")
        self.assertEqual(m["status_code"], 200)
        self.assertEqual([e["type"] for e in a["response"]["streamed_data"]],
                         [json.loads(l)["type"] for l in responses_events("responses-cut")[:4]])
        self.assert_no_tokens(m)

    def test_client_gone_mid_stream_still_makes_a_cancelled_record(self):
        body = json.dumps({"model": "responses-slow", "input": "Hi", "stream": True}).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"x-request-id: resp-cancel\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        buf = b""
        deadline = time.time() + 10
        while b"event: response.in_progress\ndata: {" not in buf:
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()  # mid-stream: 7 more events over ~1.4 s
        a, m = self.record("resp-cancel")
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        self.assertEqual(m["status_code"], 200)
        self.assertIsNone(m["provider_latency"])
        streamed = a["response"]["streamed_data"]
        self.assertGreaterEqual(len(streamed), 2)
        self.assertLess(len(streamed), 9)
        self.assertEqual([e["type"] for e in streamed[:2]], ["response.created", "response.in_progress"])
        self.assertEqual(a["response"]["status"], "in_progress", "the last response seen")
        self.assert_no_tokens(m)
        wait_until("the upstream request is cancelled",
                   lambda: any(e.get("event") == "closed" and e.get("model") == "responses-slow"
                               for e in self.mock.events()))

    # --- errors ----------------------------------------------------------------

    def test_upstream_error_status_and_body_relayed_unchanged(self):
        for rid, model, stream, provider_error_type in (("resp-429", "responses-429", False, "tokens"),
                                                        ("resp-500", "responses-500", True, "server_error")):
            status, hdrs, payload = self.send(rid, "POST", "/v1/responses",
                                              {"model": model, "input": "Hi", "stream": stream})
            want_status, want_body = RESPONSES_ERRORS[model]
            self.assertEqual((status, payload), (want_status, want_body), rid)
            self.assertTrue(hdrs["content-type"].startswith("application/json"), rid)
            a, m = self.record(rid)
            self.assertEqual(a["response"], json.loads(want_body))
            self.assertEqual((m["status"], m["error_type"]), ("error", "upstream_http_error"), rid)
            self.assertEqual((m["status_code"], m["provider_status_code"]), (want_status, want_status), rid)
            # error.type of OpenAI's error body.
            self.assertEqual((m["provider_error_count"], m["provider_error_type"]), (1, provider_error_type), rid)
            self.assert_no_tokens(m)

    def test_malformed_bodies_are_400_and_never_reach_the_upstream(self):
        before = len([e for e in self.mock.events() if e.get("event") == "request"])
        for rid, body, message in (("resp-bad-cut", b'{"model":', "Request body is not valid JSON: incomplete JSON"),
                                   ("resp-bad-array", b"[]", "Request body must be a JSON object"),
                                   ("resp-bad-string", b'"x"', "Request body must be a JSON object")):
            status, hdrs, payload = self.send(rid, "POST", "/v1/responses", body)
            self.assertEqual(status, 400, rid)
            self.assertTrue(hdrs["content-type"].startswith("application/json"), rid)
            self.assertEqual(json.loads(payload), {"error": {"message": message, "type": "invalid_request_error",
                                                             "code": "invalid_json"}}, rid)
            _, m = self.record(rid)
            self.assertEqual((m["status"], m["error_type"], m["status_code"]), ("error", "invalid_request", 400))
            self.assertIsNone(m["provider_status_code"])
        self.assertEqual(len([e for e in self.mock.events() if e.get("event") == "request"]), before,
                         "no malformed request reached the upstream")

    # --- stored responses ----------------------------------------------------

    def test_get_input_items_and_delete_pass_through(self):
        status, _, payload = self.send("resp-get", "GET", "/v1/responses/resp_sanitized_normal")
        self.assertEqual(status, 200)
        self.assertEqual(payload, transcript("openai-responses-text.json"))
        self.upstream_request("/v1/responses/resp_sanitized_normal", "GET")
        a, m = self.record("resp-get")
        self.assertEqual((m["path"], m["method"], m["status"]), ("/v1/responses/resp_sanitized_normal", "GET",
                                                                 "success"))
        self.assertEqual(a["response"], json.loads(payload))
        self.assert_no_tokens(m)  # retrieving a stored response is not a new one

        status, _, payload = self.send("resp-items", "GET", "/v1/responses/resp_1/input_items?limit=5")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(payload)["object"], "list")
        self.upstream_request("/v1/responses/resp_1/input_items?limit=5", "GET")
        self.assertEqual(self.record("resp-items")[1]["path"], "/v1/responses/resp_1/input_items")

        status, _, payload = self.send("resp-del", "DELETE", "/v1/responses/resp_1")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(payload), {"id": "resp_1", "object": "response.deleted", "deleted": True})
        self.upstream_request("/v1/responses/resp_1", "DELETE")
        a, m = self.record("resp-del")
        self.assertEqual((m["method"], m["status"]), ("DELETE", "success"))
        self.assert_no_tokens(m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
