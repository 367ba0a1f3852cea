"""Metric cardinality is bounded (METRICS_MAX_SERIES, docs/records.md).

A client that sends 100,000 distinct model names and project ids must not
grow /metrics or the gateway's memory without bound: each metric keeps at
most METRICS_MAX_SERIES label sets (default 10,000), folds the rest into
the label set "other", and counts what it folded in
ai_gateway_metric_series_overflow_total{metric}.

The upstream is a closed port, so every request is answered at once with a
502 and still makes its record (provider openai, the client's model): the
test measures the gateway, not a mock. Requests are pipelined on a few
keep-alive connections. Sanitizer suites (GW_SLOW_FACTOR) send fewer, still
well past the bound.
"""
import os
import re
import socket
import threading
import time
import unittest

from harness import SLOW, Gateway, free_port, http_request, wait_until

DISTINCT = int(100000 / SLOW)
CONNECTIONS = 4
BATCH = 100  # requests per write


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def request_bytes(i):
    body = b'{"model":"card-model-%d","messages":[{"role":"user","content":"x"}]}' % i
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"x-project-id: card-project-%d\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body)


def read_responses(sock, buf, count):
    """Reads `count` responses (with Content-Length bodies); returns their statuses and what is left."""
    statuses = []
    while len(statuses) < count:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise AssertionError("the gateway closed the connection after %d responses" % len(statuses))
            buf += chunk
            continue
        head = buf[:end].decode("latin-1")
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
        while len(buf) < end + 4 + length:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise AssertionError("the gateway closed the connection mid-response")
            buf += chunk
        statuses.append(int(head.split(" ", 2)[1]))
        buf = buf[end + 4 + length:]
    return statuses, buf


def metrics_text(port):
    status, _, body = http_request(port, "GET", "/metrics", timeout=60)
    assert status == 200, status
    return body.decode()


def series_of(text, name):
    return [line for line in text.splitlines() if line.startswith(name + "{")]


class CardinalityTest(unittest.TestCase):
    def test_100k_distinct_models_and_projects_leave_metrics_bounded(self):
        gw = Gateway({"ENABLED_EXPORTERS": "prometheus", "OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % free_port(),
                      "OPENAI_API_KEY": "sk-test", "UPSTREAM_CONNECT_TIMEOUT_MS": "1000"})
        self.addCleanup(gw.stop)
        # A baseline after the first series exist (allocator arenas, the
        # families' first label sets).
        warm = socket.create_connection(("127.0.0.1", gw.port))
        warm.sendall(b"".join(request_bytes(i) for i in range(-200, 0)))
        read_responses(warm, b"", 200)
        warm.close()
        baseline_kib = rss_kib(gw.proc.pid)

        errors = []

        def client(first):
            try:
                sock = socket.create_connection(("127.0.0.1", gw.port), timeout=60 * SLOW)
                buf = b""
                for start in range(first, DISTINCT, BATCH * CONNECTIONS):
                    ids = range(start, min(start + BATCH, DISTINCT))
                    sock.sendall(b"".join(request_bytes(i) for i in ids))
                    statuses, buf = read_responses(sock, buf, len(ids))
                    if set(statuses) != {502}:
                        errors.append("statuses %s" % sorted(set(statuses)))
                        return
                sock.close()
            except Exception as e:  # reported by the main thread
                errors.append(repr(e))

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(c * BATCH,)) for c in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        sent = time.monotonic() - started

        # Every record is counted (the telemetry thread builds them a few ms later).
        def all_counted():
            text = metrics_text(gw.port)
            total = sum(float(line.rsplit(" ", 1)[1]) for line in series_of(text, "ai_gateway_requests_total"))
            return text if total >= DISTINCT + 200 else None
        wait_until("every request counted", all_counted, timeout=60, interval=0.5)
        # Read again: a scrape is not atomic across families, and the overflow
        # family is written out before ai_gateway_requests_total, so the scrape
        # that first saw every request may hold an overflow count a few records
        # behind. Every fold is counted before its request is, so this one is whole.
        text = metrics_text(gw.port)

        requests = series_of(text, "ai_gateway_requests_total")
        models = {re.search(r'model="([^"]*)"', line).group(1) for line in requests}
        self.assertLessEqual(len(requests), 10001, "METRICS_MAX_SERIES label sets and 'other'")
        self.assertIn("other", models)
        self.assertLessEqual(len(series_of(text, "ai_gateway_request_duration_seconds_count")), 10001)
        for line in text.splitlines():
            self.assertNotIn("card-project-", line, "project ids are not metric labels")
        overflow = {re.search(r'metric="([^"]*)"', line).group(1): float(line.rsplit(" ", 1)[1])
                    for line in series_of(text, "ai_gateway_metric_series_overflow_total")}
        self.assertGreaterEqual(overflow.get("ai_gateway_requests_total", 0), DISTINCT + 200 - 10000)
        # Bounded: the text of 10,000 label sets per metric, whatever was sent.
        self.assertLess(len(text), 40 << 20, "/metrics is %d bytes" % len(text))
        growth_mib = (rss_kib(gw.proc.pid) - baseline_kib) / 1024
        # Sanitizers keep freed memory in quarantine: their bound grows with SLOW.
        self.assertLess(growth_mib, 150 * SLOW, "RSS grew by %.0f MiB" % growth_mib)
        print("%d distinct models in %.1f s; /metrics %d KiB, %d request series; RSS +%.0f MiB"
              % (DISTINCT, sent, len(text) >> 10, len(requests), growth_mib))

        # What comes after the bound is folded, not lost.
        status, _, _ = http_request(gw.port, "POST", "/v1/chat/completions",
                                    {"model": "card-after", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 502)

        def folded_later():
            later = metrics_text(gw.port)
            counts = [float(line.rsplit(" ", 1)[1]) for line in series_of(later, "ai_gateway_metric_series_overflow_total")
                      if 'metric="ai_gateway_requests_total"' in line]
            return counts and counts[0] > overflow["ai_gateway_requests_total"] and 'model="card-after"' not in later
        wait_until("the late request folded into 'other'", folded_later, timeout=10, interval=0.2)

if __name__ == "__main__":
    unittest.main()
