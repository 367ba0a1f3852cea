"""No secret ever leaves the gateway: a broad mix of traffic (every provider,
errors, streams, bad keys, keys in bodies and headers, AWS credentials in the
environment and in headers, gateway keys, exporter passwords), with debug
logging and the console and file exporters, then a scan of everything the
gateway wrote or answered: stdout, stderr, the file exporter's output, the
spool directory and every HTTP response (head and body) a client received.
"""
import glob
import json
import os
import secrets as pyrandom
import shutil
import socket
import tempfile
import time
import unittest

from harness import Gateway, MockUpstream, http_request


def canary(prefix):
    """A secret with a random core: the core alone is searched for too, so a
    secret cut short or re-encoded around its edges is still caught."""
    core = "CANARY" + pyrandom.token_hex(8).upper()
    return prefix + core, core


SECRETS = {name: canary(prefix) for name, prefix in {
    "openai_env": "sk-proj-", "anthropic_env": "sk-ant-api03-", "groq_env": "gsk_", "fireworks_env": "fw_",
    "together_env": "tgp_v1_", "aws_secret_env": "wJalrXUtnFEMI/K7MDENG/", "aws_token_env": "FwoGZXIvYXdzE/",
    "client_bearer": "sk-client-", "client_x_api_key": "sk-ant-client-", "aws_secret_hdr": "hdrSecret/+",
    "aws_token_hdr": "IQoJb3JpZ2luX2VjE/", "body_api_key": "sk-body-", "body_apiKey": "sk-nested-",
    "body_aws_secret": "bodyAwsSecret/", "body_aws_token": "bodyAwsToken/", "body_authorization": "Bearer sk-bodyauth-",
    "body_x_api_key": "sk-bodyx-", "broken_json_key": "sk-broken-", "form_body_key": "sk-form-", "gateway_key_1": "gk-live-",
    "gateway_key_2": "gk-live-two-", "gateway_key_wrong": "gk-wrong-", "es_password": "es-pw-", "pg_password": "pgpw",
    "dd_api_key": "dd",
}.items()}


def secret(name):
    return SECRETS[name][0]


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


class SecretsScanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()
        cls.responses = []  # (what, bytes) of everything the clients received
        cls.outputs = []  # (what, path) of every file the gateways wrote
        cls.texts = []  # (what, bytes) stdout/stderr

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def start(self, extra_env):
        tmp = tempfile.mkdtemp(prefix="gw-secrets-")
        self.addCleanup(shutil.rmtree, tmp, True)
        spool = os.path.join(tmp, "spool")
        records = os.path.join(tmp, "records.jsonl")
        base = "http://127.0.0.1:%d" % self.mock.port
        env = {"LOG_LEVEL": "debug", "ENABLED_EXPORTERS": "console,file", "FILE_EXPORTER_PATH": records,
               "FILE_EXPORTER_MAX_BYTES": "200000", "TELEMETRY_SPOOL_DIR": spool,
               "TELEMETRY_FLUSH_INTERVAL_MS": "50",
               "OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": secret("openai_env"),
               "GROQ_BASE_URL": self.mock.url, "GROQ_API_KEY": secret("groq_env"),
               "FIREWORKS_BASE_URL": self.mock.url, "FIREWORKS_API_KEY": secret("fireworks_env"),
               "TOGETHER_BASE_URL": self.mock.url, "TOGETHER_API_KEY": secret("together_env"),
               "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": secret("anthropic_env"),
               "BEDROCK_BASE_URL": base, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_REGION": "us-east-1",
               "AWS_SECRET_ACCESS_KEY": secret("aws_secret_env"), "AWS_SESSION_TOKEN": secret("aws_token_env"),
               "UPSTREAM_TIMEOUT_MS": "3000", "MAX_REQUEST_BODY_BYTES": "100000"}
        env.update(extra_env)
        gw = Gateway(env)
        return gw, tmp

    def collect(self, gw, tmp, label):
        code = gw.stop()
        self.texts.append((label + " stdout", gw.stdout_text().encode()))
        self.texts.append((label + " stderr", gw.stderr_seen))
        for root, _, files in os.walk(tmp):
            for f in files:
                self.outputs.append((label, os.path.join(root, f)))
        return code

    def call(self, gw, label, body, headers=None, path="/v1/chat/completions", method="POST", base_headers=None):
        h = dict(base_headers or {})
        h.update(headers or {})
        try:
            status, hdrs, payload = http_request(gw.port, method, path, body, h)
        except OSError as e:  # e.g. a 413 that closed the connection while we sent
            self.responses.append((label, str(e).encode()))
            return None
        self.responses.append((label, json.dumps(hdrs).encode() + b"\n" + payload))
        return status

    def raw_call(self, gw, label, raw):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        s.sendall(raw)
        data = b""
        s.settimeout(5)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        self.responses.append((label, data))

    def traffic(self, gw, base_headers):
        """Every provider, errors, streams, bad keys and keys where they do not belong."""
        c = lambda label, body, headers=None, **kw: self.call(gw, label, body, headers, base_headers=base_headers, **kw)
        hi = [{"role": "user", "content": "Hi"}]
        bearer = {"Authorization": "Bearer " + secret("client_bearer")}
        body_keys = {"api_key": secret("body_api_key"), "metadata": {"nested": [{"apiKey": secret("body_apiKey")}]},
                     "AWS_Secret_Access_Key": secret("body_aws_secret"), "aws_session_token": secret("body_aws_token"),
                     "Authorization": secret("body_authorization"), "x-api-key": secret("body_x_api_key")}
        aws_hdrs = {"x-aws-access-key-id": "AKIDCLIENT", "x-aws-secret-access-key": secret("aws_secret_hdr"),
                    "x-aws-session-token": secret("aws_token_hdr"), "x-aws-region": "eu-west-1"}
        statuses = {}
        for stream in (False, True):
            s = "-stream" if stream else ""
            statuses["openai" + s] = c("openai" + s, {"model": "gpt-4o", "messages": hi, "stream": stream})
            statuses["openai-bearer" + s] = c("openai-bearer" + s, dict({"model": "gpt-4o", "messages": hi,
                                                                         "stream": stream}, **body_keys), bearer)
            for p in ("groq", "fireworks", "together"):
                statuses[p + s] = c(p + s, {"model": p + "/some-model", "messages": hi, "stream": stream})
            statuses["anthropic" + s] = c("anthropic" + s, dict({"model": "claude-sonnet-4-5", "messages": hi,
                                                                 "stream": stream}, **body_keys),
                                          {"x-provider": "anthropic"})
            statuses["anthropic-client-key" + s] = c("anthropic-client-key" + s,
                                                     {"model": "claude-sonnet-4-5", "messages": hi, "stream": stream},
                                                     {"x-provider": "anthropic", "x-api-key": secret("client_x_api_key"),
                                                      "Authorization": "Bearer " + secret("client_x_api_key")})
            statuses["bedrock" + s] = c("bedrock" + s, {"model": "anthropic.claude-3-haiku-20240307-v1:0",
                                                        "messages": hi, "stream": stream}, {"x-provider": "bedrock"})
            statuses["bedrock-client" + s] = c("bedrock-client" + s, dict({"model": "m", "messages": hi,
                                                                           "stream": stream}, **body_keys),
                                               dict(aws_hdrs, **{"x-provider": "bedrock"}))
            statuses["429" + s] = c("429" + s, dict({"model": "error-429", "stream": stream}, **body_keys), bearer)
            statuses["reset-mid" + s] = c("reset-mid" + s, {"model": "reset-mid-stream", "stream": stream}, bearer)
        statuses["anthropic-error"] = c("anthropic-error", {"model": "anthropic-error", "messages": hi},
                                        {"x-provider": "anthropic"})
        statuses["bedrock-bad-region"] = c("bedrock-bad-region", {"model": "m", "messages": hi},
                                           dict(aws_hdrs, **{"x-provider": "bedrock", "x-aws-region": "evil.com/x"}))
        statuses["bedrock-half-creds"] = c("bedrock-half-creds", {"model": "m", "messages": hi},
                                           {"x-provider": "bedrock", "x-aws-access-key-id": "AKIDHALF",
                                            "x-aws-session-token": secret("aws_token_hdr")})
        statuses["reset-headers"] = c("reset-headers", {"model": "reset-headers"}, bearer)
        statuses["unknown-provider"] = c("unknown-provider", body_keys, dict(bearer, **{"x-provider": "nosuch"}))
        statuses["bad-json"] = c("bad-json", ('{"api_key": "%s", "model":' % secret("broken_json_key")).encode(), bearer)
        statuses["not-json"] = c("not-json", ("api_key=%s&x=1" % secret("form_body_key")).encode(), bearer)
        statuses["too-large"] = c("too-large", {"api_key": secret("body_api_key"), "pad": "x" * 200000}, bearer)
        statuses["models"] = c("models", None, bearer, path="/v1/models", method="GET")
        statuses["embeddings"] = c("embeddings", dict({"model": "text-embedding-3-small", "input": "x"}, **body_keys),
                                   bearer, path="/v1/embeddings")
        statuses["health"] = c("health", None, bearer, path="/health", method="GET")
        statuses["bad-gateway-key"] = c("bad-gateway-key", {"model": "gpt-4o", "messages": hi},
                                        {"x-gateway-key": secret("gateway_key_wrong")})
        # A client that goes away mid-request, and malformed HTTP carrying keys.
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        body = json.dumps({"model": "slow-stream", "stream": True, "api_key": secret("body_api_key")}).encode()
        extra = "".join("%s: %s\r\n" % kv for kv in dict(base_headers or {}, **bearer).items()).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s"
                  % (extra, len(body), body))
        s.recv(1024)
        s.close()
        self.raw_call(gw, "malformed-http", b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: zz\r\n\r\n" % secret("client_bearer").encode())
        return statuses

    def test_no_secret_anywhere(self):
        # Gateway A: default capture, plus exporters whose (dead) backends
        # have passwords, so that records are spooled and errors logged.
        gw, tmp = self.start({
            "ENABLED_EXPORTERS": "console,file,elasticsearch,postgres,datadog",
            "ELASTICSEARCH_URL": "http://127.0.0.1:%d" % dead_port(), "ELASTICSEARCH_USERNAME": "elastic",
            "ELASTICSEARCH_PASSWORD": secret("es_password"),
            "POSTGRES_URL": "postgresql://gw:%s@127.0.0.1:%d/postgres" % (secret("pg_password"), dead_port()),
            "DD_API_KEY": secret("dd_api_key"), "DD_URL": "http://127.0.0.1:%d" % dead_port(),
            "DD_LOGS_URL": "http://127.0.0.1:%d" % dead_port(),
            "TELEMETRY_MAX_RETRIES": "1", "TELEMETRY_RETRY_INITIAL_MS": "10", "TELEMETRY_RETRY_MAX_MS": "20",
            "TELEMETRY_BREAKER_FAILURES": "1", "SHUTDOWN_GRACE_MS": "3000"})
        statuses = self.traffic(gw, {})
        self.assertEqual(statuses["openai"], 200)
        self.assertEqual(statuses["anthropic-stream"], 200)
        self.assertEqual(statuses["bedrock-stream"], 200)
        self.assertEqual(statuses["bedrock-client"], 200)
        self.assertEqual(statuses["429"], 429)
        self.assertEqual(statuses["bad-json"], 400)
        # Wait until the dead exporters have spooled something, so the spool
        # is really part of the scan.
        deadline = time.time() + 20
        while True:
            health = json.loads(http_request(gw.port, "GET", "/health")[2])["exporters"]
            if all(health[n]["spooled"] > 0 for n in ("elasticsearch", "postgres", "datadog")):
                break
            self.assertLess(time.time(), deadline, health)
            time.sleep(0.05)
        self.assertEqual(self.collect(gw, tmp, "A"), 0)
        spooled = [p for _, p in self.outputs if os.sep + "spool" + os.sep in p]
        self.assertTrue(spooled, "nothing was spooled: the spool was not exercised")

        # Gateway B: gateway keys required and tiny body caps (previews of
        # truncated and unparsable bodies are scrubbed textually).
        gw, tmp = self.start({"GATEWAY_API_KEYS": secret("gateway_key_1") + "," + secret("gateway_key_2"),
                              "TELEMETRY_MAX_BODY_BYTES": "48"})
        statuses = self.traffic(gw, {"x-gateway-key": secret("gateway_key_2")})
        self.assertEqual(statuses["openai"], 200)
        self.assertEqual(statuses["bad-gateway-key"], 401)
        self.assertEqual(self.collect(gw, tmp, "B"), 0)

        # Both gateways wrote records to the file exporter and the console.
        files = [p for _, p in self.outputs if os.path.basename(p).startswith("records.jsonl")]
        self.assertGreaterEqual(len(files), 2)
        self.assertGreater(sum(t.count(b'"ai_gateway_request_log"') for w, t in self.texts if "stdout" in w), 60)
        # Bodies with secrets were recorded, with the secrets redacted.
        self.assertIn(b"\"[REDACTED]\"", dict(self.texts)["A stdout"])
        # The dead backends' failures were logged (and are scanned below).
        self.assertTrue(any(b"Connection refused" in t for w, t in self.texts if w == "A stderr"))

        haystacks = list(self.texts) + [("response " + w, b) for w, b in self.responses]
        for label, path in self.outputs:
            with open(path, "rb") as f:
                haystacks.append(("%s file %s" % (label, path), f.read()))
        leaks = []
        for name, (value, core) in SECRETS.items():
            needles = {value.encode(), core.encode(), json.dumps(value)[1:-1].encode()}
            for where, data in haystacks:
                if any(n in data for n in needles):
                    leaks.append("%s in %s" % (name, where))
        self.assertEqual(leaks, [], "secrets leaked")


if __name__ == "__main__":
    unittest.main(verbosity=2)
