"""docs/grafana-dashboard.json against the real gateway and a real Prometheus.

The gateway (console and prometheus exporters, METRICS_MAX_SERIES low enough
that a burst of model names overflows it) serves a mix of requests: priced,
unpriced, streamed, upstream 429s, with cached and reasoning tokens from the
mock. Debian's Prometheus scrapes it. Then every expression of every panel
and template variable must name only metric families the gateway's /metrics
has, with only labels those families carry, and each panel's expressions
(Grafana's variables filled in) must be valid PromQL that returns data.
"""
import json
import os
import re
import time
import unittest

import test_prometheus as prom
from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "grafana-dashboard.json")
MESSAGES = [{"role": "user", "content": "hi"}]
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What Grafana puts in place of its variables.
VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$provider": ".*", "$model": ".*"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
                "unless"}


def expressions(dashboard):
    """(where, expr) for every panel target and template variable query."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield "panel %r" % panel["title"], target["expr"]
    for var in dashboard["templating"]["list"]:
        yield "variable %r" % var["name"], var["definition"]


def families(metrics_text):
    """{family: set of label names} from the exposition text."""
    out = {}
    for line in metrics_text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out.setdefault(m.group(1), set())
            continue
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', line.split("}")[0])) if "{" in line else set()
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[:-len(suffix)] in out:
                name = name[:-len(suffix)]
        out.setdefault(name, set()).update(labels)
    return out


def family(name, fams):
    """A histogram's series name (NAME_bucket, _sum, _count) as its family's."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name not in fams and name.endswith(suffix) and name[:-len(suffix)] in fams:
            return name[:-len(suffix)]
    return name


def referenced(expr):
    """[(metric, labels named in its selector)] and the labels of by (...) clauses."""
    selectors = [(m.group(1), set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2) or "")))
                 for m in re.finditer(r"\b(ai_gateway_[a-z_]+)(\{[^}]*\})?", expr)]
    grouped = set()
    for clause in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        grouped.update(label.strip() for label in clause.split(",") if label.strip())
    # label_values(metric, label)
    for label in re.findall(r"label_values\([^,]+,\s*([a-zA-Z_]+)\)", expr):
        grouped.add(label)
    return selectors, grouped


class GrafanaDashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert prom.PROMETHEUS, "prometheus is not installed (scripts/install-deps.sh)"
        with open(DASHBOARD) as f:
            cls.dashboard = json.load(f)
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "OPENAI_API_KEY": TEST_KEY,
                          "ENABLED_EXPORTERS": "console,prometheus", "METRICS_MAX_SERIES": "12"})
        cls.prom = prom.PrometheusServer(cls.gw.port)
        port = cls.gw.port
        # gpt-4o first, so that its token types have their series before the flood.
        for body, want in (({"model": "gpt-4o"}, 200), ({"model": "gpt-4o", "stream": True}, 200),
                           ({"model": "error-429"}, 429), ({"model": "unpriced-model"}, 200)):
            status, _, _ = http_request(port, "POST", "/v1/chat/completions", dict(body, messages=MESSAGES))
            assert status == want, (body, status)
        for i in range(20):  # more model names than METRICS_MAX_SERIES: overflow
            http_request(port, "POST", "/v1/chat/completions", {"model": "flood-%d" % i, "messages": MESSAGES})

    @classmethod
    def tearDownClass(cls):
        cls.prom.stop()
        cls.gw.stop()
        cls.mock.stop()

    def metrics(self):
        status, _, body = http_request(self.gw.port, "GET", "/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def test_every_metric_and_label_is_exported(self):
        fams = wait_until("the overflow counter", lambda: (lambda f: f if "ai_gateway_metric_series_overflow_total"
                                                           in f else None)(families(self.metrics())))
        for where, expr in expressions(self.dashboard):
            selectors, grouped = referenced(expr)
            self.assertTrue(selectors, (where, expr))
            selectors = [(family(name, fams), labels) for name, labels in selectors]
            names = {name for name, _ in selectors}
            for name, labels in selectors:
                self.assertIn(name, fams, "%s: %s is not in /metrics" % (where, name))
                self.assertLessEqual(labels, fams[name], "%s: labels of %s" % (where, name))
            available = set().union(*(fams[n] for n in names))
            self.assertLessEqual(grouped - PROMQL_WORDS, available, "%s: %s" % (where, expr))

    def test_the_new_fields_have_panels(self):
        exprs = " ".join(e for _, e in expressions(self.dashboard))
        for needed in ("ai_gateway_cost_lookups_total", 'type=~"cached_input|cache_creation|reasoning"',
                       'type="cached_input"', "ai_gateway_metric_series_overflow_total"):
            self.assertIn(needed, exprs)

    def test_every_panel_query_is_valid_and_returns_data(self):
        def fill(expr):
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            return expr

        targets = [(where, fill(expr)) for where, expr in expressions(self.dashboard) if where.startswith("panel")]
        # Two scrapes after the traffic, so that rate() has two samples.
        time.sleep(2.5)
        for where, expr in targets:
            result = wait_until("%s: %s" % (where, expr), lambda: self.prom.query(expr), timeout=20)
            self.assertTrue(result, (where, expr))


if __name__ == "__main__":
    unittest.main(verbosity=2)
