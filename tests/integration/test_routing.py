"""Routing through the real binary (SPEC.md section 9, docs/configuration.md):
the config file's `routes:` with their targets, retries, fallbacks and
cooldowns, against one small mock upstream per target, so that what each
target received can be counted.

Every target is a custom provider (`providers:`, type openai_compatible)
named t1, t2, ... whose base_url is its own mock (MockTargets below). A mock
answers each request with the next mode of its script, then with its
default mode:
  ok          a chat.completion with usage ("answer from NAME"), or an SSE
              stream of it when the request has "stream": true
  slow:S      ok after S seconds
  429:S       429 with Retry-After: S        429ms:N   with retry-after-ms: N
  429date:S   429 with Retry-After: an HTTP date S seconds ahead
  429         429 without Retry-After
  500, 503... that status with an OpenAI error body naming the target
  reset       the connection reset without any answer
  hang        never answers (until the gateway closes the connection)
  cut         a 200 SSE stream: its first two chunks, then a reset
A "refused" target is a port on which nothing listens.

What each test checks: the client's answer and the x-gateway-* headers,
the record (console exporter: attributes.provider/model, metadata.route
and metadata.attempts), the Prometheus counters (ai_gateway_attempts_total,
ai_gateway_target_cooldowns_total, ai_gateway_config_reloads_total) and the
hits of every mock. Each test starts its own mocks and gateway; a gateway is
sent SIGTERM when its test ends and its exit status is checked in
tearDownModule (a gateway takes up to 2 s to stop: all of them spend that
together). Deadlines scale with GW_SLOW_FACTOR. The whole file runs in about
30 s in the debug build (the 10,000 weighted requests in about 2 s).
"""
import asyncio
import collections
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HERE, SLOW, Gateway, MockUpstream, http_request, sse_events, wait_until

CHAT = {"messages": [{"role": "user", "content": "Hi"}]}
ANTHROPIC_TEXT = json.load(open(os.path.join(HERE, "..", "testdata", "providers", "transcripts", "anthropic-text.json")))
USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def chat(model="smart", **extra):
    return dict(CHAT, model=model, **extra)


# --- the per-target mock upstreams ------------------------------------------

_LOOP = None


def mock_loop():
    """One asyncio loop (a daemon thread) serves every mock target of the run."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        threading.Thread(target=_LOOP.run_forever, daemon=True).start()
    return _LOOP


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    return method, path, headers, body


def http_response(status, body, extra=b"", ctype=b"application/json"):
    return (b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (status, ctype, len(body), extra)
            + body)


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class MockTarget:
    """One upstream on its own port; see the module's docstring for the modes."""

    def __init__(self, name, script=(), default="ok"):
        self.name = name
        self.model = "m-" + name  # the model routes name for this target
        self.script = collections.deque(script)
        self.default = default
        self.hits = 0
        self.times = []     # monotonic time of each hit
        self.bodies = []    # each request's JSON body
        self.headers = []   # each request's headers (names in lower case)
        self.closed = 0     # hung requests whose connection the gateway closed
        self.spoof = False  # answers carry x-gateway-* headers of their own
        self.lock = threading.Lock()
        self.writers = set()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.handle, "127.0.0.1", 0, backlog=1024), mock_loop()).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def set(self, *script, default=None):
        """Replaces the script (and the default mode)."""
        with self.lock:
            self.script = collections.deque(script)
            if default is not None:
                self.default = default

    def close(self):
        async def stop():
            self.server.close()
            for w in list(self.writers):
                w.transport.abort()
        asyncio.run_coroutine_threadsafe(stop(), mock_loop()).result(10)

    def ok_body(self, model):
        return json.dumps({"id": "chatcmpl-" + self.name, "object": "chat.completion", "created": 1, "model": model,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "answer from " + self.name},
                                        "finish_reason": "stop"}],
                           "usage": USAGE}).encode()

    def sse(self, model, include_usage):
        def event(delta, finish=None):
            return {"id": "chatcmpl-" + self.name, "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        events = [event({"role": "assistant", "content": ""}), event({"content": "answer "}),
                  event({"content": "from " + self.name}), event({}, "stop")]
        if include_usage:
            events.append({"id": "chatcmpl-" + self.name, "object": "chat.completion.chunk", "created": 1,
                           "model": model, "choices": [], "usage": USAGE})
        out = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
        return out + [b"data: [DONE]\n\n"]

    @staticmethod
    def reset(writer):
        sock = writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()

    async def handle(self, reader, writer):
        self.writers.add(writer)
        try:
            while True:
                try:
                    _, _, headers, body = await read_request(reader)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
                    return
                req = json.loads(body) if body else {}
                with self.lock:
                    self.hits += 1
                    self.times.append(time.monotonic())
                    self.bodies.append(req)
                    self.headers.append(headers)
                    mode = self.script.popleft() if self.script else self.default
                if not await self.answer(mode, req, reader, writer):
                    return
        finally:
            self.writers.discard(writer)
            writer.close()

    async def answer(self, mode, req, reader, writer):
        """Answers one request; False when the connection is over."""
        model = req.get("model", "")
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode[5:]))
            mode = "ok"
        if mode == "ok":
            if req.get("stream") is True:
                include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + b"".join(chunk(e) for e in self.sse(model, include_usage)) + b"0\r\n\r\n")
            else:
                extra = b"x-gateway-provider: spoofed\r\nx-gateway-attempts: 99\r\n" if self.spoof else b""
                writer.write(http_response(200, self.ok_body(model), extra))
        elif mode == "reset":
            self.reset(writer)
            return False
        elif mode == "hang":
            try:
                await reader.read()
            except ConnectionError:
                pass
            with self.lock:
                self.closed += 1
            return False
        elif mode == "cut":
            events = self.sse(model, False)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + chunk(events[0]) + chunk(events[1]))
            await writer.drain()
            await asyncio.sleep(0.05)
            self.reset(writer)
            return False
        elif mode.startswith("429"):
            extra = b""
            if mode.startswith("429date:"):
                when = time.time() + float(mode[8:])
                extra = b"Retry-After: %s\r\n" % time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when)).encode()
            elif mode.startswith("429ms:"):
                extra = b"retry-after-ms: %s\r\n" % mode[6:].encode()
            elif mode.startswith("429:"):
                extra = b"Retry-After: %s\r\n" % mode[4:].encode()
            writer.write(http_response(429, json.dumps({"error": {"message": "rate limited by " + self.name,
                                                                  "type": "requests", "code": "rate_limit_exceeded"}}
                                                       ).encode(), extra))
        else:
            status = int(mode)
            writer.write(http_response(status, json.dumps({"error": {"message": "%s says %d" % (self.name, status),
                                                                     "type": "server_error", "code": None}}).encode()))
        await writer.drain()
        return True


class RefusedTarget:
    """A provider whose port has nothing listening: connection refused."""

    def __init__(self, name):
        self.name = name
        self.model = "m-" + name
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.hits = 0

    def close(self):
        pass


# --- a small keep-alive HTTP client (fast enough for 10,000 requests) -------

class Response:
    status = 0
    headers = None
    body = b""


class FastClient:
    """One keep-alive connection to the gateway, raw sockets: POSTs a body and
    reads a response framed by Content-Length or chunked."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the gateway closed the connection")
        self.buf += data

    def _take_line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def post(self, body, headers=b"", path=b"/v1/chat/completions"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.sock.sendall(b"POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"
                          % (path, headers, len(data)) + data)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        r = Response()
        r.status = int(lines[0].split()[1])
        r.headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        if r.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._take_line().split(b";")[0], 16)
                if size == 0:
                    self._take_line()
                    break
                parts.append(self._take(size))
                self._take(2)
            r.body = b"".join(parts)
        else:
            r.body = self._take(int(r.headers.get("content-length", "0")))
        if r.headers.get("connection", "").lower() == "close":
            self.close()
        return r

    def close(self):
        self.sock.close()


# --- records and metrics -----------------------------------------------------

def records(gw):
    text = gw.stdout_text()
    return [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]


def record(gw, rid):
    def find():
        for rec in records(gw):
            if rec["attributes"]["id"] == rid:
                return rec
        return None
    return wait_until("the record of %s" % rid, find, timeout=10)


def parse_metrics(text):
    """[(name, {label: value}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric(gw, name, **labels):
    """The sum of the series of `name` whose labels include `labels`."""
    status, _, body = http_request(gw.port, "GET", "/metrics")
    assert status == 200, status
    return sum(v for n, l, v in parse_metrics(body.decode()) if n == name and all(l.get(k) == w for k, w in labels.items()))


def wait_metric(gw, name, expected, **labels):
    wait_until("%s%r == %s" % (name, labels, expected), lambda: metric(gw, name, **labels) == expected, timeout=10)


def write_config(text):
    f = tempfile.NamedTemporaryFile("w", prefix="gw-routes-", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def providers_yaml(targets):
    return "providers:\n" + "".join(
        "  - {name: %s, type: openai_compatible, base_url: 'http://127.0.0.1:%d/v1'}\n" % (t.name, t.port)
        for t in targets)


_STOPPING = []  # (test id, Gateway) sent SIGTERM by a test's cleanup


def tearDownModule():
    bad = []
    for test, gw in _STOPPING:
        code = gw.stop()  # also fails on a sanitizer report
        if code != 0:
            bad.append("%s: the gateway exited %s\n%s" % (test, code, gw.stderr_seen.decode("utf-8", "replace")[-3000:]))
    assert not bad, "\n".join(bad)


class RoutingTestCase(unittest.TestCase):
    """Targets and gateways made by a test are closed by its cleanups."""

    def targets(self, *specs):
        """MockTargets t1, t2, ... (numbered across the test): each spec is a
        list of modes (the script; the last one is also the default), or
        "refused"."""
        out = []
        for spec in specs:
            self._n = getattr(self, "_n", 0) + 1
            name = "t%d" % self._n
            if spec == "refused":
                t = RefusedTarget(name)
            else:
                spec = [spec] if isinstance(spec, str) else list(spec)
                t = MockTarget(name, spec[:-1], spec[-1])
            self.addCleanup(t.close)
            out.append(t)
        return out

    def gateway(self, targets, routes, env=None, exporters="console,prometheus"):
        """A gateway whose config file has `targets` as providers and the
        `routes` text (YAML, under "routes:")."""
        self.config_path = write_config(providers_yaml(targets) + "routes:\n" + routes)
        self.addCleanup(os.unlink, self.config_path)
        settings = {"ENABLED_EXPORTERS": exporters, "TELEMETRY_FLUSH_INTERVAL_MS": "50"}
        settings.update(env or {})
        gw = Gateway(settings, args=["--config", self.config_path])
        self.addCleanup(self.stop_gateway, gw)
        return gw

    def stop_gateway(self, gw):
        """SIGTERM now; the exit status is waited for and checked once, for
        every gateway of the run, in tearDownModule: a gateway takes up to 2 s
        to stop, which the gateways of all tests then spend together."""
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGTERM)
        _STOPPING.append((self.id(), gw))

    def send(self, gw, rid, body=None, headers=None, timeout=20):
        """One chat request on a new connection: (status, headers, body, seconds)."""
        h = {"x-request-id": rid}
        h.update(headers or {})
        started = time.monotonic()
        status, hdrs, payload = http_request(gw.port, "POST", "/v1/chat/completions", body or chat(), h,
                                             timeout=timeout)
        return status, hdrs, payload, time.monotonic() - started

    def assertGatewayHeaders(self, hdrs, target, attempts, model=None):
        self.assertEqual((hdrs.get("x-gateway-provider"), hdrs.get("x-gateway-model"), hdrs.get("x-gateway-attempts")),
                         (target.name, model or target.model, str(attempts)))

    def assertAttempts(self, rec, expected):
        """expected: [(target, status_code, error_type)]."""
        got = [(a["provider"], a["model"], a["status_code"], a["error_type"]) for a in rec["attributes"]["metadata"]["attempts"]]
        self.assertEqual(got, [(t.name, t.model, s, e) for t, s, e in expected])
        for a in rec["attributes"]["metadata"]["attempts"]:
            self.assertIsInstance(a["latency"], (int, float))
            self.assertGreaterEqual(a["latency"], 0)

    def assertAnsweredBy(self, payload, target):
        doc = json.loads(payload)
        self.assertEqual(doc["choices"][0]["message"]["content"], "answer from " + target.name)
        self.assertEqual(doc["model"], target.model, "the target's model was sent upstream")


# --- 1-6: retries and moving on ----------------------------------------------

class RetryTest(RoutingTestCase):
    def test_1_429_with_retry_after_then_success_on_the_same_target(self):
        # An HTTP date has whole seconds: 2 s ahead is a wait of 1 to 2 s.
        for mode, wait in (("429:1", 1.0), ("429ms:400", 0.4), ("429date:2", 1.0)):
            with self.subTest(mode=mode):
                t1, t2 = self.targets([mode, "ok"], "ok")
                gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: %s, model: %s}, {provider: %s, model: %s}]
    retry: {attempts: 2, backoff_ms: 50}
""" % (t1.name, t1.model, t2.name, t2.model))
                rid = "retry-after-" + mode
                status, hdrs, payload, took = self.send(gw, rid)
                self.assertEqual(status, 200, payload)
                self.assertAnsweredBy(payload, t1)
                self.assertGatewayHeaders(hdrs, t1, 2)
                self.assertEqual((t1.hits, t2.hits), (2, 0))
                gap = t1.times[1] - t1.times[0]
                self.assertGreaterEqual(gap, wait - 0.02, "the Retry-After was honoured")
                self.assertLess(gap, (2.0 if mode.startswith("429date") else wait) + 0.5 * SLOW, "and not much more")
                rec = record(gw, rid)
                a = rec["attributes"]
                self.assertEqual((a["provider"], a["model"], a["metadata"]["route"], a["metadata"]["status"]),
                                 (t1.name, t1.model, "smart", "success"))
                self.assertAttempts(rec, [(t1, 429, "upstream_http_error"), (t1, 200, None)])
                wait_metric(gw, "ai_gateway_attempts_total", 1, provider=t1.name, model=t1.model, outcome="retried")
                wait_metric(gw, "ai_gateway_attempts_total", 1, provider=t1.name, model=t1.model, outcome="success")

    def test_2_5xx_on_a_target_moves_on_ordered_each_target_retried_attempts_times(self):
        t1, t2, t3 = self.targets("500", "503", "ok")
        t3.spoof = True  # the gateway's x-gateway-* headers replace an upstream's
        gw = self.gateway([t1, t2, t3], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}, {provider: t3, model: m-t3}]
    retry: {attempts: 2, on: [500, 503], backoff_ms: 0}
    cooldown: {for_ms: 0}
""")
        status, hdrs, payload, _ = self.send(gw, "five-hundreds")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t3)
        self.assertGatewayHeaders(hdrs, t3, 5)
        self.assertEqual((t1.hits, t2.hits, t3.hits), (2, 2, 1), "attempts is per target")
        for t in (t1, t2, t3):
            self.assertEqual([b["model"] for b in t.bodies], [t.model] * t.hits, "each target gets its own model")
        rec = record(gw, "five-hundreds")
        a = rec["attributes"]
        self.assertEqual((a["provider"], a["model"], a["metadata"]["status"], a["metadata"]["status_code"],
                          a["metadata"]["provider_status_code"]), (t3.name, t3.model, "success", 200, 200))
        self.assertEqual(a["metadata"]["tokens"]["input"], USAGE["prompt_tokens"])
        self.assertAttempts(rec, [(t1, 500, "upstream_http_error")] * 2 + [(t2, 503, "upstream_http_error")] * 2
                            + [(t3, 200, None)])
        wait_metric(gw, "ai_gateway_attempts_total", 1, provider="t3", model="m-t3", outcome="success")
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", provider="t1", model="m-t1", outcome="retried"), 2)
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", provider="t2", model="m-t2", outcome="retried"), 2)
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", outcome="error"), 0)

        # On one keep-alive connection: the failed attempts' bodies (never
        # read) leave nothing behind, each answer is whole.
        client = FastClient(gw.port)
        self.addCleanup(client.close)
        for i in range(5):
            r = client.post(chat(), b"x-request-id: keep-alive-%d\r\n" % i)
            self.assertEqual(r.status, 200, r.body)
            self.assertAnsweredBy(r.body, t3)
            self.assertEqual(r.headers["x-gateway-attempts"], "5")
        self.assertEqual((t1.hits, t2.hits, t3.hits), (12, 12, 6))

        # A status the route does not list is the answer, not a failure to retry.
        t1.set(default="502")
        status, hdrs, payload, _ = self.send(gw, "unlisted-502")
        self.assertEqual(status, 502)
        self.assertEqual(json.loads(payload)["error"]["message"], "t1 says 502", "the upstream's own answer")
        self.assertGatewayHeaders(hdrs, t1, 1)
        self.assertEqual((t1.hits, t3.hits), (13, 6))
        self.assertAttempts(record(gw, "unlisted-502"), [(t1, 502, "upstream_http_error")])

    def test_2b_backoff_doubles_and_a_shorter_retry_after_does_not_shorten_it(self):
        t1, = self.targets(["500", "429ms:10", "ok"])
        gw = self.gateway([t1], """
  - model: smart
    targets: [{provider: t1, model: m-t1}]
    retry: {attempts: 3, backoff_ms: 150}
""")
        status, hdrs, payload, _ = self.send(gw, "backoff")
        self.assertEqual(status, 200, payload)
        self.assertGatewayHeaders(hdrs, t1, 3)
        gaps = [b - a for a, b in zip(t1.times, t1.times[1:])]
        self.assertGreaterEqual(gaps[0], 0.14)
        self.assertLess(gaps[0], 0.15 + 0.25 * SLOW)
        self.assertGreaterEqual(gaps[1], 0.29, "150 ms doubled, longer than the 10 ms retry-after-ms")
        self.assertLess(gaps[1], 0.3 + 0.25 * SLOW)
        self.assertAttempts(record(gw, "backoff"), [(t1, 500, "upstream_http_error"), (t1, 429, "upstream_http_error"),
                                                    (t1, 200, None)])

    def test_3_connection_reset_and_refused_move_to_the_next_target(self):
        t1, t2, t3 = self.targets("reset", "refused", "ok")
        gw = self.gateway([t1, t2, t3], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}, {provider: t3, model: m-t3}]
    retry: {attempts: 1}
""")
        status, hdrs, payload, took = self.send(gw, "reset-refused")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t3)
        self.assertGatewayHeaders(hdrs, t3, 3)
        self.assertEqual((t1.hits, t3.hits), (1, 1))
        self.assertLess(took, 2 * SLOW)
        rec = record(gw, "reset-refused")
        self.assertAttempts(rec, [(t1, None, "upstream_broken"), (t2, None, "upstream_unreachable"), (t3, 200, None)])
        wait_metric(gw, "ai_gateway_attempts_total", 1, provider="t1", outcome="retried")
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", provider="t2", outcome="retried"), 1)
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", provider="t3", outcome="success"), 1)

    def test_4_a_hung_target_times_out_and_the_next_one_answers(self):
        t1, t2, t3, t4 = self.targets("hang", "ok", "hang", "hang")
        gw = self.gateway([t1, t2, t3, t4], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
  - model: two-hung
    strategy: ordered
    targets: [{provider: t3, model: m-t3}, {provider: t4, model: m-t4}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
  - model: all-hung
    targets: [{provider: t3, model: m-t3}]
    retry: {attempts: 1}
""", env={"UPSTREAM_TIMEOUT_MS": "1000"})
        status, hdrs, payload, took = self.send(gw, "hang-then-ok")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t2)
        self.assertGatewayHeaders(hdrs, t2, 2)
        self.assertGreaterEqual(took, 0.95)
        self.assertLess(took, 1.0 + 0.8 * SLOW, "one UPSTREAM_TIMEOUT_MS, then the next target at once")
        wait_until("the hung request's connection closed", lambda: t1.closed == 1, timeout=5)
        rec = record(gw, "hang-then-ok")
        self.assertAttempts(rec, [(t1, None, "upstream_timeout"), (t2, 200, None)])
        latency = rec["attributes"]["metadata"]["attempts"][0]["latency"]
        self.assertGreaterEqual(latency, 950)
        self.assertLess(latency, 1000 + 800 * SLOW)
        self.assertEqual(rec["attributes"]["metadata"]["status"], "success")

        # UPSTREAM_TIMEOUT_MS is per attempt: two hung targets, then an answer.
        status, hdrs, payload, took = self.send(gw, "two-hung", chat("two-hung"))
        self.assertEqual(status, 200, payload)
        self.assertGatewayHeaders(hdrs, t2, 3)
        self.assertGreaterEqual(took, 1.95)
        self.assertLess(took, 2.0 + 1.0 * SLOW)
        self.assertAttempts(record(gw, "two-hung"), [(t3, None, "upstream_timeout"), (t4, None, "upstream_timeout"),
                                                      (t2, 200, None)])
        # The last attempt hangs: 504, naming the target.
        status, hdrs, payload, took = self.send(gw, "all-hung", chat("all-hung"))
        self.assertEqual(status, 504, payload)
        self.assertEqual(json.loads(payload)["error"]["code"], "upstream_timeout")
        self.assertGatewayHeaders(hdrs, t3, 1)
        self.assertLess(took, 1.0 + 0.8 * SLOW)
        rec = record(gw, "all-hung")
        self.assertEqual((rec["attributes"]["metadata"]["status"], rec["attributes"]["metadata"]["error_type"]),
                         ("error", "upstream_timeout"))
        self.assertAttempts(rec, [(t3, None, "upstream_timeout")])
        wait_until("every hung request's connection closed", lambda: (t3.closed, t4.closed) == (2, 1), timeout=5)

    def test_4b_a_client_that_leaves_during_the_wait_ends_the_request(self):
        t1, t2 = self.targets("429:5", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 2}
""")
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        body = json.dumps(chat()).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nx-request-id: leaves\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_until("the first attempt", lambda: t1.hits == 1)
        time.sleep(0.2)
        s.close()
        left = time.monotonic()
        rec = record(gw, "leaves")
        self.assertLess(time.monotonic() - left, 1.5 * SLOW, "not after the whole 5 s Retry-After")
        self.assertEqual((rec["attributes"]["metadata"]["status"], rec["attributes"]["metadata"]["error_type"]),
                         ("cancelled", "client_disconnected"))
        self.assertAttempts(rec, [(t1, 429, "upstream_http_error")])
        time.sleep(0.2)
        self.assertEqual((t1.hits, t2.hits), (1, 0), "nobody is asked once the client left")

    def test_5_retry_after_above_the_cap_moves_on_at_once(self):
        t1, t2 = self.targets("429:30", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 3, backoff_ms: 0, max_retry_after_ms: 2000}
  - model: lonely
    targets: [{provider: t1, model: m-t1}]
    retry: {attempts: 3, backoff_ms: 0, max_retry_after_ms: 2000}
""")
        status, hdrs, payload, took = self.send(gw, "over-cap")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t2)
        self.assertGatewayHeaders(hdrs, t2, 2)
        self.assertLess(took, 0.5 * SLOW, "no wait: the Retry-After is past max_retry_after_ms")
        self.assertEqual((t1.hits, t2.hits), (1, 1), "t1 not asked again")
        self.assertAttempts(record(gw, "over-cap"), [(t1, 429, "upstream_http_error"), (t2, 200, None)])

        # The route's only target asks for 30 s: no attempt answers, and the
        # gateway says why, with the upstream's Retry-After.
        status, hdrs, payload, took = self.send(gw, "over-cap-alone", chat("lonely"))
        self.assertEqual(status, 429, payload)
        self.assertEqual(hdrs.get("retry-after"), "30")
        self.assertEqual(json.loads(payload)["error"]["code"], "rate_limit_exceeded")
        self.assertNotIn(b"rate limited by t1", payload, "the gateway's own answer")
        self.assertLess(took, 0.5 * SLOW)
        self.assertEqual(t1.hits, 2)
        self.assertGatewayHeaders(hdrs, t1, 1)
        rec = record(gw, "over-cap-alone")
        self.assertEqual((rec["attributes"]["metadata"]["status"], rec["attributes"]["metadata"]["status_code"]),
                         ("error", 429))
        self.assertAttempts(rec, [(t1, 429, "upstream_http_error")])

    def test_6_every_target_fails_the_last_answer_is_relayed(self):
        t1, t2, t3, t4 = self.targets("500", "503", "reset", "429:1")
        gw = self.gateway([t1, t2, t3, t4], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
  - model: broken
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t3, model: m-t3}]
    retry: {attempts: 1}
  - model: limited
    strategy: ordered
    targets: [{provider: t2, model: m-t2}, {provider: t4, model: m-t4}]
    retry: {attempts: 1}
""")
        status, hdrs, payload, _ = self.send(gw, "all-fail")
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(payload)["error"]["message"], "t2 says 503", "the last target's own body")
        self.assertGatewayHeaders(hdrs, t2, 2)
        rec = record(gw, "all-fail")
        a = rec["attributes"]
        self.assertEqual((a["provider"], a["metadata"]["status"], a["metadata"]["status_code"],
                          a["metadata"]["provider_status_code"]), ("t2", "error", 503, 503))
        self.assertAttempts(rec, [(t1, 500, "upstream_http_error"), (t2, 503, "upstream_http_error")])
        wait_metric(gw, "ai_gateway_attempts_total", 1, provider="t2", outcome="error")
        self.assertEqual(metric(gw, "ai_gateway_attempts_total", provider="t1", outcome="retried"), 1)

        # The last target resets: the gateway's 502, still naming the target.
        status, hdrs, payload, _ = self.send(gw, "all-fail-reset", chat("broken"))
        self.assertEqual(status, 502, payload)
        self.assertEqual(json.loads(payload)["error"]["code"], "upstream_broken")
        self.assertGatewayHeaders(hdrs, t3, 2)
        self.assertAttempts(record(gw, "all-fail-reset"), [(t1, 500, "upstream_http_error"), (t3, None, "upstream_broken")])

        # Even a 429 is relayed as it came, Retry-After included.
        status, hdrs, payload, _ = self.send(gw, "all-fail-429", chat("limited"))
        self.assertEqual(status, 429)
        self.assertEqual(json.loads(payload)["error"]["message"], "rate limited by t4")
        self.assertEqual(hdrs.get("retry-after"), "1")
        self.assertGatewayHeaders(hdrs, t4, 2)
        self.assertEqual((t1.hits, t2.hits, t3.hits, t4.hits), (2, 2, 1, 1))


# --- 7: fallbacks ------------------------------------------------------------

class FallbackTest(RoutingTestCase):
    def test_7a_fallback_route_answers_when_every_target_failed(self):
        t1, t2, t3, t4 = self.targets("500", "reset", "ok", "ok")
        gw = self.gateway([t1, t2, t3, t4], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
    fallbacks: [backup, other]
  - model: backup
    targets: [{provider: t3, model: m-t3}]
  - model: other
    targets: [{provider: t4, model: m-t4}]
""")
        status, hdrs, payload, _ = self.send(gw, "fallback")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t3)
        self.assertGatewayHeaders(hdrs, t3, 3)
        self.assertEqual((t1.hits, t2.hits, t3.hits, t4.hits), (1, 1, 1, 0))
        rec = record(gw, "fallback")
        a = rec["attributes"]
        self.assertEqual((a["provider"], a["model"], a["metadata"]["route"]), ("t3", "m-t3", "smart"))
        self.assertAttempts(rec, [(t1, 500, "upstream_http_error"), (t2, None, "upstream_broken"), (t3, 200, None)])

        # The first fallback failing too: the second one answers.
        t3.set(default="503")
        status, hdrs, payload, _ = self.send(gw, "fallback-2")
        self.assertEqual(status, 200, payload)
        self.assertAnsweredBy(payload, t4)
        self.assertEqual(hdrs["x-gateway-provider"], "t4")
        # backup's default retry (2 attempts per target) applies to its target.
        self.assertAttempts(record(gw, "fallback-2"), [(t1, 500, "upstream_http_error"), (t2, None, "upstream_broken"),
                                                        (t3, 503, "upstream_http_error"), (t3, 503, "upstream_http_error"),
                                                        (t4, 200, None)])

    def test_7b_cross_provider_fallback_to_anthropic_answers_in_openai_shape(self):
        anthropic = MockUpstream()
        self.addCleanup(anthropic.stop)
        t1, = self.targets("503")
        gw = self.gateway([t1], """
  - model: smart
    targets: [{provider: t1, model: m-t1}]
    retry: {attempts: 1}
    fallbacks: [claude]
  - model: claude
    targets: [{provider: anthropic, model: claude-sonnet-4-5}]
""", env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % anthropic.port,
          "ANTHROPIC_API_KEY": "sk-ant-routing-test-1234"})
        status, hdrs, payload, _ = self.send(gw, "to-claude", chat(max_tokens=100))
        self.assertEqual(status, 200, payload)
        doc = json.loads(payload)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["choices"][0]["message"]["content"], ANTHROPIC_TEXT["content"][0]["text"])
        u = ANTHROPIC_TEXT["usage"]
        self.assertEqual((doc["usage"]["prompt_tokens"], doc["usage"]["completion_tokens"], doc["usage"]["total_tokens"]),
                         (u["input_tokens"], u["output_tokens"], u["input_tokens"] + u["output_tokens"]))
        self.assertEqual((hdrs["x-gateway-provider"], hdrs["x-gateway-model"], hdrs["x-gateway-attempts"]),
                         ("anthropic", "claude-sonnet-4-5", "2"))
        sent = [e for e in anthropic.events() if e.get("event") == "request"]
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["path"], "/v1/messages", "translated to the Messages API")
        body = json.loads(sent[0]["body"])
        self.assertEqual((body["model"], body["max_tokens"]), ("claude-sonnet-4-5", 100))
        self.assertEqual(body["messages"][0]["role"], "user")
        self.assertEqual(sent[0]["headers"]["x-api-key"], "sk-ant-routing-test-1234")
        rec = record(gw, "to-claude")
        a = rec["attributes"]
        self.assertEqual((a["provider"], a["model"], a["metadata"]["route"], a["metadata"]["status"]),
                         ("anthropic", "claude-sonnet-4-5", "smart", "success"))
        self.assertEqual((a["metadata"]["tokens"]["input"], a["metadata"]["tokens"]["output"]),
                         (u["input_tokens"], u["output_tokens"]))
        self.assertIsNotNone(a["metadata"]["cost"], "priced as anthropic's model")
        got = [(x["provider"], x["model"], x["status_code"]) for x in a["metadata"]["attempts"]]
        self.assertEqual(got, [("t1", "m-t1", 503), ("anthropic", "claude-sonnet-4-5", 200)])
        wait_metric(gw, "ai_gateway_attempts_total", 1, provider="anthropic", model="claude-sonnet-4-5",
                    outcome="success")

        # Streamed: one OpenAI-shaped stream, translated from Anthropic's events.
        status, hdrs, payload, _ = self.send(gw, "to-claude-stream", chat(max_tokens=100, stream=True,
                                                                          stream_options={"include_usage": True}))
        self.assertEqual(status, 200, payload)
        self.assertEqual(hdrs["x-gateway-provider"], "anthropic")
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(events.count("[DONE]"), 1)
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks), chunks[:2])
        text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
        self.assertTrue(text, "the answer's text")
        self.assertTrue(any(c.get("usage") for c in chunks), "usage in OpenAI shape")
        self.assertEqual(t1.hits, 2)


    def test_7c_after_a_translated_attempt_the_next_target_gets_the_clients_body(self):
        anthropic = MockUpstream()
        self.addCleanup(anthropic.stop)
        t1, t2 = self.targets("ok", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: anthropic, model: anthropic-error}, {provider: t1, model: m-t1}, {provider: t2}]
    retry: {attempts: 1, on: [400, 503]}
""", env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % anthropic.port, "ANTHROPIC_API_KEY": "sk-ant-routing-test-1234"})
        body = {"model": "smart", "messages": [{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "temperature": 0.5, "stop": ["x"], "user": "u1",
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]}
        status, hdrs, payload, _ = self.send(gw, "after-translation", body)
        self.assertEqual(status, 200, payload)
        self.assertGatewayHeaders(hdrs, t1, 2)
        sent = [json.loads(e["body"]) for e in anthropic.events() if e.get("event") == "request"]
        self.assertEqual(len(sent), 1)
        self.assertEqual((sent[0]["system"], sent[0]["stop_sequences"]), ("be brief", ["x"]), "translated for Anthropic")
        self.assertEqual(t1.bodies, [dict(body, model="m-t1")], "the client's body, but for the model")
        # A target without a model of its own gets the client's body as it came.
        t1.set(default="503")
        status, hdrs, payload, _ = self.send(gw, "after-translation-2", body)
        self.assertEqual(status, 200, payload)
        self.assertGatewayHeaders(hdrs, t2, 3, model="smart")
        self.assertEqual(t2.bodies, [body])


# --- 8: cooldown -------------------------------------------------------------

class CooldownTest(RoutingTestCase):
    def test_8_a_failing_target_is_skipped_for_for_ms_then_tried_again(self):
        for_s = 1.5 * SLOW
        t1, t2, t3 = self.targets("503", "ok", "503")
        gw = self.gateway([t1, t2, t3], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
    cooldown: {failures: 3, window_ms: 10000, for_ms: %d}
  - model: alone
    targets: [{provider: t3, model: m-t3}]
    retry: {attempts: 1}
    cooldown: {failures: 1, window_ms: 10000, for_ms: 60000}
""" % (for_s * 1000))
        for i in range(3):
            status, hdrs, _, _ = self.send(gw, "cool-%d" % i)
            self.assertEqual(status, 200)
            self.assertGatewayHeaders(hdrs, t2, 2)
        self.assertEqual(t1.hits, 3)
        started = time.monotonic()
        wait_metric(gw, "ai_gateway_target_cooldowns_total", 1, provider="t1", model="m-t1")
        for i in range(5):
            status, hdrs, payload, _ = self.send(gw, "cooling-%d" % i)
            self.assertEqual(status, 200, payload)
            self.assertGatewayHeaders(hdrs, t2, 1)
        self.assertEqual(t1.hits, 3, "skipped while cooling down")
        self.assertAttempts(record(gw, "cooling-4"), [(t2, 200, None)])
        self.assertLess(time.monotonic() - started, for_s - 0.1, "still within for_ms")
        # After for_ms, t1 is tried again (and fails again).
        time.sleep(max(0.0, for_s + 0.1 - (time.monotonic() - started)))
        status, hdrs, _, _ = self.send(gw, "cooled")
        self.assertEqual(status, 200)
        self.assertGatewayHeaders(hdrs, t2, 2)
        self.assertEqual(t1.hits, 4)
        self.assertAttempts(record(gw, "cooled"), [(t1, 503, "upstream_http_error"), (t2, 200, None)])
        self.assertEqual(metric(gw, "ai_gateway_target_cooldowns_total", provider="t1"), 1)
        self.assertEqual(metric(gw, "ai_gateway_target_cooldowns_total", provider="t2"), 0)

        # A route whose every target cools down still tries them all.
        for i in range(3):
            status, hdrs, payload, _ = self.send(gw, "alone-%d" % i, chat("alone"))
            self.assertEqual(status, 503, payload)
            self.assertGatewayHeaders(hdrs, t3, 1)
        self.assertEqual(t3.hits, 3)
        wait_metric(gw, "ai_gateway_target_cooldowns_total", 1, provider="t3", model="m-t3")



class SharedCooldownTest(RoutingTestCase):
    def test_8_a_cooldown_one_instance_starts_is_kept_by_every_instance_on_the_same_redis(self):
        from redis_server import RedisServer
        redis = RedisServer()
        redis.start()
        self.addCleanup(redis.stop)
        t1, t2 = self.targets("503", "ok")
        routes = """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 1}
    cooldown: {failures: 2, window_ms: 10000, for_ms: 60000}
"""
        env = {"REDIS_URL": redis.url()}
        gw_a = self.gateway([t1, t2], routes, env)
        gw_b = self.gateway([t1, t2], routes, env)
        for i in range(2):
            status, hdrs, _, _ = self.send(gw_a, "a-%d" % i)
            self.assertEqual(status, 200)
            self.assertGatewayHeaders(hdrs, t2, 2)
        wait_metric(gw_a, "ai_gateway_target_cooldowns_total", 1, provider="t1", model="m-t1")
        self.assertEqual(t1.hits, 2)
        # A shared it; B, which saw no failure of t1, reads it at its next
        # poll (every 250 ms) and skips t1 without counting a cooldown.
        from redis_server import resp_command
        wait_until("the cooldown in Redis", lambda: resp_command(redis.port, "HGETALL", "gw:cooldowns"),
                   timeout=3 * SLOW)
        time.sleep(0.5 * SLOW)
        for i in range(3):
            status, hdrs, _, _ = self.send(gw_b, "b-%d" % i)
            self.assertEqual(status, 200)
            self.assertGatewayHeaders(hdrs, t2, 1)
        self.assertEqual(t1.hits, 2)
        self.assertEqual(metric(gw_b, "ai_gateway_target_cooldowns_total", provider="t1"), 0)


# --- 9-10: strategies --------------------------------------------------------

def run_clients(port, n_threads, per_thread, body, headers=b"", seconds=None):
    """n_threads keep-alive connections, each sending per_thread requests (or
    as many as it can for `seconds`); returns every Response."""
    deadline = time.monotonic() + seconds if seconds else None

    def one(_):
        out = []
        c = FastClient(port)
        try:
            while (len(out) < per_thread) if deadline is None else (time.monotonic() < deadline):
                out.append(c.post(body, headers))
        finally:
            c.close()
        return out
    with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
        return [r for rs in pool.map(one, range(n_threads)) for r in rs]


class StrategyTest(RoutingTestCase):
    def test_9_weights_3_to_1_over_10000_requests(self):
        t1, t2 = self.targets("ok", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: weighted
    targets: [{provider: t1, model: m-t1, weight: 3}, {provider: t2, model: m-t2, weight: 1}]
""", exporters="prometheus")
        n = 10000
        started = time.monotonic()
        responses = run_clients(gw.port, 8, n // 8, json.dumps(chat()).encode())
        took = time.monotonic() - started
        self.assertEqual(len(responses), n)
        self.assertEqual(collections.Counter(r.status for r in responses), {200: n})
        by_header = collections.Counter(r.headers["x-gateway-provider"] for r in responses)
        self.assertEqual((t1.hits, t2.hits), (by_header["t1"], by_header["t2"]))
        p = 0.75
        sigma = (n * p * (1 - p)) ** 0.5
        self.assertLess(abs(t1.hits - n * p), 5 * sigma, "t1 %d of %d (expected %d +- %.0f)" % (t1.hits, n, n * p, 5 * sigma))
        wait_metric(gw, "ai_gateway_attempts_total", t1.hits, provider="t1", outcome="success")
        wait_metric(gw, "ai_gateway_attempts_total", t2.hits, provider="t2", outcome="success")
        print("\n  weights: t1 %d, t2 %d of %d in %.1f s" % (t1.hits, t2.hits, n, took), flush=True)

    def test_10a_least_busy_steers_away_from_a_slow_target(self):
        slow, fast = self.targets("slow:0.3", "ok")
        gw = self.gateway([slow, fast], """
  - model: smart
    strategy: least_busy
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
""", exporters="prometheus")
        # 8 clients at once for 1.5 s: the slow target holds its requests
        # 0.3 s, so it is busier than the fast one whenever it has any.
        responses = run_clients(gw.port, 8, None, json.dumps(chat()).encode(), seconds=1.5)
        self.assertEqual(collections.Counter(r.status for r in responses), {200: len(responses)})
        total = slow.hits + fast.hits
        self.assertEqual(total, len(responses))
        self.assertGreater(total, 100)
        # Weighted at random, the slow target would get half of them; here it
        # gets about one at a time, the ties with an idle fast target.
        self.assertLess(slow.hits, 0.15 * total, "slow %d, fast %d" % (slow.hits, fast.hits))
        by_header = collections.Counter(r.headers["x-gateway-provider"] for r in responses)
        self.assertEqual((by_header["t1"], by_header["t2"]), (slow.hits, fast.hits))

    def test_10b_lowest_latency_steers_away_from_a_slow_target_after_warm_up(self):
        slow, fast = self.targets("slow:0.2", "ok")
        gw = self.gateway([slow, fast], """
  - model: smart
    strategy: lowest_latency
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
""")
        # One keep-alive connection: each request starts after the last one
        # is over, on the same worker (a new connection could reach the other
        # worker before the first had folded in the last time to first byte).
        answered = []
        client = FastClient(gw.port)
        self.addCleanup(client.close)
        for i in range(20):
            r = client.post(chat(), b"x-request-id: latency-%d\r\n" % i)
            self.assertEqual(r.status, 200, r.body)
            answered.append(r.headers["x-gateway-provider"])
        # Unmeasured targets first: the two first requests measure both.
        self.assertEqual(sorted(answered[:2]), ["t1", "t2"])
        self.assertEqual(answered[2:], ["t2"] * 18)
        self.assertEqual((slow.hits, fast.hits), (1, 19))


# --- 11: streams ----------------------------------------------------------------

class StreamTest(RoutingTestCase):
    def test_11a_a_stream_cut_after_its_first_byte_is_not_retried(self):
        t1, t2 = self.targets("cut", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}]
    retry: {attempts: 2, backoff_ms: 0}
""")
        status, hdrs, payload, _ = self.send(gw, "cut-stream", chat(stream=True))
        self.assertEqual(status, 200)
        self.assertGatewayHeaders(hdrs, t1, 1)
        events = sse_events(payload)
        self.assertIn("answer ", [(json.loads(e)["choices"] or [{}])[0].get("delta", {}).get("content")
                                  for e in events if e.startswith("{") and "choices" in e])
        self.assertTrue(any('"error"' in e for e in events), events)
        self.assertNotIn("[DONE]", events)
        self.assertNotIn(b"from t1", payload)
        self.assertNotIn(b"t2", payload)
        self.assertEqual((t1.hits, t2.hits), (1, 0), "never retried once a byte reached the client")
        rec = record(gw, "cut-stream")
        a = rec["attributes"]
        self.assertEqual((a["provider"], a["metadata"]["status"]), ("t1", "error"))
        self.assertEqual(len(a["metadata"]["attempts"]), 1)
        self.assertEqual(a["metadata"]["attempts"][0]["provider"], "t1")
        wait_metric(gw, "ai_gateway_attempts_total", 1, provider="t1", outcome="error")

    def test_11b_a_stream_refused_before_its_first_byte_is_retried_once(self):
        t1, t2, t3 = self.targets("429", "reset", "ok")
        gw = self.gateway([t1, t2, t3], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1, model: m-t1}, {provider: t2, model: m-t2}, {provider: t3, model: m-t3}]
    retry: {attempts: 1, backoff_ms: 0}
""")
        status, hdrs, payload, _ = self.send(gw, "retried-stream", chat(stream=True, stream_options={"include_usage": True}))
        self.assertEqual(status, 200, payload)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        self.assertGatewayHeaders(hdrs, t3, 3)
        events = sse_events(payload)
        self.assertEqual(events.count("[DONE]"), 1)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("role")), 1,
                         "exactly one stream")
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertEqual(text, "answer from t3")
        self.assertEqual({c["model"] for c in chunks}, {"m-t3"})
        self.assertNotIn(b"rate limited", payload)
        self.assertEqual((t1.hits, t2.hits, t3.hits), (1, 1, 1))
        rec = record(gw, "retried-stream")
        self.assertEqual(rec["attributes"]["metadata"]["status"], "success")
        self.assertEqual(rec["attributes"]["metadata"]["tokens"]["output"], USAGE["completion_tokens"])
        self.assertAttempts(rec, [(t1, 429, "upstream_http_error"), (t2, None, "upstream_broken"), (t3, 200, None)])


# --- 12: x-provider ----------------------------------------------------------

class BypassTest(RoutingTestCase):
    def test_12_x_provider_bypasses_routes(self):
        t1, t2 = self.targets("ok", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    targets: [{provider: t1, model: m-t1}]
""")
        status, hdrs, payload, _ = self.send(gw, "bypass", headers={"x-provider": "t2"})
        self.assertEqual(status, 200, payload)
        self.assertEqual((t1.hits, t2.hits), (0, 1))
        self.assertEqual(t2.bodies[0]["model"], "smart", "the client's model, unchanged")
        for h in ("x-gateway-provider", "x-gateway-model", "x-gateway-attempts"):
            self.assertNotIn(h, hdrs)
        a = record(gw, "bypass")["attributes"]
        self.assertEqual((a["provider"], a["model"]), ("t2", "smart"))
        self.assertNotIn("route", a["metadata"], "not routed: the record keeps the unrouted shape")
        self.assertNotIn("attempts", a["metadata"])
        # A model no route names is not routed either.
        status, hdrs, payload, _ = self.send(gw, "not-routed", chat("t2/other"))
        self.assertEqual(status, 200, payload)
        self.assertNotIn("x-gateway-provider", hdrs)
        self.assertEqual(record(gw, "not-routed")["attributes"]["metadata"].get("route", "absent"), "absent")
        # Routed, for comparison.
        status, hdrs, _, _ = self.send(gw, "routed")
        self.assertEqual(status, 200)
        self.assertGatewayHeaders(hdrs, t1, 1)
        self.assertEqual(record(gw, "routed")["attributes"]["metadata"]["route"], "smart")


    def test_12b_glob_route_target_without_model_and_a_target_with_its_own_key(self):
        t1, t2, t3, t4 = self.targets("503", "ok", "ok", "ok")
        gw = self.gateway([t1, t2, t3, t4], """
  - model: 'gpt-4o*'
    strategy: ordered
    targets: [{provider: t1}, {provider: t2, api_key_env: ROUTING_T2_KEY}]
    retry: {attempts: 1}
  - model: 'gpt-*'
    targets: [{provider: t3}]
  - model: gpt-4o-exact
    targets: [{provider: t4}]
  - model: 'o?-mini'
    targets: [{provider: t4}]
""", env={"ROUTING_T2_KEY": "sk-routing-own-key-5678"})
        status, hdrs, payload, _ = self.send(gw, "glob", chat("gpt-4o-mini"))
        self.assertEqual(status, 200, payload)
        self.assertEqual((hdrs["x-gateway-provider"], hdrs["x-gateway-model"], hdrs["x-gateway-attempts"]),
                         ("t2", "gpt-4o-mini", "2"))
        self.assertEqual([b["model"] for b in t1.bodies + t2.bodies], ["gpt-4o-mini"] * 2,
                         "a target without a model sends the client's")
        self.assertNotIn("authorization", t1.headers[0], "no key of its own")
        self.assertEqual(t2.headers[0].get("authorization"), "Bearer sk-routing-own-key-5678", "its own key")
        self.assertNotIn(b"sk-routing-own-key-5678", payload)
        rec = record(gw, "glob")
        self.assertEqual((rec["attributes"]["metadata"]["route"], rec["attributes"]["model"]), ("gpt-4o*", "gpt-4o-mini"))
        self.assertNotIn("sk-routing-own-key-5678", gw.stdout_text())
        self.assertNotIn(b"sk-routing-own-key-5678", gw.stderr_seen)
        # An exact name wins over the globs before it; among globs, the
        # first in the file; '?' is one character; no match: not routed.
        for model, target, route in (("gpt-4o-exact", "t4", "gpt-4o-exact"), ("gpt-4o-2024", "t2", "gpt-4o*"),
                                     ("gpt-3.5-turbo", "t3", "gpt-*"), ("o1-mini", "t4", "o?-mini"),
                                     ("o10-mini", None, None), ("t2/gpt-4", None, None)):
            with self.subTest(model=model):
                status, hdrs, _, _ = self.send(gw, "glob-" + model, chat(model))
                if target:  # o10-mini goes to openai, which has no key here
                    self.assertEqual(status, 200)
                self.assertEqual(hdrs.get("x-gateway-provider"), target)
                self.assertEqual(record(gw, "glob-" + model)["attributes"]["metadata"].get("route"), route)


    def test_12d_the_clients_keys_reach_only_its_home_provider(self):
        """The client's credentials are meant for the provider its request
        reaches without routes (DEFAULT_PROVIDER): a target of that provider
        without a key of its own gets them, as an unrouted request would;
        every other target spends its own key and sees none of them."""
        t1, t2 = self.targets("503", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1}, {provider: t2}]
    retry: {attempts: 1}
""", env={"DEFAULT_PROVIDER": "t1"})
        status, hdrs, payload, _ = self.send(gw, "home", headers={"Authorization": "Bearer sk-client-home-0001"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(hdrs["x-gateway-provider"], "t2")
        self.assertEqual(t1.headers[0].get("authorization"), "Bearer sk-client-home-0001", "the home provider")
        self.assertNotIn("sk-client-home-0001", json.dumps(t2.headers), "another provider")

    def test_12e_a_routed_request_spends_the_targets_keys_never_the_clients(self):
        """A key the client sent for one provider must not reach another
        one the route falls back to: a target that is not the client's home
        provider (here DEFAULT_PROVIDER is openai, in no route) gets its own
        key (its provider's, or api_key_env), and none of the client's
        credential headers."""
        anthropic = MockUpstream()
        self.addCleanup(anthropic.stop)
        t1, t2 = self.targets("503", "ok")
        gw = self.gateway([t1, t2], """
  - model: smart
    strategy: ordered
    targets: [{provider: t1}, {provider: t2, api_key_env: ROUTING_T2_KEY}]
    retry: {attempts: 1}
    fallbacks: [claude]
  - model: claude
    targets: [{provider: anthropic, model: claude-sonnet-4-5}]
""", env={"ROUTING_T2_KEY": "sk-operator-t2-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % anthropic.port,
          "ANTHROPIC_API_KEY": "sk-ant-operator-key"})
        client_creds = {"Authorization": "Bearer sk-client-openai-key-0001", "x-api-key": "sk-client-ant-0002",
                        "api-key": "client-azure-0003", "x-goog-api-key": "client-goog-0004",
                        "x-aws-access-key-id": "AKIACLIENT0005", "x-aws-secret-access-key": "client-secret-0006"}
        status, hdrs, payload, _ = self.send(gw, "creds", headers=client_creds)
        self.assertEqual(status, 200, payload)
        self.assertEqual(hdrs["x-gateway-provider"], "t2")
        for target in (t1, t2):
            sent = json.dumps(target.headers)
            for value in client_creds.values():
                self.assertNotIn(value.split()[-1], sent, (target.name, value))
        self.assertNotIn("authorization", t1.headers[0], "t1 has no key of its own: none is sent")
        self.assertEqual(t2.headers[0]["authorization"], "Bearer sk-operator-t2-key")
        # Falling back to another provider: its own key, not the client's.
        t2.set("503", default="503")
        status, hdrs, payload, _ = self.send(gw, "creds-fallback", chat(max_tokens=50), headers=client_creds)
        self.assertEqual(status, 200, payload)
        self.assertEqual(hdrs["x-gateway-provider"], "anthropic")
        sent = [e for e in anthropic.events() if e.get("event") == "request"]
        self.assertEqual(sent[-1]["headers"].get("x-api-key"), "sk-ant-operator-key")
        for value in client_creds.values():
            self.assertNotIn(value.split()[-1], json.dumps(sent[-1]["headers"]))

    def test_12c_targets_that_cannot_serve_the_request_are_passed_over(self):
        anthropic = MockUpstream()
        self.addCleanup(anthropic.stop)
        t1, = self.targets("ok")
        gw = self.gateway([t1], """
  - model: smart
    strategy: ordered
    targets: [{provider: anthropic, model: claude-sonnet-4-5}, {provider: t1, model: m-t1}]
  - model: only-openai
    targets: [{provider: t1, model: m-t1}]
""", env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % anthropic.port, "ANTHROPIC_API_KEY": "sk-ant-routing-test-1234"})
        # Anthropic has no embeddings: the next target serves them.
        status, hdrs, payload = http_request(gw.port, "POST", "/v1/embeddings", {"model": "smart", "input": "hi"},
                                             {"x-request-id": "embeddings"})
        self.assertEqual(status, 200, payload)
        self.assertGatewayHeaders(hdrs, t1, 2)
        got = record(gw, "embeddings")["attributes"]["metadata"]["attempts"]
        self.assertEqual([(a["provider"], a["status_code"]) for a in got], [("anthropic", None), ("t1", 200)])
        # The Messages API: only targets that serve it.
        message = {"model": "smart", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        status, hdrs, payload = http_request(gw.port, "POST", "/v1/messages", message,
                                             {"x-request-id": "messages", "anthropic-version": "2023-06-01"})
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["type"], "message")
        self.assertEqual(hdrs["x-gateway-provider"], "anthropic")
        status, hdrs, payload = http_request(gw.port, "POST", "/v1/messages", dict(message, model="only-openai"),
                                             {"anthropic-version": "2023-06-01"})
        self.assertEqual(status, 400, payload)
        self.assertEqual(json.loads(payload)["type"], "error", "in the Messages API's shape")
        self.assertIn("only-openai", json.loads(payload)["error"]["message"])
        self.assertEqual(t1.hits, 1)


# --- 13: reload ----------------------------------------------------------------

ROUTE_TO = """
  - model: smart
    targets: [{provider: %s, model: m-%s}]
"""


class ReloadTest(RoutingTestCase):
    def rewrite(self, text):
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def reload(self, gw, text, outcome="success"):
        before = metric(gw, "ai_gateway_config_reloads_total", outcome=outcome)
        self.rewrite(text)
        gw.proc.send_signal(signal.SIGHUP)
        wait_metric(gw, "ai_gateway_config_reloads_total", before + 1, outcome=outcome)

    def test_13a_sighup_swaps_routes_and_providers_a_bad_file_keeps_them(self):
        t1, t2, t3 = self.targets("ok", "ok", "slow:0.8")
        gw = self.gateway([t1, t3], ROUTE_TO % ("t1", "t1") + """
  - model: slow
    targets: [{provider: t3, model: m-t3}]
""")
        status, hdrs, _, _ = self.send(gw, "before")
        self.assertEqual((status, hdrs["x-gateway-provider"]), (200, "t1"))

        # A slow request in flight while t3 and its route go away: it
        # finishes on the configuration it started with.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(self.send, gw, "in-flight", chat("slow"))
            wait_until("the slow request reached t3", lambda: t3.hits == 1)
            # t2 is a new provider, only in the new file.
            self.reload(gw, providers_yaml([t1, t2]) + "routes:\n" + ROUTE_TO % ("t2", "t2"))
            status, hdrs, _, _ = self.send(gw, "after")
            self.assertEqual((status, hdrs["x-gateway-provider"], hdrs["x-gateway-model"]), (200, "t2", "m-t2"))
            status, hdrs, payload, _ = in_flight.result(10)
            self.assertEqual(status, 200, payload)
            self.assertAnsweredBy(payload, t3)
            self.assertEqual(hdrs["x-gateway-provider"], "t3")
        self.assertEqual(record(gw, "in-flight")["attributes"]["provider"], "t3")
        status, hdrs, payload, _ = self.send(gw, "slow-gone", chat("slow"))
        self.assertNotIn("x-gateway-provider", hdrs, "no route 'slow' any more")
        self.assertEqual(t3.hits, 1)
        self.assertEqual((t1.hits, t2.hits), (1, 1))

        # A bad file: the running configuration stays, the error is logged.
        self.reload(gw, providers_yaml([t1, t2]) + "routes:\n" + ROUTE_TO % ("t1", "t1")
                    + "  - model: other\n    targets: [{provider: opnai, model: gpt-4o}]\n", outcome="failure")
        wait_until("the reload error in stderr", lambda: b"routes[1].targets[0].provider: unknown provider \"opnai\""
                   in gw.stderr_seen, timeout=5)
        line = [l for l in gw.stderr_seen.decode().splitlines() if "opnai" in l]
        self.assertEqual(len(line), 1, line)
        self.assertIn("reload of %s failed, the running configuration stays" % self.config_path, line[0])
        status, hdrs, _, _ = self.send(gw, "after-bad")
        self.assertEqual((status, hdrs["x-gateway-provider"]), (200, "t2"), "the old routes stay")
        self.assertEqual(metric(gw, "ai_gateway_config_reloads_total", outcome="success"), 1)
        self.assertEqual(metric(gw, "ai_gateway_config_reloads_total", outcome="failure"), 1)

        # A file that is not YAML at all fails the same way; then a good one applies.
        self.reload(gw, "routes: [\n", outcome="failure")
        status, hdrs, _, _ = self.send(gw, "after-garbage")
        self.assertEqual(hdrs["x-gateway-provider"], "t2")
        self.reload(gw, providers_yaml([t1, t2]) + "routes:\n" + ROUTE_TO % ("t1", "t1"))
        status, hdrs, _, _ = self.send(gw, "good-again")
        self.assertEqual((status, hdrs["x-gateway-provider"]), (200, "t1"))
        self.assertEqual(gw.proc.poll(), None)

    def test_13b_reload_under_load_fails_no_request(self):
        t1, t2 = self.targets("ok", "ok")
        gw = self.gateway([t1, t2], ROUTE_TO % ("t1", "t1"))
        configs = [providers_yaml([t1, t2]) + "routes:\n" + ROUTE_TO % (n, n) for n in ("t1", "t2")]
        configs.append(providers_yaml([t1, t2]) + "routes:\n  - model: smart\n    strategy: ordered\n"
                       "    targets: [{provider: t2, model: m-t2}, {provider: t1, model: m-t1}]\n")
        stop = threading.Event()
        failures = []
        counts = collections.Counter()

        def keep_alive_loop(stream):
            body = json.dumps(chat(stream=stream)).encode()
            c = FastClient(gw.port)
            try:
                while not stop.is_set():
                    r = c.post(body)
                    counts[r.headers.get("x-gateway-provider")] += 1
                    if r.status != 200 or (stream and b"[DONE]" not in r.body):
                        failures.append((r.status, r.body[:200]))
            except Exception as e:  # a dropped connection
                failures.append(repr(e))
            finally:
                c.close()

        def new_connection_loop():
            try:
                while not stop.is_set():
                    status, hdrs, payload = http_request(gw.port, "POST", "/v1/chat/completions", chat())
                    counts[hdrs.get("x-gateway-provider")] += 1
                    if status != 200:
                        failures.append((status, payload[:200]))
            except Exception as e:
                failures.append(repr(e))

        threads = [threading.Thread(target=keep_alive_loop, args=(s,)) for s in (False, False, True)]
        threads.append(threading.Thread(target=new_connection_loop))
        for t in threads:
            t.start()
        rng = random.Random(7)
        sent = 0
        deadline = time.monotonic() + 4
        try:
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.2, 0.5))
                self.rewrite(configs[sent % len(configs)] if sent % 5 != 4 else "routes: [{model: smart}]\n")
                gw.proc.send_signal(signal.SIGHUP)
                sent += 1
        finally:
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [])
        self.assertGreater(sum(counts.values()), 100, counts)
        self.assertEqual(set(counts), {"t1", "t2"}, counts)
        bad = sent // 5
        wait_until("every reload counted",
                   lambda: (metric(gw, "ai_gateway_config_reloads_total", outcome="success"),
                            metric(gw, "ai_gateway_config_reloads_total", outcome="failure")) == (sent - bad, bad))
        print("\n  reload under load: %d reloads, %d requests %r" % (sent, sum(counts.values()), dict(counts)), flush=True)

        if shutil.which("wrk"):
            # wrk as well: a C client, much more load, the same SIGHUPs.
            script = write_config('wrk.method = "POST"\nwrk.body = \'%s\'\n'
                                  'wrk.headers["Content-Type"] = "application/json"\n' % json.dumps(chat()))
            self.addCleanup(os.unlink, script)
            wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d3s", "-s", script,
                                    "http://127.0.0.1:%d/v1/chat/completions" % gw.port],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                time.sleep(rng.uniform(0.2, 0.5))
                self.rewrite(configs[sent % len(configs)])
                gw.proc.send_signal(signal.SIGHUP)
                sent += 1
            out = wrk.communicate(timeout=30)[0].decode()
            self.assertEqual(wrk.returncode, 0, out)
            self.assertNotIn("Non-2xx", out)
            self.assertNotIn("Socket errors", out)
            done = re.search(r"(\d+) requests in", out)
            self.assertTrue(done and int(done.group(1)) > 100, out)
            print("  wrk under reloads: %s requests, no error (%d reloads in all)" % (done.group(1), sent), flush=True)


# --- 14: start-up errors ----------------------------------------------------------

T1 = "providers: [{name: t1, type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}]\n"
GOOD = "  - {model: a, targets: [{provider: t1, model: x}]}\n"
BAD_ROUTES = [
    ("unknown provider", GOOD + "  - {model: b, targets: [{provider: opnai, model: gpt-4o}]}\n",
     'routes[1].targets[0].provider: unknown provider "opnai" (known: '),
    ("unknown fallback", "  - {model: a, targets: [{provider: t1}], fallbacks: [nosuch]}\n",
     "routes[0].fallbacks[0]: unknown route 'nosuch' (a fallback names the model of another route)"),
    ("cycle", "  - {model: a, targets: [{provider: t1}], fallbacks: [b]}\n"
              "  - {model: b, targets: [{provider: t1}], fallbacks: [c]}\n"
              "  - {model: c, targets: [{provider: t1}], fallbacks: [a]}\n",
     "routes[2].fallbacks[0]: a cycle of fallbacks: a -> b -> c -> a"),
    ("own fallback", "  - {model: a, targets: [{provider: t1}], fallbacks: [a]}\n",
     "routes[0].fallbacks[0]: a cycle of fallbacks: a -> a"),
    ("weight 0", "  - {model: a, targets: [{provider: t1, weight: 1}, {provider: t1, weight: 0}]}\n",
     "routes[0].targets[1].weight: must be a number greater than 0 (at most 1000000)"),
    ("negative weight", "  - {model: a, targets: [{provider: t1, weight: -2}]}\n",
     "routes[0].targets[0].weight: must be a number greater than 0 (at most 1000000)"),
    ("unknown strategy", GOOD + "  - {model: b, strategy: fastest, targets: [{provider: t1}]}\n",
     "routes[1].strategy: unknown strategy 'fastest' (known: weighted, ordered, least_busy, lowest_latency)"),
    ("glob matching nothing", "  - {model: 'zz-nothing-*', targets: [{provider: t1, model: x}]}\n",
     "routes[0].model: the glob 'zz-nothing-*' matches no model the gateway knows (the price table's models and "
     "the routes' target models)"),
    ("unknown route key", "  - {model: a, targets: [{provider: t1}], retries: {attempts: 2}}\n",
     "routes[0].retries: unknown key (known: model, strategy, targets, retry, fallbacks, cooldown)"),
    ("unknown target key", "  - {model: a, targets: [{provider: t1, wieght: 2}]}\n",
     "routes[0].targets[0].wieght: unknown key (known: provider, model, api_key_env, weight)"),
    ("unknown retry key", "  - {model: a, targets: [{provider: t1}], retry: {attempts: 2, backof_ms: 1}}\n",
     "routes[0].retry.backof_ms: unknown key (known: attempts, on, backoff_ms, max_retry_after_ms)"),
    ("bad retry condition", "  - {model: a, targets: [{provider: t1}], retry: {on: [429, conect_error]}}\n",
     "routes[0].retry.on[1]: must be an HTTP error status (400 to 599), connect_error or timeout, got 'conect_error'"),
    ("same model twice", GOOD + GOOD, "routes[1].model: 'a' is already the model of routes[0]"),
    ("unset key variable", "  - {model: a, targets: [{provider: t1, api_key_env: ROUTING_TEST_UNSET_KEY}]}\n",
     "routes[0].targets[0].api_key_env: ROUTING_TEST_UNSET_KEY is not set"),
]


class StartupErrorTest(unittest.TestCase):
    def test_14_each_bad_route_stops_start_up_with_exit_2_naming_its_field(self):
        def run(case):
            name, routes, expected = case
            path = write_config(T1 + "routes:\n" + routes)
            try:
                gw = Gateway(args=["--config", path], expect_start=False)
                code = gw.proc.wait(20 * SLOW)
                gw.stop()
                return name, code, [l for l in gw.stderr_seen.decode().splitlines() if l.strip()], expected
            finally:
                os.unlink(path)

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run, BAD_ROUTES))
        for name, code, lines, expected in results:
            with self.subTest(name):
                self.assertEqual(code, 2, lines)
                self.assertEqual(len(lines), 1, lines)
                prefix = "magicapi-gateway: configuration error: " + expected
                if expected.endswith("(known: "):
                    self.assertTrue(lines[0].startswith(prefix), lines[0])
                    self.assertIn("t1", lines[0])
                    self.assertIn("openai", lines[0])
                else:
                    self.assertEqual(lines[0], prefix)


if __name__ == "__main__":
    unittest.main()
