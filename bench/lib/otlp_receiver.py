#!/usr/bin/env python3
"""The OTLP/HTTP backend of the harness's gateway-*otlp* targets and of `EXPORTERS=...otlp... bench/instructions.sh`:
the project's strict test receiver (FakeOtlp in tests/integration/fake_backends.py), run as a process of its own.

    otlp_receiver.py --port N [--protocol http/protobuf|http/json] [--strict N]

The first `--strict` requests of each signal (default 20: those of the response checks before any load) go through
FakeOtlp whole: every request must decode and follow the OTLP mapping and the GenAI conventions it checks, and the
record ids of the log records and spans are kept. Every later request is only decoded and counted (log records,
spans, data points), so that the receiver costs the load core as little as a receiver can that still counts what
it was sent. A request that does not decode is answered 400 and counted as a violation in both phases.

GET /stats answers {"requests": {...}, "items": {"logs": N, "traces": N, "metrics": N}, "ids": {"logs": [...],
"traces": [...]}, "violations": [...]}: items counted over both phases (metrics: data points), ids of the strict
phase only.

Needs protoc and Debian's python3-protobuf (as the integration tests do).
"""
import argparse
import json
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
sys.dont_write_bytecode = True

import fake_backends  # noqa: E402  (the path above)

SIGNALS = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}


def count_items(signal_name, protobuf, body):
    """Log records, spans or histogram data points in one Export*ServiceRequest."""
    if protobuf:
        msg = fake_backends.otlp_protobuf()[signal_name][0]()
        msg.ParseFromString(body)
        if signal_name == "logs":
            return sum(len(s.log_records) for r in msg.resource_logs for s in r.scope_logs)
        if signal_name == "traces":
            return sum(len(s.spans) for r in msg.resource_spans for s in r.scope_spans)
        return sum(len(m.histogram.data_points) for r in msg.resource_metrics for s in r.scope_metrics
                   for m in s.metrics)
    doc = json.loads(body)
    if signal_name == "logs":
        return sum(len(s.get("logRecords", [])) for r in doc["resourceLogs"] for s in r["scopeLogs"])
    if signal_name == "traces":
        return sum(len(s.get("spans", [])) for r in doc["resourceSpans"] for s in r["scopeSpans"])
    return sum(len(m["histogram"].get("dataPoints", [])) for r in doc["resourceMetrics"] for s in r["scopeMetrics"]
               for m in s["metrics"])


class BenchOtlp(fake_backends.FakeOtlp):
    """FakeOtlp for the first `strict` requests of each signal, then decode and count."""

    def __init__(self, protocol, strict, port):
        self.strict = strict
        self.signal_requests = {name: 0 for name in SIGNALS.values()}
        self.items = {name: 0 for name in SIGNALS.values()}
        super().__init__(protocol, port=port)

    def handle(self, method, path, headers, raw):
        if method == "GET" and path == "/stats":
            body = json.dumps({"requests": self.signal_requests, "items": self.items,
                               "ids": {"logs": self.received["logs"], "traces": self.received["traces"]},
                               "violations": self.violations}).encode()
            return 200, [("Content-Type", "application/json")], body
        # FakeBackend logs every request (for the fault tests' timings); a load would grow that log forever.
        if len(self.requests) > 1000:
            del self.requests[:]
        signal_name = SIGNALS.get(path)
        if method != "POST" or signal_name is None:
            return super().handle(method, path, headers, raw)
        self.signal_requests[signal_name] += 1
        if self.signal_requests[signal_name] <= self.strict:
            before = len(self.received[signal_name]) if signal_name != "metrics" else self.metric_points
            answer = super().handle(method, path, headers, raw)  # raises on a violation: _dispatch answers 400
            after = len(self.received[signal_name]) if signal_name != "metrics" else self.metric_points
            self.items[signal_name] += after - before
            return answer
        protobuf = self.protocol == "http/protobuf"
        body = fake_backends._decode_body(headers, raw, require="gzip" if self.gzip else None)
        self.items[signal_name] += count_items(signal_name, protobuf, body)
        return self.answer("application/x-protobuf" if protobuf else "application/json", signal_name, 200)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", default="http/protobuf", choices=["http/protobuf", "http/json"])
    ap.add_argument("--strict", type=int, default=20, help="requests per signal checked in full (default 20)")
    args = ap.parse_args()
    receiver = BenchOtlp(args.protocol, args.strict, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"otlp_receiver: {args.protocol} on 127.0.0.1:{args.port}", flush=True)
    stop.wait()
    receiver.stop()


if __name__ == "__main__":
    main()
