"""End-to-end delivery through the real binary: the file exporter, and the
postgres exporter against a real PostgreSQL server -- across a graceful
restart, and across a kill -9 while the database was down (records in the
spool are delivered after the restart: nothing lost, nothing twice).

The PostgreSQL server is the gw_postgres CTest fixture's (its libpq URL is in
$GW_PG_STATE_DIR/url, like the postgres exporter's own tests); run alone, the
test starts a private one with scripts/services/postgres.sh, and fails
when PostgreSQL is not installed (scripts/install-deps.sh installs it).
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import HERE, TEST_KEY, Gateway, MockUpstream, http_request, wait_until

PG_SCRIPT = os.path.join(HERE, "..", "..", "scripts", "services", "postgres.sh")
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}




def traffic(port, prefix, n):
    """n requests of different kinds (success, stream, gateway error, upstream
    error), each with its own x-request-id; returns the ids."""
    ids = []
    kinds = [CHAT, dict(CHAT, stream=True), b"{broken", {"model": "error-429"}]
    for i in range(n):
        rid = "%s-%03d" % (prefix, i)
        status, h, _ = http_request(port, "POST", "/v1/chat/completions", kinds[i % len(kinds)], {"x-request-id": rid})
        assert h.get("x-request-id") == rid
        ids.append(rid)
    return ids


def health(gw, exporter):
    status, _, body = http_request(gw.port, "GET", "/health")
    doc = json.loads(body)
    return status, doc, doc["exporters"][exporter]


class FileDeliveryTest(unittest.TestCase):
    def test_n_requests_make_n_lines_with_n_distinct_ids(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        tmp = tempfile.mkdtemp(prefix="gw-delivery-file-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "records.jsonl")
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "file",
                      "FILE_EXPORTER_PATH": path, "TELEMETRY_FLUSH_INTERVAL_MS": "50", "TELEMETRY_BATCH_SIZE": "7",
                      "TELEMETRY_SPOOL_DIR": os.path.join(tmp, "spool")})
        self.addCleanup(gw.stop)
        n = 40
        sent = traffic(gw.port, "file", n)

        def read():
            if not os.path.exists(path):
                return b""
            with open(path, "rb") as f:
                return f.read()

        def complete_lines():
            # A read racing the exporter's write() can see part of a batch
            # (Linux makes a regular-file write visible page by page): count
            # only the lines already complete.
            data = read()
            return data[:data.rfind(b"\n") + 1].splitlines()

        wait_until("%d lines" % n, lambda: len(complete_lines()) >= n)
        self.assertEqual(gw.stop(), 0)
        data = read()
        self.assertTrue(data.endswith(b"\n"), "once the writer is done, the file holds no half line")
        ids = [json.loads(line)["attributes"]["id"] for line in data.splitlines()]
        self.assertEqual(len(ids), n, "exactly N lines, also after the shutdown flush")
        self.assertEqual(sorted(ids), sorted(sent))
        self.assertEqual(len(set(ids)), n)


class PostgresServer:
    """The fixture's server, or a private one."""

    def __init__(self):
        self.owned = False
        self.state = os.environ.get("GW_PG_STATE_DIR", "")
        if not (self.state and os.path.exists(os.path.join(self.state, "url"))):
            if not shutil.which("psql"):
                raise AssertionError("psql not installed (scripts/install-deps.sh installs postgresql)")
            self.state = tempfile.mkdtemp(prefix="gw-delivery-pg-")
            r = subprocess.run(["bash", PG_SCRIPT, "start", self.state], capture_output=True, timeout=120)
            if r.returncode != 0:
                shutil.rmtree(self.state, True)
                raise AssertionError("cannot start PostgreSQL: %s" % r.stderr.decode()[-500:])
            self.owned = True
        with open(os.path.join(self.state, "url")) as f:
            self.url = f.read().strip()
        self.paused = False

    def service(self, action):
        subprocess.run(["bash", PG_SCRIPT, action, self.state], check=True, capture_output=True, timeout=120)
        self.paused = action == "pause"

    def close(self):
        if self.paused:
            self.service("resume")  # the fixture's server is shared: leave it running
        if self.owned:
            subprocess.run(["bash", PG_SCRIPT, "stop", self.state], capture_output=True, timeout=60)
            shutil.rmtree(self.state, True)

    def query(self, sql):
        r = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c", sql],
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode())
        return r.stdout.decode().splitlines()


class PostgresDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PostgresServer()
        cls.mock = MockUpstream()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()
        cls.pg.close()

    def setUp(self):
        self.table = "itest_delivery_" + uuid.uuid4().hex[:12]
        self.tmp = tempfile.mkdtemp(prefix="gw-delivery-pg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.drop_table)

    def drop_table(self):
        if not self.pg.paused:
            self.pg.query("DROP TABLE IF EXISTS %s" % self.table)

    def gateway(self, **extra):
        env = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "postgres",
               "POSTGRES_URL": self.pg.url, "POSTGRES_TABLE": self.table, "POSTGRES_CONNECT_TIMEOUT_MS": "2000",
               "TELEMETRY_SPOOL_DIR": os.path.join(self.tmp, "spool"), "TELEMETRY_FLUSH_INTERVAL_MS": "50",
               "TELEMETRY_BATCH_SIZE": "8", "TELEMETRY_MAX_RETRIES": "2", "TELEMETRY_RETRY_INITIAL_MS": "20",
               "TELEMETRY_RETRY_MAX_MS": "100", "TELEMETRY_BREAKER_FAILURES": "3",
               "TELEMETRY_BREAKER_OPEN_MS": "300"}
        env.update(extra)
        gw = Gateway(env)
        self.addCleanup(gw.stop, signal.SIGKILL)
        return gw

    def ids_in_table(self):
        try:
            return self.pg.query("SELECT request_id FROM %s ORDER BY request_id" % self.table)
        except RuntimeError as e:
            if "does not exist" in str(e):
                return []
            raise

    def wait_for_rows(self, expected_ids, timeout=30):
        expected = sorted(expected_ids)
        wait_until("%d rows" % len(expected), lambda: len(self.ids_in_table()) >= len(expected), timeout)
        self.assertEqual(self.ids_in_table(), expected, "exactly the requests sent: nothing lost, nothing twice")

    def test_n_requests_n_rows_across_a_graceful_restart(self):
        n = 20
        gw = self.gateway()
        sent = traffic(gw.port, "pg-a", n)
        self.wait_for_rows(sent)
        row = self.pg.query("SELECT provider, model, status, status_code, input_tokens, output_tokens, "
                            "total_tokens, cost > 0, latency >= 0, log_data->'attributes'->>'id' "
                            "FROM %s WHERE request_id = 'pg-a-000'" % self.table)
        self.assertEqual(row, ["openai|gpt-4o|success|200|16|363|379|t|t|pg-a-000"])
        row = self.pg.query("SELECT provider IS NULL, status, status_code FROM %s WHERE request_id = 'pg-a-002'"
                            % self.table)
        self.assertEqual(row, ["t|error|400"])
        self.assertEqual(gw.stop(), 0)

        gw = self.gateway()
        sent += traffic(gw.port, "pg-b", n)
        self.wait_for_rows(sent)
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(len(self.ids_in_table()), 2 * n)

    def test_kill_dash_nine_while_database_down_loses_nothing(self):
        n_before, n_down = 8, 16
        gw = self.gateway(TELEMETRY_SPOOL_FSYNC="always")
        sent = traffic(gw.port, "k9-a", n_before)
        self.wait_for_rows(sent)
        _, _, h = health(gw, "postgres")
        self.assertEqual((h["state"], h["spooled"]), ("healthy", 0))

        self.pg.service("pause")
        sent += traffic(gw.port, "k9-b", n_down)
        # The records wait in the spool; /health says so, and the gateway
        # itself is still healthy.
        status, doc, h = wait_until("%d spooled records" % n_down,
                                    lambda: (lambda r: r if r[2]["spooled"] == n_down else None)(health(gw, "postgres")))
        self.assertEqual(status, 200)
        self.assertEqual(doc["status"], "healthy")
        self.assertIn(h["state"], ("degraded", "down"))
        self.assertEqual(h["dropped"], 0)
        spool_files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(self.tmp, "spool")) for f in fs]
        self.assertTrue(any(os.path.getsize(p) > 0 for p in spool_files), spool_files)

        gw.stop(signal.SIGKILL)
        self.pg.service("resume")
        self.assertEqual(len(self.ids_in_table()), n_before, "nothing was delivered while the database was down")

        gw = self.gateway(TELEMETRY_SPOOL_FSYNC="always")  # the same spool directory
        self.wait_for_rows(sent)
        _, _, h = wait_until("an empty spool", lambda: (lambda r: r if r[2]["spooled"] == 0 else None)(
            health(gw, "postgres")))
        self.assertEqual(h["dropped"], 0)
        # New traffic still flows, and nothing is delivered a second time.
        sent += traffic(gw.port, "k9-c", 4)
        self.wait_for_rows(sent)
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(self.ids_in_table(), sorted(sent))

    def test_health_while_backend_down_at_start(self):
        """(d) The exporter is degraded/down while its backend is down, counts
        what waits in the spool, and recovers when the backend comes back."""
        self.pg.service("pause")
        gw = self.gateway()
        sent = traffic(gw.port, "hd", 6)
        status, doc, h = wait_until("6 spooled records",
                                    lambda: (lambda r: r if r[2]["spooled"] == 6 else None)(health(gw, "postgres")))
        self.assertEqual(status, 200)
        self.assertIn(h["state"], ("degraded", "down"))
        self.pg.service("resume")
        self.wait_for_rows(sent)
        _, _, h = wait_until("healthy again", lambda: (lambda r: r if r[2]["state"] == "healthy" else None)(
            health(gw, "postgres")))
        self.assertEqual((h["spooled"], h["dropped"]), (0, 0))
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
