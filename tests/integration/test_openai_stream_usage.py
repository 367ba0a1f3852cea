"""Usage of OpenAI-compatible streams through the real binary, against a
mock that writes its chunks the way real servers do (docs/providers.md,
"OpenAI-compatible streams"):

- Groq, which may ignore stream_options.include_usage and report a stream's
  usage only under x_groq.usage in its last chunk: the record still has the
  tokens and the cost, and a top-level usage, when there is one, wins
  (never a sum of the two);
- the usage-only chunk the gateway asked for itself, written with any
  spacing, member order or line layout: never shown to a client that did
  not ask for usage, and the last entry of the record's streamed_data.

The mock checks every request (path, Authorization, include_usage added by
the gateway) and keeps what it refused in `problems`, which each test checks
is empty. Records come from the console exporter on stdout.
"""
import http.server
import json
import os
import threading
import unittest

from harness import HERE, TEST_KEY, Gateway, http_request, sse_events
from test_records import RecordAssertions, Records, gateway_version

PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))


def price(key, tokens_in, tokens_out):
    e = PRICES[key]
    return tokens_in * e["input_cost_per_token"] + tokens_out * e["output_cost_per_token"]


def chunk(content=None, finish=None, **extra):
    doc = {"id": "chatcmpl-u", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL_ANSWERED,
           "choices": [{"index": 0, "delta": {} if content is None else {"content": content},
                        "finish_reason": finish}]}
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":"))


MODEL_ANSWERED = "gpt-4o-mini-2024-07-18"
XGROQ_USAGE = {"queue_time": 0.02, "prompt_tokens": 18, "prompt_time": 0.001, "completion_tokens": 50,
               "completion_time": 0.04, "total_tokens": 68}
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

# The usage-only chunk as different servers write it; each is sent after two
# content chunks carrying "usage": null (what include_usage adds to them).
USAGE_CHUNK_LAYOUTS = {
    "compact": json.dumps({"id": "chatcmpl-u", "choices": [], "usage": USAGE}, separators=(",", ":")),
    "spaced": json.dumps({"id": "chatcmpl-u", "choices": [], "usage": USAGE}),
    "usage-first": json.dumps({"usage": USAGE, "id": "chatcmpl-u", "choices": []}, separators=(",", ":")),
    "pretty": json.dumps({"id": "chatcmpl-u", "choices": [], "usage": USAGE}, indent=2),
    "extra-members": json.dumps({"id": "chatcmpl-u", "object": "chat.completion.chunk", "system_fingerprint": "fp_1",
                                 "choices": [], "usage": USAGE, "x_groq": {"id": "req_1"}, "obfuscation": "Zq"}),
}

# Streams by model: (chunks, whether the stream honours include_usage).
STREAMS = {
    # Groq ignoring include_usage: usage only in x_groq of the last chunk.
    "llama-3.1-8b-instant": [chunk("Hel", usage=None), chunk("lo", usage=None),
                             chunk(finish="stop", x_groq={"id": "req_g", "usage": XGROQ_USAGE})],
    # Both: the last chunk has x_groq.usage, then a usage chunk with other counts.
    "llama-both": [chunk("Hi", usage=None), chunk(finish="stop", x_groq={"id": "req_g", "usage": XGROQ_USAGE}),
                   json.dumps({"id": "chatcmpl-u", "choices": [], "usage": USAGE, "x_groq": {"id": "req_g"}})],
}
for layout, usage_chunk in USAGE_CHUNK_LAYOUTS.items():
    STREAMS["layout-" + layout] = [chunk("Hel", usage=None), chunk("lo", finish="stop", usage=None), usage_chunk]


class StrictMock:
    """An OpenAI-compatible upstream (as Groq serves it, under /openai/v1)."""

    def __init__(self):
        self.problems = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                problem = outer.check(self.path, self.headers.get("authorization"), body)
                if problem:
                    outer.problems.append(problem)
                    data = json.dumps({"error": {"message": "mock: " + problem}}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                chunks = STREAMS[json.loads(body)["model"]]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for c in chunks + ["[DONE]"]:
                    # One "data:" line per line of the chunk, as SSE requires.
                    event = "".join("data: %s\n" % line for line in c.split("\n")) + "\n"
                    data = event.encode()
                    for part in (data[:9], data[9:]):  # each event split over two HTTP chunks
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, path, authorization, body):
        if path != "/openai/v1/chat/completions":
            return "unexpected path %s" % path
        if authorization != "Bearer " + TEST_KEY:
            return "unexpected authorization"
        try:
            doc = json.loads(body)
        except ValueError:
            return "the body is not JSON"
        if doc.get("model") not in STREAMS:
            return "unknown model %r" % doc.get("model")
        if doc.get("stream_options") != {"include_usage": True}:
            return "the gateway did not ask for usage: %r" % doc.get("stream_options")
        return None

    def stop(self):
        self.server.shutdown()


class StreamUsageTest(unittest.TestCase, RecordAssertions):
    @classmethod
    def setUpClass(cls):
        cls.version = gateway_version()
        cls.mock = StrictMock()
        base = "http://127.0.0.1:%d/openai/v1" % cls.mock.port
        cls.gw = Gateway({"GROQ_BASE_URL": base, "GROQ_API_KEY": TEST_KEY, "OPENAI_BASE_URL": base,
                          "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
                          "TELEMETRY_FLUSH_INTERVAL_MS": "50"})
        cls.records = Records(cls.gw)

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.mock.stop()
        assert code == 0, "gateway exit status %s" % code

    def tearDown(self):
        self.assertEqual(self.mock.problems, [])

    def stream(self, rid, provider, model):
        status, _, payload = http_request(self.gw.port, "POST", "/v1/chat/completions",
                                          {"model": model, "stream": True,
                                           "messages": [{"role": "user", "content": "Hi"}]},
                                          {"x-request-id": rid, "x-provider": provider})
        self.assertEqual(status, 200, payload)
        self.assertNotIn(TEST_KEY.encode(), payload)
        found = self.records.wait_for(rid)
        self.assertEqual(len(found), 1)
        a, m = self.assert_shape(found[0])
        return payload, a, m

    def test_groq_usage_only_under_x_groq(self):
        payload, a, m = self.stream("xgroq-only", "groq", "llama-3.1-8b-instant")
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(json.loads(events[-2])["x_groq"]["usage"], XGROQ_USAGE, "relayed as Groq sent it")
        self.assertNotIn('"usage":null', payload.decode())
        self.assertEqual(m["tokens"], {"input": 18, "output": 50, "total": 68, "cached_input": None,
                                       "cache_creation": None, "reasoning": None})
        self.assertAlmostEqual(m["cost"], price("groq/llama-3.1-8b-instant", 18, 50), places=15)
        self.assertEqual(m["status"], "success")
        self.assertEqual(a["response"]["usage"], XGROQ_USAGE, "the assembled response takes x_groq's usage")

    def test_top_level_usage_wins_over_x_groq(self):
        payload, a, m = self.stream("xgroq-both", "groq", "llama-both")
        events = sse_events(payload)
        self.assertFalse(any('"choices":[]' in e or '"choices": []' in e for e in events), "usage chunk hidden")
        self.assertEqual(m["tokens"]["input"], 11)
        self.assertEqual(m["tokens"]["output"], 7)
        self.assertEqual(m["tokens"]["total"], 18)
        self.assertEqual(a["response"]["streamed_data"][-1]["usage"], USAGE)

    def test_usage_only_chunk_hidden_whatever_its_layout(self):
        for layout, usage_chunk in USAGE_CHUNK_LAYOUTS.items():
            with self.subTest(layout=layout):
                payload, a, m = self.stream("layout-" + layout, "openai", "layout-" + layout)
                events = sse_events(payload)
                self.assertEqual(events[-1], "[DONE]")
                docs = [json.loads(e) for e in events[:-1]]
                self.assertEqual(len(docs), 2, "the usage-only chunk is not shown")
                for d in docs:
                    self.assertNotIn("usage", d, "the usage member the gateway caused is left out")
                    self.assertTrue(d["choices"])
                self.assertEqual(m["tokens"]["input"], 11)
                self.assertEqual(m["tokens"]["output"], 7)
                self.assertAlmostEqual(m["cost"], price(MODEL_ANSWERED, 11, 7), places=15)
                streamed = a["response"]["streamed_data"]
                self.assertEqual(len(streamed), 3)
                self.assertEqual(streamed[-1], json.loads(usage_chunk), "the usage chunk comes last")
                self.assertEqual(a["response"]["usage"], USAGE)


if __name__ == "__main__":
    unittest.main(verbosity=2)
