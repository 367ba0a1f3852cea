"""A real redis-server for the integration tests, and a tiny RESP client.

RedisServer starts Debian's /usr/bin/redis-server (or $REDIS_SERVER) on a
free loopback port with its own temporary directory and no persistence of
its own (`--save "" --appendonly no`), waits until it answers PING, and can
be killed (SIGKILL) and started again on the same port. A missing
redis-server is a test failure with a clear message, never a skip: the
tests of virtual keys need the real thing.

    redis = RedisServer()
    redis.command("HGET", "gw:usage:key:vk_...:t", "spend_pusd")  # -> "1468000000" or None
    redis.kill(save=True)  # SAVE (dump.rdb in its directory), then SIGKILL
    redis.start()          # same port, with the data of that SAVE
    redis.kill()           # SIGKILL: the next start() is empty
    redis.stop()

command() opens a connection per call (RESP2): simple strings and bulk
strings come back as str (None for a nil), integers as int, arrays as
lists; an error reply raises RedisReplyError; a server that does not answer
raises OSError.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import SLOW, _LIVE, free_port


class RedisReplyError(Exception):
    pass


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exactly(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError("not RESP: %r" % line)


def resp_command(port, *args, timeout=5.0, host="127.0.0.1", password=None):
    """One command on a fresh connection to host:port (after AUTH when a
    password is given); see the module's docstring."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        reader = _Reader(s)
        if password is not None:
            s.sendall(_encode(("AUTH", password)))
            auth = reader.reply()
            if isinstance(auth, RedisReplyError):
                raise auth
        s.sendall(_encode(args))
        reply = reader.reply()
    if isinstance(reply, RedisReplyError):
        raise reply
    return reply


class RedisServer:
    """redis-server on 127.0.0.1:port (a free one unless given)."""

    def __init__(self, port=None, extra_args=(), password=None):
        self.binary = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise AssertionError("redis-server not found at %s: the virtual-key tests need a real Redis "
                                 "(scripts/install-deps.sh installs Debian's redis-server; or set REDIS_SERVER)"
                                 % self.binary)
        self.fixed_port = port
        self.port = port or free_port()
        self.password = password
        self.extra_args = list(extra_args) + (["--requirepass", password] if password else [])
        self.dir = tempfile.mkdtemp(prefix="gw-redis-it-")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.start()

    def url(self, db=None, userinfo=None):
        u = "redis://"
        if userinfo:
            u += userinfo + "@"
        u += "127.0.0.1:%d" % self.port
        if db is not None:
            u += "/%d" % db
        return u

    @property
    def endpoint(self):
        """How the gateway names it (/health, logs): redis://host:port/db."""
        return "redis://127.0.0.1:%d/0" % self.port

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=10.0):
        """Starts it (again, on the same port: its dump.rdb, if any, is loaded)
        and waits until it answers PING."""
        if self.running():
            return
        for attempt in range(5):
            args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--dir", self.dir, "--dbfilename", "dump.rdb", "--logfile", "",
                    "--enable-debug-command", "local", *self.extra_args]
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            _LIVE.append(self.proc)
            deadline = time.time() + timeout * SLOW
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if resp_command(self.port, "PING", timeout=1, password=self.password) == "PONG":
                        return
                except (OSError, RedisReplyError):
                    pass
                time.sleep(0.01)
            self.proc.kill()
            self.proc.wait()
            if self.fixed_port is None and attempt < 4 and self._port_taken():
                self.port = free_port()  # someone took the port between free_port() and bind: try another
                continue
            break
        raise AssertionError("redis-server did not start on port %d; its log:\n%s" % (self.port, self.log_text()[-3000:]))

    def _port_taken(self):
        return "Address already in use" in self.log_text()

    def kill(self, save=False):
        """SIGKILL, and reaped. With `save`, a SAVE first: the next start()
        loads that data, as a production Redis with persistence would;
        without, the next start() is empty."""
        if not self.running():
            return
        if save:
            self.command("SAVE")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if not save:
            try:
                os.unlink(os.path.join(self.dir, "dump.rdb"))  # the restart starts empty
            except FileNotFoundError:
                pass

    def restart(self):
        self.kill()
        self.start()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def command(self, *args, timeout=5.0):
        return resp_command(self.port, *args, timeout=timeout, password=self.password)

    def hgetall(self, key):
        flat = self.command("HGETALL", key) or []
        return dict(zip(flat[0::2], flat[1::2]))

    def dump_values(self):
        """Every key and its value as text (strings, hashes, lists, sets, sorted sets): to search for secrets."""
        out = []
        for key in self.command("KEYS", "*") or []:
            kind = self.command("TYPE", key)
            if kind == "string":
                value = self.command("GET", key)
            elif kind == "hash":
                value = self.command("HGETALL", key)
            elif kind == "list":
                value = self.command("LRANGE", key, 0, -1)
            elif kind == "set":
                value = self.command("SMEMBERS", key)
            elif kind == "zset":
                value = self.command("ZRANGE", key, 0, -1, "WITHSCORES")
            else:
                value = kind
            out.append("%s %r" % (key, value))
        return "\n".join(out)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""
