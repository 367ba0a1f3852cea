"""The exporter queues' memory bound through the REAL gateway binary: with a
backend that stalls (an OTLP endpoint that accepts connections and never
answers), records pile up in front of the exporter; the queue must keep
what it holds within TELEMETRY_QUEUE_MAX_BYTES, counting what its records
really hold, send the rest to the spool (counted, nothing lost) and keep the
process's memory from growing with the records sent. With two stalled
exporters, the bound is one for the whole process: a record waiting in both
queues is counted once (ai_gateway_telemetry_queued_bytes).

Prints one "FIGURE" line per test (records, queued, queue bytes, spooled,
RSS growth) to stderr.
"""
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import unittest

from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until

QUEUE_MAX_BYTES = 8 << 20
BODY_BYTES = 200000  # each request's message: the record holds it twice (request body, and in its size)
REQUESTS = 400       # 80 MB of bodies: ten times the queue's bound
BATCH = 5
# The chat request each test sends (BODY_BYTES of message).
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * BODY_BYTES}]}
SANITIZED = bool(os.environ.get("ASAN_OPTIONS") or os.environ.get("TSAN_OPTIONS"))


def metric(port, name, exporter):
    _, _, body = http_request(port, "GET", "/metrics")
    m = re.search(r'^%s\{exporter="%s"(?:,outcome="([a-z]+)")?\} (\S+)$' % (name, exporter), body.decode(), re.M)
    return float(m.group(2)) if m else 0.0


def process_gauge(port, name):
    _, _, body = http_request(port, "GET", "/metrics")
    m = re.search(r'^%s (\S+)$' % name, body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def counter(port, exporter, outcome):
    _, _, body = http_request(port, "GET", "/metrics")
    m = re.search(r'^ai_gateway_exporter_records_total\{exporter="%s",outcome="%s"\} (\S+)$' % (exporter, outcome),
                  body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class StalledBackendTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gw-queue-memory-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mock = MockUpstream()
        self.addCleanup(self.mock.stop)
        # Accepts connections (the kernel does, into the backlog) and never
        # reads or answers: every export attempt waits for its timeout.
        self.stall = socket.socket()
        self.stall.bind(("127.0.0.1", 0))
        self.stall.listen(64)
        self.addCleanup(self.stall.close)

    def stalled_gateway(self, **exporters):
        """A gateway whose record exporters (`exporters`: their settings, all
        pointed at the stalled backend) never get an answer; a spool, small
        batches, and the queues bounded by QUEUE_MAX_BYTES alone."""
        env = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY,
               "TELEMETRY_SPOOL_DIR": os.path.join(self.tmp, "spool"),
               "TELEMETRY_BATCH_SIZE": str(BATCH), "TELEMETRY_FLUSH_INTERVAL_MS": "50",
               "TELEMETRY_QUEUE_SIZE": "1000000", "TELEMETRY_QUEUE_MAX_BYTES": str(QUEUE_MAX_BYTES),
               "TELEMETRY_MAX_BODY_BYTES": str(1 << 20)}
        env.update(exporters)
        gw = Gateway(env)
        self.addCleanup(gw.stop, signal.SIGKILL)
        return gw

    def stalled_url(self):
        return "http://127.0.0.1:%d" % self.stall.getsockname()[1]

    def test_queue_stays_within_its_byte_bound_and_the_rest_is_spooled(self):
        gw = self.stalled_gateway(ENABLED_EXPORTERS="prometheus,otlp",
                                  OTEL_EXPORTER_OTLP_ENDPOINT=self.stalled_url(), OTEL_EXPORTER_OTLP_TIMEOUT="600000")

        def send(first, n):
            for i in range(first, first + n):
                status, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", BODY,
                                            {"x-request-id": "mem-%04d" % i}, timeout=30)
                self.assertEqual(status, 200)

        # Warm up: the first batch is stuck at the backend, the queue fills.
        warm = 60
        send(0, warm)
        wait_until("the warm-up's records queued or spooled",
                   lambda: metric(gw.port, "ai_gateway_exporter_queue_depth", "otlp") +
                   counter(gw.port, "otlp", "spooled") >= warm - BATCH)
        rss_before = rss_bytes(gw.proc.pid)
        send(warm, REQUESTS - warm)

        def settled():
            queued = metric(gw.port, "ai_gateway_exporter_queue_depth", "otlp")
            spooled = counter(gw.port, "otlp", "spooled")
            return (queued, spooled) if queued + spooled >= REQUESTS - BATCH else None
        queued, spooled = wait_until("every record queued or spooled", settled)
        queue_bytes = metric(gw.port, "ai_gateway_exporter_queue_bytes", "otlp")
        growth = rss_bytes(gw.proc.pid) - rss_before
        print("FIGURE stalled backend: records=%d queued=%d queue_bytes=%d spooled=%d rss_growth=%d" %
              (REQUESTS, queued, queue_bytes, spooled, growth), file=sys.stderr)

        # Every record is in the queue, in the spool or in the stuck batch; none dropped.
        self.assertLessEqual(queued + spooled, REQUESTS)
        self.assertEqual(counter(gw.port, "otlp", "dropped"), 0)
        self.assertGreater(spooled, REQUESTS / 2)
        # The queue holds at most its bound, and counts what each record
        # really holds: its text carries the body at least once.
        self.assertGreater(queued, 0)
        self.assertLessEqual(queue_bytes, QUEUE_MAX_BYTES)
        per_record = queue_bytes / queued
        self.assertGreaterEqual(per_record, BODY_BYTES)
        self.assertLessEqual(per_record, 3 * BODY_BYTES)
        # The process does not keep what went to the spool: 68 MB of bodies
        # were sent after the warm-up. (Sanitizer builds keep freed memory in
        # quarantine: RSS says nothing there.)
        if not SANITIZED:
            self.assertLess(growth, 40 << 20)

    def test_one_bound_for_every_queue_a_shared_record_counted_once(self):
        stalled = self.stalled_url()
        gw = self.stalled_gateway(ENABLED_EXPORTERS="prometheus,otlp,elasticsearch",
                                  OTEL_EXPORTER_OTLP_ENDPOINT=stalled, OTEL_EXPORTER_OTLP_TIMEOUT="600000",
                                  ELASTICSEARCH_URL=stalled, ELASTICSEARCH_TIMEOUT_MS="600000",
                                  ELASTICSEARCH_INSTALL_TEMPLATE="false")
        requests = REQUESTS // 2
        for i in range(requests):
            status, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", BODY,
                                        {"x-request-id": "both-%04d" % i}, timeout=30)
            self.assertEqual(status, 200)
        exporters = ("otlp", "elasticsearch")

        def settled():
            counts = [metric(gw.port, "ai_gateway_exporter_queue_depth", e) + counter(gw.port, e, "spooled")
                      for e in exporters]
            return counts if min(counts) >= requests - BATCH else None
        wait_until("every record queued or spooled for both exporters", settled)
        total = process_gauge(gw.port, "ai_gateway_telemetry_queued_bytes")
        per_queue = [metric(gw.port, "ai_gateway_exporter_queue_bytes", e) for e in exporters]
        queued = [metric(gw.port, "ai_gateway_exporter_queue_depth", e) for e in exporters]
        print("FIGURE two stalled exporters: records=%d queued=%s queue_bytes=%s process_queued_bytes=%d" %
              (requests, queued, per_queue, total), file=sys.stderr)
        for e in exporters:
            self.assertEqual(counter(gw.port, e, "dropped"), 0)
        self.assertTrue(all(q > 0 for q in queued))
        # One bound for the process, whatever the number of queues (records
        # waiting for the spooler may take a quarter more; once written they
        # hold nothing).
        self.assertGreater(total, 0)
        self.assertLessEqual(total, QUEUE_MAX_BYTES * 5 / 4)
        for b in per_queue:
            self.assertLessEqual(b, total + 3 * BODY_BYTES)
        # Both queues hold the same records: each queue's gauge counts them,
        # the process's counts them once.
        self.assertGreater(sum(per_queue), 1.5 * total)


if __name__ == "__main__":
    unittest.main()
