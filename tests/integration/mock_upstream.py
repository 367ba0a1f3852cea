#!/usr/bin/env python3
"""A scriptable mock LLM upstream for the integration tests.

Serves OpenAI-shaped responses on 127.0.0.1 (port printed on stdout as
"PORT <n>"). Behaviour is chosen by the request: the JSON body's "model"
selects a scenario, so a test drives the gateway exactly as a client would.

Scenarios (model name):
  anything else    -> the recorded OpenAI transcript (non-stream or stream)
  slow-stream      -> 5 chunks, one every 200 ms
  hang             -> accept, never answer
  reset-headers    -> close the socket without answering
  reset-mid-stream -> 3 chunks, then reset
  error-mid-stream -> 3 chunks, then OpenAI's in-band error event
                      (data: {"error":{...server_error...}}), then the body ends
  error-429        -> 429 with an OpenAI error body and Retry-After
  echo             -> 200 with the request seen (method, path, headers, body)
  unpriced-*       -> the recorded chat completion, but naming the requested
                      model (one no price table knows), non-stream only
  fault-*          -> fault injection (resets, hangs, slow and large bodies):
                      see fault_scenario below
Path /v1/responses (the OpenAI Responses API): see responses_route below;
/v1/embeddings: embeddings_body; native Messages API models (native-*):
messages_route. The Anthropic (POST /v1/messages) and Bedrock
(/model/{id}/converse[-stream]) answers of the chat translation: see
"Translated providers" below.
Every request is logged to the file given with --log (one JSON per line), so
tests can check what reached the upstream (and that cancelled requests were
cancelled: "closed" events).
"""
import argparse
import asyncio
import json
import os
import socket
import struct
import sys

TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "testdata", "providers", "transcripts")


def load_chunks():
    with open(os.path.join(TRANSCRIPTS, "openai-stream.chunks.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), "rb") as f:
        return f.read()


CHAT = transcript("openai-chat.json")
CHUNKS = load_chunks()


def jsonl(name):
    return [json.loads(l) for l in transcript(name).decode().splitlines() if l.strip()]


def eventstream_message(headers, payload):
    """One application/vnd.amazon.eventstream message (string headers only):
    prelude (total length, headers length, prelude CRC32), headers, payload,
    message CRC32 -- AWS's documented framing."""
    import struct
    import zlib
    hbytes = b""
    for k, v in headers.items():
        kb, vb = k.encode(), v.encode()
        hbytes += struct.pack(">B", len(kb)) + kb + b"\x07" + struct.pack(">H", len(vb)) + vb
    total = 12 + len(hbytes) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hbytes))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    msg = prelude + hbytes + payload
    return msg + struct.pack(">I", zlib.crc32(msg) & 0xFFFFFFFF)


def bedrock_stream(name):
    out = []
    for line in jsonl(name):
        (etype, payload), = line.items()
        out.append(eventstream_message({":event-type": etype, ":message-type": "event",
                                        ":content-type": "application/json"},
                                       json.dumps(payload, separators=(",", ":")).encode()))
    return out


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def write(self, **event):
        if self.f:
            self.f.write(json.dumps(event) + "\n")


def reset(writer):
    """Ends the connection with a TCP reset (RST), not a FIN: SO_LINGER 0."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def send_then_reset(pieces, writer):
    """A chunked body's first `pieces` (each one HTTP chunk), then a TCP
    reset once the gateway had time to read them."""
    for p in pieces:
        writer.write(b"%x\r\n%s\r\n" % (len(p), p))
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def send_slowly(pieces, reader, writer, log, model, delay=0.2):
    """Each of `pieces` as one HTTP chunk, `delay` apart, then the last
    chunk. True when all were sent; False, with a "closed" event logged, as
    soon as the gateway closed the connection."""
    try:
        for p in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(p), p))
            await writer.drain()
            await asyncio.sleep(delay)
            if reader.at_eof():
                raise ConnectionError
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, OSError):
        log.write(event="closed", model=model)
        return False
    return True


def sse_chunks(include_usage):
    out = []
    for c in CHUNKS:
        c = dict(c)
        if not include_usage:
            if not c.get("choices"):
                continue
            c.pop("usage", None)
        out.append(b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
    return method, path, headers, body


def response(status, body, ctype="application/json", extra=b""):
    reason = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 429: b"Too Many Requests",
              500: b"Internal Server Error"}.get(status, b"X")
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nx-request-id: req_upstream_1\r\n%s\r\n"
            % (status, reason, ctype.encode(), len(body), extra)) + body


async def handle(reader, writer, log):
    try:
        while True:
            try:
                method, path, headers, body = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            try:
                req = json.loads(body) if body else {}
            except ValueError:
                req = {}
            model = req.get("model", "") if isinstance(req, dict) else ""
            log.write(event="request", method=method, path=path, headers=headers, body=body.decode("utf-8", "replace"), model=model)
            stream = isinstance(req, dict) and req.get("stream") is True
            if model.startswith("fault-"):  # fault injection (test_faults.py): see fault_scenario below
                if await fault_scenario(model, req, reader, writer, log):
                    continue
                return
            if model == "hang":
                try:
                    await reader.read()  # until the gateway closes
                finally:
                    log.write(event="closed", model=model)
                return
            if model == "reset-headers":
                writer.transport.abort()
                return
            if model == "error-429":
                writer.write(response(429, b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}', extra=b"Retry-After: 7\r\n"))
                await writer.drain()
                continue
            if model == "echo":
                seen = json.dumps({"method": method, "path": path, "headers": headers, "body": body.decode("utf-8", "replace")}).encode()
                writer.write(response(200, seen))
                await writer.drain()
                continue
            if path == "/v1/responses" or path.startswith("/v1/responses/"):
                if await responses_route(method, path, model, stream, reader, writer, log):
                    continue
                return
            if path.split("?")[0] in ("/v1/messages", "/v1/messages/count_tokens") and model.startswith("native-"):
                if not await messages_route(path, headers, model, stream, reader, writer, log):
                    return
                continue
            if path == "/v1/messages":  # Anthropic Messages API
                if not headers.get("x-api-key") or headers.get("anthropic-version") != "2023-06-01":
                    writer.write(response(401, b'{"type":"error","error":{"type":"authentication_error","message":"missing x-api-key"}}'))
                elif model == "anthropic-error":
                    writer.write(response(400, transcript("anthropic-error.json")))
                elif stream:
                    events = [b"event: %s\ndata: %s\n\n" % (e["type"].encode(), json.dumps(e, separators=(",", ":")).encode())
                              for e in jsonl(ANTHROPIC_STREAMS.get(model, "anthropic-text.chunks.jsonl"))]
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nrequest-id: req_anthropic_1\r\n\r\n")
                    if model == "anthropic-slow":
                        if not await send_slowly(events, reader, writer, log, model):
                            return
                        continue
                    if model == "anthropic-reset":
                        await send_then_reset(events[:4], writer)
                        return
                    for e in events:
                        writer.write(b"%x\r\n%s\r\n" % (len(e), e))
                    writer.write(b"0\r\n\r\n")
                else:
                    writer.write(response(200, transcript("anthropic-tool.json" if model == "anthropic-tool" else "anthropic-text.json")))
                await writer.drain()
                continue
            if path.startswith("/model/") and (path.endswith("/converse") or path.endswith("/converse-stream")):
                auth = headers.get("authorization", "")
                if not auth.startswith("AWS4-HMAC-SHA256 Credential=") or "/bedrock/aws4_request" not in auth \
                        or "x-amz-date" not in headers:
                    writer.write(response(403, b'{"message":"The request signature we calculated does not match"}'))
                elif path.endswith("/converse-stream"):
                    frames = bedrock_stream("bedrock-text.chunks.jsonl")
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\nx-amzn-RequestId: req_bedrock_1\r\n\r\n")
                    bedrock_model = path.split("/")[2]
                    if bedrock_model == "bedrock-slow":
                        if not await send_slowly(frames, reader, writer, log, bedrock_model):
                            return
                        continue
                    if bedrock_model == "bedrock-reset":
                        await send_then_reset(frames[:4], writer)
                        return
                    blob = b"".join(frames)
                    # Deliberately split frames across HTTP chunks at odd offsets.
                    for i in range(0, len(blob), 37):
                        part = blob[i:i + 37]
                        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                    writer.write(b"0\r\n\r\n")
                else:
                    writer.write(response(200, transcript("bedrock-text.json")))
                await writer.drain()
                continue
            if path == "/v1/embeddings" and method == "POST":
                writer.write(response(200, embeddings_body(req)))
                await writer.drain()
                continue
            if path.endswith("/models") and method == "GET":
                writer.write(response(200, b'{"object":"list","data":[{"id":"gpt-4o","object":"model"}]}'))
                await writer.drain()
                continue
            if model.startswith("unpriced-") and not stream:
                doc = json.loads(CHAT)
                doc["model"] = model
                writer.write(response(200, json.dumps(doc).encode()))
                await writer.drain()
                continue
            if not stream:
                writer.write(response(200, CHAT))
                await writer.drain()
                continue
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nx-request-id: req_upstream_stream\r\n\r\n")
            chunks = sse_chunks(include_usage)
            delay = 0
            if model == "slow-stream":
                chunks = chunks[:5] + chunks[-2:]
                delay = 0.2
            if model == "reset-mid-stream":
                for c in chunks[:3]:
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.transport.abort()
                return
            if model == "error-mid-stream":
                chunks = chunks[:3] + [b'data: {"error":{"message":"The server had an error while processing your '
                                       b'request. Sorry about that!","type":"server_error","param":null,'
                                       b'"code":null}}\n\n']
            try:
                for i, c in enumerate(chunks):
                    writer.write(b"%x\r\n%s\r\n" % (len(c), c))
                    await writer.drain()
                    if delay and i < len(chunks) - 1:
                        await asyncio.sleep(delay)
                        if reader.at_eof():
                            raise ConnectionError
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            except (ConnectionError, OSError):
                log.write(event="closed", model=model)
                return
    finally:
        try:
            writer.close()
        except Exception:
            pass


# --- Translated providers (test_records.py) ---------------------------------
# POST /v1/messages (what the anthropic provider sends for a chat completion;
# x-api-key and anthropic-version 2023-06-01 required, else 401), by model:
#   anthropic-tool   the recorded tool-call answer / stream (anthropic-tool.*)
#   anthropic-cache  streamed: the recorded prompt-cache stream (anthropic-cache.chunks.jsonl)
#   anthropic-error  400 with the recorded Anthropic error body
#   anthropic-slow   the text stream, one event every 200 ms ("closed" if the gateway goes away)
#   anthropic-reset  the text stream's first 4 events, then a TCP reset
#   anything else    the recorded text answer / stream (anthropic-text.*)
# POST /model/{id}/converse and /converse-stream (what the bedrock provider
# sends; a SigV4 Authorization header required, else 403): the recorded text
# answer, or its stream as event-stream frames cut across HTTP chunks; for
# the stream, model id bedrock-slow sends one frame every 200 ms ("closed" if
# the gateway goes away), bedrock-reset the first 4 frames, then a TCP reset.
ANTHROPIC_STREAMS = {"anthropic-tool": "anthropic-tool.chunks.jsonl", "anthropic-cache": "anthropic-cache.chunks.jsonl"}


# --- Embeddings (test_records.py) -------------------------------------------
# POST /v1/embeddings: one 8-dimensional vector per input (a string or a list
# of strings), or 3072-dimensional ones (about 23 kB each) for model
# "embed-large"; usage.prompt_tokens is 4 per input, as OpenAI writes it
# (usage last, no completion_tokens).
def embeddings_body(req):
    inputs = req.get("input", "")
    inputs = inputs if isinstance(inputs, list) else [inputs]
    dims = 3072 if req.get("model") == "embed-large" else 8
    data = [{"object": "embedding", "index": i, "embedding": [round(0.001 * ((i + 1) * (d + 7) % 997) - 0.5, 6)
                                                              for d in range(dims)]}
            for i in range(len(inputs))]
    doc = {"object": "list", "data": data, "model": "text-embedding-3-small",
           "usage": {"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)}}
    return json.dumps(doc).encode()


# --- The native Anthropic Messages API (test_messages_api.py) --------------
# POST /v1/messages, by model (each "native-..."; the request must carry
# x-api-key and anthropic-version, else 401 in Anthropic's shape):
#   native-cache     the recorded prompt-cache answer (anthropic-cache.json), or
#                    streamed: the recorded prompt-cache stream, one event per
#                    "event: <type>" + "data: <recorded line>", in HTTP chunks
#                    cut at odd offsets
#   native-text      the recorded text answer / stream (anthropic-text.*)
#   native-tool      the recorded tool-use answer / stream (anthropic-tool.*)
#   native-overload  529 with Anthropic's overloaded_error body
#   native-reset     the first half of the text stream, then a reset
#   native-slow      the text stream, one event every 200 ms ("closed" if the gateway goes away)
# POST /v1/messages/count_tokens answers {"input_tokens": 42}.
NATIVE_TRANSCRIPTS = {"native-cache": "anthropic-cache", "native-tool": "anthropic-tool"}


def messages_sse(name):
    return b"".join(b"event: %s\ndata: %s\n\n" % (json.loads(l)["type"].encode(), l.encode())
                    for l in transcript(name).decode().splitlines() if l.strip())


async def messages_route(path, headers, model, stream, reader, writer, log):
    """Answers one request; False when the connection is over."""
    if not headers.get("x-api-key") or not headers.get("anthropic-version"):
        writer.write(response(401, b'{"type":"error","error":{"type":"authentication_error","message":"x-api-key required"}}'))
    elif path.split("?")[0] == "/v1/messages/count_tokens":
        writer.write(response(200, b'{"input_tokens":42}', extra=b"request-id: req_count_1\r\n"))
    elif model == "native-overload":
        writer.write(response(529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
                              extra=b"request-id: req_overloaded_1\r\n"))
    elif not stream:
        name = NATIVE_TRANSCRIPTS.get(model, "anthropic-text")
        writer.write(response(200, transcript(name + ".json"), extra=b"request-id: req_native_1\r\n"))
    else:
        blob = messages_sse(NATIVE_TRANSCRIPTS.get(model, "anthropic-text") + ".chunks.jsonl")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     b"request-id: req_native_stream\r\n\r\n")
        if model == "native-reset":
            half = blob[:len(blob) // 2]
            writer.write(b"%x\r\n%s\r\n" % (len(half), half))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return False
        if model == "native-slow":
            return await send_slowly([e + b"\n\n" for e in blob.split(b"\n\n")[:-1]], reader, writer, log, model)
        for i in range(0, len(blob), 53):
            part = blob[i:i + 53]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


# --- The OpenAI Responses API (test_responses_api.py) ----------------------
# POST /v1/responses, by model:
#   responses-reasoning  the recorded reasoning response; streamed: the first
#                        of the four recorded streams (up to its response.completed)
#   responses-slow       the text stream, one event every 200 ms ("closed" if the gateway goes away)
#   responses-failed     a stream that ends in response.failed (error code server_error)
#   responses-cut        the text stream's first 4 events and half of the 5th, then a reset
#   responses-429        429 with OpenAI's rate-limit error body (RESPONSES_ERRORS)
#   responses-500        500 with OpenAI's server error body
#   anything else        the recorded text response (non-stream or stream)
# Streams are "event: <type>" and "data: <recorded line, unchanged>" per event,
# sent in HTTP chunks cut at odd offsets. GET /v1/responses/{id} answers the
# recorded text response, DELETE /v1/responses/{id} a deletion object, GET
# /v1/responses/{id}/input_items an empty list.
RESPONSES_FAILED = [
    b'{"type":"response.created","response":{"id":"resp_failed","object":"response","status":"in_progress",'
    b'"model":"gpt-4o-mini-2024-07-18","output":[],"usage":null},"sequence_number":0}',
    b'{"type":"response.failed","response":{"id":"resp_failed","object":"response","status":"failed",'
    b'"model":"gpt-4o-mini-2024-07-18","error":{"code":"server_error","message":"The model failed"},"output":[],'
    b'"usage":{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens":0,'
    b'"output_tokens_details":{"reasoning_tokens":0},"total_tokens":7}},"sequence_number":1}',
]


RESPONSES_ERRORS = {
    "responses-429": (429, b'{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on tokens '
                           b'per min (TPM): Limit 200000, Used 200000, Requested 12.","type":"tokens",'
                           b'"param":null,"code":"rate_limit_exceeded"}}'),
    "responses-500": (500, b'{"error":{"message":"The server had an error while processing your request. Sorry '
                           b'about that!","type":"server_error","param":null,"code":null}}'),
}


def responses_events(model):
    """The data lines of the stream for `model`, as recorded (bytes)."""
    if model == "responses-failed":
        return RESPONSES_FAILED
    name = "openai-responses-reasoning.chunks.jsonl" if model == "responses-reasoning" \
        else "openai-responses-text.chunks.jsonl"
    lines = [l for l in transcript(name).split(b"\n") if l.strip()]
    if model == "responses-reasoning":
        end = next(i for i, l in enumerate(lines) if json.loads(l)["type"] == "response.completed")
        lines = lines[:end + 1]
    return lines


def responses_sse(model):
    """The stream's bytes: one "event:" and one "data:" line per event."""
    return b"".join(b"event: %s\ndata: %s\n\n" % (json.loads(l)["type"].encode(), l)
                    for l in responses_events(model))


async def responses_route(method, path, model, stream, reader, writer, log):
    rest = path.split("?", 1)[0][len("/v1/responses"):]
    if method == "POST" and rest == "":
        if model in RESPONSES_ERRORS:
            status, body = RESPONSES_ERRORS[model]
            writer.write(response(status, body))
            await writer.drain()
            return True
        if not stream:
            name = "openai-responses-reasoning.json" if model == "responses-reasoning" else "openai-responses-text.json"
            writer.write(response(200, transcript(name)))
            await writer.drain()
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\nx-request-id: req_upstream_responses\r\n\r\n")
        try:
            if model == "responses-cut":
                events = [b"event: %s\ndata: %s\n\n" % (json.loads(l)["type"].encode(), l)
                          for l in responses_events(model)]
                part = b"".join(events[:4]) + events[4][:len(events[4]) // 2]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.transport.abort()
                return False
            if model == "responses-slow":
                events = [b"event: %s\ndata: %s\n\n" % (json.loads(l)["type"].encode(), l)
                          for l in responses_events(model)]
                return await send_slowly(events, reader, writer, log, model)
            blob = responses_sse(model)
            for i in range(0, len(blob), 53):  # events split across HTTP chunks
                part = blob[i:i + 53]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, OSError):
            log.write(event="closed", model=model)
            return False
        return True
    rid = rest.lstrip("/").split("/")[0]
    if method == "GET" and rest.endswith("/input_items"):
        writer.write(response(200, b'{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false}'))
    elif method == "GET":
        writer.write(response(200, transcript("openai-responses-text.json")))
    elif method == "DELETE":
        writer.write(response(200, json.dumps({"id": rid, "object": "response.deleted", "deleted": True}).encode()))
    else:
        writer.write(response(400, b'{"error":{"message":"unknown Responses route","type":"invalid_request_error"}}'))
    await writer.drain()
    return True


# --- Fault injection scenarios (test_faults.py) ---------------------------
# model "fault-<action>-<k>[-<n>]"; the request body's "tag" is logged with
# every event of the request. Streams are n synthetic SSE events (default 20)
# in a chunked body, one HTTP chunk per event, then [DONE].
#   resetbytes-K     the raw response (head + chunked body) cut after K bytes, then reset
#   resetevents-K    K events, then reset
#   resetchunkhdr-K  K events, then half a chunk-size line, then reset
#   resetmidchunk-K  K events, then half of the next chunk, then reset
#   finevents-K      K events, then a clean close (FIN): a truncated chunked body
#   hangevents-K     K events, then silence until the gateway closes ("closed" event)
#   nsresetbytes-K   non-stream: a Content-Length body cut after K bytes of the raw response, then reset
#   slowstream-N-MS  N events, one every MS ms ("closed" event if the gateway goes away)
#   slowbody-N-MS    non-stream: a Content-Length JSON body sent in N pieces, one every MS ms ("closed" likewise)
#   bigstream-N-SIZE N events of SIZE bytes each, as fast as the gateway reads; "progress"
#                    events every 64 KiB (sent = bytes written so far), "done" or "closed" at the end
# Returns True when the connection can serve another request.
FAULT_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
              b"x-request-id: req_fault\r\n\r\n")


def fault_event(i, size=0):
    text = "tok%d " % i
    if size:
        text = text + "x" * max(0, size - 120)
    doc = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def fault_chunk(payload):
    return b"%x\r\n%s\r\n" % (len(payload), payload)


async def fault_scenario(model, req, reader, writer, log):
    parts = model.split("-")
    action = parts[1]
    nums = [int(x) for x in parts[2:]]
    k = nums[0] if nums else 0
    tag = req.get("tag", "") if isinstance(req, dict) else ""
    n_events = 20
    events = [fault_chunk(fault_event(i)) for i in range(n_events)]
    tail = [fault_chunk(b"data: [DONE]\n\n"), b"0\r\n\r\n"]

    async def gone():
        """Waits until the gateway closes the connection; logs it."""
        try:
            await reader.read()
        except (ConnectionError, OSError):
            pass
        log.write(event="closed", model=model, tag=tag)

    try:
        if action == "resetbytes":
            raw = FAULT_HEAD + b"".join(events) + b"".join(tail)
            writer.write(raw[:k])
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.transport.abort()
            return False
        if action == "nsresetbytes":
            raw = response(200, CHAT)
            writer.write(raw[:k])
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.transport.abort()
            return False
        if action in ("resetevents", "resetchunkhdr", "resetmidchunk", "finevents", "hangevents"):
            writer.write(FAULT_HEAD + b"".join(events[:k]))
            if action == "resetchunkhdr":
                writer.write((b"%x" % len(fault_event(k)))[:1])  # e.g. "f" of "fb\r\n"
            elif action == "resetmidchunk":
                nxt = events[k % n_events]
                writer.write(nxt[:len(nxt) // 2])
            await writer.drain()
            if action == "hangevents":
                await gone()
                return False
            await asyncio.sleep(0.02)
            if action == "finevents":
                writer.close()
            else:
                writer.transport.abort()
            return False
        if action == "slowstream":
            count, delay = nums[0], nums[1] / 1000.0
            writer.write(FAULT_HEAD)
            for i in range(count):
                writer.write(fault_chunk(fault_event(i)))
                await writer.drain()
                await asyncio.sleep(delay)
                if reader.at_eof():
                    raise ConnectionError
            writer.write(b"".join(tail))
            await writer.drain()
            log.write(event="done", model=model, tag=tag)
            return True
        if action == "slowbody":
            count, delay = nums[0], nums[1] / 1000.0
            body = CHAT
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"x-request-id: req_fault\r\n\r\n" % len(body))
            step = max(1, len(body) // count)
            for i in range(0, len(body), step):
                writer.write(body[i:i + step])
                await writer.drain()
                await asyncio.sleep(delay)
                if reader.at_eof():
                    raise ConnectionError
            log.write(event="done", model=model, tag=tag)
            return True
        if action == "bigstream":
            count, size = nums[0], nums[1]
            one = fault_chunk(fault_event(0, size))
            writer.write(FAULT_HEAD)
            sent, next_report = 0, 64 << 10
            for i in range(count):
                writer.write(one)
                sent += len(one)
                await writer.drain()
                if sent >= next_report:
                    log.write(event="progress", model=model, tag=tag, sent=sent)
                    next_report += 64 << 10
            writer.write(b"".join(tail))
            await writer.drain()
            log.write(event="done", model=model, tag=tag, sent=sent)
            return True
    except (ConnectionError, OSError):
        log.write(event="closed", model=model, tag=tag)
        return False
    writer.write(response(400, b'{"error":{"message":"unknown fault scenario","type":"invalid_request_error"}}'))
    await writer.drain()
    return True


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default="")
    ap.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate chain (PEM)")
    ap.add_argument("--tls-key", default="")
    args = ap.parse_args()
    log = Log(args.log)
    ssl_ctx = None
    if args.tls_cert:
        import ssl
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    server = await asyncio.start_server(lambda r, w: handle(r, w, log), "127.0.0.1", args.port, limit=1 << 24,
                                        backlog=1024, ssl=ssl_ctx)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
