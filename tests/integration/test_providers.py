"""Anthropic and Bedrock through the real binary, with OpenAI-SDK-shaped requests."""
import json
import unittest

from harness import TEST_KEY, Gateway, MockUpstream, http_request, sse_events

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-SECRET"
AWS_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN-SECRET"


class ProvidersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        base = "http://127.0.0.1:%d" % cls.mock.port
        cls.gw = Gateway({"ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": TEST_KEY,
                          "BEDROCK_BASE_URL": base, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                          "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_SESSION_TOKEN": AWS_TOKEN,
                          "AWS_REGION": "us-east-1", "ENABLED_EXPORTERS": "console"})

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0
        out = cls.gw.stderr_seen.decode("utf-8", "replace") + cls.gw.stdout_text()
        for secret in (TEST_KEY, AWS_SECRET, AWS_TOKEN):
            assert secret not in out, "a secret leaked into the gateway's output"

    def chat(self, provider, body, headers=None):
        h = {"x-provider": provider}
        h.update(headers or {})
        return http_request(self.gw.port, "POST", "/v1/chat/completions", body, h)

    def test_anthropic_non_streaming(self):
        s, h, b = self.chat("anthropic", {"model": "claude-sonnet-4-5", "max_tokens": 100,
                                          "messages": [{"role": "system", "content": "Be brief."},
                                                       {"role": "user", "content": "Hi"}]})
        self.assertEqual(s, 200, b)
        doc = json.loads(b)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertEqual(doc["choices"][0]["message"]["role"], "assistant")
        self.assertTrue(doc["choices"][0]["message"]["content"])
        self.assertIn(doc["choices"][0]["finish_reason"], ("stop", "length", "tool_calls"))
        self.assertGreater(doc["usage"]["total_tokens"], 0)
        sent = [e for e in self.mock.events() if e.get("path") == "/v1/messages"][-1]
        body = json.loads(sent["body"])
        self.assertEqual(body["system"], "Be brief.")
        self.assertEqual(sent["headers"]["x-api-key"], TEST_KEY)
        self.assertNotIn("authorization", sent["headers"])

    def test_anthropic_streaming(self):
        s, h, b = self.chat("anthropic", {"model": "claude-sonnet-4-5", "stream": True,
                                          "stream_options": {"include_usage": True},
                                          "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(s, 200)
        self.assertTrue(h["content-type"].startswith("text/event-stream"))
        events = sse_events(b)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        self.assertTrue(text)
        self.assertTrue(any(c.get("usage") for c in chunks))

    def test_anthropic_error_is_openai_shaped(self):
        s, h, b = self.chat("anthropic", {"model": "anthropic-error", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(s, 400)
        err = json.loads(b)["error"]
        self.assertIn("acceptance-mock says", err["message"])
        self.assertEqual(err["type"], "invalid_request_error")

    def test_bedrock_non_streaming_is_signed(self):
        s, h, b = self.chat("bedrock", {"model": "anthropic.claude-3-haiku-20240307-v1:0",
                                        "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(s, 200, b)
        doc = json.loads(b)
        self.assertIn("strawberry", doc["choices"][0]["message"]["content"])
        sent = [e for e in self.mock.events() if e.get("path", "").startswith("/model/")][-1]
        self.assertEqual(sent["path"], "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
        self.assertIn("Credential=AKIDEXAMPLE/", sent["headers"]["authorization"])
        self.assertEqual(sent["headers"]["x-amz-security-token"], AWS_TOKEN)

    def test_bedrock_streaming_frames_split_across_reads(self):
        s, h, b = self.chat("bedrock", {"model": "anthropic.claude-3-haiku-20240307-v1:0", "stream": True,
                                        "messages": [{"role": "user", "content": "Hi"}]})
        self.assertEqual(s, 200)
        events = sse_events(b)
        self.assertEqual(events[-1], "[DONE]")
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in events[:-1] if json.loads(e)["choices"])
        self.assertIn("strawberry", text)

    def test_bedrock_rejects_a_hostile_region(self):
        s, h, b = self.chat("bedrock", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                            {"x-aws-region": "evil.com/x"})
        self.assertEqual(s, 400)
        self.assertNotIn("evil", json.loads(b)["error"]["message"].lower().replace("x-aws-region", ""))

    def test_bedrock_client_credentials_win(self):
        s, h, b = self.chat("bedrock", {"model": "m", "messages": [{"role": "user", "content": "x"}]},
                            {"x-aws-access-key-id": "AKIDCLIENT", "x-aws-secret-access-key": "client-secret-SECRET",
                             "x-aws-region": "eu-west-1"})
        self.assertEqual(s, 200, b)
        sent = [e for e in self.mock.events() if e.get("path", "").startswith("/model/")][-1]
        self.assertIn("Credential=AKIDCLIENT/", sent["headers"]["authorization"])
        self.assertIn("/eu-west-1/bedrock/", sent["headers"]["authorization"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
