"""The official OpenAI Node SDK against the real binary (installed from npm
into the build tree on first run). The gateway writes its records with the
console exporter: those of the Responses API calls must hold the usage the
SDK saw, and its cost."""
import json
import os
import shutil
import subprocess
import unittest

from harness import HERE, TEST_KEY, Gateway, MockUpstream
from test_records import PRICES, Records

SDK_DIR = os.environ.get("GW_SDK_DIR", os.path.join(HERE, "openai_sdk"))


class OpenAiSdkTest(unittest.TestCase):
    def test_sdk_end_to_end(self):
        work = os.environ.get("GW_SDK_WORK_DIR") or os.path.join(os.environ.get("TMPDIR", "/tmp"), "gw-openai-sdk")
        os.makedirs(work, exist_ok=True)
        for f in ("package.json", "sdk_check.mjs"):
            shutil.copy(os.path.join(SDK_DIR, f), work)
        if not os.path.isdir(os.path.join(work, "node_modules", "openai")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True,
                           timeout=300)
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "ANTHROPIC_BASE_URL": "http://127.0.0.1:%d" % mock.port,
                      "ANTHROPIC_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                      "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        self.addCleanup(gw.stop)
        r = subprocess.run(["node", "sdk_check.mjs", str(gw.port)], cwd=work, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = json.loads(r.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(out["nonstream"], {"content": True, "total": 379})
        self.assertGreater(out["stream"]["chunks"], 10)
        self.assertGreater(out["stream"]["length"], 100)
        self.assertIsNone(out["stream"]["usage"], "the usage chunk the gateway asked for is not shown")
        self.assertEqual(out["stream_usage"], 316)
        self.assertGreater(out["anthropic"]["length"], 0)
        self.assertGreater(out["anthropic"]["total"], 0)
        self.assertEqual(out["error"], {"status": 429, "code": "rate_limit_exceeded", "request_id": True})
        self.assertEqual(out["midstream"], "APIError")
        self.assertEqual(out["models"], 1)
        responses, responses_stream = dict(out["responses"]), dict(out["responses_stream"])
        seen = {"sdk-responses": (responses.pop("usage"), responses.pop("model")),
                "sdk-responses-stream": (responses_stream.pop("usage"), responses_stream.pop("model"))}
        self.assertEqual(responses, {"text": "OK", "input": 12, "output": 2})
        self.assertEqual(responses_stream, {"events": 9, "first": "response.created",
                                            "last": "response.completed", "text": "OK", "total": 14})
        records = Records(gw)
        for rid, (usage, model) in seen.items():
            (rec,) = records.wait_for(rid)
            m = rec["attributes"]["metadata"]
            cached = usage["input_tokens_details"]["cached_tokens"]
            self.assertEqual(m["tokens"], {"input": usage["input_tokens"], "output": usage["output_tokens"],
                                           "total": usage["total_tokens"], "cached_input": cached,
                                           "cache_creation": None,
                                           "reasoning": usage["output_tokens_details"]["reasoning_tokens"]}, rid)
            price = PRICES[model]
            self.assertAlmostEqual(m["cost"], (usage["input_tokens"] - cached) * price["input_cost_per_token"]
                                   + cached * price.get("cache_read_input_token_cost", 0)
                                   + usage["output_tokens"] * price["output_cost_per_token"], places=15, msg=rid)
            self.assertEqual((m["status"], m["path"]), ("success", "/v1/responses"), rid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
