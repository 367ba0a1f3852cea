"""Starts the real gateway binary and the mock upstream for integration tests.

Everything listens on 127.0.0.1 with ports picked by the kernel (port 0).
Processes are always killed on exit, and every wait has a deadline.
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import atexit
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY_BIN = os.environ.get("GW_GATEWAY_BIN", "")
TEST_KEY = "sk-test-SECRET-9f8e7d6c5b4a"  # must never appear in any output
# Sanitizer builds run the gateway 5-15x slower: the TSan/ASan test presets
# set GW_SLOW_FACTOR, and every deadline a test derives from the gateway's
# speed is multiplied by it (SLOW). The plain debug suite keeps its figures.
SLOW = max(1.0, float(os.environ.get("GW_SLOW_FACTOR", "1") or 1))
# A ThreadSanitizer report in the gateway's stderr fails the test that ran
# it (Gateway.stop()), whatever the exit status: TSAN_OPTIONS=halt_on_error=1
# also makes the gateway exit 66 at the first report.
SANITIZER_MARKERS = (b"WARNING: ThreadSanitizer", b"ERROR: ThreadSanitizer", b"ThreadSanitizer: reported")


# What every gateway a test starts inherits from the test's own environment:
# PATH, and the sanitizer settings of the suite (test.sh sets TSAN_OPTIONS
# with the suppression file and halt_on_error; without it a known
# third-party false positive in tests/tsan.supp would fail a test).
INHERITED = ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")


def base_env(settings=None):
    """A clean environment for the gateway: INHERITED from ours, then `settings`."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update(settings or {})
    return env


def sanitizer_report(text):
    """The first sanitizer report in `text` (bytes), or None."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            # The whole report: both stacks (Boost frames are long) up to its SUMMARY line.
            end = text.find(b"\n", text.find(b"SUMMARY: ThreadSanitizer", i))
            end = len(text) if end < 0 else end
            return text[max(0, i - 200):min(end, i + 60000)].decode("utf-8", "replace")
    return None


def wait_until(what, predicate, timeout=30.0, interval=0.05):
    """Polls predicate() until it returns something truthy and returns that;
    fails after `timeout` seconds (scaled by GW_SLOW_FACTOR)."""
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def wait_for_line(stream, prefix, timeout=15.0):
    deadline = time.time() + timeout * SLOW
    buf = b""
    fd = stream.fileno()
    os.set_blocking(fd, False)
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            # Only complete lines: a read can end in the middle of one.
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(prefix):
                    return line.decode(), buf
        elif chunk == b"":
            break
        else:
            time.sleep(0.01)
    raise RuntimeError("did not see %r; got %r" % (prefix, buf[-2000:]))


_LIVE = []

# This test process's temporary files (the gateway's stdout and spool, the
# mock's event log, ...): one directory, removed at exit unless GW_KEEP_TEMP
# is set (to read them after a failure).
RUN_DIR = tempfile.mkdtemp(prefix="gw-it-")


@atexit.register
def _clean_up():
    """A failing test must not leave processes behind (they would hold the
    test runner's pipes open), nor its files: a suite run writes gigabytes."""
    for p in _LIVE:
        if p.poll() is None:
            p.kill()
            p.wait()
    if os.environ.get("GW_KEEP_TEMP"):
        sys.stderr.write("temporary files kept in %s\n" % RUN_DIR)
    else:
        shutil.rmtree(RUN_DIR, ignore_errors=True)


class MockUpstream:
    def __init__(self, extra_args=()):
        self.log_path = tempfile.mktemp(prefix="mock-upstream-", suffix=".jsonl", dir=RUN_DIR)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "mock_upstream.py"), "--log", self.log_path,
                                      *extra_args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        _LIVE.append(self.proc)
        line, _ = wait_for_line(self.proc.stdout, b"PORT ")
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def events(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            text = f.read()
        # One line per event, written while the test reads: the text after
        # the last newline is an event still being written (a line longer
        # than the file's buffer reaches the file in parts), not yet one.
        return [json.loads(l) for l in text.split("\n")[:-1] if l.strip()]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Gateway:
    """The real binary on port 0. stdout (records) and stderr (logs) are kept."""

    def __init__(self, env=None, args=None, expect_start=True):
        self.out = tempfile.NamedTemporaryFile(prefix="gw-stdout-", delete=False, dir=RUN_DIR)
        full_env = base_env({"PORT": "0", "WORKER_THREADS": "2", "ENABLED_EXPORTERS": "none",
                             "TELEMETRY_SPOOL_DIR": tempfile.mkdtemp(prefix="gw-spool-", dir=RUN_DIR)})
        full_env.update(env or {})
        self.proc = subprocess.Popen([GATEWAY_BIN] + (args or []), env=full_env, stdout=self.out,
                                     stderr=subprocess.PIPE)
        self.out.close()  # the gateway has its own descriptor; stdout_text() reads the file by name
        _LIVE.append(self.proc)
        self.stderr_seen = b""
        if expect_start:
            try:
                line, self.stderr_seen = wait_for_line(self.proc.stderr, b"listening on port ")
            except RuntimeError:
                self.proc.kill()
                self.proc.wait()
                report = sanitizer_report(self.stderr_seen + (self.proc.stderr.read() or b""))
                if report:
                    raise AssertionError("sanitizer report at start-up:\n" + report)
                raise
            self.port = int(line.rsplit(" ", 1)[1])
        # stderr is drained all along (a chatty LOG_LEVEL=debug gateway
        # would otherwise fill the pipe and block on its next log line).
        self._drainer = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drainer.start()

    def _drain_stderr(self):
        fd = self.proc.stderr.fileno()
        os.set_blocking(fd, True)
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.stderr_seen += chunk

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the gateway and returns its exit status; raises
        AssertionError if its stderr holds a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._drainer.join(10)
        if not self._drainer.is_alive():
            self.proc.stderr.close()
        report = sanitizer_report(self.stderr_seen)
        if report and not getattr(self, "_reported", False):
            self._reported = True  # once, even if stop() is called again by a cleanup
            raise AssertionError("the gateway (exit status %s) reported:\n%s" % (self.proc.returncode, report))
        return self.proc.returncode

    def stdout_text(self):
        with open(self.out.name, "rb") as f:
            return f.read().decode("utf-8", "replace")


def peer_closed(sock, wait=0.0):
    """Whether the peer of the connected socket `sock` closed it (FIN or
    reset), waiting up to `wait` seconds for a sign; reads nothing."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def reset_connection(handler):
    """Ends the connection of an http.server request handler with a TCP
    reset (RST), not a FIN: SO_LINGER 0, then the socket's last reference
    closed at once (http.server would shut it down with a FIN first)."""
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.rfile.close()
    handler.connection.close()
    handler.close_connection = True


def free_port():
    """A loopback port nothing listens on (just now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection. Returns (status, headers dict lower-case, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    payload = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, payload


def sse_events(payload):
    out = []
    for block in payload.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(line[6:])
    return out
