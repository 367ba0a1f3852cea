"""Integration tests of the gateway core: the real binary against a mock upstream."""
import asyncio
import http.client
import json
import os
import socket
import subprocess
import threading
import time
import unittest

from harness import GATEWAY_BIN, RUN_DIR, TEST_KEY, Gateway, MockUpstream, base_env, http_request, sse_events

CHAT_BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


class CoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY,
                          "GROQ_BASE_URL": cls.mock.url, "GROQ_API_KEY": TEST_KEY})

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code
        everything = cls.gw.stderr_seen.decode("utf-8", "replace") + cls.gw.stdout_text()
        assert TEST_KEY not in everything, "the provider key leaked into the gateway's output"

    def direct(self, body, headers=None):
        return http_request(self.mock.port, "POST", "/v1/chat/completions", body,
                            dict({"Authorization": "Bearer " + TEST_KEY}, **(headers or {})))

    def via(self, body, path="/v1/chat/completions", headers=None, method="POST"):
        return http_request(self.gw.port, method, path, body, headers)

    def test_non_streaming_is_byte_identical(self):
        s1, h1, b1 = self.direct(CHAT_BODY)
        s2, h2, b2 = self.via(CHAT_BODY)
        self.assertEqual((s1, b1), (s2, b2))
        self.assertEqual(h2["content-type"], "application/json")
        self.assertIn("x-request-id", h2)
        self.assertNotEqual(h2["x-request-id"], "req_upstream_1", "the gateway's id, not the provider's")

    def test_streaming_is_byte_identical_without_usage(self):
        body = dict(CHAT_BODY, stream=True)
        s1, _, b1 = self.direct(body)
        s2, h2, b2 = self.via(body)
        self.assertEqual(s2, 200)
        self.assertTrue(h2["content-type"].startswith("text/event-stream"))
        self.assertEqual(b1, b2, "client that did not ask for usage sees exactly what the provider sends it")
        self.assertNotIn(b'"usage"', b2)

    def test_streaming_with_telemetry_off_sends_the_clients_bytes_upstream(self):
        # ENABLED_EXPORTERS=none (this gateway): nobody reads the usage, so
        # the gateway adds no stream_options.include_usage; the upstream gets
        # the client's body byte for byte.
        raw_body = b'{"model":"gpt-4.1-nano","stream":true,"messages":[{"role":"user","content":"hi"}]}'
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=raw_body,
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + TEST_KEY})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        resp.read()
        conn.close()
        sent = [e for e in self.mock.events() if e["event"] == "request" and e["body"] == raw_body.decode()]
        self.assertEqual(len(sent), 1, "the upstream got the client's exact body")

    def test_streaming_with_usage_is_byte_identical(self):
        body = dict(CHAT_BODY, stream=True, stream_options={"include_usage": True})
        _, _, b1 = self.direct(body)
        _, _, b2 = self.via(body)
        self.assertEqual(b1, b2)
        events = sse_events(b2)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(json.loads(events[-2])["usage"]["total_tokens"], 316)

    def test_request_id_is_echoed_and_forwarded(self):
        s, h, _ = self.via(CHAT_BODY, headers={"x-request-id": "my-req-42"})
        self.assertEqual(h["x-request-id"], "my-req-42")
        s, h, _ = self.via(None, path="/health", method="GET", headers={"x-request-id": "bad\tid"})
        self.assertNotEqual(h["x-request-id"], "bad\tid")

    def test_health(self):
        s, h, b = http_request(self.gw.port, "GET", "/health")
        self.assertEqual(s, 200)
        doc = json.loads(b)
        self.assertEqual(doc["status"], "healthy")
        self.assertIn("version", doc)
        self.assertIsInstance(doc["exporters"], dict)

    def test_models_passthrough(self):
        s, h, b = http_request(self.gw.port, "GET", "/v1/models")
        self.assertEqual(s, 200)
        self.assertEqual(json.loads(b)["data"][0]["id"], "gpt-4o")

    def test_metrics_404_when_prometheus_off(self):
        s, _, b = http_request(self.gw.port, "GET", "/metrics")
        self.assertEqual(s, 404)

    def test_unknown_route(self):
        s, _, b = http_request(self.gw.port, "GET", "/nope")
        self.assertEqual(s, 404)
        self.assertIn("error", json.loads(b))

    def test_malformed_json_is_400(self):
        for raw in [b'{"model":', b"[1,2]", b"\xff\xfe", b'{"a":' + b"[" * 200 + b"]" * 200 + b"}"]:
            s, _, b = self.via(raw)
            self.assertEqual(s, 400, raw)
            err = json.loads(b)["error"]
            self.assertEqual(err["type"], "invalid_request_error")
            self.assertEqual(err["code"], "invalid_json")
        # and the gateway still serves
        self.assertEqual(self.via(CHAT_BODY)[0], 200)

    def test_unknown_provider_is_400(self):
        s, _, b = self.via(CHAT_BODY, headers={"x-provider": "nosuch"})
        self.assertEqual(s, 400)
        self.assertEqual(json.loads(b)["error"]["code"], "unknown_provider")

    def test_provider_prefix_is_routed_and_removed(self):
        s, _, b = self.via({"model": "groq/echo", "messages": []})
        self.assertEqual(s, 200)
        seen = json.loads(b)
        self.assertEqual(json.loads(seen["body"])["model"], "echo")
        # The echo the client gets has the operator's key masked; the
        # upstream's own log shows what it received.
        self.assertEqual(seen["headers"]["authorization"], "Bearer [REDACTED]" + "*" * (len(TEST_KEY) - 10))
        received = [e for e in self.mock.events() if e["event"] == "request"][-1]
        self.assertEqual(received["headers"]["authorization"], "Bearer " + TEST_KEY)
        # A model with a slash that is not a provider stays unchanged.
        s, _, b = self.via({"model": "echo", "x": "meta-llama/Llama-3.3-70B-Instruct-Turbo"})
        s, _, b = self.via({"model": "meta-llama/Llama-3.3-70B", "messages": []})
        self.assertEqual(s, 200)

    def test_client_authorization_wins_and_gateway_headers_are_not_forwarded(self):
        s, _, b = self.via({"model": "echo"}, headers={"Authorization": "Bearer sk-client", "x-provider": "openai",
                                                      "x-aws-secret-access-key": "nope"})
        seen = json.loads(b)
        received = [e for e in self.mock.events() if e["event"] == "request"][-1]
        self.assertEqual(received["headers"]["authorization"], "Bearer sk-client")
        self.assertNotIn("x-provider", seen["headers"])
        self.assertNotIn("x-aws-secret-access-key", seen["headers"])
        self.assertEqual(seen["path"], "/v1/chat/completions")

    def test_upstream_error_passes_through_with_status(self):
        s, h, b = self.via({"model": "error-429"})
        self.assertEqual(s, 429)
        self.assertEqual(h.get("retry-after"), "7")
        self.assertEqual(json.loads(b)["error"]["code"], "rate_limit_exceeded")

    def test_body_too_large_is_413(self):
        big = b'{"model":"gpt-4o","x":"' + b"a" * (33 << 20) + b'"}'
        s = self.gw.connect()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(big))
        resp = s.recv(65536)
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:100])
        self.assertIn(b"request_too_large", resp)

    def test_chunked_body_too_large_is_413(self):
        s = self.gw.connect()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * (1 << 20)
        try:
            for _ in range(40):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        resp = s.recv(65536)
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 413"), resp[:100])

    def test_oversized_request_head_is_431(self):
        s = self.gw.connect()
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n")
        resp = s.recv(65536)
        s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 431"), resp[:80])
        self.assertEqual(self.via(CHAT_BODY)[0], 200)

    def test_malformed_http_is_400_and_nothing_else_breaks(self):
        for raw in [b"GARBAGE\r\n\r\n", b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"]:
            s = self.gw.connect()
            s.sendall(raw)
            resp = s.recv(65536)
            s.close()
            self.assertTrue(resp.startswith(b"HTTP/1.1 400"), (raw, resp[:80]))
        self.assertEqual(self.via(CHAT_BODY)[0], 200)

    def test_pipelined_requests_are_answered_in_order(self):
        bodies = [json.dumps({"model": "echo", "n": i}).encode() for i in range(3)]
        raw = b"".join(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"x-request-id: pipe-%d\r\nContent-Length: %d\r\n\r\n%s" % (i, len(b), b)
                       for i, b in enumerate(bodies))
        s = self.gw.connect()
        s.sendall(raw)
        data = b""
        deadline = time.time() + 10
        while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        ids = [int(line.split(b"pipe-")[1]) for line in data.split(b"\r\n") if line.startswith(b"x-request-id: pipe-")]
        self.assertEqual(ids, [0, 1, 2])

    def test_slow_stream_chunks_arrive_as_they_are_sent(self):
        s = self.gw.connect()
        body = json.dumps({"model": "slow-stream", "stream": True}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        arrivals = []
        buf = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            n_before = buf.count(b"data: {")
            buf += chunk
            for _ in range(buf.count(b"data: {") - n_before):
                arrivals.append(time.time())
            if b"data: [DONE]" in buf:
                break
        s.close()
        # The mock's first 5 chunks and its finish chunk. (Telemetry is off
        # here, so the gateway asked for no usage chunk; with exporters it
        # asks and the client still sees no usage chunk: test_records.py.)
        self.assertEqual(len(arrivals), 6)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        # The mock sends one chunk every 200 ms: each must reach the client
        # before the next is sent, so consecutive arrivals are ~200 ms apart.
        for g in gaps[:4]:
            self.assertGreater(g, 0.12, gaps)

    def test_client_disconnect_cancels_upstream(self):
        s = self.gw.connect()
        body = json.dumps({"model": "hang", "stream": True}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.time() + 5
        while not any(e.get("model") == "hang" and e["event"] == "request" for e in self.mock.events()):
            self.assertLess(time.time(), deadline)
            time.sleep(0.02)
        closed_before = sum(1 for e in self.mock.events() if e["event"] == "closed")
        s.close()
        deadline = time.time() + 2
        while sum(1 for e in self.mock.events() if e["event"] == "closed") == closed_before:
            self.assertLess(time.time(), deadline, "upstream request was not cancelled")
            time.sleep(0.02)

    def test_upstream_reset_mid_stream_ends_with_error_event(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": "reset-mid-stream", "stream": True}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        events = sse_events(r.read())
        self.assertGreaterEqual(len(events), 2)
        self.assertIn("error", json.loads(events[-1]))
        # The response was properly terminated, so the keep-alive connection
        # still serves the next request (SDK clients reuse it).
        conn.request("GET", "/v1/models")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_upstream_reset_before_headers_is_502(self):
        s, _, b = self.via({"model": "reset-headers"})
        self.assertEqual(s, 502)
        self.assertEqual(json.loads(b)["error"]["type"], "upstream_error")

    def test_500_concurrent_streams(self):
        async def one(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.gw.port)
            body = json.dumps(dict(CHAT_BODY, stream=True)).encode()
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            data = await reader.read()
            writer.close()
            return data

        async def run():
            return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(500))), 60)

        results = asyncio.run(run())
        ok = [r for r in results if r.startswith(b"HTTP/1.1 200") and r.rstrip().endswith(b"0") and b"data: [DONE]" in r]
        self.assertEqual(len(ok), 500)


class FailureModesTest(unittest.TestCase):
    def test_upstream_refused_is_502(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        gw = Gateway({"OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % port, "OPENAI_API_KEY": TEST_KEY})
        try:
            st, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
            self.assertEqual(st, 502)
            self.assertEqual(json.loads(b)["error"]["code"], "upstream_unreachable")
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_upstream_hang_is_504(self):
        mock = MockUpstream()
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "UPSTREAM_TIMEOUT_MS": "500"})
        try:
            t0 = time.time()
            st, _, b = http_request(gw.port, "POST", "/v1/chat/completions", {"model": "hang"})
            self.assertEqual(st, 504)
            self.assertLess(time.time() - t0, 3)
            self.assertEqual(json.loads(b)["error"]["code"], "upstream_timeout")
        finally:
            gw.stop()
            mock.stop()

    def test_upstream_connection_limit_is_503(self):
        mock = MockUpstream()
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "WORKER_THREADS": "1",
                      "UPSTREAM_MAX_CONNECTIONS_PER_HOST": "1", "UPSTREAM_TIMEOUT_MS": "3000"})
        try:
            hung = gw.connect()
            body = json.dumps({"model": "hang"}).encode()
            hung.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            deadline = time.time() + 5
            while not any(e.get("model") == "hang" for e in mock.events()):
                self.assertLess(time.time(), deadline)
                time.sleep(0.02)
            st, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
            self.assertEqual(st, 503)
            self.assertEqual(json.loads(b)["error"]["code"], "upstream_connection_limit")
            hung.close()
        finally:
            gw.stop()
            mock.stop()

    def test_missing_credentials_is_401(self):
        mock = MockUpstream()
        gw = Gateway({"OPENAI_BASE_URL": mock.url})
        try:
            st, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
            self.assertEqual(st, 401)
            self.assertEqual(json.loads(b)["error"]["type"], "authentication_error")
        finally:
            gw.stop()
            mock.stop()

    def test_gateway_keys_and_cors(self):
        mock = MockUpstream()
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "GATEWAY_API_KEYS": "gk-1,gk-2",
                      "CORS_ALLOWED_ORIGINS": "https://app.example"})
        try:
            st, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY)
            self.assertEqual(st, 401)
            st, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY, {"x-gateway-key": "gk-3"})
            self.assertEqual(st, 401)
            st, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY,
                                    {"x-gateway-key": "gk-2", "Origin": "https://app.example"})
            self.assertEqual(st, 200)
            self.assertEqual(h["access-control-allow-origin"], "https://app.example")
            st, h, _ = http_request(gw.port, "OPTIONS", "/v1/chat/completions", None,
                                    {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "authorization, content-type"})
            self.assertEqual(st, 204)
            self.assertIn("POST", h["access-control-allow-methods"])
            st, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT_BODY,
                                    {"x-gateway-key": "gk-1", "Origin": "https://evil.example"})
            self.assertNotIn("access-control-allow-origin", h)
            self.assertNotIn(b"gk-1", gw.stderr_seen)
        finally:
            gw.stop()
            mock.stop()
        self.assertNotIn(b"gk-2", gw.stderr_seen)

    def test_sigterm_finishes_in_flight_then_exits_0(self):
        mock = MockUpstream()
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY})
        result = {}

        def slow():
            result["r"] = http_request(gw.port, "POST", "/v1/chat/completions", {"model": "slow-stream", "stream": True})

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)  # the stream is in flight (it takes ~1.2 s)
        gw.proc.send_signal(15)
        time.sleep(0.2)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", gw.port), timeout=2).recv(1)
            raise OSError("connected")  # pragma: no cover - a refused connect raises first
        t.join(10)
        self.assertEqual(gw.stop(), 0)
        status, _, body = result["r"]
        self.assertEqual(status, 200)
        self.assertEqual(sse_events(body)[-1], "[DONE]")
        mock.stop()


class CliTest(unittest.TestCase):
    def run_gw(self, env, args=()):
        full = base_env({"PORT": "0"})
        full.update(env)
        return subprocess.run([GATEWAY_BIN, *args], env=full, capture_output=True, timeout=20)

    def test_help_and_version(self):
        r = self.run_gw({}, ["--help"])
        self.assertEqual(r.returncode, 0)
        for var in ["ENABLED_EXPORTERS", "UPSTREAM_TIMEOUT_MS", "GATEWAY_API_KEYS", "OPENAI_BASE_URL"]:
            self.assertIn(var.encode(), r.stdout)
        r = self.run_gw({}, ["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^magicapi-gateway \d+\.\d+\.\d+")

    def test_config_errors_exit_2_naming_the_variable(self):
        cases = {"PORT": "http", "OPENAI_BASE_URL": "ftp://x", "LOG_LEVEL": "chatty",
                 "ENABLED_EXPORTERS": "console,nosuch", "UPSTREAM_TIMEOUT_MS": "-5"}
        for var, value in cases.items():
            r = self.run_gw({var: value})
            self.assertEqual(r.returncode, 2, (var, r.stderr))
            lines = r.stderr.decode().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(var, lines[0])

    def test_yaml_config_file(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, dir=RUN_DIR) as f:
            f.write("port: 0\nlog_level: chatty\n")
        r = self.run_gw({}, ["--config", f.name])
        self.assertEqual(r.returncode, 2)
        self.assertIn("LOG_LEVEL", r.stderr.decode())
        r = self.run_gw({"LOG_LEVEL": "info"}, ["--config", f.name, "--version"])
        self.assertEqual(r.returncode, 0)
        r = self.run_gw({}, ["--config", "/nonexistent.yaml"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
