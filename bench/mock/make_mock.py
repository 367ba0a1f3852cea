#!/usr/bin/env python3
"""Writes the mock upstream's fixed OpenAI responses and the nginx snippets that serve them.

Usage: make_mock.py OUT_DIR

Files written (all deterministic, so every run serves the same bytes):
  completion.json          a non-streaming `chat.completion` (~900 bytes, pretty-printed like OpenAI's)
  completion.conf          nginx `return 200 '...'` sending completion.json with a Content-Length
  stream.sse               23 `chat.completion.chunk` events + `data: [DONE]` (reference copy for checks)
  stream_usage.sse         the same plus the usage chunk OpenAI sends for `stream_options.include_usage`
  stream_fast.conf         nginx `echo` directives emitting stream.sse at once
  stream_usage_fast.conf   nginx `echo` directives emitting stream_usage.sse at once
  stream_slow.conf         stream.sse paced: `echo_sleep $mock_first_delay` before the first event and
                           `echo_sleep $mock_event_gap` before each later one
  stream_usage_slow.conf   stream_usage.sse, paced the same way
  responses_stream.sse     an OpenAI Responses API stream of the same words (29 events), and
  responses_stream_fast.conf   the snippet emitting it at once
  messages_stream.sse      an Anthropic Messages API stream of the same words (27 events), and
  messages_stream_fast.conf    the snippet emitting it at once

The streams are emitted by the echo module rather than served as files so that nginx sends them
with `Transfer-Encoding: chunked`, as OpenAI does, instead of a Content-Length.
"""
import json
import pathlib
import sys

ID = "chatcmpl-BenchMock0000000000000000000"
CREATED = 1732646400
MODEL = "gpt-4o-mini-2024-07-18"
FINGERPRINT = "fp_0ba0d124f1"
# 21 content deltas; with the role chunk and the finish chunk the stream has 23 events.
WORDS = ("The quick brown fox jumps over the lazy dog while the benchmark measures how "
         "very little time a proxy adds .").split()
assert len(WORDS) == 21, len(WORDS)


def completion() -> bytes:
    text = ("This is a fixed answer from the load harness mock upstream, about as long as a typical "
            "short reply from a chat model. Nothing in it varies.")
    body = {
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 24,
            "completion_tokens": 62,
            "total_tokens": 86,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def chunk(delta, finish_reason=None, with_usage_field=False):
    body = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if with_usage_field:
        body["usage"] = None
    return json.dumps(body, separators=(",", ":"))


def stream_events(include_usage: bool) -> list[str]:
    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None, include_usage)]
    for i, word in enumerate(WORDS):
        events.append(chunk({"content": word if i == 0 else " " + word}, None, include_usage))
    events.append(chunk({}, "stop", include_usage))
    if include_usage:
        events.append(json.dumps({
            "id": ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
            "service_tier": "default", "system_fingerprint": FINGERPRINT, "choices": [],
            "usage": {"prompt_tokens": 24, "completion_tokens": 23, "total_tokens": 47,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
        }, separators=(",", ":")))
    events.append("[DONE]")
    return ["data: " + e + "\n\n" for e in events]


def responses_events() -> list[str]:
    """An OpenAI Responses API stream of the same 21 words: `event:` + `data:` per event, as OpenAI sends it."""
    rid, mid = "resp_benchmock000000000000000000", "msg_benchmock000000000000000000"
    response = {"id": rid, "object": "response", "created_at": CREATED, "status": "in_progress", "model": MODEL,
                "output": [], "usage": None}
    events = [("response.created", {"response": response}), ("response.in_progress", {"response": response})]
    item = {"id": mid, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    events.append(("response.output_item.added", {"output_index": 0, "item": item}))
    events.append(("response.content_part.added", {"item_id": mid, "output_index": 0, "content_index": 0,
                                                   "part": {"type": "output_text", "text": "", "annotations": []}}))
    text = ""
    for i, word in enumerate(WORDS):
        delta = word if i == 0 else " " + word
        text += delta
        events.append(("response.output_text.delta", {"item_id": mid, "output_index": 0, "content_index": 0,
                                                      "delta": delta}))
    events.append(("response.output_text.done", {"item_id": mid, "output_index": 0, "content_index": 0,
                                                 "text": text}))
    part = {"type": "output_text", "text": text, "annotations": []}
    events.append(("response.content_part.done", {"item_id": mid, "output_index": 0, "content_index": 0,
                                                  "part": part}))
    done_item = dict(item, status="completed", content=[part])
    events.append(("response.output_item.done", {"output_index": 0, "item": done_item}))
    completed = dict(response, status="completed", output=[done_item],
                     usage={"input_tokens": 24, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 23,
                            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 47})
    events.append(("response.completed", {"response": completed}))
    out = []
    for n, (kind, data) in enumerate(events):
        body = {"type": kind, **data, "sequence_number": n}
        out.append("event: " + kind + "\ndata: " + json.dumps(body, separators=(",", ":")) + "\n\n")
    return out


def messages_events() -> list[str]:
    """An Anthropic Messages API stream of the same 21 words, as Anthropic sends it."""
    message = {"id": "msg_benchmock0000000000000000", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 24, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                         "output_tokens": 1}}
    events = [("message_start", {"message": message}),
              ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
              ("ping", {})]
    for i, word in enumerate(WORDS):
        events.append(("content_block_delta", {"index": 0, "delta": {"type": "text_delta",
                                                                     "text": word if i == 0 else " " + word}}))
    events += [("content_block_stop", {"index": 0}),
               ("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": 23}}),
               ("message_stop", {})]
    return ["event: " + kind + "\ndata: " + json.dumps({"type": kind, **data}, separators=(",", ":")) + "\n\n"
            for kind, data in events]


def echo_snippet(events: list[str], paced: bool) -> str:
    lines = ["# Generated by bench/mock/make_mock.py; do not edit."]
    for i, event in enumerate(events):
        # nginx quoted strings understand \n; the payload has no ' \\ or $ that would need escaping.
        assert "'" not in event and "\\" not in event and "$" not in event
        if paced:
            lines.append("echo_sleep $mock_first_delay;" if i == 0 else "echo_sleep $mock_event_gap;")
        lines.append("echo -n '" + event.replace("\n", "\\n") + "';")
        if paced:
            lines.append("echo_flush;")
    return "\n".join(lines) + "\n"


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    body = completion()
    (out / "completion.json").write_bytes(body)
    # `return` sends the body with a Content-Length (the static module refuses POST with 405).
    text = body.decode()
    assert "'" not in text and "\\" not in text and "$" not in text
    (out / "completion.conf").write_text("# Generated by bench/mock/make_mock.py; do not edit.\n"
                                         "return 200 '" + text.replace("\n", "\\n") + "';\n")
    for name, usage in (("stream", False), ("stream_usage", True)):
        events = stream_events(usage)
        (out / f"{name}.sse").write_text("".join(events))
        (out / f"{name}_fast.conf").write_text(echo_snippet(events, paced=False))
        (out / f"{name}_slow.conf").write_text(echo_snippet(events, paced=True))
    for name, events in (("responses_stream", responses_events()), ("messages_stream", messages_events())):
        (out / f"{name}.sse").write_text("".join(events))
        (out / f"{name}_fast.conf").write_text(echo_snippet(events, paced=False))


if __name__ == "__main__":
    main()
