"""The dashboard in a real browser: Debian's chromium, headless, driven by
puppeteer-core (installed from npm into the build tree on first run) with
dashboard_browser/dashboard_check.mjs against the real binary and the mock
upstream. Screenshots of each view are left in GW_BROWSER_WORK_DIR/screenshots
(the build tree under CTest)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import HERE, RUN_DIR, TEST_KEY, Gateway, MockUpstream, http_request

SCRIPT_DIR = os.path.join(HERE, "dashboard_browser")
CHROMIUM = os.environ.get("GW_CHROMIUM", "/usr/bin/chromium")
ADMIN_KEY = "adm-browser-secret"


class DashboardBrowserTest(unittest.TestCase):
    def test_dashboard_in_chromium(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK), "chromium is missing: scripts/install-deps.sh installs it")
        work = os.environ.get("GW_BROWSER_WORK_DIR") or os.path.join(tempfile.gettempdir(), "gw-dashboard-browser")
        os.makedirs(work, exist_ok=True)
        for f in ("package.json", "dashboard_check.mjs"):
            shutil.copy(os.path.join(SCRIPT_DIR, f), work)
        if not os.path.isdir(os.path.join(work, "node_modules", "puppeteer-core")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True, timeout=300)
        shots = os.path.join(work, "screenshots")
        shutil.rmtree(shots, ignore_errors=True)

        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                      "GATEWAY_ADMIN_KEY": ADMIN_KEY, "GATEWAY_STATE_DIR": tempfile.mkdtemp(prefix="gw-state-", dir=RUN_DIR)})
        self.addCleanup(gw.stop)
        admin = {"Authorization": "Bearer " + ADMIN_KEY}
        status, _, _ = http_request(gw.port, "POST", "/admin/keys",
                                    {"name": "team-browser", "budget": {"usd": 10, "period": "month"}}, admin)
        self.assertEqual(status, 201)
        self.assertEqual(http_request(gw.port, "PUT", "/admin/budgets/user/alice", {"usd": 1, "period": "day"}, admin)[0], 200)

        cfg = {"gateway": "http://127.0.0.1:%d" % gw.port, "adminKey": ADMIN_KEY, "providerKey": TEST_KEY,
               "chromium": CHROMIUM, "shots": shots}
        r = subprocess.run(["node", "dashboard_check.mjs", json.dumps(cfg)], cwd=work, capture_output=True, timeout=240)
        out, err = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 0, out + err)
        self.assertEqual(out.strip().splitlines()[-1], "OK")
        for name in ("login", "overview-empty", "overview", "breakdown", "tail", "tail-filtered", "record",
                     "record-stream", "exporters", "keys", "api-slow", "api-down"):
            self.assertGreater(os.path.getsize(os.path.join(shots, name + ".png")), 1000, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
