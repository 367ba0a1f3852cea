#!/usr/bin/env python3
"""Resident memory of a proxy holding many connections.

  memcheck.py idle    --port P --pid PID --connections N
      Opens N keep-alive connections, sends one non-streaming request on each and reads the answer, then
      leaves them all open and idle; samples the proxy's VmRSS while they are held.
  memcheck.py streams --port P --pid PID --connections N --stream-seconds S
      Opens N connections and starts one streaming request on each; bench/run.sh points the proxy at the
      mock's slow port, which paces every stream over about S seconds, so all N streams are in flight at once.
      Samples VmRSS until the streams are due to end, then reads every response and checks it is a complete
      stream ending with `data: [DONE]`. (The client reads late on purpose: a 7 KB stream fits in the socket
      buffers, and not reading keeps this client from needing a thread or an event loop per stream.)

PID is the process whose memory counts (nginx: its worker). Prints one JSON object:
{"mode", "connections", "ok", "failed", "rss_before_kb", "rss_peak_kb", "fds_before", "fds_peak", "hwm_kb",
"seconds"}.
Standard library only; http.client does the HTTP framing.
"""
import argparse
import http.client
import json
import os
import resource
import threading
import time

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
MESSAGES = [{"role": "user", "content": "Write one short sentence about load testing."}]
NONSTREAM_BODY = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES}).encode()
MAX_BODY_BYTES = 1 << 20


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler:
    """Samples the proxy's VmRSS and open descriptors every 20 ms on a thread until stopped. The peak count of
    descriptors shows whether all connections (and, for streams, their upstream connections) were open at once."""

    def __init__(self, pid: int):
        self.pid, self._stop = pid, threading.Event()
        self.peak_rss_kb, self.peak_fds = status_kb(pid, "VmRSS"), open_fds(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        self.peak_rss_kb = max(self.peak_rss_kb, status_kb(self.pid, "VmRSS"))
        self.peak_fds = max(self.peak_fds, open_fds(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {"rss_peak_kb": self.peak_rss_kb, "fds_peak": self.peak_fds}


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    return conn


def idle(args) -> dict:
    before, fds_before = status_kb(args.pid, "VmRSS"), open_fds(args.pid)
    conns, ok, failed = [], 0, 0
    for _ in range(args.connections):
        try:
            conn = connect(args.port)
            conn.request("POST", "/v1/chat/completions", body=NONSTREAM_BODY, headers=HEADERS)
            response = conn.getresponse()
            response.read(MAX_BODY_BYTES)
            if response.status == 200 and not response.will_close:
                ok += 1
            else:
                failed += 1
            conns.append(conn)
        except (OSError, http.client.HTTPException):
            failed += 1
    # All connections are now idle with a completed request behind them; hold them and watch memory.
    sampler = Sampler(args.pid)
    time.sleep(2.0)
    peaks = sampler.stop()
    for conn in conns:
        conn.close()
    return {"ok": ok, "failed": failed, "rss_before_kb": before, "fds_before": fds_before, **peaks}


def streams(args) -> dict:
    before, fds_before = status_kb(args.pid, "VmRSS"), open_fds(args.pid)
    sampler = Sampler(args.pid)
    conns, failed = [], 0
    started = time.monotonic()
    for _ in range(args.connections):
        try:
            conn = connect(args.port)
            conn.request("POST", "/v1/chat/completions", body=STREAM_BODY, headers=HEADERS)
            conns.append(conn)
        except (OSError, http.client.HTTPException):
            failed += 1
    send_seconds = time.monotonic() - started
    # Each stream runs for about stream_seconds after it was sent. Memory is sampled until every response
    # has been read; reading starts once the last stream is due to end.
    time.sleep(max(0.0, args.stream_seconds - send_seconds))
    ok = 0
    for conn in conns:
        try:
            response = conn.getresponse()
            body = response.read(MAX_BODY_BYTES)
            if response.status == 200 and body.rstrip().endswith(b"data: [DONE]"):
                ok += 1
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
        conn.close()
    peaks = sampler.stop()
    return {"ok": ok, "failed": failed, "send_seconds": round(send_seconds, 3), "rss_before_kb": before,
            "fds_before": fds_before, **peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["idle", "streams"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--header", action="append", default=[], metavar="NAME: VALUE",
                        help="sent with every request; an Authorization header replaces Bearer sk-bench")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--stream-seconds", type=float, default=6.0)
    args = parser.parse_args()
    add_headers(args.header)
    if not 1 <= args.connections <= 20000:
        raise SystemExit("--connections must be 1..20000")
    raise_fd_limit(args.connections + 100)

    started = time.monotonic()
    result = idle(args) if args.mode == "idle" else streams(args)
    result = {"mode": args.mode, "connections": args.connections, **result,
              "hwm_kb": status_kb(args.pid, "VmHWM"), "seconds": round(time.monotonic() - started, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
