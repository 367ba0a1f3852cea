"""A real Prometheus server scrapes the real gateway.

The gateway runs with ENABLED_EXPORTERS=prometheus against the mock upstream;
Debian's Prometheus (/usr/bin/prometheus) scrapes its /metrics every second.
After a known mix of requests (successes, streams, upstream 429s, a model name
that needs label escaping) the test polls Prometheus's HTTP query API until
the counters equal exactly what was sent, and checks token counters and
histogram counts. `promtool check metrics` lints the exposition itself.

Skipped (not failed) when prometheus/promtool are not installed.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import _LIVE, TEST_KEY, Gateway, MockUpstream, http_request, sse_events

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

N_PLAIN = 6             # non-streaming successes
N_STREAM_USAGE = 2      # streams where the client asked for usage
N_STREAM_NO_USAGE = 2   # streams where the gateway asks for usage itself
N_429 = 3               # upstream answers 429
# Prometheus must hand back exactly this label value: quote, backslash and
# newline are all escaped in the exposition format.
ODD_MODEL = 'odd "model"\\x\ny'

MESSAGES = [{"role": "user", "content": "hi"}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class PrometheusServer:
    def __init__(self, target_port):
        self.dir = tempfile.mkdtemp(prefix="gw-prometheus-")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: gateway\n"
                    "    metrics_path: /metrics\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        _LIVE.append(self.proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: " + self.log_text())
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus not ready within 20 s: " + self.log_text())

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def query(self, expr):
        """Instant query; returns the result vector as [(labels, float value)]."""
        doc = get_json(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if doc.get("status") != "success":
            raise AssertionError("query %r failed: %r" % (expr, doc))
        return [(item["metric"], float(item["value"][1])) for item in doc["data"]["result"]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrometheusScrapeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A missing server fails the test rather than skipping it:
        # scripts/install-deps.sh installs the Debian package prometheus.
        assert PROMETHEUS and PROMTOOL, "prometheus and promtool are not installed (scripts/install-deps.sh)"
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY,
                          "ENABLED_EXPORTERS": "prometheus"})
        cls.prom = PrometheusServer(cls.gw.port)
        cls.expected_status = {}
        cls.expected_tokens = {"input": 0, "output": 0, "cached_input": 0, "reasoning": 0}
        cls.send_traffic()

    @classmethod
    def tearDownClass(cls):
        cls.prom.stop()
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    @classmethod
    def usage_from_upstream(cls):
        """What the mock reports as usage, asked directly (not via the gateway)."""
        auth = {"Authorization": "Bearer " + TEST_KEY}
        _, _, body = http_request(cls.mock.port, "POST", "/v1/chat/completions",
                                  {"model": "gpt-4o", "messages": MESSAGES}, auth)
        plain = json.loads(body)["usage"]
        _, _, body = http_request(cls.mock.port, "POST", "/v1/chat/completions",
                                  {"model": "gpt-4o", "messages": MESSAGES, "stream": True,
                                   "stream_options": {"include_usage": True}}, auth)
        streamed = json.loads(sse_events(body)[-2])["usage"]
        return plain, streamed

    @classmethod
    def count(cls, status, usage=None):
        cls.expected_status[status] = cls.expected_status.get(status, 0) + 1
        if usage:
            cls.expected_tokens["input"] += usage["prompt_tokens"]
            cls.expected_tokens["output"] += usage["completion_tokens"]
            # The parts each client saw (the mock's usage reports both, as 0).
            cls.expected_tokens["cached_input"] += usage["prompt_tokens_details"]["cached_tokens"]
            cls.expected_tokens["reasoning"] += usage["completion_tokens_details"]["reasoning_tokens"]

    @classmethod
    def send_traffic(cls):
        plain_usage, stream_usage = cls.usage_from_upstream()
        port = cls.gw.port
        for _ in range(N_PLAIN):
            s, _, _ = http_request(port, "POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES})
            assert s == 200, s
            cls.count("200", plain_usage)
        for i in range(N_STREAM_USAGE + N_STREAM_NO_USAGE):
            body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
            if i < N_STREAM_USAGE:
                body["stream_options"] = {"include_usage": True}
            s, _, payload = http_request(port, "POST", "/v1/chat/completions", body)
            assert s == 200 and sse_events(payload)[-1] == "[DONE]", (s, payload[-200:])
            cls.count("200", stream_usage)
        for _ in range(N_429):
            s, _, _ = http_request(port, "POST", "/v1/chat/completions", {"model": "error-429", "messages": MESSAGES})
            assert s == 429, s
            cls.count("429")
        s, _, _ = http_request(port, "POST", "/v1/chat/completions", {"model": ODD_MODEL, "messages": MESSAGES})
        assert s == 200, s
        cls.count("200", plain_usage)
        cls.total = sum(cls.expected_status.values())

    def poll(self, expr, expected, key, timeout=30):
        """Polls until `expr` gives `expected` ({label value of `key`: number}).
        Counters only grow, so a value past the expected one fails at once."""
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got = {labels.get(key, ""): value for labels, value in self.prom.query(expr)}
            if got == expected:
                return got
            for k, v in got.items():
                if k in expected and v > expected[k]:
                    self.fail("%s: %s=%r is past the expected %r" % (expr, k, v, expected[k]))
            time.sleep(0.2)
        self.fail("%s: expected %r, Prometheus has %r after %d s\n%s" % (expr, expected, got, timeout,
                                                                       self.prom.log_text()))

    def test_1_requests_total_by_status_code(self):
        self.poll("sum by (status_code) (ai_gateway_requests_total)",
                  {k: float(v) for k, v in self.expected_status.items()}, "status_code")

    def test_2_target_is_up_and_scrapes_cleanly(self):
        self.poll('up{job="gateway"}', {"": 1.0}, "")
        targets = get_json(self.prom.url + "/api/v1/targets")["data"]["activeTargets"]
        self.assertEqual(len(targets), 1)
        self.assertEqual(targets[0]["health"], "up", targets[0])
        self.assertEqual(targets[0]["lastError"], "")

    def test_3_requests_by_model_and_label_escaping(self):
        self.poll("sum by (status_code) (ai_gateway_requests_total)",
                  {k: float(v) for k, v in self.expected_status.items()}, "status_code")
        by_model = {labels["model"]: value for labels, value in
                    self.prom.query("sum by (model) (ai_gateway_requests_total)")}
        self.assertEqual(by_model, {"gpt-4o": float(N_PLAIN + N_STREAM_USAGE + N_STREAM_NO_USAGE),
                                    "error-429": float(N_429), ODD_MODEL: 1.0})
        providers = {labels["provider"] for labels, _ in self.prom.query("ai_gateway_requests_total")}
        self.assertEqual(providers, {"openai"})

    def test_4_token_counters(self):
        self.assertGreater(self.expected_tokens["input"], 0)
        self.poll("sum by (type) (ai_gateway_tokens_total)",
                  {k: float(v) for k, v in self.expected_tokens.items()}, "type")

    def test_5_histogram_counts(self):
        by_model = {"gpt-4o": float(N_PLAIN + N_STREAM_USAGE + N_STREAM_NO_USAGE), "error-429": float(N_429),
                    ODD_MODEL: 1.0}
        for name in ("ai_gateway_request_duration_seconds", "ai_gateway_ttfb_seconds",
                     "ai_gateway_provider_latency_seconds"):
            self.poll("sum by (model) (%s_count)" % name, by_model, "model")
            self.poll('sum by (model) (%s_bucket{le="+Inf"})' % name, by_model, "model")
            # Buckets are cumulative: never decreasing with le.
            buckets = self.prom.query('%s_bucket{model="gpt-4o"}' % name)
            ordered = sorted((float(labels["le"]), value) for labels, value in buckets)
            self.assertGreater(len(ordered), 2)
            values = [v for _, v in ordered]
            self.assertEqual(values, sorted(values), name)
            self.assertEqual(values[-1], by_model["gpt-4o"])
            # The sum is a positive number of seconds, well under the run time.
            (_, total), = self.prom.query('sum(%s_sum{model="gpt-4o"})' % name)
            self.assertGreater(total, 0)
            self.assertLess(total, 60)

    def test_6_errors_and_active_requests(self):
        self.poll("sum by (provider) (ai_gateway_errors_total)", {"openai": float(N_429)}, "provider")
        self.poll("ai_gateway_active_requests", {"": 0.0}, "")

    def test_7_promtool_accepts_the_exposition(self):
        status, headers, body = http_request(self.gw.port, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
        self.assertEqual(result.returncode, 0, (result.stdout + result.stderr).decode())
        self.assertEqual(result.stdout + result.stderr, b"", "promtool lint findings")
        # The escaped form of the odd model name is what the format requires.
        self.assertIn(b'model="odd \\"model\\"\\\\x\\ny"', body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
