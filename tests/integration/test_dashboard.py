"""The dashboard's page and JSON API (docs/dashboard.md) on the real binary:
every endpoint after real traffic through the gateway to the mock upstream,
bad parameters (400), unknown records (404), the admin key (401), the
settings that turn it off or bound it. The browser test is
dashboard_browser/ (test_dashboard_browser.py)."""
import json
import socket
import tempfile
import unittest
import urllib.parse

from harness import RUN_DIR, TEST_KEY, Gateway, MockUpstream, http_request, wait_until

MESSAGES = [{"role": "user", "content": "Hi"}]
AUTH = {"Authorization": "Bearer " + TEST_KEY}


def get(port, path, headers=None):
    status, hdrs, body = http_request(port, "GET", path, headers=headers)
    return status, hdrs, (json.loads(body) if hdrs.get("content-type", "").startswith("application/json") else body)


def chat(port, model, request_id, project=None, stream=False, headers=None):
    h = dict(AUTH, **{"x-request-id": request_id})
    if project:
        h["x-project-id"] = project
    h.update(headers or {})
    body = {"model": model, "messages": MESSAGES}
    if stream:
        body["stream"] = True
    return http_request(port, "POST", "/v1/chat/completions", body, h)


class DashboardApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        cls.gw = Gateway({"OPENAI_BASE_URL": cls.mock.url, "ENABLED_EXPORTERS": "console,prometheus"})
        port = cls.gw.port
        cls.sent = ["dash-a", "dash-b", "dash-c", "dash-stream", "dash-429"]
        for rid in cls.sent[:3]:
            assert chat(port, "gpt-4o", rid, project="proj-1")[0] == 200
        assert chat(port, "gpt-4o", "dash-stream", project="proj-2", stream=True)[0] == 200
        # A stream's record may be handed over after its client has the whole
        # answer: wait for it, so that the ring's order is the order sent.
        wait_until("4 recent records", lambda: len(get(port, "/ui/api/records")[2]["data"]) >= 4)
        assert chat(port, "error-429", "dash-429", project="proj-1")[0] == 429
        wait_until("5 recent records", lambda: len(get(port, "/ui/api/records")[2]["data"]) >= 5)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.mock.stop()

    def api(self, path, want=200):
        status, hdrs, body = get(self.gw.port, path)
        self.assertEqual(status, want, (path, body))
        self.assertEqual(hdrs.get("cache-control"), "no-store")
        return body

    def test_page_is_served_with_a_strict_policy(self):
        status, hdrs, body = http_request(self.gw.port, "GET", "/ui")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/html"))
        self.assertIn(b"<!doctype html>", body[:100])
        self.assertNotIn(b"https://", body, "no CDN: everything is inline")
        csp = hdrs["content-security-policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertEqual(http_request(self.gw.port, "GET", "/ui/")[0], 200)
        self.assertEqual(http_request(self.gw.port, "POST", "/ui", b"")[0], 405)
        self.assertEqual(http_request(self.gw.port, "GET", "/ui/other")[0], 404)

    def test_summary_counts_the_traffic(self):
        s = self.api("/ui/api/summary?window=5m")
        t = s["totals"]
        self.assertEqual((t["requests"], t["errors"]), (5, 1))
        self.assertAlmostEqual(t["error_rate"], 0.2)
        self.assertGreater(t["tokens"]["input"], 0)
        self.assertGreater(t["tokens"]["output"], 0)
        self.assertGreater(t["cost_usd"], 0)
        self.assertGreater(t["latency_ms"]["p50"], 0)
        self.assertGreaterEqual(t["latency_ms"]["p95"], t["latency_ms"]["p50"])
        self.assertIsNotNone(t["ttfb_ms"]["p50"])
        self.assertTrue(s["telemetry_on"])
        self.assertEqual(s["recent"]["capacity"], 1000)
        for window in ("1h", "24h"):
            self.assertEqual(self.api("/ui/api/summary?window=" + window)["totals"]["requests"], 5)

    def test_breakdown_by_each_dimension(self):
        rows = self.api("/ui/api/breakdown?dimension=model&sort=errors&window=5m")["data"]
        self.assertEqual(rows[0]["value"], "error-429")
        self.assertEqual(rows[0]["errors"], 1)
        by_model = {r["value"]: r for r in rows}
        self.assertEqual(by_model["gpt-4o"]["requests"], 4)
        projects = {r["value"]: r["requests"] for r in self.api("/ui/api/breakdown?dimension=project")["data"]}
        self.assertEqual(projects, {"proj-1": 4, "proj-2": 1})
        self.assertEqual([r["value"] for r in self.api("/ui/api/breakdown?dimension=provider")["data"]], ["openai"])
        self.assertEqual([r["value"] for r in self.api("/ui/api/breakdown?dimension=key")["data"]], [""])
        self.assertEqual(len(self.api("/ui/api/breakdown?dimension=user&window=24h")["data"]), 1)
        costs = [r["cost_usd"] for r in self.api("/ui/api/breakdown?dimension=model&sort=cost")["data"]]
        self.assertEqual(costs, sorted(costs, reverse=True))

    def test_timeseries(self):
        ts = self.api("/ui/api/timeseries?window=5m")
        self.assertEqual(ts["step_s"], 10)
        (series,) = ts["series"]
        self.assertEqual(len(series["points"]), 30)
        self.assertEqual(sum(p["requests"] for p in series["points"]), 5)
        times = [p["t_ms"] for p in series["points"]]
        self.assertEqual(times, sorted(times))
        by_model = self.api("/ui/api/timeseries?window=1h&dimension=model")
        self.assertEqual({s["value"] for s in by_model["series"]}, {"gpt-4o", "error-429"})
        one = self.api("/ui/api/timeseries?window=24h&dimension=project&value=proj-2")
        self.assertEqual(sum(p["requests"] for p in one["series"][0]["points"]), 1)
        self.api("/ui/api/timeseries?dimension=project&value=nope", 404)

    def test_records_paged_and_filtered(self):
        page = self.api("/ui/api/records?limit=2")
        self.assertEqual([r["id"] for r in page["data"]], ["dash-429", "dash-stream"])
        rest = self.api("/ui/api/records?limit=10&before=%d" % page["next_before"])
        self.assertEqual([r["id"] for r in rest["data"]], ["dash-c", "dash-b", "dash-a"])
        self.assertIsNone(rest["next_before"])
        errors = self.api("/ui/api/records?status=error")["data"]
        self.assertEqual([(r["id"], r["status_code"], r["error_type"]) for r in errors],
                         [("dash-429", 429, "upstream_http_error")])
        self.assertEqual(len(self.api("/ui/api/records?project=proj-2")["data"]), 1)
        self.assertEqual(len(self.api("/ui/api/records?model=gpt-4o&provider=openai")["data"]), 4)
        self.assertEqual(self.api("/ui/api/records?status=cancelled")["data"], [])
        newest = self.api("/ui/api/records?after=%d" % (page["last_seq"] - 1))["data"]
        self.assertEqual([r["id"] for r in newest], ["dash-429"])

    def test_one_record_with_bodies_and_chunks(self):
        rec = self.api("/ui/api/records/dash-stream")
        self.assertEqual(rec["summary"]["id"], "dash-stream")
        self.assertTrue(rec["summary"]["streamed"])
        attrs = rec["record"]["attributes"]
        self.assertEqual(attrs["request"]["messages"], MESSAGES)
        self.assertGreater(len(attrs["response"]["streamed_data"]), 3)
        self.assertIsNotNone(attrs["metadata"]["ttfb"])
        plain = self.api("/ui/api/records/dash-a")
        self.assertIn("choices", plain["record"]["attributes"]["response"])
        self.assertNotIn(TEST_KEY, json.dumps(plain))
        # The record view sends the text the console exporter wrote, byte for byte.
        lines = {}
        for line in wait_until("the console's records",
                               lambda: (lambda t: t if t.count("\n") >= 5 else None)(self.gw.stdout_text())).splitlines():
            lines[json.loads(line)["attributes"]["id"]] = line
        for rid in self.sent:
            status, _, raw = http_request(self.gw.port, "GET", "/ui/api/records/" + rid)
            self.assertEqual(status, 200)
            text = raw.decode()
            self.assertTrue(text.endswith(',"record":' + lines[rid] + "}"), rid)
        err = self.api("/ui/api/records/unknown-id", 404)
        self.assertIn("message", err["error"])
        self.api("/ui/api/records/" + urllib.parse.quote("dash-a", safe=""))

    def test_exporters_and_keys(self):
        ex = self.api("/ui/api/exporters")["exporters"]
        self.assertEqual(set(ex), {"console", "prometheus"})
        self.assertEqual(ex["console"]["state"], "healthy")
        self.assertEqual(ex["console"]["breaker"], "closed")
        self.assertIsNone(ex["prometheus"]["breaker"], "scraped: no breaker")
        self.assertIn("queue_depth", ex["console"])
        self.assertEqual(self.api("/ui/api/keys"), {"enabled": False})
        self.assertEqual(self.api("/ui/api/auth"), {"admin_key_required": False, "authorized": True})

    def test_bad_parameters_are_400_with_a_message(self):
        for path in ("/ui/api/summary?window=7d", "/ui/api/summary?window=5m&window=1h", "/ui/api/summary?x=1",
                     "/ui/api/summary?window=%zz", "/ui/api/breakdown", "/ui/api/breakdown?dimension=colour",
                     "/ui/api/breakdown?dimension=model&sort=latency", "/ui/api/breakdown?dimension=model&limit=0",
                     "/ui/api/timeseries?value=gpt-4o", "/ui/api/timeseries?dimension=planet",
                     "/ui/api/records?limit=100000", "/ui/api/records?limit=abc", "/ui/api/records?before=-1",
                     "/ui/api/records?status=great", "/ui/api/records/a%2", "/ui/api/keys?x=1",
                     "/ui/api/records/dash-a?x=1"):
            body = self.api(path, 400)
            self.assertTrue(body["error"]["message"], path)
        self.api("/ui/api/nothing", 404)
        status, _, _ = http_request(self.gw.port, "POST", "/ui/api/summary", b"{}")
        self.assertEqual(status, 405)

    def test_the_dashboard_makes_no_record(self):
        before = self.api("/ui/api/summary?window=5m")["totals"]["requests"]
        for _ in range(3):
            self.api("/ui/api/records")
        self.assertEqual(self.api("/ui/api/summary?window=5m")["totals"]["requests"], before)


class DashboardAdminKeyTest(unittest.TestCase):
    def test_the_api_needs_the_admin_key_and_shows_keys(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                      "GATEWAY_ADMIN_KEY": "adm-secret", "GATEWAY_STATE_DIR": tempfile.mkdtemp(prefix="gw-state-", dir=RUN_DIR)})
        self.addCleanup(gw.stop)
        port = gw.port
        self.assertEqual(http_request(port, "GET", "/ui")[0], 200, "the page itself asks for the key")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "adm-secret"},
                        {"Authorization": "Bearer adm-secret2"}):
            for path in ("/ui/api/summary", "/ui/api/records", "/ui/api/keys", "/ui/api/records/x", "/ui/api/exporters"):
                status, _, body = get(port, path, headers)
                self.assertEqual(status, 401, (path, headers))
                self.assertEqual(body["error"]["code"], "invalid_admin_key")
        self.assertEqual(get(port, "/ui/api/auth")[2], {"admin_key_required": True, "authorized": False})
        good = {"Authorization": "Bearer adm-secret"}
        self.assertEqual(get(port, "/ui/api/auth", good)[2], {"admin_key_required": True, "authorized": True})
        self.assertEqual(get(port, "/ui/api/summary", good)[0], 200)

        status, _, created = http_request(port, "POST", "/admin/keys",
                                          {"name": "team-a", "project_id": "proj-k", "budget": {"usd": 5, "period": "month"}},
                                          good)
        self.assertEqual(status, 201)
        key = json.loads(created)
        self.assertEqual(http_request(port, "PUT", "/admin/budgets/user/alice", {"usd": 2, "period": "day"}, good)[0], 200)
        status, _, _ = http_request(port, "POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MESSAGES},
                                    {"Authorization": "Bearer " + key["key"], "x-request-id": "keyed-1"})
        self.assertEqual(status, 200)

        def usage():
            k = get(port, "/ui/api/keys", good)[2]
            return k if k["keys"] and k["keys"][0]["usage"]["requests"] >= 1 else None
        keys = wait_until("the key's usage", usage)
        self.assertTrue(keys["enabled"])
        (k,) = keys["keys"]
        self.assertEqual((k["id"], k["name"], k["project_id"]), (key["id"], "team-a", "proj-k"))
        self.assertNotIn("key", k, "the secret is never shown again")
        self.assertNotIn(key["key"], json.dumps(keys))
        self.assertGreater(k["usage"]["spend_usd"], 0)
        self.assertEqual(k["usage"]["period"], "month")
        (b,) = keys["budgets"]
        self.assertEqual((b["scope"], b["id"], b["usd"], b["period"]), ("user", "alice", 2, "day"))
        rows = wait_until("the key in the rollups",
                          lambda: get(port, "/ui/api/breakdown?dimension=key", good)[2]["data"])
        self.assertEqual(rows[0]["value"], key["id"])
        rec = get(port, "/ui/api/records/keyed-1", good)[2]
        self.assertEqual(rec["summary"]["virtual_key_id"], key["id"])
        self.assertEqual(rec["summary"]["project_id"], "proj-k")


class DashboardSettingsTest(unittest.TestCase):
    def setUp(self):
        self.mock = MockUpstream()
        self.addCleanup(self.mock.stop)

    def gateway(self, **env):
        gw = Gateway(dict({"OPENAI_BASE_URL": self.mock.url}, **env))
        self.addCleanup(gw.stop)
        return gw

    def test_disabled(self):
        gw = self.gateway(DASHBOARD_ENABLED="false", ENABLED_EXPORTERS="console")
        for path in ("/ui", "/ui/api/summary", "/ui/api/auth"):
            status, _, body = http_request(gw.port, "GET", path)
            self.assertEqual(status, 404, path)
            self.assertIn(b"DASHBOARD_ENABLED=false", body)

    def test_telemetry_off_says_so(self):
        gw = self.gateway(ENABLED_EXPORTERS="none")
        self.assertEqual(chat(gw.port, "gpt-4o", "off-1")[0], 200)
        s = get(gw.port, "/ui/api/summary")[2]
        self.assertFalse(s["telemetry_on"])
        self.assertEqual(s["totals"]["requests"], 0)

    def test_ring_is_bounded_and_summary_only_without_record_exporters(self):
        gw = self.gateway(DASHBOARD_RECENT_RECORDS="3", ENABLED_EXPORTERS="prometheus")
        for i in range(5):
            self.assertEqual(chat(gw.port, "gpt-4o", "ring-%d" % i)[0], 200)
        wait_until("5 requests rolled up",
                   lambda: get(gw.port, "/ui/api/summary?window=5m")[2]["totals"]["requests"] == 5)
        recs = get(gw.port, "/ui/api/records?limit=10")[2]
        self.assertEqual([r["id"] for r in recs["data"]], ["ring-4", "ring-3", "ring-2"])
        self.assertEqual(recs["capacity"], 3)
        one = get(gw.port, "/ui/api/records/ring-4")[2]
        self.assertIsNone(one["record"], "no exporter receives records: no record JSON is built")
        self.assertFalse(one["summary"]["has_record"])
        self.assertEqual(get(gw.port, "/ui/api/records/ring-0")[0], 404)

    def test_exporters_show_an_open_breaker(self):
        with socket.socket() as dead:
            dead.bind(("127.0.0.1", 0))
            dead_port = dead.getsockname()[1]  # nothing listens there once closed
        gw = self.gateway(ENABLED_EXPORTERS="elasticsearch", ELASTICSEARCH_URL="http://127.0.0.1:%d" % dead_port,
                          TELEMETRY_FLUSH_INTERVAL_MS="20", TELEMETRY_MAX_RETRIES="0",
                          TELEMETRY_RETRY_INITIAL_MS="10", TELEMETRY_BREAKER_FAILURES="1",
                          TELEMETRY_BREAKER_OPEN_MS="60000")
        self.assertEqual(chat(gw.port, "gpt-4o", "breaker-1")[0], 200)
        ex = wait_until("the breaker open",
                        lambda: (lambda e: e if e["breaker"] == "open" else None)(
                            get(gw.port, "/ui/api/exporters")[2]["exporters"]["elasticsearch"]))
        self.assertEqual(ex["state"], "down")

    def test_bad_settings_stop_start_up(self):
        for env in ({"DASHBOARD_RECENT_RECORDS": "-1"}, {"DASHBOARD_ENABLED": "maybe"}, {"DASHBOARD_MAX_VALUES": "0"},
                    {"DASHBOARD_RECENT_MAX_BYTES": "12"}):
            gw = Gateway(dict({"OPENAI_BASE_URL": self.mock.url}, **env), expect_start=False)
            self.assertNotEqual(gw.proc.wait(timeout=20), 0, env)
            gw.stop()
            self.assertIn(list(env)[0].encode(), gw.stderr_seen)


if __name__ == "__main__":
    unittest.main(verbosity=2)
