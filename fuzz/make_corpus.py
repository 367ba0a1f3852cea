#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ from the recorded transcripts in
tests/testdata/providers/transcripts (Vercel AI SDK, Apache-2.0; see
SOURCES.md there). Event-stream frames are encoded here, with zlib's CRC32,
independently of the C++ decoder. The first byte of every seed is the
fuzzers' control byte (piece size, include_usage). Run from the repository root."""
import json
import os
import struct
import zlib

T = "tests/testdata/providers/transcripts"
OUT = "fuzz/corpus"


def frame(headers, payload):
    h = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        h += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + h + payload
    return body + struct.pack(">I", zlib.crc32(body))


def bedrock(lines):
    out = b""
    for line in lines:
        obj = json.loads(line)
        (key, payload), = obj.items()
        data = json.dumps(payload, separators=(",", ":")).encode()
        if key.startswith("exception:"):
            out += frame([(":exception-type", key[10:]), (":content-type", "application/json"),
                          (":message-type", "exception")], data)
        else:
            out += frame([(":event-type", key), (":content-type", "application/json"),
                          (":message-type", "event")], data)
    return out


def lines(name):
    return [l for l in open(os.path.join(T, name)).read().splitlines() if l.strip()]


def write(target, name, data):
    os.makedirs(os.path.join(OUT, "fuzz_" + target), exist_ok=True)
    with open(os.path.join(OUT, "fuzz_" + target, name), "wb") as f:
        f.write(data)


for name in ["bedrock-text", "bedrock-tool"]:
    stream = bedrock(lines(name + ".chunks.jsonl"))
    write("event_stream_decoder", name, b"\x07" + stream)
    write("event_stream_decoder", name + "-bytewise", b"\x00" + stream)
    write("bedrock_stream", name, b"\x85" + stream)
    write("bedrock_stream", name + "-json", b"\x01" + open(os.path.join(T, name + ".json"), "rb").read())
write("bedrock_stream", "exception", b"\x10" + bedrock(
    lines("bedrock-text.chunks.jsonl")[:2] + ['{"exception:throttlingException":{"message":"slow down"}}']))
write("event_stream_decoder", "bad-crc", b"\x03" + bytes(frame([(":message-type", "event")], b"{}")[:-1]) + b"\x00")

for name in ["anthropic-text", "anthropic-tool"]:
    sse = "".join("event: %s\ndata: %s\n\n" % (json.loads(l)["type"], l) for l in lines(name + ".chunks.jsonl"))
    write("anthropic_stream", name, b"\x8f" + sse.encode())
    write("anthropic_stream", name + "-crlf", b"\x05" + sse.replace("\n", "\r\n").encode())
write("anthropic_stream", "error-event",
      b"\x20event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
