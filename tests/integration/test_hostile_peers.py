"""Hostile peers through the real binary: upstreams that send interim
answers, switch protocols, encode bodies they were asked not to, or echo the
gateway's key; clients that omit Host, send empty bodies or pile up large
ones (docs/security.md lists each threat with its test here).

Upstreams are raw sockets (RawUpstream from test_security.py) so that every
byte and every pause is the test's choice.
"""
import gzip
import json
import os
import re
import socket
import sys
import threading
import time
import unittest
import zlib

import harness
from harness import TEST_KEY, Gateway, MockUpstream, http_request, sse_events, wait_until
from test_security import RawUpstream, post, raw, statuses

SLOW = harness.SLOW
# Debian's python3-brotli (scripts/install-deps.sh) is built for the system
# Python 3.11, which a pyenv Python of the same minor version can load.
try:
    import brotli
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import brotli

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
SANITIZED = any(os.environ.get(v) for v in ("ASAN_OPTIONS", "TSAN_OPTIONS"))


def response(status, body, content_type=b"application/json", extra=b""):
    reason = {200: b"OK", 401: b"Unauthorized"}.get(status, b"X")
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n" %
            (status, reason, content_type, extra, len(body)) + body)


def chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


def vm_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


class Case(unittest.TestCase):
    def gateway(self, reply, env=None):
        up = RawUpstream(reply)
        self.addCleanup(up.stop)
        settings = {"OPENAI_BASE_URL": up.url, "OPENAI_API_KEY": TEST_KEY, "UPSTREAM_TIMEOUT_MS": str(int(5000 * SLOW)),
                    "WORKER_THREADS": "1"}
        settings.update(env or {})
        gw = Gateway(settings)
        self.addCleanup(gw.stop)
        return gw, up

    def records(self, gw, n):
        def complete():
            lines = [l for l in gw.stdout_text().splitlines() if l.strip()]
            return [json.loads(l) for l in lines] if len(lines) >= n else None
        return wait_until("%d records" % n, complete)


class InterimResponseTest(Case):
    """Interim 1xx answers are consumed; the final response is relayed; the
    connection never goes back to the pool in the middle of a response."""

    def test_delayed_final_response_after_100_reaches_its_own_client(self):
        # Client A's upstream answers 100, pauses, then its 200. Client B,
        # on its own connection, asks meanwhile: each gets its own body.
        def reply(req):
            if b'"who": "A"' in req:
                return [b"HTTP/1.1 100 Continue\r\n\r\n", 0.3,
                        response(200, b'{"for": "A"}')]
            return response(200, b'{"for": "B"}')

        gw, up = self.gateway(reply, {"ENABLED_EXPORTERS": "console"})
        results = {}

        def ask(who, delay):
            time.sleep(delay)
            results[who] = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, who=who))

        threads = [threading.Thread(target=ask, args=("A", 0)), threading.Thread(target=ask, args=("B", 0.1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results["A"][0], 200)
        self.assertEqual(json.loads(results["A"][2]), {"for": "A"})
        self.assertEqual(json.loads(results["B"][2]), {"for": "B"})
        # Later requests on the pooled connections stay matched too.
        for who in ("B", "A", "B"):
            s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, who=who))
            self.assertEqual(json.loads(b), {"for": who})
        recs = self.records(gw, 5)
        self.assertTrue(all(r["attributes"]["metadata"]["status_code"] == 200 for r in recs))
        self.assertTrue(all(r["attributes"]["metadata"]["provider_status_code"] == 200 for r in recs))

    def test_interim_answers_in_the_same_packet_as_the_final_one(self):
        gw, _ = self.gateway(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                             b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
                             response(200, b'{"ok": true}'))
        data = raw(gw.port, post(b"/v1/chat/completions", json.dumps(CHAT).encode(), b"Connection: close\r\n"))
        self.assertEqual(statuses(data), [200], data[:300])
        self.assertTrue(data.endswith(b'{"ok": true}'), data[-100:])
        self.assertNotIn(b"Link:", data)

    def test_thousands_of_interim_answers_are_consumed(self):
        gw, _ = self.gateway([b"HTTP/1.1 100 Continue\r\n\r\n" * 3000, 0.05,
                              b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 2000,
                              response(200, b'{"ok": 1}')])
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, json.loads(b)), (200, {"ok": 1}))

    def test_interim_answers_before_a_stream(self):
        events = [b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n', b"data: [DONE]\n\n"]
        gw, _ = self.gateway([b"HTTP/1.1 100 Continue\r\n\r\n", 0.1,
                              b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              chunked(events)])
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, stream=True))
        self.assertEqual(s, 200)
        self.assertEqual(sse_events(b)[-1], "[DONE]")

    def test_malformed_interim_answer_is_502(self):
        gw, _ = self.gateway(b"HTTP/1.1 100 Continue\r\nBad Header\r\n\r\n" + response(200, b"{}"))
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)

    def test_switching_protocols_is_502_at_once(self):
        gw, _ = self.gateway([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                              b"\x81\x05hello", 3])
        start = time.time()
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["code"], "upstream_protocol_switch")
        self.assertNotIn("upgrade", h)
        self.assertLess(time.time() - start, 2 * SLOW)


class EncodedBodyTest(Case):
    """Bodies in a content-coding the gateway did not ask for are decoded
    before they are read, redacted, recorded or relayed."""

    ECHO_KEY = b'{"error": {"message": "Incorrect API key provided: Bearer ' + TEST_KEY.encode() + b'"}}'

    def test_the_gateway_asks_for_identity(self):
        gw, up = self.gateway(response(200, b"{}"))
        http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"Accept-Encoding": "gzip, br"})
        self.assertIn(b"\r\naccept-encoding: identity\r\n", up.requests[0].lower())
        self.assertNotIn(b"gzip", up.requests[0].lower())

    def check_error_echo(self, coding, encoded):
        gw, _ = self.gateway(response(401, encoded, extra=b"Content-Encoding: " + coding + b"\r\n"),
                             {"ENABLED_EXPORTERS": "console"})
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 401)
        self.assertNotIn("content-encoding", h)
        self.assertNotIn(TEST_KEY.encode(), b)
        self.assertIn(b"[REDACTED]", b)
        self.assertIn(b"Incorrect API key provided", b, "the body reaches the client decoded")
        rec = self.records(gw, 1)[0]
        self.assertNotIn(TEST_KEY, json.dumps(rec))
        self.assertIn("Incorrect API key", json.dumps(rec["attributes"]["response"]))

    def test_gzip_error_body_echoing_the_key_is_decoded_and_redacted(self):
        self.check_error_echo(b"gzip", gzip.compress(self.ECHO_KEY))

    def test_deflate_error_body_echoing_the_key_is_decoded_and_redacted(self):
        self.check_error_echo(b"deflate", zlib.compress(self.ECHO_KEY))

    def test_brotli_error_body_echoing_the_key_is_decoded_and_redacted(self):
        self.check_error_echo(b"br", brotli.compress(self.ECHO_KEY))

    def test_header_echoing_the_key_is_dropped(self):
        gw, _ = self.gateway(response(200, b"{}", extra=b"X-Echo-Auth: Bearer " + TEST_KEY.encode() +
                                      b"\r\nX-Fine: 1\r\n"))
        s, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 200)
        self.assertNotIn("x-echo-auth", h)
        self.assertEqual(h.get("x-fine"), "1")
        self.assertNotIn(TEST_KEY, json.dumps(h))

    def test_a_clients_own_key_echoed_back_reaches_that_client(self):
        # Only the operator's keys are the gateway's to hide: a client that
        # sends its own key may see it echoed (debugging upstreams do).
        def echo(req):
            key = req.split(b"Bearer ")[1].split(b"\r\n")[0]
            return response(200, b'{"seen":"' + key + b'"}', extra=b"X-Echo: " + key + b"\r\n")
        gw, _ = self.gateway(echo)
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"Authorization": "Bearer sk-client-own-key-1"})
        self.assertEqual(s, 200)
        self.assertEqual(h.get("x-echo"), "sk-client-own-key-1")
        self.assertEqual(json.loads(b), {"seen": "sk-client-own-key-1"})

    def test_key_echoed_in_a_success_body_is_masked_keeping_its_length(self):
        body = b'{"id":"c1","echo":"Bearer ' + TEST_KEY.encode() + b'","choices":[]}'
        gw, _ = self.gateway(response(200, body), {"ENABLED_EXPORTERS": "console"})
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 200)
        self.assertNotIn(TEST_KEY.encode(), b)
        self.assertEqual(len(b), len(body))
        self.assertEqual(json.loads(b)["echo"], "Bearer [REDACTED]" + "*" * (len(TEST_KEY) - 10))
        self.assertNotIn(TEST_KEY, json.dumps(self.records(gw, 1)))

    def test_key_echoed_across_stream_pieces_is_masked(self):
        key = TEST_KEY.encode()
        event = b'data: {"choices":[{"delta":{"content":"' + key + b'"}}]}\n\n'
        cut = event.index(key) + 9
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        gw, _ = self.gateway([head, b"%x\r\n%s\r\n" % (cut, event[:cut]), 0.1,
                              b"%x\r\n%s\r\n" % (len(event) - cut, event[cut:]),
                              b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"], {"ENABLED_EXPORTERS": "console"})
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, stream=True))
        self.assertEqual(s, 200)
        self.assertNotIn(key, b)
        self.assertIn(b"[REDACTED]", b)
        self.assertNotIn(TEST_KEY, json.dumps(self.records(gw, 1)))

    def test_gzip_json_body_is_relayed_decoded_with_its_usage(self):
        body = json.dumps({"id": "c1", "model": "gpt-4o", "choices": [{"message": {"content": "x" * 5000}}],
                           "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}}).encode()
        gw, _ = self.gateway(response(200, gzip.compress(body), extra=b"Content-Encoding: gzip\r\n"),
                             {"ENABLED_EXPORTERS": "console"})
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual((s, b), (200, body))
        self.assertNotIn("content-encoding", h)
        self.assertEqual(h.get("content-length"), None if "transfer-encoding" in h else str(len(body)))
        rec = self.records(gw, 1)[0]
        self.assertEqual(rec["attributes"]["metadata"]["tokens"]["input"], 7)
        self.assertEqual(rec["attributes"]["metadata"]["tokens"]["output"], 9)

    def test_gzip_stream_is_decoded_event_by_event(self):
        events = [b'data: {"id":"s","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"he"}}]}\n\n',
                  b'data: {"id":"s","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"llo"}}]}\n\n',
                  b'data: {"id":"s","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
                  b"data: [DONE]\n\n"]
        z = zlib.compressobj(wbits=31)
        pieces = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events] + [z.flush()]
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        script = [head]
        for p in pieces:
            script += [b"%x\r\n%s\r\n" % (len(p), p), 0.02] if p else []
        script.append(b"0\r\n\r\n")
        gw, _ = self.gateway(script, {"ENABLED_EXPORTERS": "console"})
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions",
                               dict(CHAT, stream=True, stream_options={"include_usage": True}))
        self.assertEqual(s, 200)
        self.assertNotIn("content-encoding", h)
        got = sse_events(b)
        self.assertEqual(got[-1], "[DONE]")
        self.assertEqual("".join(json.loads(e)["choices"][0]["delta"]["content"] for e in got[:2]), "hello")
        rec = self.records(gw, 1)[0]
        self.assertEqual(rec["attributes"]["metadata"]["status"], "success")
        self.assertEqual(rec["attributes"]["metadata"]["tokens"]["total"], 5)

    def test_undecodable_body_is_502(self):
        gw, _ = self.gateway(response(200, b"this is not gzip at all", extra=b"Content-Encoding: gzip\r\n"))
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["code"], "upstream_encoding_invalid")

    def test_truncated_gzip_body_is_502(self):
        gw, _ = self.gateway(response(401, gzip.compress(self.ECHO_KEY)[:-12], extra=b"Content-Encoding: gzip\r\n"))
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)
        self.assertNotIn(TEST_KEY.encode(), b)

    def test_unsupported_coding_is_502(self):
        gw, _ = self.gateway(response(200, b"(\xb5/\xfd...", extra=b"Content-Encoding: zstd\r\n"))
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT)
        self.assertEqual(s, 502, b)
        self.assertEqual(json.loads(b)["error"]["code"], "upstream_encoding_unsupported")

    def test_corrupt_gzip_stream_ends_with_an_error_event(self):
        z = zlib.compressobj(wbits=31)
        first = z.compress(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n') + z.flush(zlib.Z_SYNC_FLUSH)
        gw, _ = self.gateway([b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(first), first), 0.1,
                              b"5\r\n\xff\xff\xff\xff\xff\r\n0\r\n\r\n"])
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, stream=True))
        self.assertEqual(s, 200)
        self.assertIn('"error"', sse_events(b)[-1])

    def test_decompression_bomb_hits_the_body_limit_not_memory(self):
        # 1 GiB of zeros, gzip-compressed to about 1 MiB, as an error body
        # (which the gateway reads whole to redact it).
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1 << 20)
        bomb = b"".join(z.compress(block) for _ in range(1024)) + z.flush()
        gw, _ = self.gateway(response(400, bomb, extra=b"Content-Encoding: gzip\r\n"))
        before = vm_rss_mib(gw.proc.pid)
        s, _, b = http_request(gw.port, "POST", "/v1/chat/completions", CHAT, timeout=60)
        self.assertEqual(s, 502, b[:200])
        self.assertEqual(json.loads(b)["error"]["code"], "upstream_response_too_large")
        if not SANITIZED:
            self.assertLess(vm_rss_mib(gw.proc.pid) - before, 160, "the bomb's decoded size never sits in memory")


class ClosingUpstream:
    """An upstream that answers each request on a connection from `script`
    (one list of actions per request, in order): bytes to send, a float to
    sleep, "CORK"/"UNCORK" (TCP_CORK: what follows leaves in as few
    segments as possible), "CLOSE" (shutdown and close: with the socket
    corked, the FIN rides on the last data segment)."""

    def __init__(self, script):
        self.script = script
        self.connections = 0
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.url = "http://127.0.0.1:%d/v1" % self.port
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        buf = b""
        try:
            for actions in self.script:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, rest = buf.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
                while len(rest) < length:
                    rest += conn.recv(65536)
                buf = rest[length:]
                for action in actions:
                    if isinstance(action, float):
                        time.sleep(action)
                    elif action == "CORK":
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    elif action == "UNCORK":
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
                    elif action == "CLOSE":
                        conn.shutdown(socket.SHUT_WR)
                        conn.close()
                        return
                    else:
                        conn.sendall(action)
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        self.server.close()


class CloseDelimitedResponseTest(Case):
    """A body that ends with the connection (no Content-Length, not chunked;
    any HTTP/1.0 response without a length) is relayed as it arrives and
    ends cleanly at the close, whether the close rides on the last bytes or
    comes later, on fresh and on reused connections, with telemetry on."""

    BODY = json.dumps({"id": "c1", "model": "gpt-4o", "choices": [{"message": {"content": "hello"}}],
                       "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}}).encode()
    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"

    def gateway_for(self, script):
        up = ClosingUpstream(script)
        self.addCleanup(up.stop)
        gw = Gateway({"OPENAI_BASE_URL": up.url, "OPENAI_API_KEY": TEST_KEY, "UPSTREAM_TIMEOUT_MS": "20000",
                      "WORKER_THREADS": "1", "ENABLED_EXPORTERS": "console"})
        self.addCleanup(gw.stop)
        return gw, up

    def ask(self, gw, body=CHAT):
        start = time.time()
        s, h, b = http_request(gw.port, "POST", "/v1/chat/completions", body, timeout=15)
        return s, h, b, time.time() - start

    def check(self, gw, n_records):
        recs = self.records(gw, n_records)
        for rec in recs:
            meta = rec["attributes"]["metadata"]
            self.assertEqual(meta["status"], "success", meta)
            self.assertIsNone(meta["error_type"])

    def test_close_with_the_last_bytes(self):
        gw, _ = self.gateway_for([["CORK", self.HEAD, self.BODY, "CLOSE"]])
        s, _, b, took = self.ask(gw)
        self.assertEqual((s, b), (200, self.BODY))
        self.assertLess(took, 3 * SLOW)
        self.check(gw, 1)
        self.assertEqual(self.records(gw, 1)[0]["attributes"]["metadata"]["tokens"]["total"], 10)

    def test_close_after_the_last_bytes(self):
        gw, _ = self.gateway_for([[self.HEAD, self.BODY[:20], 0.1, self.BODY[20:], 0.2, "CLOSE"]])
        s, _, b, took = self.ask(gw)
        self.assertEqual((s, b), (200, self.BODY))
        self.assertLess(took, 3 * SLOW)
        self.check(gw, 1)

    def test_http10_response_without_a_length(self):
        gw, _ = self.gateway_for([["CORK", b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n",
                                   self.BODY, "CLOSE"]])
        s, _, b, took = self.ask(gw)
        self.assertEqual((s, b), (200, self.BODY))
        self.assertLess(took, 3 * SLOW)

    def test_on_a_reused_connection(self):
        # The first answer keeps the connection; the second, on the pooled
        # connection, ends with its close riding on the last bytes.
        keep = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        gw, up = self.gateway_for([[keep], ["CORK", self.HEAD, self.BODY, "CLOSE"]])
        self.assertEqual(self.ask(gw)[:3:2], (200, b"{}"))
        s, _, b, took = self.ask(gw)
        self.assertEqual((s, b), (200, self.BODY))
        self.assertLess(took, 3 * SLOW)
        self.assertEqual(up.connections, 1, "the second request reused the pooled connection")
        self.check(gw, 2)

    def test_stream_ending_with_the_close(self):
        events = (b'data: {"id":"s","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
                  b'data: {"id":"s","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
                  b"data: [DONE]\n\n")
        for closing in (["CORK", events, "CLOSE"], [events[:40], 0.1, events[40:], 0.1, "CLOSE"]):
            gw, _ = self.gateway_for([[b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"]
                                      + closing])
            s, _, b, took = self.ask(gw, dict(CHAT, stream=True, stream_options={"include_usage": True}))
            self.assertEqual(s, 200)
            self.assertEqual(sse_events(b)[-1], "[DONE]")
            self.assertLess(took, 3 * SLOW)
            self.check(gw, 1)


class RequestSanityTest(Case):
    def test_http11_request_without_host_is_400(self):
        gw, up = self.gateway(response(200, b"{}"))
        body = json.dumps(CHAT).encode()
        data = raw(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(statuses(data), [400], data[:200])
        self.assertIn(b"Host", data)
        self.assertEqual(up.requests, [])

    def test_two_host_headers_are_400(self):
        gw, up = self.gateway(response(200, b"{}"))
        body = json.dumps(CHAT).encode()
        data = raw(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
                            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(statuses(data), [400], data[:200])
        self.assertEqual(up.requests, [])

    def test_http10_request_without_host_is_served(self):
        gw, up = self.gateway(response(200, b"{}"))
        body = json.dumps(CHAT).encode()
        data = raw(gw.port, b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertIn(b" 200 ", data.split(b"\r\n")[0])

    def test_empty_and_blank_bodies_on_json_endpoints_are_400(self):
        gw, up = self.gateway(response(200, b"{}"))
        for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/completions"):
            for body in (b"", b"  \r\n\t "):
                s, _, b = http_request(gw.port, "POST", path, body)
                self.assertEqual(s, 400, (path, body, b))
                self.assertEqual(json.loads(b)["error"]["code"], "invalid_json")
        self.assertEqual(up.requests, [], "nothing is forwarded with the operator's key")

    def test_empty_body_on_an_action_endpoint_is_forwarded(self):
        gw, up = self.gateway(response(200, b"{}"))
        s, _, _ = http_request(gw.port, "POST", "/v1/responses/resp_1/cancel", b"")
        self.assertEqual(s, 200)
        self.assertEqual(len(up.requests), 1)


class InflightBodyMemoryTest(Case):
    """MAX_INFLIGHT_BODY_BYTES bounds the request bodies held at once."""

    def slow_upstream(self):
        # Every answer waits, so that the bodies stay in flight.
        return [1.0 * SLOW, response(200, b"{}")]

    def test_request_past_the_budget_gets_503_with_retry_after(self):
        gw, up = self.gateway(self.slow_upstream(), {"MAX_REQUEST_BODY_BYTES": str(4 << 20),
                                                     "MAX_INFLIGHT_BODY_BYTES": str(7 << 20),
                                                     "WORKER_THREADS": "2"})
        big = json.dumps(dict(CHAT, pad="x" * (3 << 20))).encode()
        results = []

        def send():
            # A raw socket: the refused client is still sending its body
            # when the answer comes, and must get it all the same.
            results.append(raw(gw.port, post(b"/v1/chat/completions", big, b"Connection: close\r\n"),
                               timeout=10 * SLOW))

        threads = [threading.Thread(target=send) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.15 * SLOW)
        for t in threads:
            t.join()
        codes = sorted(statuses(r)[0] if statuses(r) else 0 for r in results)
        self.assertEqual(codes, [200, 200, 503], [r[:300] for r in results])
        refused = [r for r in results if statuses(r) == [503]][0]
        head, body = refused.split(b"\r\n\r\n", 1)
        self.assertEqual(json.loads(body)["error"]["code"], "overloaded")
        self.assertIn(b"\r\nRetry-After: 1\r\n", head + b"\r\n")
        # The budget is given back: the same request now passes.
        s, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", big, timeout=30)
        self.assertEqual(s, 200)

    def test_chunked_bodies_count_as_they_grow(self):
        gw, up = self.gateway(self.slow_upstream(), {"MAX_REQUEST_BODY_BYTES": str(4 << 20),
                                                     "MAX_INFLIGHT_BODY_BYTES": str(5 << 20)})
        first = threading.Thread(target=http_request, args=(gw.port, "POST", "/v1/chat/completions",
                                                            json.dumps(dict(CHAT, pad="x" * (3 << 20))).encode()),
                                 kwargs={"timeout": 30})
        first.start()
        time.sleep(0.3 * SLOW)
        body = json.dumps(dict(CHAT, pad="y" * (3 << 20))).encode()
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        data = raw(gw.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" + chunked(pieces), timeout=10 * SLOW)
        first.join()
        self.assertEqual(statuses(data), [503], data[:300])

    def test_record_keeps_only_the_start_of_a_large_request_body(self):
        # The record's copy is bounded too: past the capture budget (at least
        # 1 MiB) only a preview reaches the telemetry queues.
        gw, _ = self.gateway(response(200, b"{}"), {"ENABLED_EXPORTERS": "console"})
        big = json.dumps(dict(CHAT, api_key="sk-in-body-123", pad="p" * (3 << 20))).encode()
        s, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", big, timeout=30)
        self.assertEqual(s, 200)
        req = self.records(gw, 1)[0]["attributes"]["request"]
        self.assertTrue(req["_truncated"])
        self.assertEqual(req["_original_bytes"], len(big))
        self.assertLess(len(req["_preview"]), 1 << 20)
        self.assertNotIn("sk-in-body-123", req["_preview"])

    def test_inflight_budget_smaller_than_one_body_is_a_config_error(self):
        gw = Gateway({"MAX_REQUEST_BODY_BYTES": "1000", "MAX_INFLIGHT_BODY_BYTES": "999"}, expect_start=False)
        self.assertEqual(gw.proc.wait(10), 2)
        gw.stop()
        self.assertIn(b"MAX_INFLIGHT_BODY_BYTES", gw.stderr_seen)

    @unittest.skipIf(SANITIZED, "sanitizer allocators keep freed memory by design")
    def test_memory_returns_after_a_burst_of_large_bodies(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "WORKER_THREADS": "2"})
        self.addCleanup(gw.stop)
        http_request(gw.port, "POST", "/v1/chat/completions", dict(CHAT, model="echo"))
        baseline = vm_rss_mib(gw.proc.pid)
        big = json.dumps(dict(CHAT, model="echo-size", pad="z" * (30 << 20))).encode()
        results = []

        def send():
            results.append(http_request(gw.port, "POST", "/v1/chat/completions", big, timeout=60)[0])

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 8)
        settled = wait_until("memory given back", lambda: vm_rss_mib(gw.proc.pid) < baseline + 64, timeout=10)
        self.assertTrue(settled, (baseline, vm_rss_mib(gw.proc.pid)))


if __name__ == "__main__":
    unittest.main()
