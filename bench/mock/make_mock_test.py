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
