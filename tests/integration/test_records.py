"""Request records through the real binary (docs/records.md).

The console exporter writes one JSON record per line on stdout; every test
sends its own x-request-id and finds its record by that id.
"""
import datetime
import json
import os
import re
import socket
import subprocess
import time
import unittest

from harness import GATEWAY_BIN, HERE, TEST_KEY, Gateway, MockUpstream, http_request, sse_events, wait_until

PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-RECORDS"

TOP_KEYS = {"timestamp", "resource", "name", "attributes"}
RESOURCE_KEYS = {"service.name", "service.version", "deployment.environment"}
ATTRIBUTE_KEYS = {"id", "thread_id", "org_id", "user_id", "project_id", "experiment_id", "provider", "model",
                  "request", "response", "metadata"}
METADATA_KEYS = {"project_id", "project_name", "latency", "ttfb", "tokens", "cost", "cost_status", "status", "path",
                 "method", "request_size", "response_size", "provider_latency", "status_code",
                 "provider_status_code", "error_count", "error_type", "provider_error_count", "provider_error_type",
                 "provider_request_id"}
COST_STATUSES = {"priced", "unpriced", "no_usage", "error"}
ERROR_TYPES = {"invalid_request", "authentication", "request_too_large", "upstream_unreachable", "upstream_broken",
               "upstream_timeout", "upstream_http_error", "client_disconnected", "internal"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def gateway_version():
    out = subprocess.run([GATEWAY_BIN, "--version"], capture_output=True, timeout=20).stdout.decode()
    return out.split()[1]


def price(model, tokens_in, tokens_out):
    entry = PRICES[model]
    return tokens_in * entry["input_cost_per_token"] + tokens_out * entry["output_cost_per_token"]


class Records:
    """The records a gateway wrote on stdout, by id."""

    def __init__(self, gw):
        self.gw = gw

    def all(self):
        text = self.gw.stdout_text()
        complete = text[:text.rfind("\n") + 1]  # a line still being written is not a record yet
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def wait_for(self, rid, timeout=10.0):
        deadline = time.time() + timeout
        while True:
            found = [r for r in self.all() if r["attributes"]["id"] == rid]
            if found:
                return found
            if time.time() > deadline:
                raise AssertionError("no record with id %r within %.0f s" % (rid, timeout))
            time.sleep(0.02)


class RecordAssertions:
    def assert_shape(self, rec, environment="development", service="noveum_ai_gateway"):
        """docs/records.md: every key present (null where unknown), no other."""
        self.assertEqual(set(rec), TOP_KEYS)
        self.assertEqual(set(rec["resource"]), RESOURCE_KEYS)
        self.assertEqual(rec["resource"], {"service.name": service, "service.version": self.version,
                                           "deployment.environment": environment})
        self.assertEqual(rec["name"], "ai_gateway_request_log")
        self.assertRegex(rec["timestamp"], TIMESTAMP)
        when = datetime.datetime.strptime(rec["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        self.assertLess(abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()), 120)
        a = rec["attributes"]
        self.assertEqual(set(a), ATTRIBUTE_KEYS)
        m = a["metadata"]
        self.assertEqual(set(m), METADATA_KEYS)
        self.assertIsInstance(a["id"], str)
        self.assertTrue(a["id"])
        if m["tokens"] is not None:
            self.assertEqual(set(m["tokens"]), {"input", "output", "total", "cached_input", "cache_creation",
                                                "reasoning"})
        self.assertIn(m["status"], ("success", "error", "cancelled"))
        for k in ("latency", "request_size", "response_size"):
            self.assertIsInstance(m[k], int, k)
            self.assertGreaterEqual(m[k], 0, k)
        for k in ("ttfb", "provider_latency"):
            self.assertTrue(m[k] is None or (isinstance(m[k], int) and 0 <= m[k] <= m["latency"]), (k, m))
        self.assertEqual(m["project_id"], a["project_id"])
        failed = m["status"] != "success" or (m["status_code"] or 0) >= 400
        self.assertEqual(m["error_count"], 1 if failed else 0, m)
        if failed:
            self.assertIn(m["error_type"], ERROR_TYPES)
        else:
            self.assertIsNone(m["error_type"])
        self.assertIn(m["provider_error_count"], (0, 1))
        if m["provider_error_count"] == 0:
            self.assertIsNone(m["provider_error_type"])
        if m["cost"] is not None:
            self.assertIsInstance(m["cost"], (int, float))
            self.assertGreaterEqual(m["cost"], 0)
        # docs/records.md, "Cost status": a cost exactly when priced; no
        # token count: error for a failed or cancelled request, else no_usage.
        self.assertIn(m["cost_status"], COST_STATUSES)
        self.assertEqual(m["cost"] is not None, m["cost_status"] == "priced", m)
        if m["tokens"] is None or (m["tokens"]["input"] is None and m["tokens"]["output"] is None):
            self.assertEqual(m["cost_status"], "error" if failed else "no_usage", m)
        return a, m

    def assert_no_tokens(self, m):
        self.assertTrue(m["tokens"] is None or m["tokens"] == {"input": None, "output": None, "total": None,
                                                              "cached_input": None, "cache_creation": None,
                                                              "reasoning": None},
                        m["tokens"])
        self.assertIsNone(m["cost"])


def cache_price(model, uncached, read, write, output):
    """The cost of a usage with prompt-cache reads and writes, each at its own price."""
    e = PRICES[model]
    return (uncached * e["input_cost_per_token"] + read * e["cache_read_input_token_cost"]
            + write * e["cache_creation_input_token_cost"] + output * e["output_cost_per_token"])


def send_raw(port, body, headers=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
              b"Content-Length: %d\r\n\r\n%s" % (headers, len(body), body))
    return s


class RecordsTest(unittest.TestCase, RecordAssertions):
    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = MockUpstream()
        base = "http://127.0.0.1:%d" % cls.mock.port
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY,
                          "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": TEST_KEY,
                          "BEDROCK_BASE_URL": base, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                          "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_REGION": "us-east-1",
                          "GROQ_BASE_URL": cls.mock.url,  # and no GROQ_API_KEY: 401
                          "DEPLOYMENT_ENVIRONMENT": "integration",
                          "ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        cls.records = Records(cls.gw)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    def chat(self, rid, body, headers=None, path="/v1/chat/completions"):
        h = {"x-request-id": rid}
        h.update(headers or {})
        status, hdrs, payload = http_request(self.gw.port, "POST", path, body, h)
        self.assertEqual(hdrs.get("x-request-id"), rid)
        return status, hdrs, payload

    def record(self, rid):
        found = self.records.wait_for(rid)
        self.assertEqual(len(found), 1, "exactly one record per request")
        return self.assert_shape(found[0], environment="integration")

    def cancel_mid_stream(self, rid, body, headers=b""):
        """Starts a chat stream, reads until its first chunk arrived, then
        closes the connection; returns the record."""
        s = send_raw(self.gw.port, json.dumps(body).encode(), b"x-request-id: %s\r\n%s" % (rid.encode(), headers))
        buf = b""
        deadline = time.time() + 10
        while b"data: {" not in buf:
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()
        a, m = self.record(rid)
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("cancelled", "client_disconnected", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertIsNone(m["provider_latency"], "the upstream response never finished")
        self.assertGreaterEqual(len(a["response"]["streamed_data"]), 1)
        return a, m

    def assert_upstream_closed(self, model):
        wait_until("the gateway closed the upstream connection of %s" % model,
                   lambda: any(e.get("event") == "closed" and e.get("model") == model for e in self.mock.events()))

    def broken_stream(self, rid, body, headers):
        """A chat stream the upstream breaks (TCP reset): the client gets a
        terminated response (http.client reads the chunked body to its last
        chunk, else it raises) whose last event is an OpenAI error; returns
        the client's chunks and the record."""
        status, _, payload = self.chat(rid, body, headers)
        self.assertEqual(status, 200)
        events = sse_events(payload)
        self.assertNotIn("[DONE]", events, "a broken stream does not look complete")
        last = json.loads(events[-1])
        self.assertEqual(set(last), {"error"}, last)
        self.assertTrue(last["error"]["message"])
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(chunks and all(c["object"] == "chat.completion.chunk" for c in chunks))
        a, m = self.record(rid)
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_broken", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual(m["response_size"], len(payload))
        self.assertEqual(a["response"]["streamed_data"][:len(chunks)], chunks)
        return chunks, a, m

    # --- success ---------------------------------------------------------

    def test_success_non_stream(self):
        body = json.dumps(CHAT).encode()
        status, _, payload = self.chat("rec-success", body)
        self.assertEqual(status, 200)
        a, m = self.record("rec-success")
        self.assertEqual(a["provider"], "openai")
        self.assertEqual(a["model"], "gpt-4o", "the requested model, not the one the response names")
        self.assertEqual(a["request"], CHAT)
        self.assertEqual(a["response"], json.loads(payload))
        for k in ("thread_id", "org_id", "user_id", "project_id", "experiment_id"):
            self.assertIsNone(a[k], k)
        self.assertIsNone(m["project_name"])
        self.assertEqual(m["tokens"], {"input": 16, "output": 363, "total": 379, "cached_input": 0, "cache_creation": None, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], price("gpt-4o", 16, 363), delta=1e-12)
        self.assertEqual(m["status"], "success")
        self.assertEqual((m["path"], m["method"]), ("/v1/chat/completions", "POST"))
        self.assertEqual(m["request_size"], len(body))
        self.assertEqual(m["response_size"], len(payload))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual((m["error_count"], m["provider_error_count"]), (0, 0))
        self.assertIsNone(m["provider_error_type"])
        self.assertEqual(m["provider_request_id"], "req_upstream_1")
        self.assertIsNotNone(m["ttfb"])
        self.assertIsNotNone(m["provider_latency"])
        self.assertEqual(m["cost_status"], "priced")

    def test_embeddings_tokens_and_cost(self):
        body = {"model": "text-embedding-3-small", "input": ["one", "two", "three"]}
        status, _, payload = self.chat("rec-embed", body, path="/v1/embeddings")
        self.assertEqual(status, 200)
        a, m = self.record("rec-embed")
        self.assertEqual(a["response"], json.loads(payload), "the response body as the client saw it")
        self.assertEqual(m["tokens"], {"input": 12, "output": 0, "total": 12, "cached_input": None,
                                       "cache_creation": None, "reasoning": None})
        self.assertAlmostEqual(m["cost"], 12 * PRICES["text-embedding-3-small"]["input_cost_per_token"], delta=1e-15)
        self.assertEqual((m["status"], m["path"]), ("success", "/v1/embeddings"))

    def test_generated_id_is_uuid_and_echoed(self):
        status, hdrs, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(status, 200)
        rid = hdrs["x-request-id"]
        self.assertRegex(rid, UUID4)
        self.record(rid)

    def stream_and_check(self, rid, body):
        raw = json.dumps(body).encode()
        status, hdrs, payload = self.chat(rid, raw)
        self.assertEqual(status, 200)
        client_chunks = [json.loads(e) for e in sse_events(payload) if e != "[DONE]"]
        a, m = self.record(rid)
        self.assertEqual(a["request"], body)
        resp = a["response"]
        chunks = resp["streamed_data"]
        self.assertEqual(m["tokens"], {"input": 16, "output": 300, "total": 316, "cached_input": 0, "cache_creation": None, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], price("gpt-4o", 16, 300), delta=1e-12)
        self.assertEqual(m["status"], "success")
        self.assertEqual(m["request_size"], len(raw))
        self.assertEqual(m["response_size"], len(payload))
        self.assertEqual(m["provider_request_id"], "req_upstream_stream")
        self.assertLessEqual(m["ttfb"], m["latency"])
        # The assembled response.
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in client_chunks if c["choices"])
        self.assertTrue(content)
        self.assertEqual(resp["id"], client_chunks[0]["id"])
        self.assertEqual(resp["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(resp["choices"][0]["delta"]["content"], content)
        self.assertEqual(resp["choices"][0]["finish_reason"], "stop")
        self.assertEqual(resp["usage"]["total_tokens"], 316)
        return client_chunks, chunks

    def test_stream_gateway_asked_for_usage(self):
        client, kept = self.stream_and_check("rec-stream", dict(CHAT, stream=True))
        self.assertFalse(any(c.get("usage") for c in client), "the client did not ask for usage")
        # Every chunk the client received, in order, then the usage chunk the
        # gateway asked for itself.
        self.assertEqual(kept[:-1], client)
        self.assertEqual(kept[-1]["choices"], [])
        self.assertEqual(kept[-1]["usage"]["total_tokens"], 316)

    def test_stream_client_asked_for_usage(self):
        client, kept = self.stream_and_check(
            "rec-stream-usage", dict(CHAT, stream=True, stream_options={"include_usage": True}))
        self.assertEqual(kept, client)
        self.assertEqual(kept[-1]["usage"]["total_tokens"], 316)

    def test_unknown_model_has_no_cost(self):
        status, _, _ = self.chat("rec-unpriced", {"model": "unpriced-model-zz9", "messages": []})
        self.assertEqual(status, 200)
        a, m = self.record("rec-unpriced")
        self.assertEqual(a["model"], "unpriced-model-zz9")
        self.assertEqual(m["tokens"], {"input": 16, "output": 363, "total": 379, "cached_input": 0, "cache_creation": None, "reasoning": 0})
        self.assertIsNone(m["cost"], "an unknown model costs null, never a guess")
        self.assertEqual(m["cost_status"], "unpriced")

    def test_unknown_alias_is_priced_as_the_answering_model(self):
        # The mock answers any other model with its recorded completion, whose
        # "model" is a dated model the price table knows.
        status, _, body = self.chat("rec-alias", {"model": "team-alias-zz9", "messages": []})
        self.assertEqual(status, 200)
        answered = json.loads(body)["model"]
        a, m = self.record("rec-alias")
        self.assertEqual(a["model"], "team-alias-zz9")
        self.assertAlmostEqual(m["cost"], price(answered, 16, 363), delta=1e-12)

    # --- upstream and gateway errors -------------------------------------

    def test_upstream_429(self):
        status, _, payload = self.chat("rec-429", {"model": "error-429", "messages": []})
        self.assertEqual(status, 429)
        a, m = self.record("rec-429")
        self.assertEqual(a["provider"], "openai")
        self.assertEqual(a["model"], "error-429")
        self.assertEqual(a["response"], json.loads(payload))
        self.assertEqual(m["status"], "error")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (429, 429))
        self.assertEqual(m["error_type"], "upstream_http_error")
        self.assertEqual((m["error_count"], m["provider_error_count"]), (1, 1))
        self.assertEqual(m["provider_error_type"], "requests", "error.type of the provider's error body")
        self.assertEqual(m["provider_request_id"], "req_upstream_1")
        self.assert_no_tokens(m)
        self.assertEqual(m["cost_status"], "error", "an upstream error status with no usage")

    def test_malformed_json(self):
        status, _, payload = self.chat("rec-badjson", b'{"model":')
        self.assertEqual(status, 400)
        a, m = self.record("rec-badjson")
        self.assertIsNone(a["provider"])
        self.assertIsNone(a["model"])
        self.assertEqual(a["request"], '{"model":', "a body that is not JSON is kept as a string")
        self.assertEqual(a["response"], json.loads(payload))
        self.assertEqual(m["status"], "error")
        self.assertEqual(m["error_type"], "invalid_request")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (400, None))
        self.assertIsNone(m["provider_latency"])
        self.assertIsNone(m["provider_request_id"])
        self.assertEqual(m["request_size"], 9)
        self.assertEqual(m["provider_error_count"], 0)
        self.assert_no_tokens(m)
        self.assertEqual(m["cost_status"], "error", "a gateway-made error")

    def test_unknown_provider(self):
        status, _, _ = self.chat("rec-noprov", CHAT, {"x-provider": "nosuch"})
        self.assertEqual(status, 400)
        a, m = self.record("rec-noprov")
        self.assertIsNone(a["provider"], "routing failed before a provider was chosen")
        self.assertEqual(a["request"], CHAT)
        self.assertEqual(m["error_type"], "invalid_request")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (400, None))
        self.assertIsNone(m["provider_latency"])

    def test_missing_credentials_401(self):
        status, _, _ = self.chat("rec-401", {"model": "llama-3.1-8b-instant", "messages": []}, {"x-provider": "groq"})
        self.assertEqual(status, 401)
        a, m = self.record("rec-401")
        self.assertEqual(a["provider"], "groq")
        self.assertEqual(m["status"], "error")
        self.assertEqual(m["error_type"], "authentication")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (401, None))
        self.assertIsNone(m["provider_latency"])
        self.assert_no_tokens(m)

    def test_upstream_reset_before_headers(self):
        status, _, _ = self.chat("rec-502", {"model": "reset-headers", "messages": []})
        self.assertEqual(status, 502)
        a, m = self.record("rec-502")
        self.assertEqual(a["provider"], "openai")
        self.assertEqual(m["error_type"], "upstream_broken")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (502, None))
        self.assertEqual(m["cost_status"], "error")

    # --- streams that do not finish --------------------------------------

    def test_cancelled_stream(self):
        s = send_raw(self.gw.port, json.dumps({"model": "slow-stream", "stream": True}).encode(),
                     b"x-request-id: rec-cancel\r\n")
        buf = b""
        deadline = time.time() + 10
        while b"data: {" not in buf:
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()  # mid-stream: the mock sends 6 more chunks over ~1 s
        a, m = self.record("rec-cancel")
        self.assertEqual(m["status"], "cancelled")
        self.assertEqual(m["error_type"], "client_disconnected")
        self.assertEqual(m["error_count"], 1)
        self.assertEqual(m["status_code"], 200, "the response head was sent")
        self.assertEqual(m["provider_status_code"], 200)
        self.assertIsNotNone(m["ttfb"])
        self.assertGreaterEqual(len(a["response"]["streamed_data"]), 1)
        self.assertLess(len(a["response"]["streamed_data"]), 6)
        self.assert_no_tokens(m)
        self.assertIsNone(m["provider_latency"], "docs/records.md: null when the upstream response never finished")

    def test_upstream_reset_mid_stream(self):
        status, _, payload = self.chat("rec-reset", {"model": "reset-mid-stream", "stream": True})
        self.assertEqual(status, 200)
        self.assertIn("error", json.loads(sse_events(payload)[-1]))
        a, m = self.record("rec-reset")
        self.assertEqual(m["status"], "error")
        self.assertEqual(m["error_type"], "upstream_broken")
        self.assertEqual(m["error_count"], 1)
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual(m["response_size"], len(payload))
        self.assertGreaterEqual(len(a["response"]["streamed_data"]), 1)

    def test_provider_error_event_mid_stream_is_an_error(self):
        # OpenAI ends a failing stream with an error event inside the 200
        # answer: the client gets it as it came, and the record says the
        # request failed as the provider said.
        status, _, payload = self.chat("rec-inband", {"model": "error-mid-stream", "stream": True})
        self.assertEqual(status, 200)
        events = sse_events(payload)
        self.assertEqual(json.loads(events[-1])["error"]["type"], "server_error")
        a, m = self.record("rec-inband")
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_http_error", 1))
        self.assertEqual((m["provider_error_count"], m["status_code"], m["provider_status_code"]), (1, 200, 200))
        self.assertEqual(m["provider_error_type"], "server_error", "the error event's own type")
        self.assertEqual(a["response"]["streamed_data"][-1]["error"]["type"], "server_error")
        self.assertIsNotNone(m["provider_latency"], "the upstream finished its answer")

    # --- other providers -------------------------------------------------

    def test_anthropic(self):
        status, _, _ = self.chat("rec-anthropic", {"model": "claude-sonnet-4-5", "max_tokens": 100,
                                                   "messages": [{"role": "user", "content": "Hi"}]},
                                 {"x-provider": "anthropic"})
        self.assertEqual(status, 200)
        a, m = self.record("rec-anthropic")
        self.assertEqual((a["provider"], a["model"]), ("anthropic", "claude-sonnet-4-5"))
        self.assertEqual(a["response"]["object"], "chat.completion")
        self.assertEqual(m["tokens"], {"input": 12, "output": 29, "total": 41, "cached_input": 0, "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], price("claude-sonnet-4-5", 12, 29), delta=1e-12)
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("success", 200, 200))

    def test_anthropic_stream(self):
        status, _, payload = self.chat("rec-anthropic-s", {"model": "claude-sonnet-4-5", "stream": True,
                                                           "messages": [{"role": "user", "content": "Hi"}]},
                                       {"x-provider": "anthropic"})
        self.assertEqual(status, 200)
        client = [json.loads(e) for e in sse_events(payload) if e != "[DONE]"]
        a, m = self.record("rec-anthropic-s")
        self.assertEqual(m["tokens"], {"input": 12, "output": 30, "total": 42, "cached_input": 0, "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], price("claude-sonnet-4-5", 12, 30), delta=1e-12)
        self.assertEqual(m["provider_request_id"], "req_anthropic_1")
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in client if c["choices"])
        self.assertEqual(a["response"]["choices"][0]["delta"]["content"], content)
        self.assertEqual(a["response"]["streamed_data"][:len(client)], client)

    def test_anthropic_error(self):
        status, _, _ = self.chat("rec-anthropic-e", {"model": "anthropic-error",
                                                     "messages": [{"role": "user", "content": "x"}]},
                                 {"x-provider": "anthropic"})
        self.assertEqual(status, 400)
        a, m = self.record("rec-anthropic-e")
        self.assertEqual(m["error_type"], "upstream_http_error")
        self.assertEqual((m["status_code"], m["provider_status_code"]), (400, 400))
        self.assertEqual(m["provider_error_count"], 1)
        self.assertEqual(m["provider_error_type"], "invalid_request_error")

    def test_bedrock(self):
        model = "anthropic.claude-3-haiku-20240307-v1:0"
        status, _, _ = self.chat("rec-bedrock", {"model": model, "messages": [{"role": "user", "content": "Hi"}]},
                                 {"x-provider": "bedrock"})
        self.assertEqual(status, 200)
        a, m = self.record("rec-bedrock")
        self.assertEqual((a["provider"], a["model"]), ("bedrock", model))
        self.assertEqual(m["tokens"], {"input": 22, "output": 57, "total": 79, "cached_input": 0, "cache_creation": 0, "reasoning": None})
        self.assertAlmostEqual(m["cost"], price(model, 22, 57), delta=1e-12)

    def test_bedrock_stream(self):
        model = "anthropic.claude-3-haiku-20240307-v1:0"
        status, _, _ = self.chat("rec-bedrock-s", {"model": model, "stream": True,
                                                   "messages": [{"role": "user", "content": "Hi"}]},
                                 {"x-provider": "bedrock"})
        self.assertEqual(status, 200)
        a, m = self.record("rec-bedrock-s")
        self.assertEqual(m["tokens"], {"input": 22, "output": 55, "total": 77, "cached_input": None, "cache_creation": None, "reasoning": None})
        self.assertAlmostEqual(m["cost"], price(model, 22, 55), delta=1e-12)
        self.assertEqual(m["provider_request_id"], "req_bedrock_1")
        self.assertIn("strawberry", a["response"]["choices"][0]["delta"]["content"])

    def test_anthropic_stream_with_cache_tokens(self):
        # The recorded prompt-cache stream (anthropic-cache.chunks.jsonl):
        # message_start counts 2 uncached, 3068 cache writes and 69 output;
        # its cumulative message_delta 6 uncached, 6289 cache reads, 3337
        # cache writes and 198 output. The last value of each count wins.
        # Its server tool blocks (server_tool_use, code execution results)
        # have no Chat Completions form: only the text block reaches the client.
        status, _, payload = self.chat("rec-anthropic-cache", {
            "model": "anthropic-cache", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Sum the squares of 1 to 12"}]}, {"x-provider": "anthropic"})
        self.assertEqual(status, 200, payload)
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all("error" not in c for c in chunks), chunks[-1])
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(content, "The sum of the squares of the numbers 1 through 12 is **650**.")
        self.assertFalse(any("tool_calls" in c["choices"][0]["delta"] for c in chunks if c["choices"]),
                         "a server tool is not the client's tool call")
        finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        self.assertEqual(finish, ["stop"])
        inputs = 6 + 6289 + 3337
        self.assertEqual(chunks[-1]["usage"]["prompt_tokens"], inputs)
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 198)
        a, m = self.record("rec-anthropic-cache")
        self.assertEqual(m["status"], "success")
        self.assertEqual(m["tokens"], {"input": inputs, "output": 198, "total": inputs + 198, "cached_input": 6289,
                                       "cache_creation": 3337, "reasoning": None})
        # Priced as the model the stream names (claude-sonnet-5), each count at its own price.
        self.assertAlmostEqual(m["cost"], cache_price("claude-sonnet-5", 6, 6289, 3337, 198), delta=1e-12)
        self.assertEqual(a["response"]["choices"][0]["delta"]["content"], content)

    def test_anthropic_stream_cancelled(self):
        a, m = self.cancel_mid_stream("rec-anthropic-cancel", {
            "model": "anthropic-slow", "stream": True, "messages": [{"role": "user", "content": "Hi"}]},
            b"x-provider: anthropic\r\n")
        self.assertEqual(a["provider"], "anthropic")
        # message_start's counts, the only ones the client's part of the stream carried.
        self.assertEqual(m["tokens"], {"input": 12, "output": 1, "total": 13, "cached_input": 0, "cache_creation": 0,
                                       "reasoning": None})
        self.assertLess(len(a["response"]["streamed_data"]), 5)
        self.assert_upstream_closed("anthropic-slow")

    def test_bedrock_stream_cancelled(self):
        a, m = self.cancel_mid_stream("rec-bedrock-cancel", {
            "model": "bedrock-slow", "stream": True, "messages": [{"role": "user", "content": "Hi"}]},
            b"x-provider: bedrock\r\n")
        self.assertEqual(a["provider"], "bedrock")
        self.assert_no_tokens(m)  # Converse counts come only in its last event (metadata)
        self.assertLess(len(a["response"]["streamed_data"]), 5)
        self.assert_upstream_closed("bedrock-slow")

    def test_anthropic_stream_upstream_reset(self):
        chunks, a, m = self.broken_stream("rec-anthropic-reset", {
            "model": "anthropic-reset", "stream": True, "messages": [{"role": "user", "content": "Hi"}]},
            {"x-provider": "anthropic"})
        # message_start, content_block_start, ping and the first text delta.
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks), "Hello")
        self.assertEqual((m["tokens"]["input"], m["tokens"]["output"]), (12, 1), "message_start's counts")

    def test_bedrock_stream_upstream_reset(self):
        chunks, a, m = self.broken_stream("rec-bedrock-reset", {
            "model": "bedrock-reset", "stream": True, "messages": [{"role": "user", "content": "Hi"}]},
            {"x-provider": "bedrock"})
        # messageStart and the first three text deltas.
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks),
                         "Let me count the \"r\"s in \"")
        self.assert_no_tokens(m)

    # --- tracking headers ------------------------------------------------

    def test_tracking_headers(self):
        tracking = {"x-project-id": "proj-7", "x-project-name": "Project Seven", "x-organisation-id": "org-uk",
                    "x-user-id": "user-3", "x-experiment-id": "exp-9", "x-thread-id": "thread-5"}
        status, _, _ = self.chat("rec-track", CHAT, tracking)
        self.assertEqual(status, 200)
        a, m = self.record("rec-track")
        self.assertEqual((a["id"], a["project_id"], a["org_id"], a["user_id"], a["experiment_id"], a["thread_id"]),
                         ("rec-track", "proj-7", "org-uk", "user-3", "exp-9", "thread-5"))
        self.assertEqual((m["project_id"], m["project_name"]), ("proj-7", "Project Seven"))
        # The American spelling works too.
        self.chat("rec-track-us", CHAT, {"x-organization-id": "org-us"})
        a, _ = self.record("rec-track-us")
        self.assertEqual(a["org_id"], "org-us")
        # And gateway errors carry them as well.
        self.chat("rec-track-err", b"{", {"x-project-id": "proj-7", "x-user-id": "user-3"})
        a, m = self.record("rec-track-err")
        self.assertEqual((a["project_id"], a["user_id"], m["project_id"]), ("proj-7", "user-3", "proj-7"))


class BodyCaptureTest(unittest.TestCase, RecordAssertions):
    """TELEMETRY_CAPTURE_BODIES and TELEMETRY_MAX_BODY_BYTES (one gateway each)."""

    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = MockUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def gateway(self, **env):
        full = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                "TELEMETRY_FLUSH_INTERVAL_MS": "50"}
        full.update(env)
        gw = Gateway(full)
        self.addCleanup(gw.stop)
        return gw, Records(gw)

    def test_bodies_off(self):
        gw, records = self.gateway(TELEMETRY_CAPTURE_BODIES="false")
        for rid, body in (("off-1", CHAT), ("off-2", dict(CHAT, stream=True)), ("off-3", b"{bad")):
            http_request(gw.port, "POST", "/v1/chat/completions", body, {"x-request-id": rid})
        for rid in ("off-1", "off-2", "off-3"):
            (rec,) = records.wait_for(rid)
            a, m = self.assert_shape(rec)
            self.assertIsNone(a["request"], rid)
            self.assertIsNone(a["response"], rid)
        _, m = self.assert_shape(records.wait_for("off-1")[0])
        self.assertEqual(m["tokens"], {"input": 16, "output": 363, "total": 379, "cached_input": 0, "cache_creation": None, "reasoning": 0}, "still counted without bodies")
        self.assertIsNotNone(m["cost"])
        _, m = self.assert_shape(records.wait_for("off-2")[0])
        self.assertEqual(m["tokens"]["total"], 316)

    def test_large_embeddings_past_the_cap_still_have_tokens_and_cost(self):
        gw, records = self.gateway(TELEMETRY_MAX_BODY_BYTES="2048")
        # 50 vectors: past the 1 MiB the request path keeps at least, so
        # the usage is read from the tail it keeps past that.
        body = {"model": "embed-large", "input": ["text %d" % i for i in range(50)]}
        status, _, payload = http_request(gw.port, "POST", "/v1/embeddings", body, {"x-request-id": "embed-big"})
        self.assertEqual(status, 200)
        self.assertGreater(len(payload), 1 << 20)
        (rec,) = records.wait_for("embed-big")
        a, m = self.assert_shape(rec)
        self.assertIs(a["response"]["_truncated"], True)
        self.assertEqual(a["response"]["_original_bytes"], len(payload))
        self.assertEqual(m["tokens"]["input"], 200, "read from the end of the body past the cap")
        self.assertEqual(m["tokens"]["output"], 0)
        self.assertAlmostEqual(m["cost"], 200 * 2e-8, delta=1e-15)

    def assert_truncated(self, value, original_bytes, cap, full_texts):
        self.assertEqual(set(value) - {"_truncated", "_original_bytes", "_preview"}, set(), value)
        self.assertIs(value["_truncated"], True)
        self.assertEqual(value["_original_bytes"], original_bytes)
        preview = value["_preview"].encode("utf-8")  # JSON decoding already proved it is valid UTF-8
        self.assertLessEqual(len(preview), cap)
        self.assertGreater(len(preview), cap - 4, "cut at the last UTF-8 boundary before the cap")
        self.assertTrue(any(t.startswith(preview) for t in full_texts), value["_preview"])

    def test_small_cap_keeps_tokens_and_cost(self):
        """Capping what is captured must not lose the usage (docs/records.md: tokens come
        from the provider's usage; the cap only concerns the stored body)."""
        gw, records = self.gateway(TELEMETRY_MAX_BODY_BYTES="200")
        status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"x-request-id": "capu-1"})
        self.assertEqual(status, 200)
        self.assertGreater(len(payload), 200)
        _, m = self.assert_shape(records.wait_for("capu-1")[0])
        self.assertEqual(m["tokens"], {"input": 16, "output": 363, "total": 379, "cached_input": 0, "cache_creation": None, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], price("gpt-4o", 16, 363), delta=1e-12)

    def test_small_cap_truncates(self):
        cap = 200
        gw, records = self.gateway(TELEMETRY_MAX_BODY_BYTES=str(cap))
        # Two-byte characters, so that the cap falls inside one.
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "\u00e9" * 400}]}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions", raw, {"x-request-id": "cap-1"})
        self.assertEqual(status, 200)
        (rec,) = records.wait_for("cap-1")
        a, m = self.assert_shape(rec)
        self.assert_truncated(a["request"], len(raw), cap, [raw])
        compact = json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False).encode()
        self.assert_truncated(a["response"], len(payload), cap, [payload, compact])
        # A small body is kept whole.
        http_request(gw.port, "POST", "/v1/chat/completions", b'{"model":"gpt-4o"}', {"x-request-id": "cap-2"})
        a, _ = self.assert_shape(records.wait_for("cap-2")[0])
        self.assertEqual(a["request"], {"model": "gpt-4o"})

    def capped_stream(self, cap):
        gw, records = self.gateway(TELEMETRY_MAX_BODY_BYTES=str(cap))
        status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, stream=True),
                                          {"x-request-id": "cap-s"})
        self.assertEqual(status, 200)
        client = [json.loads(e) for e in sse_events(payload) if e != "[DONE]"]
        a, m = self.assert_shape(records.wait_for("cap-s")[0])
        return client, a["response"], m

    def test_stream_cap_counts_the_chunks_not_kept(self):
        client, resp, m = self.capped_stream(4000)
        kept = resp["streamed_data"]
        self.assertGreater(len(kept), 0)
        self.assertLessEqual(sum(len(json.dumps(c, separators=(",", ":"))) for c in kept), 4000)
        self.assertGreater(resp["_chunks_not_captured"], 0)
        # client chunks + the usage chunk the gateway asked for itself
        self.assertEqual(len(kept) + resp["_chunks_not_captured"], len(client) + 1)
        self.assertEqual(kept, client[:len(kept)])
        self.assertEqual(m["tokens"], {"input": 16, "output": 300, "total": 316, "cached_input": 0, "cache_creation": None, "reasoning": 0})

    def test_stream_cap_keeps_the_assembled_response_whole(self):
        """docs/records.md: the assembled response is built from the chunks
        the client received; the cap applies to the chunks kept in
        streamed_data."""
        client, resp, m = self.capped_stream(200)
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in client if c["choices"])
        self.assertEqual(resp["id"], client[0]["id"])
        self.assertEqual(len(resp["choices"]), 1, resp)
        self.assertEqual(resp["choices"][0]["delta"]["content"], content)
        self.assertEqual(resp["choices"][0]["finish_reason"], "stop")
        self.assertEqual(resp["usage"]["total_tokens"], 316)


class OneRecordPerRequestTest(unittest.TestCase, RecordAssertions):
    def test_exactly_one_record_per_v1_request_and_none_for_health_or_metrics(self):
        self.version = gateway_version()
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "GATEWAY_API_KEYS": "gk-one",
                      "ENABLED_EXPORTERS": "console,prometheus", "TELEMETRY_FLUSH_INTERVAL_MS": "50",
                      "OTEL_SERVICE_NAME": "records-itest"})
        self.addCleanup(gw.stop)
        key = {"x-gateway-key": "gk-one"}
        sent = []

        def v1(method, path, body, headers=None, expect=None):
            rid = "one-%d" % len(sent)
            sent.append(rid)
            h = dict(key)
            h.update(headers or {})
            h["x-request-id"] = rid
            status, h, _ = http_request(gw.port, method, path, body, h)
            self.assertEqual(h.get("x-request-id"), rid)
            if expect is not None:
                self.assertEqual(status, expect, rid)

        for _ in range(3):
            v1("POST", "/v1/chat/completions", CHAT, expect=200)
        v1("POST", "/v1/chat/completions", dict(CHAT, stream=True), expect=200)
        v1("POST", "/v1/chat/completions", {"model": "reset-mid-stream", "stream": True}, expect=200)
        v1("POST", "/v1/chat/completions", b"[1,", expect=400)
        v1("POST", "/v1/chat/completions", CHAT, {"x-provider": "nosuch"}, expect=400)
        v1("POST", "/v1/chat/completions", CHAT, {"x-gateway-key": "wrong"}, expect=401)
        v1("POST", "/v1/chat/completions", {"model": "error-429"}, expect=429)
        v1("GET", "/v1/models", None, expect=200)
        v1("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"})
        # A cancelled stream.
        rid = "one-%d" % len(sent)
        sent.append(rid)
        s = send_raw(gw.port, json.dumps({"model": "slow-stream", "stream": True}).encode(),
                     b"x-gateway-key: gk-one\r\nx-request-id: %s\r\n" % rid.encode())
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        s.close()
        for _ in range(3):
            self.assertEqual(http_request(gw.port, "GET", "/health")[0], 200)
            self.assertEqual(http_request(gw.port, "GET", "/metrics")[0], 200)
            self.assertEqual(http_request(gw.port, "GET", "/health", None, key)[0], 200)
        records = Records(gw)
        records.wait_for(rid)  # the cancelled one, the last to finish
        metrics = http_request(gw.port, "GET", "/metrics")[2].decode()
        self.assertEqual(gw.stop(), 0)  # flushes every exporter
        recs = records.all()
        ids = [r["attributes"]["id"] for r in recs]
        self.assertEqual(sorted(ids), sorted(sent), "one record per /v1 request, none for /health or /metrics")
        for r in recs:
            a, m = self.assert_shape(r, service="records-itest")
            self.assertTrue(m["path"].startswith("/v1/"), m["path"])
        by_id = {r["attributes"]["id"]: r["attributes"]["metadata"] for r in recs}
        self.assertEqual(by_id["one-7"]["error_type"], "authentication")
        self.assertEqual((by_id["one-9"]["method"], by_id["one-9"]["path"]), ("GET", "/v1/models"))
        self.assertEqual(by_id["one-10"]["path"], "/v1/embeddings")
        self.assertEqual(by_id[rid]["status"], "cancelled")
        self.assertEqual([by_id["one-%d" % i]["cost_status"] for i in (0, 8, 9, 10)],
                         ["priced", "error", "no_usage", "priced"])
        # ai_gateway_cost_lookups_total: one per record, by its cost_status.
        for status in sorted(COST_STATUSES):
            count = sum(1 for m in by_id.values() if m["cost_status"] == status)
            line = 'ai_gateway_cost_lookups_total{status="%s"} %d\n' % (status, count)
            if count:
                self.assertIn(line, metrics, status)
            else:
                self.assertNotIn('ai_gateway_cost_lookups_total{status="%s"}' % status, metrics)

    def test_body_too_large_has_one_record_and_echoes_the_id(self):
        """A /v1 request refused with 413 is still a proxied request: one
        record (error_type request_too_large) and its own x-request-id."""
        self.version = gateway_version()
        gw = Gateway({"ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50",
                      "MAX_REQUEST_BODY_BYTES": "4096"})
        self.addCleanup(gw.stop)
        body = json.dumps({"model": "gpt-4o", "pad": "x" * 5000}).encode()
        status, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", body, {"x-request-id": "big-1"})
        self.assertEqual(status, 413)
        self.assertEqual(gw.stop(), 0)
        recs = Records(gw).all()
        self.assertEqual([r["attributes"]["id"] for r in recs], ["big-1"], "one record for the 413")
        a, m = self.assert_shape(recs[0])
        self.assertEqual((m["status_code"], m["error_type"], m["status"]), (413, "request_too_large", "error"))
        self.assertEqual(h.get("x-request-id"), "big-1")


class CancelledBeforeHeadTest(unittest.TestCase, RecordAssertions):
    def test_client_gone_before_any_response_byte(self):
        """docs/records.md: status_code is null if no response head was sent;
        provider_latency is null when the upstream response never finished."""
        self.version = gateway_version()
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                      "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        self.addCleanup(gw.stop)
        s = send_raw(gw.port, json.dumps({"model": "hang", "stream": True}).encode(), b"x-request-id: hang-1\r\n")
        deadline = time.time() + 10
        while not any(e.get("model") == "hang" for e in mock.events()):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        s.close()
        (rec,) = Records(gw).wait_for("hang-1")
        a, m = self.assert_shape(rec)
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        self.assertIsNone(m["ttfb"])
        self.assertIsNone(m["provider_status_code"])
        self.assertIsNone(m["provider_latency"])
        self.assertIsNone(m["status_code"], "no response head was sent")


if __name__ == "__main__":
    unittest.main(verbosity=2)
