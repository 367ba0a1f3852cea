"""Custom providers from the config file's `providers:` list through the real
binary (docs/configuration.md, "Custom providers"): two openai_compatible
providers and one anthropic provider pointing at the mock upstream, each
selected by x-provider and by its model prefix (one of them also as
DEFAULT_PROVIDER, set in the same file); the configured headers and the
key named by api_key_env reach the upstream, the key never reaches a
record, a log line or a client; records name the custom provider and are
priced under its pricing name. Every kind of bad entry stops start-up with
exit status 2 and one line naming the field."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import GATEWAY_BIN, HERE, Gateway, MockUpstream, http_request

PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))
LLAMA_KEY = "sk-team-llama-SECRET-7c1d9e5a3b"
# A credential the operator configures as a header (`headers:`), not as the key.
TEAM_HEADER_SECRET = "tk-team-header-SECRET-4f2a9c"
CLAUDE_KEY = "sk-ant-team-SECRET-4f2a8c6e0d"
CHAT = {"messages": [{"role": "user", "content": "Hi"}]}


def write_config(text):
    f = tempfile.NamedTemporaryFile("w", prefix="gw-config-", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def chat(model):
    return dict(CHAT, model=model)


class CustomProvidersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        base = "http://127.0.0.1:%d" % cls.mock.port
        # port: 1 is overridden by the harness's PORT=0: the environment still
        # wins over the file's scalar keys next to the providers list.
        cls.config = write_config("""
port: 1
default_provider: team-llama
providers:
  - name: team-llama
    type: openai_compatible
    base_url: %(base)s/team-llama/v1
    api_key_env: TEAM_LLAMA_KEY
    headers: {X-Team: research, x-budget: "42", x-team-api-key: "%(team_secret)s"}
  - name: fast-llama
    type: openai_compatible
    base_url: %(base)s/fast-llama/v1
    pricing_provider: groq
  - name: team-claude
    type: anthropic
    base_url: %(base)s
    api_key_env: TEAM_CLAUDE_KEY
    headers:
      x-tenant: claude-team
""" % {"base": base, "team_secret": TEAM_HEADER_SECRET})
        cls.gw = Gateway({"ENABLED_EXPORTERS": "console", "TEAM_LLAMA_KEY": LLAMA_KEY, "TEAM_CLAUDE_KEY": CLAUDE_KEY,
                          "LOG_LEVEL": "debug"},
                         args=["--config", cls.config])

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        os.unlink(cls.config)
        assert code == 0, code

    def send(self, rid, body, headers=None):
        """Sends one chat request; returns its status, body, and what the mock
        received for it: found by its x-request-id, which the gateway forwards
        to OpenAI-compatible upstreams; for the anthropic type (which forwards
        no client header) the Messages request the mock received last."""
        h = {"x-request-id": rid}
        h.update(headers or {})
        before = len(self.mock.events())
        status, _, payload = http_request(self.gw.port, "POST", "/v1/chat/completions", body, h)
        sent = None
        for e in self.mock.events()[before:]:
            if e.get("event") == "request" and (e["headers"].get("x-request-id") == rid or e["path"] == "/v1/messages"):
                sent = e
        return status, payload, sent

    def record(self, rid):
        deadline = time.time() + 10
        while time.time() < deadline:
            text = self.gw.stdout_text()
            for line in text[:text.rfind("\n") + 1].splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if rec["attributes"]["id"] == rid:
                        return rec
            time.sleep(0.02)
        raise AssertionError("no record %r" % rid)

    def test_openai_compatible_by_header_and_prefix_with_its_key_and_headers(self):
        for how in ("header", "prefix"):
            with self.subTest(by=how):
                rid = "llama-" + how
                headers = {"x-provider": "team-llama"} if how == "header" else {}
                model = "meta-llama/Llama-3" if how == "header" else "team-llama/meta-llama/Llama-3"
                status, body, sent = self.send(rid, chat(model), dict(headers, **{"x-team": "from-the-client"}))
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["object"], "chat.completion")
                self.assertEqual(sent["path"], "/team-llama/v1/chat/completions")
                self.assertEqual(sent["headers"]["authorization"], "Bearer " + LLAMA_KEY)
                self.assertEqual(sent["headers"]["x-team"], "research", "the operator's value replaces the client's")
                self.assertEqual(sent["headers"]["x-budget"], "42")
                self.assertEqual(json.loads(sent["body"])["model"], "meta-llama/Llama-3")
                rec = self.record(rid)
                self.assertEqual(rec["attributes"]["provider"], "team-llama")
                self.assertEqual(rec["attributes"]["model"], "meta-llama/Llama-3")

    def test_default_provider_from_the_same_file(self):
        status, body, sent = self.send("llama-default", chat("some-model"))
        self.assertEqual(status, 200, body)
        self.assertEqual(sent["path"], "/team-llama/v1/chat/completions")
        self.assertEqual(self.record("llama-default")["attributes"]["provider"], "team-llama")

    def test_a_provider_without_api_key_env_sends_the_clients_key_or_none(self):
        status, body, sent = self.send("fast-nokey", chat("fast-llama/llama-3.1-8b-instant"))
        self.assertEqual(status, 200, body)
        self.assertEqual(sent["path"], "/fast-llama/v1/chat/completions")
        self.assertNotIn("authorization", sent["headers"])
        self.assertNotIn("x-team", sent["headers"], "headers belong to the provider that configures them")
        status, body, sent = self.send("fast-clientkey", chat("m"),
                                       {"x-provider": "fast-llama", "Authorization": "Bearer sk-client-own"})
        self.assertEqual(status, 200, body)
        self.assertEqual(sent["headers"]["authorization"], "Bearer sk-client-own")

    def test_pricing_provider_prices_the_record_as_that_provider(self):
        """fast-llama sets pricing_provider: groq: a Groq model it serves gets
        Groq's price (the table lists it as groq/llama-3.1-8b-instant only)."""
        self.send("fast-priced", chat("fast-llama/llama-3.1-8b-instant"))
        rec = self.record("fast-priced")
        m = rec["attributes"]["metadata"]
        self.assertEqual(rec["attributes"]["provider"], "fast-llama")
        self.assertEqual(m["tokens"]["input"], 16)
        self.assertEqual(m["tokens"]["output"], 363)
        entry = PRICES["groq/llama-3.1-8b-instant"]
        self.assertAlmostEqual(m["cost"], 16 * entry["input_cost_per_token"] + 363 * entry["output_cost_per_token"],
                               delta=1e-15)
        # team-llama keeps its type's pricing name (openai): the table has no
        # OpenAI llama-3.1-8b-instant, so the record is priced as the model
        # the answer names (the recorded OpenAI transcript's), not as Groq's.
        self.send("llama-openai-priced", chat("team-llama/llama-3.1-8b-instant"))
        answered = PRICES["gpt-4.1-nano-2025-04-14"]
        self.assertAlmostEqual(self.record("llama-openai-priced")["attributes"]["metadata"]["cost"],
                               16 * answered["input_cost_per_token"] + 363 * answered["output_cost_per_token"],
                               delta=1e-15)

    def test_anthropic_type_by_header_and_prefix(self):
        for how in ("header", "prefix"):
            with self.subTest(by=how):
                rid = "claude-" + how
                headers = {"x-provider": "team-claude"} if how == "header" else {}
                model = "claude-sonnet-4-5" if how == "header" else "team-claude/claude-sonnet-4-5"
                status, body, sent = self.send(rid, chat(model), headers)
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["object"], "chat.completion", "translated from the Messages API")
                self.assertEqual(sent["path"], "/v1/messages")
                self.assertEqual(sent["headers"]["x-api-key"], CLAUDE_KEY)
                self.assertEqual(sent["headers"]["anthropic-version"], "2023-06-01")
                self.assertEqual(sent["headers"]["x-tenant"], "claude-team")
                self.assertNotIn("authorization", sent["headers"])
                self.assertEqual(json.loads(sent["body"])["model"], "claude-sonnet-4-5")
                rec = self.record(rid)
                self.assertEqual(rec["attributes"]["provider"], "team-claude")
                self.assertIsNotNone(rec["attributes"]["metadata"]["cost"], "priced as anthropic")

    def test_an_echoed_key_never_reaches_the_client(self):
        status, body, sent = self.send("llama-echo", chat("echo"), {"x-provider": "team-llama"})
        self.assertEqual(status, 200, body)
        self.assertEqual(sent["headers"]["authorization"], "Bearer " + LLAMA_KEY)
        self.assertEqual(sent["headers"]["x-team-api-key"], TEAM_HEADER_SECRET)
        self.assertNotIn(LLAMA_KEY.encode(), body)
        self.assertNotIn(TEAM_HEADER_SECRET.encode(), body, "a configured credential header is masked too")
        self.assertIn(b"research", body, "other configured headers are not credentials: left as they are")
        self.assertNotIn(TEAM_HEADER_SECRET, json.dumps(self.record("llama-echo")))

    def test_unknown_provider_lists_the_custom_ones(self):
        status, _, body = http_request(self.gw.port, "POST", "/v1/chat/completions", chat("m"),
                                       {"x-provider": "nosuch"})
        self.assertEqual(status, 400)
        message = json.loads(body)["error"]["message"]
        for name in ("team-llama", "fast-llama", "team-claude", "openai"):
            self.assertIn(name, message)

    def test_zz_keys_are_never_in_a_record_or_a_log_line(self):
        # Runs last (zz): after every other request has made its record and log lines.
        self.send("llama-last", chat("m"), {"x-provider": "team-llama"})
        self.record("llama-last")
        out = self.gw.stdout_text()
        for key in (LLAMA_KEY, CLAUDE_KEY, TEAM_HEADER_SECRET):
            self.assertNotIn(key, out)
            self.assertNotIn(key.encode(), self.gw.stderr_seen)

    def test_help_is_the_same_with_custom_providers(self):
        plain = subprocess.run([GATEWAY_BIN, "--help"], capture_output=True, timeout=20)
        configured = subprocess.run([GATEWAY_BIN, "--config", self.config, "--help"], capture_output=True,
                                    timeout=20)
        self.assertEqual(plain.returncode, 0)
        self.assertEqual(configured.stdout, plain.stdout)
        self.assertNotIn(b"team-llama", configured.stdout)


KNOWN_TYPES = "(known: anthropic, azure, bedrock, gemini, openai_compatible)"
ENTRY = "{name: a, type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'%s}"

# (config file text, expected stderr line after "configuration error: ").
BAD_FILES = [
    ("providers: [{name: a, type: azure_openai, base_url: 'http://h'}]",
     "providers[0].type: unknown type 'azure_openai' " + KNOWN_TYPES),
    ("providers: [{name: a, type: openai_compatible}]", "providers[0].base_url: missing"),
    ("providers: [{name: a, type: anthropic, base_url: 'ftp://h'}]",
     "providers[0].base_url: scheme must be http or https"),
    ("providers: [{type: openai_compatible, base_url: 'http://h'}]", "providers[0].name: missing"),
    ("providers: [{name: Team/Llama, type: openai_compatible, base_url: 'http://h'}]",
     "providers[0].name: 'Team/Llama' is not a provider name: it must be lower case (a-z, 0-9, '-', '_', '.'), "
     "at most 64 characters"),
    ("providers: [{name: groq, type: openai_compatible, base_url: 'http://h'}]",
     "providers[0].name: 'groq' is a built-in provider: a custom provider needs a name of its own"),
    ("providers: [" + ENTRY % "" + ", " + ENTRY % "" + "]", "providers[1].name: 'a' is already the name of providers[0]"),
    ("providers: [" + ENTRY % ", api_key_env: NOT_SET_ANYWHERE" + "]",
     "providers[0].api_key_env: NOT_SET_ANYWHERE is not set"),
    ("providers: [{name: a, type: bedrock, base_url: 'http://h', api_key_env: SOME_KEY}]",
     "providers[0].api_key_env: not used by type bedrock, which signs with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ("providers: [team-llama]",
     "providers[0]: must be a mapping (name, type, base_url, api_key_env, headers, pricing_provider)"),
    ("providers: [" + ENTRY % ", api_kye_env: K" + "]",
     "providers[0].api_kye_env: unknown key (known: name, type, base_url, api_key_env, headers, pricing_provider)"),
    ("providers: [" + ENTRY % ", headers: [x-team]" + "]",
     "providers[0].headers: must be a mapping of header names to strings"),
    ("providers: [" + ENTRY % ", headers: {x-team: {a: b}}" + "]", "providers[0].headers.x-team: must be a string"),
    ("providers: [" + ENTRY % ", headers: {Authorization: 'Bearer sk-in-file'}" + "]",
     "providers[0].headers.Authorization: the gateway or the provider sets this header itself (credentials, "
     "framing or content negotiation): it cannot be configured"),
    ("providers: [" + ENTRY % ", headers: {x-a: \"v\\r\\nx-injected: 1\"}" + "]",
     "providers[0].headers.x-a: the value holds a control character (such as CR, LF or NUL)"),
    ("providers: [" + ENTRY % ", pricing_provider: Groq" + "]",
     "providers[0].pricing_provider: 'Groq' is not a LiteLLM provider name: it must be lower case (a-z, 0-9, '-', "
     "'_', '.'), at most 64 characters"),
    ("providers: {name: a}", "providers: must be a list of providers"),
]


class BadProvidersTest(unittest.TestCase):
    def test_each_bad_entry_stops_start_up_with_one_line_naming_its_field(self):
        for text, line in BAD_FILES:
            with self.subTest(line=line):
                path = write_config(text)
                self.addCleanup(os.unlink, path)
                gw = Gateway({"SOME_KEY": "sk-some-value-1234"}, args=["--config", path], expect_start=False)
                self.assertEqual(gw.proc.wait(10), 2)
                gw.stop()
                lines = [l for l in gw.stderr_seen.decode().splitlines() if l.strip()]
                self.assertEqual(lines, ["magicapi-gateway: configuration error: " + line])
                self.assertNotIn("sk-some-value-1234", gw.stderr_seen.decode())
                self.assertNotIn("sk-in-file", gw.stderr_seen.decode(), "a header's value is never shown")

    def test_default_provider_naming_an_unknown_custom_one(self):
        path = write_config("default_provider: team-llamma\nproviders: [" + ENTRY % "" + "]")
        self.addCleanup(os.unlink, path)
        gw = Gateway(args=["--config", path], expect_start=False)
        self.assertEqual(gw.proc.wait(10), 2)
        gw.stop()
        self.assertIn(b"DEFAULT_PROVIDER: unknown provider 'team-llamma'", gw.stderr_seen)


if __name__ == "__main__":
    unittest.main()
