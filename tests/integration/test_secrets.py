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

from harness import TEST_KEY, Gateway, MockUpstream, http_request, wait_until


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
    # Gateway C (upstreams and exporter backends that fail or echo keys).
    "c_openai_env": "sk-proj-c-", "c_anthropic_env": "sk-ant-c-", "c_groq_env": "gsk_c_", "c_fireworks_env": "fw_c_",
    "c_together_env": "tgp_c_", "c_aws_secret_env": "cAwsSecret/", "c_aws_token_env": "cFwoGZXIvYXdzE/",
    "c_client_bearer": "sk-c-client-", "c_aws_token_hdr": "cIQoJb3JpZ2luX2VjE/", "c_es_api_key": "c-es-apikey-",
    "c_dd_api_key": "cdd", "c_nr_license": "c-nr-lic-", "c_otlp_token": "c-otlp-", "c_gemini_env": "AIzaSyC-",
}.items()}


def secret(name):
    return SECRETS[name][0]


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


class EchoingBackend:
    """An HTTP server that answers every request with 401 and a body echoing
    the credentials it was sent (the worst case for an upstream or an
    exporter backend): request line first, then every credential-like header."""

    CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "dd-api-key",
                          "x-amz-security-token")

    def __init__(self):
        import socketserver
        import threading
        self.seen = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    while True:
                        line = self.rfile.readline()
                        if not line:
                            return
                        head = [line]
                        length = 0
                        chunked = False
                        while True:
                            h = self.rfile.readline()
                            if h in (b"\r\n", b"\n", b""):
                                break
                            head.append(h)
                            k, _, v = h.decode("latin-1").partition(":")
                            if k.strip().lower() == "content-length":
                                length = int(v.strip())
                            if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
                                chunked = True
                        if chunked:
                            while True:
                                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                                self.rfile.read(size + 2) if size else self.rfile.readline()
                                if not size:
                                    break
                        elif length:
                            self.rfile.read(length)
                        outer.seen.append(b"".join(head))
                        creds = [h.split(b":", 1)[1].strip() for h in head[1:]
                                 if h.split(b":", 1)[0].strip().lower().decode("latin-1") in outer.CREDENTIAL_HEADERS]
                        msg = b"Unauthorized. You sent: " + b" | ".join(creds)
                        body = json.dumps({"error": {"message": msg.decode("latin-1"), "type": "auth",
                                                     "code": "invalid_api_key"},
                                           "message": msg.decode("latin-1")}).encode()
                        self.wfile.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                        self.wfile.flush()
                except (OSError, ValueError):
                    return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class PlainGreeter:
    """Writes a plain HTTP response as soon as a connection opens: a TLS
    client gets "wrong version number" at once."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            c.close()

    def stop(self):
        self.sock.close()


class SecretsScanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockUpstream()

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

    def setUp(self):
        # Per test: each test scans what its own gateways wrote and answered.
        self.responses = []  # (what, bytes) of everything the clients received
        self.outputs = []  # (what, path, bytes) of every file the gateways wrote
        self.texts = []  # (what, bytes) stdout/stderr

    def collect(self, gw, tmp, label):
        code = gw.stop()
        self.texts.append((label + " stdout", gw.stdout_text().encode()))
        self.texts.append((label + " stderr", gw.stderr_seen))
        for root, _, files in os.walk(tmp):
            for f in files:
                path = os.path.join(root, f)
                with open(path, "rb") as fh:  # now: the directory goes at the end of the test
                    self.outputs.append((label, path, fh.read()))
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
        spooled = [p for _, p, _ in self.outputs if os.sep + "spool" + os.sep in p]
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
        files = [p for _, p, _ in self.outputs if os.path.basename(p).startswith("records.jsonl")]
        self.assertGreaterEqual(len(files), 2)
        self.assertGreater(sum(t.count(b'"ai_gateway_request_log"') for w, t in self.texts if "stdout" in w), 60)
        # Bodies with secrets were recorded, with the secrets redacted.
        self.assertIn(b"\"[REDACTED]\"", dict(self.texts)["A stdout"])
        # The dead backends' failures were logged (and are scanned below).
        self.assertTrue(any(b"Connection refused" in t for w, t in self.texts if w == "A stderr"))

        haystacks = list(self.texts) + [("response " + w, b) for w, b in self.responses]
        for label, path, data in self.outputs:
            haystacks.append(("%s file %s" % (label, path), data))
        self.assertNoSecretIn(haystacks)

    def assertNoSecretIn(self, haystacks):
        leaks = []
        for name, (value, core) in SECRETS.items():
            needles = {value.encode(), core.encode(), json.dumps(value)[1:-1].encode()}
            for where, data in haystacks:
                if any(n in data for n in needles):
                    leaks.append("%s in %s" % (name, where))
        self.assertEqual(leaks, [], "secrets leaked")

    def gateway_c(self, hostile, exporters):
        """Gateway C: every provider's upstream fails in its own way or echoes
        the credentials it was sent; exporters (when given) send to `hostile`."""
        tls_on_plain = PlainGreeter()  # answers a TLS hello in plain HTTP: the handshake fails
        self.addCleanup(tls_on_plain.stop)
        base = "http://127.0.0.1:%d" % hostile.port
        env = {"LOG_LEVEL": "debug", "ENABLED_EXPORTERS": exporters,
               "OPENAI_BASE_URL": base + "/v1", "OPENAI_API_KEY": secret("c_openai_env"),
               "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": secret("c_anthropic_env"),
               "GEMINI_BASE_URL": base, "GEMINI_API_KEY": secret("c_gemini_env"),
               "BEDROCK_BASE_URL": base, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_REGION": "us-east-1",
               "AWS_SECRET_ACCESS_KEY": secret("c_aws_secret_env"), "AWS_SESSION_TOKEN": secret("c_aws_token_env"),
               "GROQ_BASE_URL": "https://127.0.0.1:%d/v1" % tls_on_plain.port, "GROQ_API_KEY": secret("c_groq_env"),
               "FIREWORKS_BASE_URL": "http://127.0.0.1:%d/v1" % dead_port(),
               "FIREWORKS_API_KEY": secret("c_fireworks_env"),
               "TOGETHER_BASE_URL": "https://no-such-host.invalid/v1", "TOGETHER_API_KEY": secret("c_together_env"),
               "UPSTREAM_CONNECT_TIMEOUT_MS": "3000", "UPSTREAM_TIMEOUT_MS": "3000",
               "ELASTICSEARCH_URL": base, "ELASTICSEARCH_API_KEY": secret("c_es_api_key"),
               "DD_API_KEY": secret("c_dd_api_key"), "DD_URL": base, "DD_LOGS_URL": base,
               "NEW_RELIC_LICENSE_KEY": secret("c_nr_license"), "NEW_RELIC_LOG_URL": base + "/log/v1",
               "NEW_RELIC_METRIC_URL": base + "/metric/v1", "OTEL_EXPORTER_OTLP_ENDPOINT": base,
               "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer " + secret("c_otlp_token"),
               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
               "TELEMETRY_MAX_RETRIES": "1", "TELEMETRY_RETRY_INITIAL_MS": "10", "TELEMETRY_RETRY_MAX_MS": "20",
               "TELEMETRY_FLUSH_INTERVAL_MS": "50", "SHUTDOWN_GRACE_MS": "3000"}
        return self.start(env)

    def test_no_secret_when_upstreams_fail_or_echo_keys(self):
        """Upstream TLS failure, refused connection, DNS failure, and providers
        answering 401 with the key they were sent; Bedrock with a bad region
        and a bad model; /metrics and /health; debug logs."""
        hostile = EchoingBackend()
        self.addCleanup(hostile.stop)
        gw, tmp = self.gateway_c(hostile, "console,prometheus")
        hi = [{"role": "user", "content": "Hi"}]
        got = {}
        for stream in (False, True):
            for p in ("openai", "groq", "fireworks", "together", "anthropic", "gemini", "bedrock"):
                label = "C-%s%s" % (p, "-stream" if stream else "")
                got[label] = self.call(gw, label, {"model": "m", "messages": hi, "stream": stream}, {"x-provider": p})
            got["C-client-key"] = self.call(gw, "C-client-key", {"model": "m", "messages": hi, "stream": stream},
                                            {"Authorization": "Bearer " + secret("c_client_bearer")})
            got["C-bedrock-token"] = self.call(gw, "C-bedrock-token", {"model": "m", "messages": hi, "stream": stream},
                                               {"x-provider": "bedrock", "x-aws-access-key-id": "AKIDC",
                                                "x-aws-secret-access-key": secret("c_aws_secret_env"),
                                                "x-aws-session-token": secret("c_aws_token_hdr")})
        self.call(gw, "C-bad-region", {"model": "m", "messages": hi},
                  {"x-provider": "bedrock", "x-aws-region": "evil.example/" + secret("c_aws_token_hdr")})
        self.call(gw, "C-bad-model", {"model": "..", "messages": hi}, {"x-provider": "bedrock"})
        self.call(gw, "C-metrics", None, path="/metrics", method="GET")
        self.call(gw, "C-health", None, path="/health", method="GET")
        self.assertEqual(got["C-openai"], 401)
        self.assertEqual(got["C-anthropic"], 401)
        self.assertEqual(got["C-gemini"], 401)
        self.assertEqual(got["C-bedrock"], 401)
        self.assertEqual(got["C-groq"], 502)
        self.assertEqual(got["C-fireworks"], 502)
        self.assertEqual(got["C-together"], 502)
        self.assertGreaterEqual(len(hostile.seen), 7, "the echoing upstream was exercised")
        self.assertTrue(any(secret("c_openai_env").encode() in r for r in hostile.seen),
                        "the upstream really got (and echoed) the key")
        self.assertEqual(self.collect(gw, tmp, "C"), 0)
        self.assertNoSecretIn(list(self.texts) + [("response " + w, b) for w, b in self.responses] +
                              [("C file " + p, d) for _, p, d in self.outputs])

    exporter_run = None

    def run_exporters_against_echoing_backend(self):
        """One gateway run shared by the two tests below: exporters whose
        backend answers every request 401, echoing the credential it got."""
        cls = type(self)
        if cls.exporter_run is None:
            hostile = EchoingBackend()
            self.addCleanup(hostile.stop)
            gw, tmp = self.gateway_c(hostile, "elasticsearch,datadog,newrelic,otlp")
            for i in range(3):
                self.call(gw, "D-%d" % i, {"model": "gpt-4o"}, {"x-provider": "fireworks"})
            keys = ("c_es_api_key", "c_dd_api_key", "c_nr_license", "c_otlp_token")
            deadline = time.time() + 20
            while not all(any(secret(k).encode() in r for r in hostile.seen) for k in keys):
                if time.time() > deadline:
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # let the rejections be logged
            code = self.collect(gw, tmp, "D")
            cls.exporter_run = {"code": code, "seen": list(hostile.seen), "keys": keys,
                                "texts": [(w, t) for w, t in self.texts if w.startswith("D ")]}
        return cls.exporter_run

    def test_exporter_backends_get_their_keys_and_errors_are_logged(self):
        run = self.run_exporters_against_echoing_backend()
        self.assertEqual(run["code"], 0)
        for key in run["keys"]:
            self.assertTrue(any(secret(key).encode() in r for r in run["seen"]), key + " was sent to the backend")
        stderr = dict(run["texts"])["D stderr"]
        self.assertIn(b"HTTP 401", stderr, "the rejections were logged (and are scanned)")

    # The excerpt of a backend's error body in the exporter's warning has
    # every credential the request carried redacted (resultForStatus).
    def test_no_secret_when_exporter_backends_echo_keys(self):
        run = self.run_exporters_against_echoing_backend()
        self.assertNoSecretIn(run["texts"])


class BodySecretMemberNamesTest(unittest.TestCase):
    """docs/records.md: a body member whose name, lower-cased with '-' read as
    '_', is or ends with a secret suffix (api_key, secret, refresh_token...)
    is redacted at any depth in the record: in a parsed body, in a stream's
    record and in a body that is not JSON (the text path, which reads names
    with JSON escapes decoded). Names that merely contain a suffix's words
    (max_tokens, password_policy, secretary, apikeys) are kept."""

    def test_secret_member_names_are_redacted_by_suffix(self):
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"ENABLED_EXPORTERS": "console", "TELEMETRY_FLUSH_INTERVAL_MS": "50",
                      "OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY})
        self.addCleanup(gw.stop)
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
                "openai_api_key": "sk-secret-1", "nested": {"My-Secret": "x", "deep": [{"refresh_token": "r"}]},
                "max_tokens": 5, "password_policy": "strict", "secretary": "Ann", "apikeys": ["k"]}
        for rid, stream in (("redact-plain", False), ("redact-stream", True)):
            status, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", dict(body, stream=stream),
                                        {"x-request-id": rid})
            self.assertEqual(status, 200)
        broken = b'{"openai\\u005fapi_key": "sk-secret-escaped-2", "Client-Secret": "sk-secret-3", "max_tokens": 5,'
        status, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", broken, {"x-request-id": "redact-broken"})
        self.assertEqual(status, 400)

        def records():
            text = gw.stdout_text()
            lines = text[:text.rfind("\n") + 1].splitlines()  # a line still being written is no record yet
            found = {}
            for line in lines:
                if line.strip():
                    rec = json.loads(line)
                    found[rec["attributes"]["id"]] = rec
            return found if {"redact-plain", "redact-stream", "redact-broken"} <= set(found) else None

        found = wait_until("the three records", records, timeout=15)
        for rid in ("redact-plain", "redact-stream"):
            request = found[rid]["attributes"]["request"]
            self.assertEqual(request["openai_api_key"], "[REDACTED]", rid)
            self.assertEqual(request["nested"], {"My-Secret": "[REDACTED]", "deep": [{"refresh_token": "[REDACTED]"}]},
                             rid)
            self.assertEqual(request["max_tokens"], 5, rid)
            self.assertEqual(request["password_policy"], "strict", rid)
            self.assertEqual(request["secretary"], "Ann", rid)
            self.assertEqual(request["apikeys"], ["k"], rid)
            self.assertEqual(found[rid]["attributes"]["metadata"]["status_code"], 200, rid)
        self.assertIsInstance(found["redact-stream"]["attributes"]["response"]["streamed_data"], list)
        request = found["redact-broken"]["attributes"]["request"]
        self.assertIsInstance(request, str)
        self.assertIn('"max_tokens": 5', request)
        self.assertEqual(request.count('"[REDACTED]"'), 2, request)
        out = gw.stdout_text()
        for value in ("sk-secret-1", "sk-secret-escaped-2", "sk-secret-3"):
            self.assertNotIn(value, out)
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
