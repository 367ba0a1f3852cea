"""The official Anthropic TypeScript SDK against the real binary's native
Messages API (installed from npm into the build tree on first run). The
gateway writes its records with the console exporter: those of the billed
calls must hold the usage the SDK saw (cache reads and writes included),
and its cost."""
import json
import os
import shutil
import subprocess
import unittest

from harness import HERE, TEST_KEY, Gateway, MockUpstream
from test_records import Records, cache_price

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
                      "ANTHROPIC_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                      "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
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

        # The records of messages.create, messages.stream and messages.create
        # with stream: true hold the usage the SDK saw, priced as the model it names.
        records = Records(gw)
        for rid, key in (("sdk-create", "nonstream_usage"), ("sdk-stream", "stream_usage"),
                         ("sdk-create-stream", "create_stream_usage")):
            usage, model = out[key]["usage"], out[key]["model"]
            (rec,) = records.wait_for(rid)
            m = rec["attributes"]["metadata"]
            read, write = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
            inputs = usage["input_tokens"] + read + write
            self.assertEqual(m["tokens"], {"input": inputs, "output": usage["output_tokens"],
                                           "total": inputs + usage["output_tokens"], "cached_input": read,
                                           "cache_creation": write,
                                           "reasoning": (usage.get("output_tokens_details") or {}).get(
                                               "thinking_tokens")}, rid)
            self.assertAlmostEqual(m["cost"], cache_price(model, usage["input_tokens"], read, write,
                                                          usage["output_tokens"]), places=15, msg=rid)
            self.assertEqual((m["status"], m["path"]), ("success", "/v1/messages"), rid)
        # The stream's cumulative counts, not message_start's: the recorded transcript's last values.
        self.assertEqual(out["stream_usage"]["usage"]["cache_read_input_tokens"], 6289)
        self.assertEqual(out["create_stream_usage"]["usage"], out["stream_usage"]["usage"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
