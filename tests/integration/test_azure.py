"""The azure provider through the real binary, against a strict mock of
Azure OpenAI (docs/providers.md, "Azure OpenAI").

The mock answers only what Azure would: POST
/openai/deployments/{deployment}/{chat/completions,completions,embeddings}
with exactly the gateway's api-version in the query, and the Responses API
under /openai/v1/responses with no api-version; the key in `api-key` and
no Authorization header. Anything else gets Azure's error body and is kept
in `mock.problems`, which every test checks is empty. Its answers are the
recorded OpenAI transcripts (tests/testdata/providers/transcripts/) naming
the model Azure reports (gpt-4o-2024-08-06), as Azure writes them (a first
stream chunk with prompt_filter_results and no choices). Chat streams of
deployment slow-dep send one chunk every 200 ms (noting in `mock.closed` a
gateway that closed the connection); of reset-dep, four chunks, then a TCP
reset.

Records come from the console exporter on stdout; each test finds its own by
the x-request-id it sent.
"""
import http.server
import json
import os
import socket
import tempfile
import threading
import time
import unittest
from urllib.parse import parse_qsl, urlsplit

from harness import (HERE, SLOW, TEST_KEY, Gateway, http_request, peer_closed, reset_connection, sse_events,
                     wait_until)
from test_records import RecordAssertions, Records, gateway_version

TRANSCRIPTS = os.path.join(HERE, "..", "testdata", "providers", "transcripts")
PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))
API_VERSION = "2024-10-21"
CLIENT_KEY = "azure-client-key-7e6d5c4b3a"
AZURE_MODEL = "gpt-4o-2024-08-06"  # what Azure's answers name: the model behind the deployment
CHAT_DEPLOYMENT = "gpt4o-prod"
EMBED_DEPLOYMENT = "embed-small"
DEPLOYMENTS = {CHAT_DEPLOYMENT, EMBED_DEPLOYMENT, "missing-dep", "echo-key", "filtered", "slow-dep", "reset-dep"}
EMBEDDING = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789]}],
             "model": "text-embedding-3-small", "usage": {"prompt_tokens": 5, "total_tokens": 5}}


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), "rb") as f:
        return f.read()


def jsonl(name):
    return [l for l in transcript(name).decode().splitlines() if l.strip()]


def cost(key, tokens_in, tokens_out, cached=0):
    e = PRICES[key]
    return ((tokens_in - cached) * e["input_cost_per_token"] + cached * e.get("cache_read_input_token_cost", 0)
            + tokens_out * e["output_cost_per_token"])


def chat_chunks(include_usage):
    """Azure's stream: a prompt_filter_results chunk first, then the recorded
    chunks naming Azure's model; the usage-only chunk only when asked for."""
    first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
             "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}
    out = [json.dumps(first, separators=(",", ":"))]
    for line in jsonl("openai-stream.chunks.jsonl"):
        c = json.loads(line)
        c["model"] = AZURE_MODEL
        if not include_usage:
            if not c["choices"]:
                continue
            c.pop("usage", None)
        out.append(json.dumps(c, separators=(",", ":")))
    return out


class StrictAzure:
    """An Azure OpenAI mock that refuses anything Azure would not take."""

    def __init__(self, key):
        self.key = key  # the api-key every request must carry
        self.problems = []
        self.requests = []  # (method, target, headers, body)
        self.closed = []  # the deployments whose streams the gateway closed before their end
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.handle_any()

            def do_POST(self):
                self.handle_any()

            def do_DELETE(self):
                self.handle_any()

            def handle_any(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers, body))
                status, doc = outer.answer(self.command, self.path, headers, body, self)
                if status is not None:
                    self.reply(status, doc)

            def reply(self, status, doc):
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("apim-request-id", "apim-1")
                self.end_headers()
                self.wfile.write(data)

            def stream(self, events, deployment=None):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, e in enumerate(events):
                    if deployment == "reset-dep" and i == 4:
                        time.sleep(0.05)
                        return reset_connection(self)
                    data = e.encode()
                    for part in (data[:11], data[11:]):  # each event over two HTTP chunks
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    if deployment == "slow-dep" and peer_closed(self.connection, 0.2 * SLOW):
                        outer.closed.append(deployment)
                        self.close_connection = True
                        return
                self.wfile.write(b"0\r\n\r\n")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def refuse(self, problem, status=400):
        self.problems.append(problem)
        return status, {"error": {"code": "MockRefused", "message": "mock: " + problem}}

    def answer(self, method, target, headers, body, handler):
        url = urlsplit(target)
        query = parse_qsl(url.query, keep_blank_values=True)
        if "authorization" in headers:
            return self.refuse("an Authorization header reached Azure")
        if headers.get("api-key") != self.key:
            return self.refuse("api-key %r" % headers.get("api-key"), 401)
        parts = url.path.split("/")
        if url.path.startswith("/openai/deployments/"):
            # ["", "openai", "deployments", deployment, op...]
            deployment, op = parts[3], "/".join(parts[4:])
            if query != [("api-version", API_VERSION)]:
                return self.refuse("query %r: exactly one api-version=%s expected" % (query, API_VERSION))
            if method != "POST" or op not in ("chat/completions", "completions", "embeddings"):
                return self.refuse("%s %s" % (method, url.path), 404)
            if deployment not in DEPLOYMENTS:
                return 404, {"error": {"code": "DeploymentNotFound", "message": "unknown deployment %s" % deployment}}
            doc = json.loads(body)
            if deployment == "missing-dep":
                return 404, {"error": {"code": "DeploymentNotFound",
                                       "message": "The API deployment for this resource does not exist."}}
            if deployment == "echo-key":
                return 401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key %s."
                                       % headers["api-key"]}}
            if deployment == "filtered":
                return 400, {"error": {"message": "The response was filtered", "type": None, "param": "prompt",
                                       "code": "content_filter", "status": 400,
                                       "innererror": {"code": "ResponsibleAIPolicyViolation",
                                                      "content_filter_result": {"hate": {"filtered": True,
                                                                                         "severity": "high"}}}}}
            if op == "embeddings":
                return 200, EMBEDDING
            if doc.get("stream") is True:
                include_usage = (doc.get("stream_options") or {}).get("include_usage") is True
                handler.stream(["data: %s\n\n" % c for c in chat_chunks(include_usage)] + ["data: [DONE]\n\n"],
                               deployment)
                return None, None
            answer = json.loads(transcript("openai-chat.json"))
            answer["model"] = AZURE_MODEL
            return 200, answer
        if url.path == "/openai/v1/responses" or url.path.startswith("/openai/v1/responses/"):
            if any(k == "api-version" for k, _ in query):
                return self.refuse("the v1 Responses API takes no api-version: %r" % query)
            if url.path == "/openai/v1/responses" and method == "POST":
                doc = json.loads(body)
                if doc.get("model") not in DEPLOYMENTS:
                    return self.refuse("the Responses API's model names a deployment, got %r" % doc.get("model"))
                if doc.get("stream") is True:
                    handler.stream(["event: %s\ndata: %s\n\n" % (json.loads(l)["type"], l)
                                    for l in jsonl("openai-responses-text.chunks.jsonl")])
                    return None, None
                return 200, transcript("openai-responses-text.json")
            if method == "GET" and url.path.endswith("/input_items"):
                return 200, {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
            if method in ("GET", "DELETE") and len(parts) == 5:
                return 200, transcript("openai-responses-text.json") if method == "GET" else \
                    {"id": parts[4], "object": "response.deleted", "deleted": True}
            return self.refuse("%s %s" % (method, url.path), 404)
        return self.refuse("unexpected path %s" % url.path, 404)

    def stop(self):
        self.server.shutdown()


class AzureTest(unittest.TestCase, RecordAssertions):
    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = StrictAzure(TEST_KEY)
        cls.gw = Gateway({"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:%d/" % cls.mock.port,
                          "AZURE_OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                          "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        cls.records = Records(cls.gw)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    def tearDown(self):
        self.assertEqual(self.mock.problems, [])

    def send(self, rid, method, path, body=None, headers=None, provider="azure"):
        h = {"x-request-id": rid}
        if provider:
            h["x-provider"] = provider
        h.update(headers or {})
        status, hdrs, payload = http_request(self.gw.port, method, path, body, h)
        self.assertNotIn(TEST_KEY.encode(), payload)
        return status, hdrs, payload

    def record(self, rid):
        found = self.records.wait_for(rid)
        self.assertEqual(len(found), 1, "exactly one record per request")
        self.assertNotIn(TEST_KEY, json.dumps(found[0]))
        return self.assert_shape(found[0])

    def last_upstream(self):
        self.assertTrue(self.mock.requests)
        return self.mock.requests[-1]

    def chat_body(self, model=CHAT_DEPLOYMENT, **extra):
        body = {"model": model, "messages": [{"role": "user", "content": "Invent a holiday"}]}
        body.update(extra)
        return body

    def test_chat_non_stream(self):
        status, hdrs, payload = self.send("az-chat", "POST", "/v1/chat/completions", self.chat_body())
        self.assertEqual(status, 200, payload)
        doc = json.loads(payload)
        self.assertEqual(doc["model"], AZURE_MODEL)
        self.assertEqual(doc["usage"]["total_tokens"], 379)
        method, target, headers, body = self.last_upstream()
        self.assertEqual(target, "/openai/deployments/gpt4o-prod/chat/completions?api-version=" + API_VERSION)
        self.assertEqual(json.loads(body), self.chat_body(), "the body as the client sent it")
        a, m = self.record("az-chat")
        self.assertEqual((a["provider"], a["model"]), ("azure", CHAT_DEPLOYMENT), "the record names the deployment")
        self.assertEqual(m["tokens"], {"input": 16, "output": 363, "total": 379, "cached_input": 0,
                                       "cache_creation": None, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], cost("azure/" + AZURE_MODEL, 16, 363), places=15)
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("success", 200, 200))

    def test_chat_stream_hides_the_usage_chunk_and_records_usage(self):
        status, hdrs, payload = self.send("az-stream", "POST", "/v1/chat/completions", self.chat_body(stream=True))
        self.assertEqual(status, 200, payload)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"))
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        docs = [json.loads(e) for e in events[:-1]]
        self.assertEqual(docs[0]["prompt_filter_results"][0]["prompt_index"], 0, "Azure's first chunk goes through")
        self.assertTrue(all("usage" not in d for d in docs), "no usage the client did not ask for")
        self.assertEqual(len(docs), len(chat_chunks(False)))
        _, _, _, body = self.last_upstream()
        self.assertEqual(json.loads(body)["stream_options"], {"include_usage": True}, "the gateway asked for usage")
        a, m = self.record("az-stream")
        self.assertEqual(m["tokens"]["input"], 16)
        self.assertEqual(m["tokens"]["output"], 300)
        self.assertAlmostEqual(m["cost"], cost("azure/" + AZURE_MODEL, 16, 300), places=15)
        streamed = a["response"]["streamed_data"]
        self.assertEqual(streamed[-1]["usage"]["total_tokens"], 316, "the usage chunk comes last in the record")
        self.assertEqual(a["response"]["model"], AZURE_MODEL)

    def test_chat_stream_usage_the_client_asked_for(self):
        body = self.chat_body(stream=True, stream_options={"include_usage": True})
        status, _, payload = self.send("az-stream-usage", "POST", "/v1/chat/completions", body)
        self.assertEqual(status, 200)
        expected = "".join("data: %s\n\n" % c for c in chat_chunks(True)) + "data: [DONE]\n\n"
        self.assertEqual(payload.decode(), expected, "relayed byte for byte")
        _, m = self.record("az-stream-usage")
        self.assertEqual(m["tokens"]["total"], 316)

    def test_chat_stream_client_gone(self):
        body = json.dumps(self.chat_body("slow-dep", stream=True)).encode()
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"x-provider: azure\r\nx-request-id: az-cancel\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        buf = b""
        deadline = time.time() + 10
        while b"prompt_filter_results" not in buf:  # Azure's first chunk
            self.assertLess(time.time(), deadline)
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the gateway closed the stream early")
            buf += chunk
        s.close()
        a, m = self.record("az-cancel")
        self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertIsNone(m["provider_latency"])
        self.assertLess(len(a["response"]["streamed_data"]), 4)
        self.assert_no_tokens(m)  # the usage chunk comes last
        wait_until("the gateway closed the upstream stream", lambda: "slow-dep" in self.mock.closed)

    def test_chat_stream_upstream_reset(self):
        status, _, payload = self.send("az-reset", "POST", "/v1/chat/completions",
                                       self.chat_body("reset-dep", stream=True))
        # http.client read the chunked body to its last chunk (else it raises): the response ended properly.
        self.assertEqual(status, 200)
        events = sse_events(payload)
        self.assertNotIn("[DONE]", events)
        last = json.loads(events[-1])
        self.assertEqual(set(last), {"error"}, last)
        self.assertTrue(last["error"]["message"])
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks, [json.loads(c) for c in chat_chunks(False)[:4]], "the four chunks before the reset")
        a, m = self.record("az-reset")
        self.assertEqual((m["status"], m["error_type"], m["error_count"]), ("error", "upstream_broken", 1))
        self.assertEqual((m["status_code"], m["provider_status_code"]), (200, 200))
        self.assertEqual((m["provider_error_count"], m["response_size"]), (0, len(payload)))
        self.assertEqual(a["response"]["streamed_data"], chunks)
        self.assert_no_tokens(m)

    def test_client_keys_and_the_model_prefix(self):
        # The OpenAI SDK's Authorization: Bearer, and Azure SDKs' api-key, both
        # become api-key upstream; the "azure/" prefix selects the provider.
        for rid, headers in (("az-bearer", {"Authorization": "Bearer " + TEST_KEY}), ("az-apikey", {"api-key": TEST_KEY})):
            status, _, payload = self.send(rid, "POST", "/v1/chat/completions", self.chat_body("azure/" + CHAT_DEPLOYMENT),
                                           headers, provider=None)
            self.assertEqual(status, 200, payload)
            _, target, sent_headers, body = self.last_upstream()
            self.assertEqual(target, "/openai/deployments/gpt4o-prod/chat/completions?api-version=" + API_VERSION)
            self.assertEqual(json.loads(body)["model"], CHAT_DEPLOYMENT, "the prefix is removed upstream too")
            self.assertEqual(self.record(rid)[0]["model"], CHAT_DEPLOYMENT)
        # A key the mock does not know reaches it in api-key (and is refused there).
        status, _, payload = self.send("az-wrongkey", "POST", "/v1/chat/completions", self.chat_body(),
                                       {"api-key": CLIENT_KEY})
        self.assertEqual(status, 401)
        self.assertEqual(self.last_upstream()[2]["api-key"], CLIENT_KEY)
        self.mock.problems.clear()

    def test_embeddings(self):
        body = {"model": EMBED_DEPLOYMENT, "input": "hello"}
        status, _, payload = self.send("az-embed", "POST", "/v1/embeddings", body)
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload), EMBEDDING)
        self.assertEqual(self.last_upstream()[1],
                         "/openai/deployments/embed-small/embeddings?api-version=" + API_VERSION)
        a, m = self.record("az-embed")
        self.assertEqual(a["model"], EMBED_DEPLOYMENT)
        self.assertEqual((m["tokens"]["input"], m["tokens"]["output"], m["tokens"]["total"]), (5, 0, 5))
        self.assertAlmostEqual(m["cost"], cost("azure/text-embedding-3-small", 5, 0), places=18)

    def test_responses_stream_and_stored_responses(self):
        body = {"model": CHAT_DEPLOYMENT, "input": "Say OK", "stream": True}
        status, hdrs, payload = self.send("az-resp", "POST", "/v1/responses", body)
        self.assertEqual(status, 200, payload)
        lines = jsonl("openai-responses-text.chunks.jsonl")
        self.assertEqual(payload.decode(), "".join("event: %s\ndata: %s\n\n" % (json.loads(l)["type"], l)
                                                   for l in lines), "every event relayed as it came")
        _, target, _, sent = self.last_upstream()
        self.assertEqual(target, "/openai/v1/responses")
        self.assertEqual(json.loads(sent), body)
        a, m = self.record("az-resp")
        self.assertEqual(a["model"], CHAT_DEPLOYMENT)
        self.assertEqual(m["tokens"], {"input": 12, "output": 2, "total": 14, "cached_input": 0,
                                       "cache_creation": None, "reasoning": 0})
        self.assertAlmostEqual(m["cost"], cost("azure/gpt-4o-mini-2024-07-18", 12, 2), places=15)
        self.assertEqual(len(a["response"]["streamed_data"]), len(lines))

        status, _, payload = self.send("az-resp-get", "GET", "/v1/responses/resp_abc/input_items?limit=2")
        self.assertEqual(status, 200, payload)
        self.assertEqual(self.last_upstream()[1], "/openai/v1/responses/resp_abc/input_items?limit=2")
        status, _, payload = self.send("az-resp-del", "DELETE", "/v1/responses/resp_abc")
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["deleted"], True)
        self.assert_no_tokens(self.record("az-resp-del")[1])

    def test_error_bodies_reach_the_client_in_the_openai_shape(self):
        status, _, payload = self.send("az-404", "POST", "/v1/chat/completions", self.chat_body("missing-dep"))
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(payload), {"error": {
            "code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist.",
            "type": "not_found_error"}})
        _, m = self.record("az-404")
        self.assertEqual((m["status"], m["status_code"], m["provider_status_code"]), ("error", 404, 404))
        self.assertEqual(m["provider_error_type"], "DeploymentNotFound")

        status, _, payload = self.send("az-filter", "POST", "/v1/chat/completions", self.chat_body("filtered"))
        self.assertEqual(status, 400)
        error = json.loads(payload)["error"]
        self.assertEqual((error["type"], error["code"], error["message"]),
                         ("invalid_request_error", "content_filter", "The response was filtered"))
        self.assertEqual(error["innererror"]["code"], "ResponsibleAIPolicyViolation", "Azure's details kept")

        # Azure echoing the operator's key: never to the client, nor in the record.
        status, _, payload = self.send("az-echo", "POST", "/v1/chat/completions", self.chat_body("echo-key"))
        self.assertEqual(status, 401)
        error = json.loads(payload)["error"]
        self.assertEqual(error["type"], "authentication_error")
        self.assertNotIn(TEST_KEY, error["message"])
        self.record("az-echo")

    def test_requests_the_gateway_refuses(self):
        for rid, method, path, body, code, status in (
                ("az-bad-dep", "POST", "/v1/chat/completions", self.chat_body("../admin"), "invalid_deployment", 400),
                ("az-no-model", "POST", "/v1/chat/completions", {"messages": []}, "missing_model", 400),
                ("az-models", "GET", "/v1/models", None, "unsupported_endpoint", 404),
                ("az-bad-id", "GET", "/v1/responses/resp:1", None, "invalid_response_id", 400)):
            before = len(self.mock.requests)
            st, _, payload = self.send(rid, method, path, body)
            self.assertEqual(st, status, payload)
            self.assertEqual(json.loads(payload)["error"]["code"], code)
            self.assertEqual(len(self.mock.requests), before, "nothing reached Azure")


class AzureCustomProviderTest(unittest.TestCase):
    def test_the_docs_example_of_a_custom_azure_provider(self):
        """The `providers:` example of docs/providers.md, "Custom providers", as
        written there but for its endpoint (the mock's): type azure reaches the
        resource's deployment route with the key api_key_env names."""
        with open(os.path.join(HERE, "..", "..", "docs", "providers.md")) as f:
            doc = f.read()
        section = doc[doc.index("\n## Custom providers\n"):doc.index("\n## Adding a provider\n")]
        yaml = section[section.index("```yaml\n") + 8:]
        yaml = yaml[:yaml.index("```")]
        self.assertIn("https://my-eu-resource.openai.azure.com", yaml)
        mock = StrictAzure(CLIENT_KEY)
        self.addCleanup(mock.stop)
        config = tempfile.NamedTemporaryFile("w", prefix="gw-config-", suffix=".yaml", delete=False)
        self.addCleanup(os.unlink, config.name)
        config.write(yaml.replace("https://my-eu-resource.openai.azure.com", "http://127.0.0.1:%d" % mock.port))
        config.close()
        gw = Gateway({"AZURE_EU_KEY": CLIENT_KEY, "ENABLED_EXPORTERS": "console",
                      "TELEMETRY_FLUSH_INTERVAL_MS": "50"}, args=["--config", config.name])
        self.addCleanup(gw.stop)
        for rid, model, headers in (("az-custom-header", CHAT_DEPLOYMENT, {"x-provider": "azure-eu"}),
                                    ("az-custom-prefix", "azure-eu/" + CHAT_DEPLOYMENT, {})):
            headers["x-request-id"] = rid
            status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions",
                                              {"model": model, "messages": [{"role": "user", "content": "Hi"}]},
                                              headers)
            self.assertEqual(status, 200, payload)
            self.assertEqual(mock.problems, [])
            _, target, sent_headers, _ = mock.requests[-1]
            self.assertEqual(target, "/openai/deployments/gpt4o-prod/chat/completions?api-version=" + API_VERSION)
            self.assertEqual(sent_headers["api-key"], CLIENT_KEY)
            (rec,) = Records(gw).wait_for(rid)
            self.assertEqual((rec["attributes"]["provider"], rec["attributes"]["model"]), ("azure-eu", CHAT_DEPLOYMENT))


class AzureNotConfiguredTest(unittest.TestCase):
    def test_without_an_endpoint_azure_is_known_but_not_configured(self):
        gw = Gateway({"OPENAI_API_KEY": TEST_KEY})
        try:
            status, _, payload = http_request(gw.port, "POST", "/v1/chat/completions",
                                              {"model": "d", "messages": []}, {"x-provider": "azure"})
            self.assertEqual(status, 400)
            error = json.loads(payload)["error"]
            self.assertEqual(error["code"], "provider_not_configured")
            self.assertIn("AZURE_OPENAI_ENDPOINT", error["message"])
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_a_bad_api_version_stops_start_up(self):
        gw = Gateway({"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_API_VERSION": "2024 10"},
                     expect_start=False)
        gw.proc.wait(timeout=30)
        self.assertEqual(gw.proc.returncode, 2)
        gw._drainer.join(10)
        self.assertIn(b"AZURE_OPENAI_API_VERSION", gw.stderr_seen)


if __name__ == "__main__":
    unittest.main(verbosity=2)
