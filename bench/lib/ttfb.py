#!/usr/bin/env python3
"""Time to the first streamed event, as a client sees it.

Sends REQUESTS streaming chat requests one after another on one keep-alive connection and measures, for each,
the time from just before the request is written to the moment the first `data:` bytes of the body arrive.
bench/run.sh points it at the mock's delaying port (the mock waits FIRST_EVENT_DELAY_MS before its first
event) directly and through every proxy; the difference to direct is what the proxy adds to the first event.

Prints one JSON object: {"n", "errors", "median_ms", "p90_ms", "min_ms", "max_ms"}.
Standard library only; http.client does the HTTP framing (chunked or not).
"""
import argparse
import http.client
import json
import statistics
import time

BODY = json.dumps({
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "Write one short sentence about load testing."}],
    "max_tokens": 64,
}).encode()
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}


def add_headers(lines):
    """--header "Name: value" (bench/run.sh passes a target's own headers, e.g. a virtual key) into HEADERS."""
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--header must look like 'Name: value', not {line!r}")
        name = name.strip()
        for known in [k for k in HEADERS if k.lower() == name.lower()]:
            del HEADERS[known]
        HEADERS[name] = value.strip()
MAX_BODY_BYTES = 1 << 20


def one_request(conn: http.client.HTTPConnection) -> float:
    """Returns seconds to the first event; raises on any deviation from a complete 200 stream."""
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=BODY, headers=HEADERS)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read(300)!r}")
    seen = b""
    first = None
    while first is None:
        piece = response.read1(65536)
        if not piece:
            raise RuntimeError("stream ended before its first event")
        seen += piece
        if b"data:" in seen:
            first = time.perf_counter() - start
        if len(seen) > MAX_BODY_BYTES:
            raise RuntimeError("no event in the first MiB")
    seen += response.read(MAX_BODY_BYTES)
    if not seen.rstrip().endswith(b"data: [DONE]"):
        raise RuntimeError("stream does not end with data: [DONE]")
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--header", action="append", default=[], metavar="NAME: VALUE",
                        help="sent with every request; an Authorization header replaces Bearer sk-bench")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    add_headers(args.header)

    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    one_request(conn)  # warm-up: opens the client and upstream connections, not counted
    samples, errors = [], 0
    for _ in range(args.requests):
        try:
            samples.append(one_request(conn))
        except (OSError, http.client.HTTPException, RuntimeError):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    conn.close()
    if not samples:
        raise SystemExit("ttfb.py: every request failed")
    samples.sort()
    ms = [s * 1000 for s in samples]
    print(json.dumps({
        "n": len(ms),
        "errors": errors,
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
    }))


if __name__ == "__main__":
    main()
