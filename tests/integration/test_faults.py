"""Fault injection through the real binary (issue 6): upstreams that reset or
hang at random points of a stream, clients that go away at random points,
clients that read a large stream slowly or not at all, and a spool on a full
disk. Every test also checks that the gateway keeps serving and leaks no
file descriptor.

Already covered elsewhere, and not repeated here:
  test_core.py      one upstream reset mid-stream (error event, keep-alive
                    still usable), reset before headers (502), hang (504),
                    one client disconnect cancelling a hung upstream
  test_records.py   the record of one cancelled stream / one cancelled
                    request before the head / one reset mid-stream
  test_delivery.py  exporter backend (PostgreSQL) down and back, kill -9 of
                    the gateway while the backend is down and restart with
                    the spool (nothing lost, nothing twice)

Randomised tests are seeded: GW_FAULT_SEED=N reproduces a run (the seed is
printed). Deadlines scale with GW_SLOW_FACTOR (sanitizer builds).
"""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

from harness import SLOW, TEST_KEY, Gateway, MockUpstream, http_request, sse_events, wait_until

SEED = int(os.environ.get("GW_FAULT_SEED", "0") or 0) or int(time.time()) % 100000
print("GW_FAULT_SEED=%d" % SEED, flush=True)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}




# --- raw HTTP client --------------------------------------------------------

def request_bytes(body, rid, extra=b""):
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"x-request-id: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (rid.encode(), extra, len(data), data))


def open_request(port, body, rid, extra=b""):
    s = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
    s.sendall(request_bytes(body, rid, extra))
    return s


class Response:
    status = 0
    headers = None
    body = b""
    terminated = False  # chunked: the last chunk came; Content-Length: the whole body came
    closed = False      # the gateway closed the connection


def read_response(sock, timeout=30.0):
    """Reads one response; never raises on a connection cut short."""
    sock.settimeout(timeout * SLOW)
    buf = b""
    r = Response()

    def more():
        nonlocal buf
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            r.closed = True
            return False
        buf += chunk
        return True

    while b"\r\n\r\n" not in buf:
        if not more():
            return r
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    r.status = int(lines[0].split()[1])
    r.headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    if r.headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                if not more():
                    r.body = body
                    return r
            size_line, rest = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                buf = size_line + b"\r\n" + rest
                if not more():
                    r.body = body + rest[:size]
                    return r
                size_line, rest = buf.split(b"\r\n", 1)
            if size == 0:
                r.terminated = True
                r.body = body
                return r
            body += rest[:size]
            buf = rest[size + 2:]
    n = int(r.headers.get("content-length", "0"))
    while len(buf) < n:
        if not more():
            break
    r.body = buf[:n]
    r.terminated = len(buf) >= n
    return r


# --- the gateway's file descriptors ------------------------------------------

TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def tcp_sockets(pid):
    """inode -> (local port, remote port, state) for the process's network namespace."""
    out = {}
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                next(f)
                for line in f:
                    p = line.split()
                    local, remote, state, inode = p[1], p[2], p[3], p[9]
                    out[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16),
                                  TCP_STATES.get(state, state))
        except FileNotFoundError:
            pass
    return out


class FdSnapshot:
    """The gateway's descriptors: client connections, upstream connections
    (by state), and everything else."""

    def __init__(self, gw, upstream_port):
        pid = gw.proc.pid
        tcp = tcp_sockets(pid)
        self.total = 0
        self.other = 0
        self.listen = 0
        self.clients = 0
        self.upstream_established = 0
        self.upstream_other = 0
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except FileNotFoundError:
                continue
            self.total += 1
            if not target.startswith("socket:["):
                self.other += 1
                continue
            local, remote, state = tcp.get(target[8:-1], (0, 0, "?"))
            if state == "LISTEN":
                self.listen += 1
            elif local == gw.port:
                self.clients += 1
            elif remote == upstream_port:
                if state == "ESTABLISHED":
                    self.upstream_established += 1
                else:
                    self.upstream_other += 1
            else:
                self.other += 1

    def __repr__(self):
        return "fds(total=%d other=%d listen=%d clients=%d upstream_established=%d upstream_other=%d)" % (
            self.total, self.other, self.listen, self.clients, self.upstream_established, self.upstream_other)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sysctl_max(name, default):
    """The largest size the kernel grows a TCP socket buffer to (the last of
    net.ipv4.<name>'s three values), or default where it cannot be read."""
    try:
        with open("/proc/sys/net/ipv4/" + name) as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return default


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Records:
    """Records written by the console exporter (one JSON per line on stdout)."""

    def __init__(self, gw):
        self.gw = gw

    def by_id(self):
        text = self.gw.stdout_text()
        complete = text[:text.rfind("\n") + 1]
        out = {}
        for line in complete.splitlines():
            if line.strip():
                rec = json.loads(line)
                out.setdefault(rec["attributes"]["id"], []).append(rec)
        return out


class FaultTestBase(unittest.TestCase):
    """One mock and one gateway (console exporter) per test."""

    gateway_env = {}

    def setUp(self):
        self.mock = MockUpstream()
        self.addCleanup(self.mock.stop)
        env = {"OPENAI_BASE_URL": self.mock.url, "OPENAI_API_KEY": TEST_KEY, "ENABLED_EXPORTERS": "console",
               "TELEMETRY_FLUSH_INTERVAL_MS": "50", "UPSTREAM_TIMEOUT_MS": str(int(1500 * SLOW))}
        env.update(self.gateway_env)
        self.gw = Gateway(env)
        self.addCleanup(self.gw.stop, signal.SIGKILL)
        self.records = Records(self.gw)
        self.rng = random.Random(SEED ^ zlib.crc32(self.id().encode()))
        # Warm up (threads, pools, loggers) before the descriptor baseline.
        for body in (CHAT, dict(CHAT, stream=True)):
            self.assertEqual(http_request(self.gw.port, "POST", "/v1/chat/completions", body)[0], 200)
        self.fds_before = wait_until("the warm-up connections closed", lambda: (
            lambda f: f if f.clients == 0 else None)(FdSnapshot(self.gw, self.mock.port)))

    def assert_still_serving(self):
        t0 = time.time()
        status, _, body = http_request(self.gw.port, "POST", "/v1/chat/completions", dict(CHAT, stream=True))
        self.assertEqual(status, 200)
        self.assertEqual(sse_events(body)[-1], "[DONE]")
        self.assertEqual(http_request(self.gw.port, "POST", "/v1/chat/completions", CHAT)[0], 200)
        return time.time() - t0

    def assert_no_fd_leak(self):
        """Once every client is gone, the gateway holds no client connection,
        no half-closed upstream connection, and no more descriptors than
        before except idle pooled upstream connections."""
        before = self.fds_before

        def settled():
            now = FdSnapshot(self.gw, self.mock.port)
            pooled = max(0, now.upstream_established - before.upstream_established)
            ok = (now.clients == 0 and now.upstream_other == 0 and now.listen == before.listen and
                  now.other <= before.other and now.total <= before.total + pooled)
            return now if ok else None

        try:
            after = wait_until("descriptors back to the baseline", settled, timeout=10)
        except AssertionError:
            self.fail("descriptor leak: before %r, now %r" % (before, FdSnapshot(self.gw, self.mock.port)))
        print("  %s: before %r, after %r" % (self.id().rsplit(".", 1)[-1], before, after), flush=True)

    def wait_records(self, ids, timeout=15):
        ids = set(ids)
        return wait_until("records of %d requests" % len(ids),
                          lambda: (lambda r: r if ids <= set(r) else None)(self.records.by_id()), timeout)


class UpstreamFaultTest(FaultTestBase):
    """Upstream resets and hangs at random points of streams."""

    def test_random_resets_and_hangs_in_streams(self):
        raw_len = 2600  # about the mock's whole fault stream (head + 20 events + [DONE])
        plan = []
        for i in range(50):
            action = self.rng.choice(["resetbytes", "resetevents", "resetchunkhdr", "resetmidchunk", "finevents",
                                      "hangevents", "nsresetbytes"])
            if action == "resetbytes":
                k = self.rng.randrange(0, raw_len)
            elif action == "nsresetbytes":
                k = self.rng.randrange(0, 1200)
            else:
                k = self.rng.randrange(0, 20)
            # When the client asks for usage itself the gateway passes the
            # stream's bytes through unchanged; otherwise it re-frames whole
            # events. A cut inside an event while bytes pass through is
            # test_passthrough_cut_inside_an_event (a known bug), not here.
            usage = self.rng.random() < 0.5 and action not in ("resetbytes", "resetmidchunk")
            body = {"model": "fault-%s-%d" % (action, k), "messages": [], "tag": "up-%d" % i}
            if action != "nsresetbytes":
                body["stream"] = True
                if usage:
                    body["stream_options"] = {"include_usage": True}
            plan.append(("up-%d" % i, action, k, body))

        def run(case):
            rid, action, k, body = case
            s = open_request(self.gw.port, body, rid)
            try:
                return case, read_response(s)
            finally:
                s.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, plan))

        problems = []
        for (rid, action, k, body), r in results:
            what = "%s %s k=%d usage=%s" % (rid, action, k, "stream_options" in body)
            if r.status in (502, 504):
                # An error before any byte of the response: a whole JSON error.
                if not (r.terminated and "error" in json.loads(r.body or b"{}")):
                    problems.append("%s: %d without a complete error body: %r" % (what, r.status, r.body[:200]))
            elif r.status == 200 and r.headers.get("transfer-encoding") == "chunked":
                events = sse_events(r.body) if r.body else []
                last = events[-1] if events else ""
                try:
                    last_is_error = "error" in json.loads(last)
                except ValueError:
                    last_is_error = False
                if not r.terminated:
                    problems.append("%s: stream not terminated (closed=%s)" % (what, r.closed))
                if not last_is_error:
                    problems.append("%s: the last event is not an error: %r" % (what, r.body[-300:]))
            elif r.status == 200 and action == "nsresetbytes":
                # A Content-Length body cut short: the gateway must close the
                # connection so that the client sees the truncation.
                if r.terminated or not r.closed:
                    problems.append("%s: truncated body not signalled (terminated=%s closed=%s)"
                                    % (what, r.terminated, r.closed))
            else:
                problems.append("%s: unexpected status %d" % (what, r.status))
        self.assertEqual(problems, [], "seed %d:\n%s" % (SEED, "\n".join(problems)))

        records = self.wait_records([c[0] for c in plan])
        for rid, action, k, body in plan:
            recs = records[rid]
            self.assertEqual(len(recs), 1, "exactly one record for %s" % rid)
            m = recs[0]["attributes"]["metadata"]
            self.assertEqual(m["status"], "error", (rid, action, k, m))
            if action == "hangevents":
                self.assertEqual(m["error_type"], "upstream_timeout", (rid, k, m))
        hangs = sum(1 for c in plan if c[1] == "hangevents")
        wait_until("the upstream sees every hung request closed",
                   lambda: sum(1 for e in self.mock.events() if e["event"] == "closed") >= hangs)
        self.assert_still_serving()
        self.assert_no_fd_leak()


    def test_passthrough_cut_inside_an_event(self):
        """When the client asked for usage the stream's bytes pass unchanged,
        but only whole events: an upstream that breaks mid-event leaves no
        half event before the error event (SseHandler holds the unfinished
        event back until its blank line)."""
        for action, k in (("resetmidchunk", 5), ("resetbytes", 241)):
            body = {"model": "fault-%s-%d" % (action, k), "messages": [], "stream": True,
                    "stream_options": {"include_usage": True}}
            s = open_request(self.gw.port, body, "pt-%s" % action)
            r = read_response(s)
            s.close()
            self.assertEqual(r.status, 200)
            self.assertTrue(r.terminated)
            self.assertIn("error", json.loads(sse_events(r.body)[-1]), (action, r.body[-300:]))


class ClientDisconnectTest(FaultTestBase):
    """Clients that go away at random points."""

    def closed_tags(self):
        return {e.get("tag") for e in self.mock.events() if e["event"] == "closed"}

    def seen_tags(self):
        return {json.loads(e["body"]).get("tag") for e in self.mock.events()
                if e["event"] == "request" and e.get("body", "").startswith("{")}

    def test_random_client_disconnects(self):
        complete, incomplete = [], []
        hang_before = sum(1 for e in self.mock.events() if e["event"] == "closed" and e.get("model") == "hang")
        hang_count = 0

        def one(i):
            rid = "cd-%d" % i
            point = self.rng.choice(["head", "body", "waiting", "midstream", "midbody"])
            reset = self.rng.random() < 0.5  # RST instead of FIN
            tag = "cd-%d" % i
            if point == "waiting":
                body = {"model": "hang", "messages": [], "stream": self.rng.random() < 0.5, "tag": tag}
            elif point == "midstream":
                body = {"model": "fault-slowstream-30-40", "messages": [], "stream": True, "tag": tag}
            elif point == "midbody":
                body = {"model": "fault-slowbody-10-100", "messages": [], "tag": tag}
            else:
                body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 5000}], "tag": tag}
            raw = request_bytes(body, rid)
            s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=30 * SLOW)
            try:
                if point == "head":
                    s.sendall(raw[:self.rng.randrange(1, raw.index(b"\r\n\r\n") + 3)])
                elif point == "body":
                    s.sendall(raw[:self.rng.randrange(raw.index(b"\r\n\r\n") + 4, len(raw) - 1)])
                else:
                    s.sendall(raw)
                if point in ("head", "body"):
                    time.sleep(self.rng.random() * 0.2)
                elif point == "waiting":
                    wait_until("the upstream to get %s" % tag, lambda: tag in self.seen_tags())
                elif point == "midstream":
                    s.settimeout(30 * SLOW)
                    want, got = self.rng.randrange(1, 2000), b""
                    while len(got) < want:
                        chunk = s.recv(want - len(got))
                        if not chunk:
                            break
                        got += chunk
                else:  # midbody: the gateway is still receiving the slow non-stream body
                    wait_until("the upstream to get %s" % tag, lambda: tag in self.seen_tags())
                    time.sleep(self.rng.random() * 0.5)
                if reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            finally:
                s.close()
            return rid, point, tag

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(40)))
        for rid, point, tag in results:
            (incomplete if point in ("head", "body") else complete).append((rid, point, tag))
            hang_count += point == "waiting"

        # Every complete request: its upstream request cancelled, one record, cancelled.
        upstream_tags = {t for _, p, t in complete if p != "waiting"}
        wait_until("the upstream sees every cancelled request closed",
                   lambda: upstream_tags <= self.closed_tags() and
                   sum(1 for e in self.mock.events() if e["event"] == "closed" and e.get("model") == "hang")
                   >= hang_before + hang_count)
        records = self.wait_records([rid for rid, _, _ in complete])
        for rid, point, _ in complete:
            self.assertEqual(len(records[rid]), 1, rid)
            m = records[rid][0]["attributes"]["metadata"]
            self.assertEqual((m["status"], m["error_type"]), ("cancelled", "client_disconnected"), (rid, point, m))
        # Incomplete requests never reached the upstream and have no record.
        seen = self.seen_tags()
        for rid, point, tag in incomplete:
            self.assertNotIn(tag, seen, (rid, point))
        time.sleep(0.3)
        records = self.records.by_id()
        for rid, point, _ in incomplete:
            self.assertNotIn(rid, records, (rid, point))
        self.assert_still_serving()
        self.assert_no_fd_leak()


class SlowReaderTest(FaultTestBase):
    """Clients that read a large, fast stream slowly or not at all: the
    gateway stops reading the upstream (backpressure), its memory stays
    bounded, and other clients are not slowed down."""

    # The upstream deadline must not end the stalled streams: what stops
    # the upstream here must be backpressure alone.
    gateway_env = {"UPSTREAM_TIMEOUT_MS": "600000"}
    STALLED = 50
    # Per stalled stream the gateway holds its relay buffers (a 16 KiB read
    # buffer, 64 KiB reads from the upstream, up to 64 KiB of coalesced
    # output) and the stream's chunks kept for its record (at most
    # max(TELEMETRY_MAX_BODY_BYTES, 1 MiB)), plus allocator slack: 3 MiB per
    # stream. Socket buffers are the kernel's, not in RSS. Sanitizer builds
    # (GW_SLOW_FACTOR > 1) add shadow memory: the bound scales with SLOW.
    RSS_BOUND_PER_STREAM_KIB = 3072 * SLOW
    # What the mock can write before it blocks: the socket buffers on both
    # sides of the gateway plus the gateway's own buffers (2 MiB is ample).
    # The kernel grows a receive buffer up to tcp_rmem's maximum and a send
    # buffer up to tcp_wmem's while the gateway relays at full speed, so the
    # bound is the machine's: the mock's send buffer, the gateway's receive
    # buffer from the upstream, the gateway's send buffer to the client (its
    # receive buffer is pinned at 64 KiB below). Without backpressure the
    # mock would send the whole stream, which is made at least twice that.
    UPSTREAM_SENT_BOUND = (2 * sysctl_max("tcp_wmem", 4 << 20) + sysctl_max("tcp_rmem", 6 << 20)
                           + (64 << 10) + (2 << 20))
    EVENT_BYTES = 16 * 1024
    # At least 64 MiB per stream, sent as fast as the gateway takes it.
    EVENTS = max(4000, 2 * UPSTREAM_SENT_BOUND // EVENT_BYTES)

    def progress(self):
        sent = {}
        for e in self.mock.events():
            if e["event"] in ("progress", "done") and e.get("tag", "").startswith("slow-"):
                sent[e["tag"]] = max(sent.get(e["tag"], 0), e["sent"])
        return sent

    def latency(self):
        """Median time of a normal stream + non-stream request pair (5 samples)."""
        return sorted(self.assert_still_serving() for _ in range(5))[2]

    def test_stalled_readers_bound_memory_and_pause_upstream(self):
        baseline = self.latency()
        rss_before = vm_rss_kib(self.gw.proc.pid)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        model = "fault-bigstream-%d-%d" % (self.EVENTS, self.EVENT_BYTES)
        for i in range(self.STALLED):
            s = socket.socket()
            # A small receive buffer, as a slow mobile client would have.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.connect(("127.0.0.1", self.gw.port))
            s.sendall(request_bytes({"model": model, "messages": [], "stream": True, "tag": "slow-%d" % i},
                                    "slow-%d" % i))
            socks.append(s)
        # Ten of them read 4 KiB every 100 ms; the others nothing at all.
        # Wait until the upstream side has stopped making progress.
        last, stable_since = None, time.time()
        deadline = time.time() + 60 * SLOW
        while time.time() < deadline:
            for s in socks[:10]:
                s.setblocking(False)
                try:
                    s.recv(4096)
                except BlockingIOError:
                    pass
            # Until then the gateway relays at full speed (filling the socket
            # buffers of 50 streams: a few hundred MiB) and other streams
            # share the workers with that; once the buffers are full a
            # stalled stream costs nothing.
            # Settled: the non-reading streams' upstreams make no progress and
            # the gateway is (nearly) idle.
            # (CPU time would be a better sign, but not on a shared machine
            # where the gateway gets a fraction of a core.)
            now = self.progress()
            total = sum(v for t, v in now.items() if int(t.split("-")[1]) >= 10)
            if total != last:
                last, stable_since = total, time.time()
            elif time.time() - stable_since > 2.0 * SLOW:
                break
            time.sleep(0.1)
        sent = self.progress()
        rss = vm_rss_kib(self.gw.proc.pid)
        growth = rss - rss_before
        latency = self.latency()
        print("  RSS %d KiB -> %d KiB (+%d KiB for %d stalled streams, bound %d KiB); upstream sent per stream: "
              "max %.1f MiB, total %.1f MiB of %d x %.0f MiB; normal requests %.3f s (%.3f s before)"
              % (rss_before, rss, growth, self.STALLED, self.STALLED * self.RSS_BOUND_PER_STREAM_KIB,
                 max(sent.values() or [0]) / 2**20, sum(sent.values()) / 2**20, self.STALLED,
                 self.EVENTS * self.EVENT_BYTES / 2**20, latency, baseline), flush=True)
        self.assertLess(growth, self.STALLED * self.RSS_BOUND_PER_STREAM_KIB, "gateway memory is not bounded")
        self.assertLessEqual(max(sent.values() or [0]), self.UPSTREAM_SENT_BOUND,
                             "the gateway kept reading the upstream for a client that does not read")
        events = {e["event"] for e in self.mock.events() if e.get("tag", "").startswith("slow-")}
        self.assertNotIn("done", events)
        self.assertNotIn("closed", events, "the gateway closed a stalled stream's upstream instead of pausing it")
        # Generous: CI machines are shared; a worker blocked by a stalled
        # client would make this seconds or a timeout.
        self.assertLess(latency, 2.0 * SLOW, "normal requests next to stalled streams were slowed down")
        for s in socks:
            s.close()
        tags = {"slow-%d" % i for i in range(self.STALLED)}
        wait_until("every stalled stream's upstream request cancelled",
                   lambda: tags <= {e.get("tag") for e in self.mock.events() if e["event"] == "closed"}, timeout=20)
        records = self.wait_records(["slow-%d" % i for i in range(self.STALLED)])
        for i in range(self.STALLED):
            (rec,) = records["slow-%d" % i]
            self.assertEqual(rec["attributes"]["metadata"]["status"], "cancelled")
        self.assert_no_fd_leak()


class StalledReaderDeadlineTest(FaultTestBase):
    gateway_env = {"UPSTREAM_TIMEOUT_MS": str(int(2000 * SLOW))}

    def test_a_client_that_never_reads_is_let_go_at_the_deadline(self):
        """A streaming client that stops reading is let go at the whole-
        response deadline (UPSTREAM_TIMEOUT_MS): the pending client write is
        cancelled with the upstream, the request ends (one record) and the
        client connection is closed."""
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.connect(("127.0.0.1", self.gw.port))
        self.addCleanup(s.close)
        s.sendall(request_bytes({"model": "fault-bigstream-4000-16384", "messages": [], "stream": True,
                                 "tag": "never-reads"}, "never-reads"))
        wait_until("the upstream closed at the deadline", lambda: any(
            e["event"] == "closed" and e.get("tag") == "never-reads" for e in self.mock.events()), timeout=10)
        # Within a few seconds of the deadline the request must be over.
        wait_until("the request's record", lambda: "never-reads" in self.records.by_id(), timeout=5)
        wait_until("the client connection released",
                   lambda: FdSnapshot(self.gw, self.mock.port).clients == 0, timeout=5)


class SpoolDiskFullTest(unittest.TestCase):
    """The spool's disk is full while the exporter's backend is down: records
    are dropped and counted (/health, metrics), the gateway does not crash
    and keeps serving. Needs root to mount a small tmpfs (CI runs as root)."""

    def test_full_disk_drops_are_counted(self):
        if os.geteuid() != 0:
            self.fail("needs root to mount a 256 KiB tmpfs for the spool (CI runs as root)")
        mnt = tempfile.mkdtemp(prefix="gw-spool-full-")
        self.addCleanup(shutil.rmtree, mnt, True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()  # the backend: nothing listens there
        mock = MockUpstream()
        self.addCleanup(mock.stop)
        gw = Gateway({"OPENAI_BASE_URL": mock.url, "OPENAI_API_KEY": TEST_KEY,
                      "ENABLED_EXPORTERS": "elasticsearch,prometheus",
                      "ELASTICSEARCH_URL": "http://127.0.0.1:%d" % dead_port,
                      "TELEMETRY_SPOOL_DIR": mnt, "TELEMETRY_QUEUE_SIZE": "4", "TELEMETRY_BATCH_SIZE": "4",
                      "TELEMETRY_FLUSH_INTERVAL_MS": "20", "TELEMETRY_MAX_RETRIES": "0",
                      "TELEMETRY_RETRY_INITIAL_MS": "10", "TELEMETRY_BREAKER_FAILURES": "1",
                      "TELEMETRY_BREAKER_OPEN_MS": "60000"})
        self.addCleanup(gw.stop, signal.SIGKILL)
        n = 120
        big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "y" * 8000}]}
        for i in range(n):
            st, _, _ = http_request(gw.port, "POST", "/v1/chat/completions", big, {"x-request-id": "full-%d" % i})
            self.assertEqual(st, 200)

        def health():
            status, _, body = http_request(gw.port, "GET", "/health")
            self.assertEqual(status, 200)
            return json.loads(body)["exporters"]["elasticsearch"]

        # Every record is accounted for: waiting in the spool or dropped.
        h = wait_until("every record spooled or dropped",
                       lambda: (lambda h: h if h["spooled"] + h["dropped"] + h["queue_depth"] >= n
                                and h["queue_depth"] == 0 else None)(health()), timeout=20)
        self.assertGreater(h["dropped"], 0, "a 256 KiB disk cannot hold 120 records of 8 KB: %r" % h)
        self.assertGreater(h["spooled"], 0, h)
        self.assertEqual(h["spooled"] + h["dropped"], n, h)
        _, _, metrics = http_request(gw.port, "GET", "/metrics")
        self.assertIn(b'ai_gateway_exporter_records_total{exporter="elasticsearch",outcome="dropped"} %d'
                      % h["dropped"], metrics)
        # Still serving, and a failed write left no stray segment files behind.
        self.assertEqual(http_request(gw.port, "POST", "/v1/chat/completions", CHAT)[0], 200)
        files = os.listdir(os.path.join(mnt, "elasticsearch"))
        self.assertLessEqual(len(files), 8, "one segment per failed write? %r" % sorted(files)[:20])
        self.assertEqual(gw.stop(), 0)
        log = gw.stderr_seen.decode("utf-8", "replace")
        drops_logged = sum(1 for line in log.splitlines() if "spool" in line and ("fail" in line or "drop" in line))
        self.assertGreater(drops_logged, 0, "drops are logged")
        self.assertLess(drops_logged, 20, "drop messages are rate-limited, not one per record:\n" + log[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
