"""Security tests through the real binary (docs/security.md lists each threat
with the test here that covers it).

Malformed HTTP is written on raw sockets. Every test asserts the exact status
or bytes, and, where the threat is "forwarded upstream", that the upstream
received nothing: the mock upstream logs every request it gets, and
RawUpstream below records every byte.
"""
import json
import os
import re
import socket
import socketserver
import threading
import time
import unittest

import harness
from harness import RUN_DIR, TEST_KEY, Gateway, MockUpstream, http_request

# Deadlines stretch under slow builds (the TSan preset sets GW_SLOW_FACTOR).
SLOW = getattr(harness, "SLOW", 1.0)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def raw(port, data, timeout=5.0):
    """Sends `data` on a new connection and returns everything received until
    the gateway closes the connection (or `timeout` passes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            s.settimeout(max(0.05, deadline - time.time()))
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out


def closed_within(sock, seconds):
    """True when the peer closes `sock` within `seconds` (data is drained)."""
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            sock.settimeout(max(0.05, deadline - time.time()))
            if not sock.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def statuses(data):
    """Status codes of every response in a byte stream."""
    return [int(m) for m in re.findall(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ", data)]


def post(path, body, extra=b"", version=b"HTTP/1.1"):
    return (b"POST " + path + b" " + version + b"\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


GOOD_NEXT = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"


class RawUpstream:
    """A one-shot scripted upstream: answers every request with `reply`
    (bytes, or a function of the request bytes) and records what it got."""

    def __init__(self, reply):
        self.reply = reply
        self.requests = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(5)
                buf = b""
                while True:
                    try:
                        while b"\r\n\r\n" not in buf:
                            chunk = self.request.recv(65536)
                            if not chunk:
                                return
                            buf += chunk
                        head, rest = buf.split(b"\r\n\r\n", 1)
                        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                        need = int(m.group(1)) if m else 0
                        while len(rest) < need:
                            chunk = self.request.recv(65536)
                            if not chunk:
                                return
                            rest += chunk
                        req, buf = head + b"\r\n\r\n" + rest[:need], rest[need:]
                        outer.requests.append(req)
                        answer = outer.reply(req) if callable(outer.reply) else outer.reply
                        for part in (answer if isinstance(answer, list) else [answer]):
                            if isinstance(part, (int, float)):
                                time.sleep(part)
                            else:
                                self.request.sendall(part)
                    except OSError:
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class GatewayCase(unittest.TestCase):
    """One mock upstream and one gateway for the whole class."""
    env = {}

    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        base = "http://127.0.0.1:%d" % cls.mock.port
        env = {"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY, "GROQ_BASE_URL": cls.mock.url,
               "ANTHROPIC_BASE_URL": base, "BEDROCK_BASE_URL": base + "/{region}",
               "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret-key-123456",
               "AWS_REGION": "us-east-1", "UPSTREAM_TIMEOUT_MS": "5000"}
        env.update(cls.env)
        cls.gw = Gateway(env)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.mock.stop()

    def upstream_requests(self):
        return [e for e in self.mock.events() if e["event"] == "request"]

    def assertNothingForwarded(self, before, what):
        self.assertEqual(len(self.upstream_requests()), before, "%r reached the upstream" % (what,))

    def echo(self, body=None, headers=None, path="/v1/chat/completions"):
        s, h, b = http_request(self.gw.port, "POST", path, dict({"model": "echo"}, **(body or {})), headers)
        self.assertEqual(s, 200, b)
        return json.loads(b)


class SmugglingTest(GatewayCase):
    """Request framing: anything two parsers could read differently is a 400
    and a closed connection, and nothing reaches the upstream."""

    def check_refused(self, name, request):
        before = len(self.upstream_requests())
        data = raw(self.gw.port, request + GOOD_NEXT)
        self.assertEqual(statuses(data), [400], "%s: %r" % (name, data[:300]))
        self.assertIn(b"Connection: close\r\n", data.split(b"\r\n\r\n")[0] + b"\r\n", name)
        self.assertEqual(json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["type"], "invalid_request_error", name)
        self.assertNothingForwarded(before, name)

    def test_content_length_with_transfer_encoding_is_refused(self):
        body = b'{"model":"echo"}'
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        self.check_refused("CL then TE", post(b"/v1/chat/completions", chunked,
                                              b"Transfer-Encoding: chunked\r\n"))
        self.check_refused("TE then CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                           b"chunked\r\nContent-Length: %d\r\n\r\n%s" % (len(chunked), chunked))
        self.check_refused("TE gzip then CL", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                           b"gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def test_conflicting_content_lengths_are_refused(self):
        body = b'{"model":"echo"}'
        for name, fields in [("two fields", b"Content-Length: 16\r\nContent-Length: 17\r\n"),
                             ("list", b"Content-Length: 16, 17\r\n"),
                             ("sign", b"Content-Length: +16\r\n"),
                             ("negative", b"Content-Length: -1\r\n"),
                             ("overflow", b"Content-Length: 99999999999999999999999\r\n"),
                             ("space before colon", b"Content-Length : 16\r\n")]:
            self.check_refused(name, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n" + body)

    def test_transfer_codings_other_than_a_lone_chunked_are_refused(self):
        body = b'{"model":"echo"}'
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        for te in [b"Transfer-Encoding: chunked, identity\r\n", b"Transfer-Encoding: identity\r\n",
                   b"Transfer-Encoding: gzip, chunked\r\n", b"Transfer-Encoding: chunked, chunked\r\n",
                   b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
                   b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                   b"Transfer-Encoding: xchunked\r\n", b"Transfer-Encoding: \r\n"]:
            self.check_refused(te, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + te + b"\r\n" + chunked)

    def test_transfer_encoding_in_http_1_0_is_refused(self):
        body = b'{"model":"echo"}'
        self.check_refused("HTTP/1.0 TE", b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: "
                           b"chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    def test_chunk_size_overflow_and_bad_chunks_are_refused(self):
        for name, chunks in [("overflow", b"fffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
                             ("not hex", b"zz\r\nx\r\n0\r\n\r\n"),
                             ("missing CRLF after data", b"2\r\n{}XX0\r\n\r\n"),
                             ("bare LF after size", b"2\n{}\r\n0\r\n\r\n")]:
            before = len(self.upstream_requests())
            data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                       b"\r\n\r\n" + chunks + GOOD_NEXT)
            self.assertEqual(statuses(data), [400], (name, data[:200]))
            self.assertNothingForwarded(before, name)

    def test_line_ending_and_folding_tricks_are_refused(self):
        body = b'{"model":"echo"}'
        cases = {
            "bare LF": b"POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 16\n\n" + body,
            "bare LF in one line": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\nX-A: b\r\nContent-Length: 16"
                                   b"\r\n\r\n" + body,
            "bare CR": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nContent-Length: 16\r\n\r\n" + body,
            "obs-fold": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Project-Id: a\r\n b\r\nContent-Length: 16"
                        b"\r\n\r\n" + body,
            "obs-fold tab": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Project-Id: a\r\n\tb\r\n"
                            b"Content-Length: 16\r\n\r\n" + body,
            "folded TE": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
                         b"10\r\n" + body + b"\r\n0\r\n\r\n",
            "folded CL": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 16\r\n\r\n" + body,
            "NUL in value": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nContent-Length: 16\r\n\r\n"
                            + body,
            "NUL in name": b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-\x00A: a\r\nContent-Length: 16\r\n\r\n"
                           + body,
            "space in target": b"POST /v1/chat/completions x HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n" + body,
            "HTTP/2 on the wire": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        }
        for name, request in cases.items():
            self.check_refused(name, request)

    def test_pipelined_request_after_a_refused_one_is_never_served(self):
        before = len(self.upstream_requests())
        smuggled = post(b"/v1/chat/completions", b'{"model":"echo","smuggled":true}')
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled)
        self.assertEqual(statuses(data), [400])
        self.assertNothingForwarded(before, "the pipelined request")

    def test_chunked_request_is_forwarded_with_its_own_content_length(self):
        body = json.dumps({"model": "echo", "pad": "x" * 3000}).encode()
        parts = [body[:1000], body[1000:1001], body[1001:]]
        chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        self.assertEqual(statuses(data), [200], data[:300])
        seen = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(seen["headers"].get("content-length"), str(len(body)))
        self.assertNotIn("transfer-encoding", seen["headers"])
        self.assertNotIn("x-trailer", seen["headers"])
        self.assertEqual(seen["body"].encode(), body)

    def test_trailer_fields_are_not_headers(self):
        # Beast merges trailer fields into the headers: a proxy in front that
        # checked (or set) the head never saw them.
        body = b'{"model":"echo"}'
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nAuthorization: Bearer sk-from-trailer\r\n"
                   b"x-provider: groq\r\nx-request-id: from-trailer\r\n\r\n" % (len(body), body))
        self.assertEqual(statuses(data), [200], data[:300])
        self.assertNotIn(b"from-trailer", data.split(b"\r\n\r\n")[0])
        self.assertNotIn(TEST_KEY.encode(), data, "an echoed key is masked")
        seen = self.upstream_requests()[-1]
        self.assertEqual(seen["headers"]["authorization"], "Bearer " + TEST_KEY, "the environment key, not the trailer's")
        self.assertNotIn("x-provider", seen["headers"])
        self.assertNotIn("from-trailer", json.dumps(seen))

    def test_identical_duplicate_content_length_is_one_length(self):
        body = b'{"model":"echo"}'
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Content-Length: 16\r\nContent-Length: 16\r\n\r\n" + body)
        self.assertEqual(statuses(data), [200], data[:300])
        seen = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(seen["headers"]["content-length"], "16")
        self.assertEqual(seen["body"].encode(), body)


class UpstreamResponseFramingTest(unittest.TestCase):
    """Response side: a badly framed upstream response gives the client a 502
    or a terminated stream, never bytes it could take for another response."""

    def gateway(self, reply):
        up = RawUpstream(reply)
        self.addCleanup(up.stop)
        # One worker: one upstream pool, so a second request can reuse the
        # first one's connection.
        gw = Gateway({"OPENAI_BASE_URL": up.url, "OPENAI_API_KEY": TEST_KEY, "UPSTREAM_TIMEOUT_MS": "3000",
                      "WORKER_THREADS": "1"})
        self.addCleanup(gw.stop)
        return gw, up

    def test_content_length_and_transfer_encoding_from_upstream_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502)
        self.assertEqual(json.loads(b)["error"]["type"], "upstream_error")

    def test_conflicting_content_lengths_from_upstream_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Content-Length: 3\r\n\r\n{}")
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502)

    def test_oversized_upstream_head_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * (70 * 1024) +
                             b"\r\nContent-Length: 2\r\n\r\n{}")
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b[:200])
        self.assertNotIn("x-pad", h)

    def test_nul_in_an_upstream_header_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Evil: a\x00b\r\n"
                             b"Content-Length: 2\r\n\r\n{}")
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502)
        self.assertNotIn("x-evil", h)

    def test_folded_upstream_header_reaches_the_client_on_one_line(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Folded: a\r\n b\r\n"
                             b"Set-Cookie: upstream=1\r\nContent-Length: 2\r\n\r\n{}")
        data = raw(gw.port, post(b"/v1/chat/completions", json.dumps(CHAT).encode(), b"Connection: close\r\n"))
        head = data.split(b"\r\n\r\n", 1)[0]
        self.assertEqual(statuses(data), [200], data[:300])
        self.assertIn(b"\r\nX-Folded: a b\r\n", head + b"\r\n")
        self.assertNotIn(b"\r\n b", head)
        self.assertNotIn(b"Set-Cookie", head)

    def test_bad_chunk_in_a_stream_ends_it_with_an_error_event(self):
        event = b'data: {"choices":[]}\n\n'
        gw, _ = self.gateway([b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"%x\r\n%s\r\n" % (len(event), event), 0.1,
                              b"zz\r\ndata: smuggled\n\n\r\n0\r\n\r\n"])
        data = raw(gw.port, post(b"/v1/chat/completions", json.dumps(dict(CHAT, stream=True)).encode(),
                                 b"Connection: close\r\n"))
        self.assertEqual(statuses(data), [200], data[:300])
        body = data.split(b"\r\n\r\n", 1)[1]
        self.assertNotIn(b"smuggled", body)
        self.assertIn(b'data: {"error"', body)
        self.assertTrue(body.endswith(b"0\r\n\r\n"), body[-80:])

    # A non-SSE body cut short by a bad chunk must not end with a proper
    # last chunk: the client would take a truncated body for a whole one.
    def test_bad_chunk_in_a_plain_body_is_not_a_complete_response(self):
        # The first chunk is relayed before the bad one arrives.
        gw, _ = self.gateway([b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5\r\n{\"a\":\r\n", 0.1, b"zz\r\n1}\r\n0\r\n\r\n"])
        data = raw(gw.port, post(b"/v1/chat/completions", json.dumps(CHAT).encode(), b"Connection: close\r\n"))
        self.assertEqual(statuses(data), [200], data[:300])
        self.assertFalse(data.endswith(b"0\r\n\r\n"), "a truncated body must not end with the last chunk")

    def test_bad_chunk_before_anything_was_relayed_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\n{\"a\":\r\nzz\r\n1}\r\n0\r\n\r\n")
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)

    def test_upstream_bytes_after_the_response_are_not_the_next_response(self):
        # The first response carries a second one in the same write: the
        # connection cannot go back to the pool (its buffer is not empty), so
        # the next request gets a fresh connection and its own answer.
        n = {"i": 0}

        def reply(req):
            n["i"] += 1
            if n["i"] == 1:
                return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"n\": 1}\n"
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                        b"{\"evil\": 1}\n\n")
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"n\": 2}\n"

        gw, up = self.gateway(reply)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, b), (200, b'{"n": 1}\n'))
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, b), (200, b'{"n": 2}\n'))

    # Bytes that arrive on an idle pooled connection after its response
    # ended must never be read as the next request's response (every reuse
    # is checked with a non-blocking peek).
    def test_late_upstream_bytes_on_an_idle_connection_are_not_the_next_response(self):
        n = {"i": 0}

        def reply(req):
            n["i"] += 1
            if n["i"] == 1:
                return [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"n\": 1}\n",
                        0.05,
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                        b"{\"evil\": 1}\n\n"]
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"n\": 2}\n"

        gw, up = self.gateway(reply)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, b), (200, b'{"n": 1}\n'))
        time.sleep(0.2)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, b), (200, b'{"n": 2}\n'))

    # The gateway's CORS policy, not the upstream's, decides which origins
    # may read responses.
    def test_upstream_cors_headers_are_not_relayed(self):
        gw, _ = self.gateway(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n"
                             b"Access-Control-Allow-Credentials: true\r\nContent-Length: 2\r\n\r\n{}")
        s, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"Origin": "https://evil.example"})
        self.assertEqual(s, 200)
        self.assertNotIn("access-control-allow-origin", h)
        self.assertNotIn("access-control-allow-credentials", h)


class HeaderInjectionTest(GatewayCase):
    env = {"CORS_ALLOWED_ORIGINS": "https://app.example"}

    def request_id_for(self, value_bytes):
        data = raw(self.gw.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: " +
                   value_bytes + b"\r\n\r\n")
        self.assertEqual(statuses(data), [200], data[:200])
        ids = [l[len(b"x-request-id: "):] for l in data.split(b"\r\n\r\n")[0].split(b"\r\n")
               if l.startswith(b"x-request-id: ")]
        self.assertEqual(len(ids), 1, data[:300])
        return ids[0]

    def test_sane_request_id_is_echoed(self):
        self.assertEqual(self.request_id_for(b"my-req-42"), b"my-req-42")
        self.assertEqual(self.request_id_for(b"a" * 128), b"a" * 128)

    def test_unsafe_request_id_is_replaced_by_a_generated_one(self):
        for bad in [b"a" * 129, b"a b", b"caf\xc3\xa9", b"x\tinjected", b"<script>" + b"x" * 200]:
            got = self.request_id_for(bad)
            self.assertRegex(got.decode("latin-1"), UUID, bad)

    def test_request_id_with_cr_or_lf_never_reaches_a_response(self):
        for bad in [b"a\rSet-Cookie: x=1", b"a\nSet-Cookie: x=1", b"a\r\n Set-Cookie: x=1", b"a\x00b", b"a\x7fb"]:
            data = raw(self.gw.port, b"GET /health HTTP/1.1\r\nHost: x\r\nx-request-id: " + bad + b"\r\n\r\n")
            self.assertEqual(statuses(data), [400], bad)
            self.assertNotIn(b"Set-Cookie", data)

    def test_request_id_in_records_and_upstream_is_the_sane_one(self):
        seen = self.echo(headers={"x-request-id": "r-" + "z" * 300})
        # Forwarded as the client sent it (a header value Beast validated),
        # but the gateway's own id (response header, record) is generated.
        self.assertNotIn("\r", json.dumps(seen))
        s, h, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", {"model": "echo"},
                               {"x-request-id": "r-" + "z" * 300})
        self.assertRegex(h["x-request-id"], UUID)

    def test_cors_origin_is_echoed_only_when_exactly_allowed(self):
        for origin, allowed in [("https://app.example", True), ("https://app.example.evil.com", False),
                                ("https://evil.example", False), ("null", False), ("https://APP.example", False),
                                ("https://app.example, https://evil.example", False)]:
            s, h, _ = http_request(self.gw.port, "GET", "/health", None, {"Origin": origin})
            self.assertEqual(s, 200)
            if allowed:
                self.assertEqual(h.get("access-control-allow-origin"), origin)
            else:
                self.assertNotIn("access-control-allow-origin", h, origin)

    def test_cross_site_request_from_an_allowed_origin_is_served(self):
        s, h, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT,
                               {"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(s, 200)
        self.assertEqual(h["access-control-allow-origin"], "https://app.example")
        s, h, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT,
                               {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        self.assertEqual(s, 403)

    def test_preflight_echo_of_requested_headers_is_one_line(self):
        data = raw(self.gw.port, b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                   b"Connection: close\r\nAccess-Control-Request-Method: POST\r\n"
                   b"Access-Control-Request-Headers: content-type, x-provider\r\n\r\n")
        self.assertEqual(statuses(data), [204], data[:300])
        self.assertIn(b"\r\nAccess-Control-Allow-Headers: content-type, x-provider\r\n", data)
        data = raw(self.gw.port, b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                   b"Access-Control-Request-Headers: content-type\r\n Set-Cookie: x=1\r\n\r\n")
        self.assertEqual(statuses(data), [400])
        self.assertNotIn(b"Set-Cookie", data)

    def test_forwarded_header_values_are_exactly_what_the_client_sent(self):
        seen = self.echo(headers={"X-Project-Id": "p1", "OpenAI-Organization": "org-1"})
        self.assertEqual(seen["headers"]["openai-organization"], "org-1")
        self.assertEqual(seen["headers"]["x-project-id"], "p1")


class SsrfTest(GatewayCase):
    """The upstream destination comes from the operator's environment only."""

    def bedrock(self, model="m", region=None):
        h = {"x-provider": "bedrock"}
        if region is not None:
            h["x-aws-region"] = region
        return http_request(self.gw.port, "POST", "/v1/chat/completions",
                            {"model": model, "messages": [{"role": "user", "content": "x"}]}, h)

    def last_path(self):
        return self.upstream_requests()[-1]["path"]

    def test_aws_region_must_be_a_region_name(self):
        for bad in ["us-east-1.evil.com#", "x@evil", "../", "%2e", "us-east-1/", "us-east-1:443", "US-EAST-1",
                    "evil.com", "us-east-1.", "us_east_1", "us-east-100", "localhost", "127.0.0.1", "us-east-1?x",
                    "us-east-1%00", "us-east-1@evil.com", "us-east-1.amazonaws.com.evil.com/x", "us--east-1",
                    "us-east-", "-us-east-1", "us-east-1,eu-west-1", "u" * 40 + "-east-1"]:
            before = len(self.upstream_requests())
            s, _, b = self.bedrock(region=bad)
            self.assertEqual(s, 400, bad)
            err = json.loads(b)["error"]
            self.assertEqual(err["code"], "invalid_aws_region", bad)
            self.assertNotIn(bad, err["message"])
            self.assertNothingForwarded(before, bad)
        for good in ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "il-central-1", "ca-west-1",
                     "eu-central-2", "ap-northeast-3", "me-south-1", "cn-northwest-1", "us-isob-east-1",
                     "mx-central-1"]:
            self.bedrock(region=good)
            self.assertEqual(self.last_path(), "/%s/model/m/converse" % good)

    def test_bedrock_model_id_is_one_encoded_path_segment(self):
        for model, path in [("../../x", "/us-east-1/model/..%2F..%2Fx/converse"),
                            ("a?b#c", "/us-east-1/model/a%3Fb%23c/converse"),
                            ("%2e%2e", "/us-east-1/model/%252e%252e/converse"),
                            ("a b\\c", "/us-east-1/model/a%20b%5Cc/converse"),
                            ("arn:aws:bedrock:us-east-1:1:inference-profile/x",
                             "/us-east-1/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse")]:
            self.bedrock(model=model)
            self.assertEqual(self.last_path(), path, model)
        for model in ["..", ".", ""]:
            before = len(self.upstream_requests())
            s, _, b = self.bedrock(model=model)
            self.assertEqual(s, 400, (model, b))
            self.assertNothingForwarded(before, model)
        # The same through the model prefix (no x-provider header).
        before = len(self.upstream_requests())
        s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions",
                               {"model": "bedrock/..", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(s, 400, b)
        self.assertEqual(json.loads(b)["error"]["code"], "invalid_model")
        self.assertNothingForwarded(before, "bedrock/..")

    def test_absolute_form_target_and_host_header_do_not_choose_the_upstream(self):
        evil = RawUpstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        self.addCleanup(evil.stop)
        body = json.dumps({"model": "echo"}).encode()
        before = len(self.upstream_requests())
        for target in [b"http://127.0.0.1:%d/v1/chat/completions" % evil.port,
                       b"https://127.0.0.1:%d/v1/chat/completions" % evil.port,
                       b"//127.0.0.1:%d/v1/chat/completions" % evil.port,
                       b"127.0.0.1:%d" % evil.port, b"*"]:
            data = raw(self.gw.port, b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (evil.port, len(body), body))
            self.assertIn(statuses(data), ([404], [400]), (target, data[:200]))
        data = raw(self.gw.port, b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
                   % (evil.port, evil.port))
        self.assertIn(statuses(data), ([404], [400]), data[:200])
        self.assertNothingForwarded(before, "absolute-form targets")
        # An origin-form target with a hostile Host header goes to the
        # configured upstream, with the upstream's own Host.
        seen = self.echo(headers={"Host": "127.0.0.1:%d" % evil.port, "X-Forwarded-Host": "evil.example"})
        self.assertEqual(seen["headers"]["host"], "127.0.0.1:%d" % self.mock.port)
        self.assertEqual(evil.requests, [])

    def test_dot_segments_in_the_target_are_refused(self):
        for target in [b"/v1/../admin", b"/v1/./chat/completions", b"/v1/%2e%2e/admin", b"/v1/chat/%2E%2E/%2e%2e/x",
                       b"/v1/x/..%2fadmin", b"/v1/x/..%2Fadmin?y=1", b"/v1/%5c..%5cadmin", b"/v1/.."]:
            before = len(self.upstream_requests())
            data = raw(self.gw.port, post(target, b'{"model":"echo"}'))
            self.assertEqual(statuses(data), [400], (target, data[:200]))
            self.assertEqual(json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"], "invalid_path", target)
            self.assertNothingForwarded(before, target)
        # Dots inside a segment are just characters.
        s, _, _ = http_request(self.gw.port, "GET", "/v1/models/a..b")
        self.assertEqual(self.last_path(), "/v1/models/a..b")

    def test_odd_x_provider_values(self):
        for value in ["nosuch", "../openai", "openai/../groq", "open ai", "openai,anthropic", "<script>", "bedrock.evil"]:
            before = len(self.upstream_requests())
            s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT, {"x-provider": value})
            self.assertEqual(s, 400, value)
            err = json.loads(b)["error"]
            self.assertEqual(err["code"], "unknown_provider")
            self.assertNotIn(value, err["message"])
            self.assertNothingForwarded(before, value)
        s, _, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT, {"x-provider": " OpenAI "})
        self.assertEqual(s, 200)

    def test_model_prefix_only_selects_known_providers(self):
        s, _, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", dict(CHAT, model="evil.com/x"))
        self.assertEqual(s, 200)
        last = self.upstream_requests()[-1]
        self.assertEqual(json.loads(last["body"])["model"], "evil.com/x", "unknown prefix: model unchanged")
        self.assertEqual(last["path"], "/v1/chat/completions")
        self.assertEqual(last["headers"]["authorization"], "Bearer " + TEST_KEY, "the default provider's key")


class CredentialRoutingTest(GatewayCase):
    """Credentials reach only the provider they were meant for."""

    def test_openai_compatible_forwards_authorization_only(self):
        self.echo(headers={"Authorization": "Bearer sk-client-1", "x-api-key": "sk-ant-client",
                           "Cookie": "gateway_session=1", "x-gateway-key": "gk", "x-provider": "openai",
                           "x-aws-secret-access-key": "s", "x-aws-session-token": "t",
                           "Proxy-Authorization": "Basic eA=="})
        # What the upstream logged (the echo in the response has the key masked).
        h = self.upstream_requests()[-1]["headers"]
        self.assertEqual(h["authorization"], "Bearer sk-client-1")
        for gone in ["x-api-key", "cookie", "x-gateway-key", "x-provider", "x-aws-secret-access-key",
                     "x-aws-session-token", "proxy-authorization"]:
            self.assertNotIn(gone, h)

    def test_environment_key_of_one_provider_never_goes_to_another(self):
        # Only OPENAI_API_KEY is configured: groq and anthropic have no key.
        for provider in ["groq", "anthropic"]:
            before = len(self.upstream_requests())
            s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions", dict(CHAT, model="echo"),
                                   {"x-provider": provider})
            self.assertEqual(s, 401, (provider, b))
            self.assertEqual(json.loads(b)["error"]["code"], "missing_api_key")
            self.assertNothingForwarded(before, provider)

    def test_anthropic_gets_the_client_key_as_x_api_key_only(self):
        s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions",
                               {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]},
                               {"x-provider": "anthropic", "Authorization": "Bearer sk-ant-client-2",
                                "Cookie": "c=1", "OpenAI-Organization": "org"})
        self.assertEqual(s, 200, b)
        h = self.upstream_requests()[-1]["headers"]
        self.assertEqual(h["x-api-key"], "sk-ant-client-2")
        for gone in ["authorization", "cookie", "openai-organization"]:
            self.assertNotIn(gone, h)

    def test_bedrock_sends_a_signature_not_client_credentials(self):
        self.bedrock_headers = None
        http_request(self.gw.port, "POST", "/v1/chat/completions",
                     {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                     {"x-provider": "bedrock", "Authorization": "Bearer sk-client-3", "x-api-key": "k",
                      "x-aws-access-key-id": "AKIDCLIENT", "x-aws-secret-access-key": "client-secret-xyz",
                      "x-aws-region": "eu-west-1"})
        h = self.upstream_requests()[-1]["headers"]
        self.assertTrue(h["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDCLIENT/"), h)
        self.assertNotIn("x-api-key", h)
        self.assertNotIn("client-secret-xyz", json.dumps(self.upstream_requests()[-1]))


class UpstreamErrorEchoTest(unittest.TestCase):
    """A provider that echoes the key it was sent in an error must not hand
    the operator's key to the client (nor any key to a record)."""

    def test_echoed_key_is_redacted_for_every_provider(self):
        def reply(req):
            text = req.decode("latin-1")
            keys = re.findall(r"(?im)^(?:authorization|x-api-key|x-amz-security-token): *(.*?)\r$", text)
            body = json.dumps({"error": {"message": "Invalid key: " + " | ".join(keys), "type": "auth"},
                               "message": "Invalid key: " + " | ".join(keys)}).encode()
            return (b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body))

        up = RawUpstream(reply)
        self.addCleanup(up.stop)
        base = "http://127.0.0.1:%d" % up.port
        keys = {"OPENAI_API_KEY": "sk-proj-OPERATORKEY0001", "ANTHROPIC_API_KEY": "sk-ant-OPERATORKEY0002",
                "AWS_SESSION_TOKEN": "FwoGZXIvYXdzE/OPERATORTOKEN0003"}
        gw = Gateway(dict(keys, OPENAI_BASE_URL=up.url, ANTHROPIC_BASE_URL=base, BEDROCK_BASE_URL=base,
                          AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY="env-secret-0004", AWS_REGION="us-east-1",
                          ENABLED_EXPORTERS="console", LOG_LEVEL="debug"))
        try:
            got = []
            for provider, extra in [("openai", {}), ("anthropic", {}), ("bedrock", {}),
                                    ("openai", {"Authorization": "Bearer sk-client-CLIENTKEY0005"})]:
                s, h, b = http_request(gw.port, "POST", "/v1/chat/completions",
                                       {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                                       dict({"x-provider": provider}, **extra))
                self.assertEqual(s, 401, (provider, b))
                self.assertIn(b"[REDACTED]", b, (provider, b))
                got.append(b)
            self.assertEqual(len(up.requests), 4, "every request reached the upstream")
        finally:
            gw.stop()
        everything = b"".join(got) + gw.stderr_seen + gw.stdout_text().encode()
        for secret in list(keys.values()) + ["sk-client-CLIENTKEY0005", "env-secret-0004"]:
            self.assertNotIn(secret.encode(), everything, secret)


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY, "IDLE_TIMEOUT_MS": str(int(6000 * SLOW)),
                          "CLIENT_HEADER_TIMEOUT_MS": "500", "MAX_HEADER_BYTES": "2048",
                          "MAX_REQUEST_BODY_BYTES": "1000"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.mock.stop()

    def requests_seen(self):
        return len([e for e in self.mock.events() if e["event"] == "request"])

    def test_trickled_head_is_cut_at_the_header_timeout_not_the_idle_timeout(self):
        s = self.gw.connect()
        t0 = time.time()
        s.sendall(b"GET /health HTTP/1.1\r\n")
        closed = False
        try:
            for _ in range(int(60 * SLOW)):  # a byte every 100 ms: the idle timeout if never cut
                time.sleep(0.1)
                s.sendall(b"X")
        except OSError:
            closed = True
        elapsed = time.time() - t0
        if not closed:
            closed = closed_within(s, 0.5)
        s.close()
        self.assertTrue(closed)
        self.assertLess(elapsed, 2.5 * SLOW, "CLIENT_HEADER_TIMEOUT_MS=500 must bound the whole head")

    def test_slow_body_is_cut_at_the_header_timeout(self):
        s = self.gw.connect()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":")
        t0 = time.time()
        self.assertTrue(closed_within(s, 3 * SLOW))
        self.assertLess(time.time() - t0, 2.5 * SLOW)
        s.close()

    def test_idle_keep_alive_connection_is_closed_at_the_idle_timeout(self):
        s = self.gw.connect()
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        self.assertIn(b"HTTP/1.1 200", s.recv(65536))
        # A second request half-way through the idle time: the idle time
        # counts again from its response (the connection's timer, armed for
        # the first deadline, must sleep again rather than close it then).
        time.sleep(3 * SLOW)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        self.assertIn(b"HTTP/1.1 200", s.recv(65536))
        t0 = time.time()
        self.assertTrue(closed_within(s, 9 * SLOW))
        self.assertGreater(time.time() - t0, 4.5, "an idle client gets IDLE_TIMEOUT_MS, not the header timeout")
        s.close()

    def test_head_over_max_header_bytes_is_431(self):
        before = self.requests_seen()
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 2100 +
                   b"\r\nContent-Length: 2\r\n\r\n{}")
        self.assertEqual(statuses(data), [431], data[:200])
        self.assertNothingForwardedSince(before)
        # No terminator at all within the limit: 431 too, without waiting.
        data = raw(self.gw.port, b"GET /health HTTP/1.1\r\nX-Pad: " + b"a" * 3000)
        self.assertEqual(statuses(data), [431], data[:200])
        data = raw(self.gw.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: " + b"a" * 1790 + b"\r\n\r\n")
        self.assertEqual(statuses(data), [200])

    def assertNothingForwardedSince(self, before):
        self.assertEqual(self.requests_seen(), before)

    def test_body_over_max_request_body_bytes_is_413(self):
        before = self.requests_seen()
        body = b'{"model":"echo","p":"' + b"x" * 979 + b'"}'
        self.assertEqual(len(body), 1002)
        data = raw(self.gw.port, post(b"/v1/chat/completions", body))
        self.assertEqual(statuses(data), [413])
        data = raw(self.gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        self.assertEqual(statuses(data), [413])
        self.assertNothingForwardedSince(before)
        s, _, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", body[:998] + b'"}')
        self.assertEqual(s, 200)


class AccessControlTest(unittest.TestCase):
    KEYS = ["gk-alpha-0123456789", "gk-beta-9876543210"]

    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY, "LOG_LEVEL": "debug",
                          "GATEWAY_API_KEYS": " %s , %s " % tuple(cls.KEYS), "ENABLED_EXPORTERS": "console"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.mock.stop()
        everything = cls.gw.stderr_seen + cls.gw.stdout_text().encode()
        for k in cls.KEYS + ["gk-alpha-012345678", "GK-ALPHA-0123456789"]:
            assert k.encode() not in everything, "gateway key %s was logged" % k

    def test_missing_or_wrong_key_is_401_in_the_openai_shape(self):
        before = len(self.mock.events())
        for headers in [{}, {"x-gateway-key": ""}, {"x-gateway-key": "gk-alpha-012345678"},
                        {"x-gateway-key": "gk-alpha-01234567890"}, {"x-gateway-key": "GK-ALPHA-0123456789"},
                        {"x-gateway-key": self.KEYS[0] + "," + self.KEYS[1]},
                        {"Authorization": "Bearer " + self.KEYS[0]}]:
            s, h, b = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT, headers)
            self.assertEqual(s, 401, headers)
            self.assertEqual(json.loads(b), {"error": {"message": "Missing or invalid x-gateway-key",
                                                       "type": "authentication_error",
                                                       "code": "invalid_gateway_key"}})
            self.assertRegex(h["x-request-id"], ".+")
        s, _, _ = http_request(self.gw.port, "GET", "/v1/models", None)
        self.assertEqual(s, 401)
        self.assertEqual(len(self.mock.events()), before, "nothing reaches the upstream without a key")

    def test_each_configured_key_is_accepted_and_never_forwarded(self):
        for k in self.KEYS:
            s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions", {"model": "echo"},
                                   {"x-gateway-key": k})
            self.assertEqual(s, 200)
            self.assertNotIn("x-gateway-key", json.loads(b)["headers"])
            self.assertNotIn(k, b.decode())

    def test_health_is_not_behind_the_key(self):
        s, _, _ = http_request(self.gw.port, "GET", "/health")
        self.assertEqual(s, 200)


class CorsDefaultTest(GatewayCase):
    def test_cross_site_browser_request_is_refused_without_cors(self):
        # What a page on another site can make a browser send without a
        # preflight: a "simple" POST with a text/plain body.
        before = len(self.upstream_requests())
        for site in ["cross-site", "same-site", "Cross-Site"]:
            s, h, b = http_request(self.gw.port, "POST", "/v1/chat/completions", json.dumps(CHAT).encode(),
                                   {"Content-Type": "text/plain", "Origin": "https://evil.example",
                                    "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors"})
            self.assertEqual(s, 403, site)
            self.assertEqual(json.loads(b)["error"]["code"], "cross_site_request")
        self.assertNothingForwarded(before, "cross-site request")
        for site in ["same-origin", "none"]:
            s, _, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT, {"Sec-Fetch-Site": site})
            self.assertEqual(s, 200, site)

    def test_cors_is_off_by_default(self):
        s, h, _ = http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT, {"Origin": "https://app.example"})
        self.assertEqual(s, 200)
        self.assertFalse([k for k in h if k.startswith("access-control-")], h)
        s, h, _ = http_request(self.gw.port, "GET", "/health", None, {"Origin": "https://app.example"})
        self.assertFalse([k for k in h if k.startswith("access-control-")], h)


class MetricsLabelTest(unittest.TestCase):
    def test_client_chosen_model_cannot_inject_metric_lines(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "prometheus"})
        self.addCleanup(gw.stop)
        evil = 'x"} 1\ninjected_metric{a="b\\'
        s, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, model=evil))
        self.assertEqual(s, 200)
        deadline = time.time() + 10
        while True:
            s, _, text = http_request(gw.port, "GET", "/metrics")
            if b"ai_gateway_requests_total{" in text or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(s, 200)
        for line in text.decode().splitlines():
            self.assertFalse(line.startswith("injected_metric"), line)
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [^ ]+( [0-9]+)?$')


class UpstreamTlsExtraTest(unittest.TestCase):
    """test_tls.py covers a private CA, an unknown CA, a certificate for another
    host and a missing CA file; this adds an expired certificate."""

    def test_expired_certificate_is_refused(self):
        import subprocess
        import tempfile
        d = tempfile.mkdtemp(prefix="gw-sec-tls-", dir=RUN_DIR)

        def run(*args):
            subprocess.run(args, check=True, capture_output=True, timeout=60)

        ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
            "-days", "2", "-subj", "/CN=gateway-test-ca")
        key, csr, crt = os.path.join(d, "srv.key"), os.path.join(d, "srv.csr"), os.path.join(d, "srv.crt")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=upstream")
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        # -days -1: notAfter is yesterday; the CA itself is valid and trusted.
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "-1", "-extfile", ext)
        mock = MockUpstream(["--tls-cert", crt, "--tls-key", key])
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": "https://127.0.0.1:%d/v1" % mock.port, "OPENAI_API_KEY": TEST_KEY,
                      "UPSTREAM_CA_FILE": ca_crt})
        self.addCleanup(gw.stop)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)
        err = json.loads(b)["error"]
        self.assertEqual(err["code"], "upstream_unreachable")
        self.assertIn("TLS", err["message"])
        self.assertEqual(mock.events(), [], "no request may cross an unverified connection")


if __name__ == "__main__":
    unittest.main(verbosity=2)
