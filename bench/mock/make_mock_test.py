#!/usr/bin/env python3
"""Tests for make_mock.py: the mock serves valid, OpenAI-shaped responses of the advertised sizes.

Run: python3 -m unittest discover -s bench/mock -p '*_test.py'
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent


def events(sse: str) -> list[str]:
    assert sse.endswith("\n\n"), "an SSE body ends with a blank line"
    blocks = sse[:-2].split("\n\n")
    assert all(b.startswith("data: ") and "\n" not in b for b in blocks), "one data line per event"
    return [b[len("data: "):] for b in blocks]


def echo_payload(conf: str) -> str:
    """What nginx's echo module sends for a generated snippet: the `echo -n '...'` arguments, \\n unescaped."""
    return "".join(m.replace("\\n", "\n") for m in re.findall(r"^echo -n '(.*)';$", conf, re.M))


class MakeMockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = pathlib.Path(cls.tmp.name)
        subprocess.run([sys.executable, str(HERE / "make_mock.py"), str(cls.out)], check=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_completion_is_an_openai_chat_completion_of_about_900_bytes(self):
        raw = (self.out / "completion.json").read_bytes()
        self.assertTrue(850 <= len(raw) <= 1000, len(raw))
        body = json.loads(raw)
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["choices"][0]["message"]["role"], "assistant")
        self.assertEqual(body["usage"]["total_tokens"],
                         body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"])

    def test_stream_has_23_chunks_then_done(self):
        evs = events((self.out / "stream.sse").read_text())
        self.assertEqual(len(evs), 24)
        self.assertEqual(evs[-1], "[DONE]")
        chunks = [json.loads(e) for e in evs[:-1]]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertTrue(all("usage" not in c for c in chunks))

    def test_usage_stream_ends_with_the_usage_chunk(self):
        evs = events((self.out / "stream_usage.sse").read_text())
        self.assertEqual(len(evs), 25)
        chunks = [json.loads(e) for e in evs[:-1]]
        self.assertTrue(all(c["usage"] is None for c in chunks[:-1]))
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 23)

    def test_nginx_snippets_send_exactly_the_reference_bytes(self):
        for name in ("stream", "stream_usage"):
            reference = (self.out / f"{name}.sse").read_text()
            for pace in ("fast", "slow"):
                conf = (self.out / f"{name}_{pace}.conf").read_text()
                self.assertEqual(echo_payload(conf), reference, f"{name}_{pace}.conf")
        completion = (self.out / "completion.conf").read_text()
        body = re.search(r"^return 200 '(.*)';$", completion, re.M).group(1).replace("\\n", "\n")
        self.assertEqual(body, (self.out / "completion.json").read_text())

    def named_events(self, name):
        """The (event name, data) pairs of a stream whose events carry an `event:` line."""
        sse = (self.out / f"{name}.sse").read_text()
        self.assertTrue(sse.endswith("\n\n"))
        out = []
        for block in sse[:-2].split("\n\n"):
            kind, data = block.split("\n")
            self.assertTrue(kind.startswith("event: ") and data.startswith("data: "), block)
            body = json.loads(data[len("data: "):])
            self.assertEqual(body["type"], kind[len("event: "):], "the event line names the data's type")
            out.append(body)
        self.assertEqual(echo_payload((self.out / f"{name}_fast.conf").read_text()), sse)
        return out

    def test_responses_stream_carries_the_words_and_ends_with_usage(self):
        evs = self.named_events("responses_stream")
        self.assertEqual(len(evs), 29)
        self.assertEqual([e["sequence_number"] for e in evs], list(range(29)))
        self.assertEqual(evs[0]["type"], "response.created")
        deltas = "".join(e["delta"] for e in evs if e["type"] == "response.output_text.delta")
        self.assertEqual(evs[-1]["type"], "response.completed")
        self.assertEqual(evs[-1]["response"]["output"][0]["content"][0]["text"], deltas)
        self.assertEqual(evs[-1]["response"]["usage"]["total_tokens"], 47)

    def test_messages_stream_carries_the_words_and_its_usage(self):
        evs = self.named_events("messages_stream")
        self.assertEqual(len(evs), 27)
        self.assertEqual([e["type"] for e in (evs[0], evs[1], evs[-3], evs[-2], evs[-1])],
                         ["message_start", "content_block_start", "content_block_stop", "message_delta",
                          "message_stop"])
        self.assertEqual(sum(e["type"] == "content_block_delta" for e in evs), 21)
        self.assertEqual(evs[0]["message"]["usage"]["input_tokens"], 24)
        self.assertEqual(evs[-2]["usage"]["output_tokens"], 23)

    def test_slow_snippets_wait_before_every_event(self):
        conf = (self.out / "stream_slow.conf").read_text()
        self.assertEqual(conf.count("echo_sleep $mock_first_delay;"), 1)
        self.assertEqual(conf.count("echo_sleep $mock_event_gap;"), 23)
        self.assertEqual(conf.count("echo_flush;"), 24)
        self.assertNotIn("echo_sleep", (self.out / "stream_fast.conf").read_text())

    def test_output_is_deterministic(self):
        with tempfile.TemporaryDirectory() as other:
            subprocess.run([sys.executable, str(HERE / "make_mock.py"), other], check=True)
            for path in self.out.iterdir():
                self.assertEqual(path.read_bytes(), (pathlib.Path(other) / path.name).read_bytes(), path.name)


if __name__ == "__main__":
    unittest.main()
