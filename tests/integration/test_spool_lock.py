"""One spool directory belongs to one running gateway (docs/telemetry-plugins.md), through
the real binary:

- a second gateway given the spool directory of a running one (whatever its
  exporters) exits 2 at once, naming TELEMETRY_SPOOL_DIR and the directory,
  and the first keeps serving and spooling;
- the spool of a gateway killed with SIGKILL (its backend down) is replayed
  by the next gateway started on the directory: every record the dead one
  spooled reaches the backend exactly once (counted by record id, on the
  wire, before the backend's own deduplication). A gateway started on the
  directory while the first one ran would have read the same segments and
  sent them a second time: it is refused.

Every wait polls with a deadline.
"""
import collections
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

import fake_backends as fb
from harness import SLOW, TEST_KEY, Gateway, MockUpstream, http_request, wait_until

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
# Fast retries and breaker: records reach the spool within a second of the
# request while the backend is down.
FAST = {"TELEMETRY_FLUSH_INTERVAL_MS": "50", "TELEMETRY_BATCH_SIZE": "5", "TELEMETRY_MAX_RETRIES": "1",
        "TELEMETRY_RETRY_INITIAL_MS": "20", "TELEMETRY_RETRY_MAX_MS": "50", "TELEMETRY_BREAKER_FAILURES": "2",
        "TELEMETRY_BREAKER_OPEN_MS": "200", "ELASTICSEARCH_TIMEOUT_MS": "2000"}
REFUSAL_TIMEOUT = 10  # seconds (times SLOW) for a refused gateway to exit


class CountingElasticsearch(fb.FakeElasticsearch):
    """The strict Elasticsearch fake, also keeping every document id sent to
    _bulk with repetitions (the fake itself stores each id once)."""

    def __init__(self, *a, **kw):
        self.sent = []
        super().__init__(*a, **kw)

    def bulk(self, headers, raw):
        answer = super().bulk(headers, raw)  # called under self.lock
        self.sent.extend(self.last_ids)
        return answer

    def sent_ids(self):
        with self.lock:
            return list(self.sent)


def traffic(port, prefix, n):
    """n requests (plain and streamed), each with its own x-request-id = the
    record id; returns the ids."""
    ids = []
    for i in range(n):
        rid = "%s-%03d" % (prefix, i)
        status, h, _ = http_request(port, "POST", "/v1/chat/completions", CHAT if i % 2 else dict(CHAT, stream=True),
                                    {"x-request-id": rid})
        assert status == 200 and h.get("x-request-id") == rid, (status, h)
        ids.append(rid)
    return ids


def exporter_health(gw, name="elasticsearch"):
    status, _, body = http_request(gw.port, "GET", "/health")
    assert status == 200, status
    return json.loads(body)["exporters"][name]


def spool_segments(spool_dir):
    return sorted(os.path.join(root, f) for root, _, files in os.walk(spool_dir)
                  for f in files if f.startswith("segment-"))


class SpoolLockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gw-spool-lock-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.spool = os.path.join(self.tmp, "spool")

    def gateway(self, backend_url, expect_start=True, **extra):
        env = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY,
               "ENABLED_EXPORTERS": "elasticsearch,prometheus", "ELASTICSEARCH_URL": backend_url,
               "TELEMETRY_SPOOL_DIR": self.spool}
        env.update(FAST)
        env.update(extra)
        gw = Gateway(env, expect_start=expect_start)
        self.addCleanup(gw.stop, signal.SIGKILL)
        return gw

    def assert_refused(self, gw):
        """`gw` exits 2 on its own, with one stderr line naming
        TELEMETRY_SPOOL_DIR and the directory."""
        try:
            wait_until("the second gateway to exit", lambda: gw.proc.poll() is not None, REFUSAL_TIMEOUT)
        except AssertionError:
            self.fail("a second gateway on a spool directory in use started (it must exit 2); stderr:\n"
                      + gw.stderr_seen.decode("utf-8", "replace")[-2000:])
        self.assertEqual(gw.stop(), 2)
        lines = [l for l in gw.stderr_seen.decode("utf-8", "replace").splitlines() if "TELEMETRY_SPOOL_DIR" in l]
        self.assertEqual(len(lines), 1, gw.stderr_seen)
        self.assertIn(self.spool, lines[0])
        self.assertIn("in use by another running gateway", lines[0])
        self.assertNotIn(b"listening on port", gw.stderr_seen)

    def test_a_second_gateway_on_the_same_spool_dir_exits_2(self):
        dead = "http://127.0.0.1:%d" % fb.free_port()  # nobody listens: every record goes to the spool
        a = self.gateway(dead)
        sent = traffic(a.port, "a", 6)
        wait_until("A's records in its spool", lambda: exporter_health(a)["spooled"] == len(sent))
        segments = spool_segments(self.spool)
        self.assertTrue(segments)

        started = time.time()
        self.assert_refused(self.gateway(dead, expect_start=False))
        self.assertLess(time.time() - started, REFUSAL_TIMEOUT * SLOW)
        # The lock covers the directory, not one exporter's sub-directory: a
        # gateway with other exporters is refused too.
        self.assert_refused(self.gateway(dead, expect_start=False, ENABLED_EXPORTERS="file",
                                         FILE_EXPORTER_PATH=os.path.join(self.tmp, "records.jsonl")))

        # A keeps serving and spooling, and its segments are untouched.
        self.assertEqual(spool_segments(self.spool)[:len(segments)], segments)
        sent += traffic(a.port, "a2", 4)
        wait_until("A's new records in its spool", lambda: exporter_health(a)["spooled"] == len(sent))
        self.assertEqual(exporter_health(a)["dropped"], 0)
        self.assertEqual(a.stop(), 0)

    def test_the_spool_of_a_killed_gateway_is_replayed_once_by_the_next(self):
        backend = CountingElasticsearch(start=False)  # its port is reserved but nobody listens
        self.addCleanup(backend.stop)
        a = self.gateway(backend.url)
        sent = traffic(a.port, "k9", 20)
        # Every record on disk, none still in memory: SIGKILL loses nothing.
        wait_until("A's records all in its spool",
                   lambda: (lambda h: h["spooled"] == len(sent) and h["queue_depth"] == 0)(exporter_health(a)))
        self.assertTrue(spool_segments(self.spool))
        # A gateway started now would read A's segments too, and send them
        # again after A's successor: it is refused.
        self.assert_refused(self.gateway(backend.url, expect_start=False))

        a.stop(signal.SIGKILL)
        self.assertEqual(a.proc.returncode, -signal.SIGKILL)
        backend.start()  # the backend is back, on the same port
        c = self.gateway(backend.url)
        wait_until("A's %d records at the backend" % len(sent), lambda: set(sent) <= set(backend.sent_ids()))
        wait_until("C's spool empty", lambda: exporter_health(c)["spooled"] == 0)
        time.sleep(0.3)  # a late duplicate would show now
        counts = collections.Counter(backend.sent_ids())
        self.assertEqual(set(counts), set(sent), "exactly the records A spooled")
        self.assertEqual({rid: n for rid, n in counts.items() if n != 1}, {}, "each sent exactly once")
        self.assertEqual(backend.violations, [])
        self.assertEqual(spool_segments(self.spool), [], "replayed segments are deleted")
        self.assertEqual(exporter_health(c)["dropped"], 0)
        self.assertEqual(c.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
