"""End-to-end fault tests of the HTTP exporters through the REAL gateway
binary: elasticsearch, datadog, newrelic and otlp (http/json and
http/protobuf), each against a strict local fake (fake_backends.py) that
validates the public wire format.

For every exporter the same faults, and the result checked exactly:
N requests -> exactly the N record ids at the backend, nothing lost; every
drop counted in /health and in
ai_gateway_exporter_records_total{outcome="dropped"}:

- baseline: no fault, no duplicate;
- backend down at start: the gateway starts, records wait in the spool and
  are delivered when the backend comes up;
- backend down for a while mid-run, then back;
- slow: one response delayed past the exporter's timeout. The backend
  stored the records but the gateway cannot know: it sends them again.
  Elasticsearch deduplicates by _id (409 on the second `create`): exactly N
  documents. Datadog, New Relic and OTLP have no idempotency key: the ids of
  that one request arrive twice (at most one batch); the test measures it;
- 429 with Retry-After (honoured: the next attempt waits for it);
- 503s: retried, then spooled and replayed;
- one bad record: Elasticsearch rejects it with a per-item 400 in an
  `errors: true` bulk response (only it is dropped); Datadog and New Relic
  refuse a log entry over their size limit (only it is dropped); an OTLP
  receiver answers 400 to the request that carries it (the OTLP spec makes
  400 final: the records of that request are dropped -- and counted).

Each test prints one "FIGURE" line (sent, unique, duplicates, dropped) to
stderr.
"""
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

import fake_backends as fb
from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
BATCH = 5
TIMEOUT_MS = 2000  # each exporter's per-request timeout in these tests (loaded CI machines stay well within it)
FAST = {"TELEMETRY_FLUSH_INTERVAL_MS": "50", "TELEMETRY_BATCH_SIZE": str(BATCH), "TELEMETRY_MAX_RETRIES": "2",
        "TELEMETRY_RETRY_INITIAL_MS": "20", "TELEMETRY_RETRY_MAX_MS": "100", "TELEMETRY_BREAKER_FAILURES": "3",
        "TELEMETRY_BREAKER_OPEN_MS": "200", "TELEMETRY_MAX_BODY_BYTES": str(4 << 20)}
DD_KEY = "dd-fault-test-key-1234"
NR_KEY = "nr-fault-test-license-5678"




def traffic(port, prefix, n):
    """n requests (success, stream, gateway error, upstream 429), each with
    its own x-request-id = the record id; returns the ids."""
    kinds = [CHAT, dict(CHAT, stream=True), b"{broken", {"model": "error-429"}]
    ids = []
    for i in range(n):
        rid = "%s-%03d" % (prefix, i)
        _, h, _ = http_request(port, "POST", "/v1/chat/completions", kinds[i % len(kinds)], {"x-request-id": rid})
        assert h.get("x-request-id") == rid
        ids.append(rid)
    return ids


def big_request(port, rid):
    """A request whose record is over 1 MB (its body is kept whole:
    TELEMETRY_MAX_BODY_BYTES is 4 MiB here)."""
    body = dict(CHAT, messages=[{"role": "user", "content": "x" * 1100000}])
    _, h, _ = http_request(port, "POST", "/v1/chat/completions", body, {"x-request-id": rid}, timeout=30)
    assert h.get("x-request-id") == rid
    return rid


class Backend:
    """How one exporter is configured and read back."""
    exporter = None
    idempotent = False
    data_path = None  # the request that carries the record ids
    first_path = None  # the first request of each batch

    def make(self, port=None, start=True):
        raise NotImplementedError

    def env(self, fake):
        raise NotImplementedError


class ElasticsearchBackend(Backend):
    exporter = "elasticsearch"
    idempotent = True
    data_path = first_path = "/_bulk"

    def make(self, port=None, start=True):
        return fb.FakeElasticsearch(port=port, start=start)

    def env(self, fake):
        return {"ELASTICSEARCH_URL": fake.url, "ELASTICSEARCH_TIMEOUT_MS": str(TIMEOUT_MS)}


class DatadogBackend(Backend):
    exporter = "datadog"
    data_path = "/api/v2/logs"
    first_path = "/api/v2/series"

    def make(self, port=None, start=True):
        return fb.FakeDatadog(DD_KEY, port=port, start=start)

    def env(self, fake):
        return {"DD_API_KEY": DD_KEY, "DD_URL": fake.url, "DD_LOGS_URL": fake.url, "DD_TAGS": "env:test",
                "DD_TIMEOUT_MS": str(TIMEOUT_MS)}


class NewRelicBackend(Backend):
    exporter = "newrelic"
    data_path = "/log/v1"
    first_path = "/metric/v1"

    def make(self, port=None, start=True):
        return fb.FakeNewRelic(NR_KEY, port=port, start=start)

    def env(self, fake):
        return {"NEW_RELIC_LICENSE_KEY": NR_KEY, "NEW_RELIC_LOG_URL": fake.url + "/log/v1",
                "NEW_RELIC_METRIC_URL": fake.url + "/metric/v1", "NEW_RELIC_TIMEOUT_MS": str(TIMEOUT_MS)}


class OtlpBackend(Backend):
    exporter = "otlp"
    data_path = "/v1/logs"
    first_path = "/v1/traces"

    def __init__(self, protocol, gzip=False):
        self.protocol = protocol
        self.gzip = gzip

    def make(self, port=None, start=True):
        return fb.FakeOtlp(self.protocol, port=port, start=start, gzip=self.gzip)

    def env(self, fake):
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": fake.url, "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
                "OTEL_EXPORTER_OTLP_TIMEOUT": str(TIMEOUT_MS),
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip" if self.gzip else "none"}


def scrape(port, exporter, outcome):
    _, _, body = http_request(port, "GET", "/metrics")
    m = re.search(r'^ai_gateway_exporter_records_total\{exporter="%s",outcome="%s"\} (\S+)$' % (exporter, outcome),
                  body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


class FaultTests:
    """The fault scenarios; one subclass per exporter sets `backend`."""
    backend = None

    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gw-exporter-faults-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = None

    def make_fake(self, start=True):
        self.fake = self.backend.make(start=start)
        self.addCleanup(self.fake.stop)
        return self.fake

    def gateway(self, **extra):
        env = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY,
               "ENABLED_EXPORTERS": "prometheus," + self.backend.exporter,
               "TELEMETRY_SPOOL_DIR": os.path.join(self.tmp, "spool")}
        env.update(FAST)
        env.update(self.backend.env(self.fake))
        env.update(extra)
        gw = Gateway(env)
        self.addCleanup(gw.stop, signal.SIGKILL)
        self.gw = gw
        return gw

    def health(self):
        status, _, body = http_request(self.gw.port, "GET", "/health")
        self.assertEqual(status, 200, "the gateway stays healthy whatever its exporters do")
        return json.loads(body)["exporters"][self.backend.exporter]

    def delivered(self):
        return self.fake.ids()

    def settle(self, expected, dropped=0, timeout=30):
        """Waits until every expected id arrived, the spool is empty and the
        exporter is idle; then checks the exact result. Returns the number of
        duplicates (ids that arrived more than once)."""
        expected = set(expected)
        wait_until("%d ids at the %s" % (len(expected), self.backend.exporter),
                   lambda: expected <= set(self.delivered()), timeout)
        # The queue's depth counts the records waiting, not the batch being
        # exported: the expected drops say that batch is done.
        wait_until("an empty spool and queue", lambda: (lambda h: h if h["spooled"] == 0 and h["queue_depth"] == 0 and
                                                        h["dropped"] >= dropped else None)(self.health()), timeout)
        time.sleep(0.3)  # a late duplicate (or drop) would show now
        h = self.health()
        got = self.delivered()
        self.assertEqual(set(got), expected, "exactly the ids of the requests sent: nothing lost, nothing extra")
        self.assertEqual(self.fake.violations, [], "the wire format the real backend expects")
        self.assertEqual(h["dropped"], dropped, "/health counts every drop")
        self.assertEqual(scrape(self.gw.port, self.backend.exporter, "dropped"), dropped,
                         'ai_gateway_exporter_records_total{outcome="dropped"}')
        return len(got) - len(set(got))

    def figure(self, sent, duplicates, dropped=0):
        sys.stderr.write("FIGURE exporter=%s test=%s sent=%d unique=%d duplicates=%d dropped=%d\n" % (
            getattr(self.backend, "protocol", self.backend.exporter), self._testMethodName, sent,
            len(set(self.delivered())), duplicates, dropped))

    # ---------------------------------------------------------------- tests

    def test_baseline_n_requests_n_records(self):
        self.make_fake()
        gw = self.gateway()
        sent = traffic(gw.port, "base", 12)
        dups = self.settle(sent)
        self.assertEqual(dups, 0)
        self.assertEqual(gw.stop(), 0)
        self.figure(len(sent), dups)

    def test_down_at_start_records_spooled_then_delivered(self):
        self.make_fake(start=False)  # its port is reserved but nobody listens
        gw = self.gateway()  # starts anyway
        sent = traffic(gw.port, "das", 8)
        wait_until("records in the spool", lambda: self.health()["spooled"] > 0)
        self.assertIn(self.health()["state"], ("degraded", "down"))
        self.assertEqual(self.delivered(), [])
        self.fake.start()
        dups = self.settle(sent)
        self.assertEqual(dups, 0)
        self.assertGreater(scrape(gw.port, self.backend.exporter, "spooled"), 0)
        self.assertEqual(self.health()["state"], "healthy")
        self.figure(len(sent), dups)

    def test_down_mid_run_then_back(self):
        self.make_fake()
        gw = self.gateway()
        sent = traffic(gw.port, "mid-a", 6)
        self.settle(sent)
        self.fake.stop()
        sent += traffic(gw.port, "mid-b", 9)
        wait_until("records in the spool", lambda: self.health()["spooled"] > 0)
        time.sleep(0.5)  # down for a while: several attempts fail
        self.fake.start()
        sent += traffic(gw.port, "mid-c", 4)
        dups = self.settle(sent)
        self.assertEqual(dups, 0, "the backend was idle when it went down: no outcome was unknown")
        self.figure(len(sent), dups)

    def test_slow_response_past_the_timeout(self):
        self.make_fake()
        # The first request that carries records is stored by the backend
        # but answered after the gateway gave up on it.
        self.fake.slow_next(1, TIMEOUT_MS / 1000.0 + 0.8, path=self.backend.data_path)
        gw = self.gateway()
        sent = traffic(gw.port, "slow", 10)
        dups = self.settle(sent)
        self.assertGreaterEqual(scrape(gw.port, self.backend.exporter, "retried"), 1, "the timed-out batch was retried")
        late = set(self.fake.slow_ids)
        self.assertTrue(late, "one request was answered late")
        if self.backend.idempotent:
            self.assertEqual(dups, 0, "the backend deduplicates by record id")
            self.assertEqual(self.fake.attempts(), len(sent) + len(late), "the late batch was sent twice, stored once")
        else:
            # At-least-once: exactly the records of the request whose outcome
            # was unknown arrive twice (at most one batch), no other.
            got = self.delivered()
            twice = {i for i in got if got.count(i) > 1}
            self.assertEqual(twice, late)
            self.assertEqual(dups, len(late))
            self.assertLessEqual(dups, BATCH)
        self.figure(len(sent), dups)

    def test_429_with_retry_after_is_honoured(self):
        self.make_fake()
        self.fake.fail_next(1, 429, retry_after=1, path=self.backend.first_path)
        gw = self.gateway()
        sent = traffic(gw.port, "r429", 7)
        dups = self.settle(sent)
        self.assertEqual(dups, 0)
        times = [t for (m, p, s, t) in self.fake.timed_requests() if p == self.backend.first_path]
        statuses = [s for (m, p, s, t) in self.fake.timed_requests() if p == self.backend.first_path]
        self.assertEqual(statuses[0], 429)
        self.assertGreaterEqual(times[1] - times[0], 0.9, "Retry-After: 1 waited for")
        self.assertGreaterEqual(scrape(gw.port, self.backend.exporter, "retried"), 1)
        self.figure(len(sent), dups)

    def test_503s_retried_then_spooled_and_replayed(self):
        self.make_fake()
        self.fake.fail_next(5, 503, path=self.backend.first_path)
        gw = self.gateway()
        sent = traffic(gw.port, "r503", 11)
        dups = self.settle(sent)
        self.assertEqual(dups, 0)
        self.assertGreaterEqual(scrape(gw.port, self.backend.exporter, "retried"), 1)
        self.figure(len(sent), dups)

    def test_one_bad_record_dropped_and_counted(self):
        self.make_fake()
        gw = self.gateway()
        sent = traffic(gw.port, "bad-a", 4)
        bad = self.inject_bad_record(gw)
        sent += traffic(gw.port, "bad-b", 4)
        lost = self.expected_lost(bad)
        dups = self.settle(set(sent) - lost, dropped=len(lost))
        self.assertEqual(dups, 0)
        self.figure(len(sent) + 1, dups, dropped=len(lost))

    # Exporter-specific: which record is bad, and what its rejection costs.
    def inject_bad_record(self, gw):
        return big_request(gw.port, "bad-big")

    def expected_lost(self, bad):
        return {bad}


class ElasticsearchFaults(FaultTests, unittest.TestCase):
    backend = ElasticsearchBackend()

    def test_per_item_429_retries_only_those_items(self):
        """A bulk answer with mixed item statuses (201 and 429): only the
        rejected items are sent again."""
        self.make_fake()
        self.fake.items_429 = 2
        gw = self.gateway()
        sent = traffic(gw.port, "item429", 10)
        self.assertEqual(self.settle(sent), 0)
        self.assertEqual(len(self.fake.ids_429), 2)
        self.assertEqual(self.fake.attempts(), len(sent) + 2, "only the two 429 items were sent twice")
        self.assertGreaterEqual(scrape(gw.port, "elasticsearch", "retried"), 2)
        self.figure(len(sent), 0)

    def inject_bad_record(self, gw):
        self.fake.reject_ids.add("bad-one")
        _, h, _ = http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"x-request-id": "bad-one"})
        return "bad-one"


class DatadogFaults(FaultTests, unittest.TestCase):
    backend = DatadogBackend()

    def test_counts_and_distributions_per_flush_interval(self):
        self.make_fake()
        gw = self.gateway()
        sent = traffic(gw.port, "dist", 10)
        self.assertEqual(self.settle(sent), 0)
        # Counts in /api/v2/series, every request once.
        self.assertEqual(self.fake.series_sum("ai_gateway.requests"), len(sent))
        # One value per request in the distributions (every record has a latency).
        durations = self.fake.distribution_values("ai_gateway.request.duration")
        self.assertEqual(len(durations), len(sent))
        self.assertTrue(all(v >= 0 for v in durations))
        with self.fake.lock:
            series = list(self.fake.distributions)
        metrics = {s["metric"] for s in series}
        self.assertTrue({"ai_gateway.request.duration", "ai_gateway.request.ttfb", "ai_gateway.provider.latency",
                         "ai_gateway.request.tokens.input", "ai_gateway.request.tokens.output"} <= metrics, metrics)
        for s in series:
            tags = s["tags"]
            self.assertTrue(any(t.startswith("provider:") for t in tags) and
                            any(t.startswith("model:") for t in tags) and
                            any(t.startswith("project:") for t in tags) and "env:test" in tags, tags)
        # Successful chat requests of the mock upstream: 16 input tokens each.
        self.assertIn(16, self.fake.distribution_values("ai_gateway.request.tokens.input"))
        self.assertEqual(gw.stop(), 0)

    def test_slow_series_counts_that_batch_twice(self):
        """The at-least-once cost on the metrics side: a series request stored
        but answered after the timeout is sent again, so that batch's counts
        are added twice; its logs are sent once (after the retried series)."""
        self.make_fake()
        self.fake.slow_next(1, TIMEOUT_MS / 1000.0 + 0.8, path="/api/v2/series")
        gw = self.gateway()
        sent = traffic(gw.port, "slowseries", 10)
        self.assertEqual(self.settle(sent), 0, "logs: no duplicate")
        over = self.fake.series_sum("ai_gateway.requests") - len(sent)
        self.assertGreaterEqual(over, 1)
        self.assertLessEqual(over, BATCH, "at most one batch counted twice")
        sys.stderr.write("FIGURE exporter=datadog test=slow_series requests_counted=%d sent=%d overcount=%d\n" % (
            len(sent) + over, len(sent), over))

    def test_endpoint_without_distributions_is_warned_once_and_nothing_dropped(self):
        self.fake = fb.FakeDatadog(DD_KEY, distributions_unknown=True)
        self.addCleanup(self.fake.stop)
        gw = self.gateway()
        sent = traffic(gw.port, "nodist", 6)
        self.assertEqual(self.settle(sent), 0)
        sent += traffic(gw.port, "nodist-2", 6)
        self.assertEqual(self.settle(sent), 0)
        asked = [r for r in self.fake.timed_requests() if r[1] == "/api/v1/distribution_points"]
        self.assertEqual(len(asked), 1, "asked once, never again")
        self.assertEqual(self.fake.series_sum("ai_gateway.requests"), len(sent))
        self.assertEqual(gw.stop(), 0)
        warnings = [l for l in gw.stderr_seen.decode("utf-8", "replace").splitlines() if "distribution_points" in l]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertNotIn(DD_KEY, gw.stderr_seen.decode("utf-8", "replace"))


class NewRelicFaults(FaultTests, unittest.TestCase):
    backend = NewRelicBackend()


class OtlpJsonFaults(FaultTests, unittest.TestCase):
    backend = OtlpBackend("http/json")

    def inject_bad_record(self, gw):
        self.fake.reject_ids.add("bad-one")
        http_request(gw.port, "POST", "/v1/chat/completions", CHAT, {"x-request-id": "bad-one"})
        return "bad-one"

    def expected_lost(self, bad):
        # The receiver refused the whole request that carried it (400 is
        # final in OTLP): its records are dropped, and counted.
        wait_until("the rejected request", lambda: self.fake.rejected_requests)
        return set(self.fake.rejected_requests[0])


class OtlpProtobufFaults(OtlpJsonFaults):
    backend = OtlpBackend("http/protobuf", gzip=True)  # and OTEL_EXPORTER_OTLP_COMPRESSION=gzip


if __name__ == "__main__":
    unittest.main(verbosity=2)
