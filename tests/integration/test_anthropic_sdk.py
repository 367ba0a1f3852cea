"""The official Anthropic TypeScript SDK against the real binary's native
Messages API (installed from npm into the build tree on first run)."""
import json
import os
import shutil
import subprocess
import unittest

from harness import HERE, TEST_KEY, Gateway, MockUpstream

SDK_DIR = os.path.join(HERE, "anthropic_sdk")


class AnthropicSdkTest(unittest.TestCase):
    def test_sdk_end_to_end(self):
        work = os.environ.get("GW_SDK_WORK_DIR") or os.path.join(os.environ.get("TMPDIR", "/tmp"), "gw-anthropic-sdk")
        os.makedirs(work, exist_ok=True)
        for f in ("package.json", "sdk_check.mjs"):
            shutil.copy(os.path.join(SDK_DIR, f), work)
        if not os.path.isdir(os.path.join(work, "node_modules", "@anthropic-ai", "sdk")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True,
                           timeout=300)
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        # DEFAULT_PROVIDER stays openai: a Messages request still goes to anthropic.
        gw = Gateway({"ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % mock.port, "OPENAI_BASE_URL": mock.url,
                      "ANTHROPIC_API_KEY": TEST_KEY})
        self.addCleanup(gw.stop)
        r = subprocess.run(["node", "sdk_check.mjs", str(gw.port)], cwd=work, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = json.loads(r.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(out["nonstream"], {"text": "OK", "input": 13, "output": 4,
                                            "id": "msg_011CdJQWZEDL9DigznyuKLcx"})
        self.assertEqual(out["stream"]["events"], 43, "every event of the recorded stream (the SDK skips the ping)")
        self.assertEqual((out["stream"]["first"], out["stream"]["last"]), ("message_start", "message_stop"))
        self.assertEqual(out["stream"]["blocks"], 5)
        self.assertEqual(out["stream"]["text"], "The sum of the squares of the numbers 1 through 12 is **650**.")
        self.assertEqual(out["stream"]["usage"], {"input": 6, "output": 198, "cache_read": 6289,
                                                  "cache_creation": 3337})
        self.assertGreater(out["raw_stream"], 10)
        self.assertEqual(out["count"], 42)
        self.assertTrue(out["beta"])
        self.assertEqual(out["upstream_error"], {"status": 529, "type": "overloaded_error",
                                                 "request_id": "req_overloaded_1"})
        self.assertEqual(out["gateway_error"], {"status": 400, "class": "BadRequestError",
                                                "type": "invalid_request_error",
                                                "message": "max_tokens: Field required (an integer)"})
        self.assertEqual(out["midstream"]["type"], "api_error")
        # The SDK's key reached the upstream; the operator's was not used.
        keys = {e["headers"].get("x-api-key") for e in mock.events() if e.get("event") == "request"}
        self.assertEqual(keys, {"sk-ant-sdk-test"})
        paths = {e["path"] for e in mock.events() if e.get("event") == "request"}
        self.assertIn("/v1/messages/count_tokens", paths)


if __name__ == "__main__":
    unittest.main(verbosity=2)
