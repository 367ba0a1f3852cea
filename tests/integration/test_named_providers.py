"""The named OpenAI-compatible providers (mistral, deepseek, xai, openrouter,
cerebras, perplexity, ollama, vllm) through the real binary: each selected by
x-provider and by its model prefix, sent to its own base URL with its own
key, and vllm refused with a clear error until VLLM_BASE_URL is set."""
import json
import unittest

from harness import Gateway, MockUpstream, http_request

NAMED = ["mistral", "deepseek", "xai", "openrouter", "cerebras", "perplexity", "ollama"]
NEEDS_KEY = ["mistral", "deepseek", "xai", "openrouter", "cerebras", "perplexity"]


def key_of(name):
    return "sk-%s-0123456789abcdef" % name


class NamedProvidersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        base = "http://127.0.0.1:%d" % cls.mock.port
        env = {"ENABLED_EXPORTERS": "none"}
        for name in NAMED:
            env[name.upper() + "_BASE_URL"] = "%s/%s/v1" % (base, name)
            env[name.upper() + "_API_KEY"] = key_of(name)
        cls.gw = Gateway(env)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0

    def last_request(self):
        return [e for e in self.mock.events() if e.get("path", "").endswith("/chat/completions")][-1]

    def test_each_is_selected_by_header_and_prefix_with_its_own_url_and_key(self):
        for name in NAMED:
            for how in ("header", "prefix"):
                with self.subTest(provider=name, by=how):
                    headers = {"x-provider": name} if how == "header" else {}
                    model = "some-model" if how == "header" else name + "/some-model"
                    s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions",
                                           {"model": model, "messages": [{"role": "user", "content": "Hi"}]},
                                           headers)
                    self.assertEqual(s, 200, b)
                    self.assertEqual(json.loads(b)["object"], "chat.completion")
                    sent = self.last_request()
                    self.assertEqual(sent["path"], "/%s/v1/chat/completions" % name)
                    self.assertEqual(sent["headers"]["authorization"], "Bearer " + key_of(name))
                    self.assertEqual(json.loads(sent["body"])["model"], "some-model")

    def test_hosted_ones_need_a_key_local_ones_do_not(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        env = {"ENABLED_EXPORTERS": "none"}
        for name in NAMED:
            env[name.upper() + "_BASE_URL"] = "http://127.0.0.1:%d/%s/v1" % (mock.port, name)
        gw = Gateway(env)
        self.addCleanup(gw.stop)
        for name in NAMED:
            with self.subTest(provider=name):
                s, _, b = http_request(gw.port, "POST", "/v1/chat/completions",
                                       {"model": "m", "messages": [{"role": "user", "content": "Hi"}]},
                                       {"x-provider": name})
                if name in NEEDS_KEY:
                    self.assertEqual(s, 401, b)
                    self.assertEqual(json.loads(b)["error"]["code"], "missing_api_key")
                    self.assertIn(name.upper() + "_API_KEY", json.loads(b)["error"]["message"])
                else:
                    self.assertEqual(s, 200, b)

    def test_vllm_without_its_base_url_is_a_clear_400(self):
        for headers, model in (({"x-provider": "vllm"}, "m"), ({}, "vllm/m")):
            s, _, b = http_request(self.gw.port, "POST", "/v1/chat/completions",
                                   {"model": model, "messages": [{"role": "user", "content": "Hi"}]}, headers)
            self.assertEqual(s, 400, b)
            err = json.loads(b)["error"]
            self.assertEqual(err["code"], "provider_not_configured")
            self.assertEqual(err["message"], "Provider 'vllm' is not configured: set VLLM_BASE_URL")

    def test_vllm_as_default_provider_without_its_base_url_stops_start_up(self):
        gw = Gateway({"DEFAULT_PROVIDER": "vllm"}, expect_start=False)
        self.assertEqual(gw.proc.wait(10), 2)
        gw.stop()
        self.assertIn(b"DEFAULT_PROVIDER: provider 'vllm' is not configured: set VLLM_BASE_URL", gw.stderr_seen)


class VllmConfiguredTest(unittest.TestCase):
    def test_vllm_serves_once_its_base_url_is_set(self):
        mock = MockUpstream()
        gw = Gateway({"VLLM_BASE_URL": "http://127.0.0.1:%d/v1" % mock.port, "ENABLED_EXPORTERS": "none"})
        try:
            s, _, b = http_request(gw.port, "POST", "/v1/chat/completions",
                                   {"model": "vllm/meta-llama/Llama-3.1-8B-Instruct",
                                    "messages": [{"role": "user", "content": "Hi"}]})
            self.assertEqual(s, 200, b)
            sent = [e for e in mock.events() if e.get("path") == "/v1/chat/completions"][-1]
            self.assertEqual(json.loads(sent["body"])["model"], "meta-llama/Llama-3.1-8B-Instruct")
            self.assertNotIn("authorization", sent["headers"], "no key configured, none sent")
        finally:
            self.assertEqual(gw.stop(), 0)
            mock.stop()


if __name__ == "__main__":
    unittest.main()
