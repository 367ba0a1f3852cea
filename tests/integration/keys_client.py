"""Helpers shared by test_virtual_keys.py and test_keys_cluster.py: an admin
API client, requests presenting a virtual key, refusal checks, the UTC
windows the limits count in, records and metrics (docs/keys-and-budgets.md).
"""
import http.client
import json
import math
import os
import re
import secrets
import time

from harness import HERE, SLOW, http_request, wait_until

PRICES = json.load(open(os.path.join(HERE, "..", "..", "data", "model_prices_and_context_window.json")))
ADMIN_KEY = "adm-SECRET-" + secrets.token_hex(12)
STATIC_KEY = "gk-static-" + secrets.token_hex(8)

KEY_RE = re.compile(r"^gw-[0-9a-f]{64}$")
ID_RE = re.compile(r"^vk_[0-9a-f]{24}$")
KEY_OBJECT_FIELDS = {"id", "object", "name", "project_id", "org_id", "user_id", "allowed_models", "limits", "budget",
                     "expires_at", "created_at", "revoked", "revoked_at"}
USAGE_FIELDS = {"period", "requests", "input_tokens", "output_tokens", "spend_usd"}
RESET_RE = re.compile(r"^(?:(\d+)m)?(\d+(?:\.\d+)?)s$")

# The mock upstream's default answer (tests/testdata/providers/transcripts/openai-chat.json):
# 16 prompt tokens and 363 completion tokens, none cached, none reasoning;
# its stream (with include_usage) reports 16 and 300.
CHAT_IN, CHAT_OUT = 16, 363
STREAM_IN, STREAM_OUT = 16, 300


def price(model, tokens_in=CHAT_IN, tokens_out=CHAT_OUT):
    """The cost of one of the mock's answers when the request names `model`
    (records are priced by the requested model first, docs/records.md)."""
    e = PRICES[model]
    return tokens_in * e["input_cost_per_token"] + tokens_out * e["output_cost_per_token"]


def pusd(cost):
    """Whole picodollars, as the gateway adds spend: round(cost * 1e12), halves away from zero."""
    return int(math.floor(cost * 1e12 + 0.5)) if cost else 0


def random_key():
    return "gw-" + secrets.token_hex(32)


def body_json(payload):
    try:
        return json.loads(payload)
    except ValueError:
        raise AssertionError("not JSON: %r" % payload[:500])


class Admin:
    """The admin API of one gateway, with the admin key (or another bearer)."""

    def __init__(self, port, admin_key=ADMIN_KEY):
        self.port = port
        self.admin_key = admin_key

    def call(self, method, path, body=None, headers=None, auth=True):
        h = {}
        if auth:
            h["Authorization"] = "Bearer " + self.admin_key
        h.update(headers or {})
        status, hdrs, payload = http_request(self.port, method, path, body, h)
        doc = json.loads(payload) if payload.strip() else None
        return status, hdrs, doc

    def expect(self, status, method, path, body=None, retry_for=5.0):
        """call(), retried while it answers 503 (Redis unreachable: after Redis
        came back, each worker's connection reconnects on its first call, as
        a client honouring Retry-After would); the answer must be `status`."""
        deadline = time.time() + retry_for * SLOW
        while True:
            got, _, doc = self.call(method, path, body)
            if got != 503 or time.time() > deadline:
                break
            time.sleep(0.05)
        assert got == status, (method, path, got, doc)
        return doc

    def create(self, **fields):
        return self.expect(201, "POST", "/admin/keys", fields)

    def get(self, key_id):
        return self.expect(200, "GET", "/admin/keys/" + key_id)

    def patch(self, key_id, **fields):
        return self.expect(200, "PATCH", "/admin/keys/" + key_id, fields)

    def delete(self, key_id):
        return self.expect(200, "DELETE", "/admin/keys/" + key_id)

    def usage(self, key_id):
        return self.get(key_id)["usage"]

    def put_budget(self, scope, ident, **fields):
        return self.expect(200, "PUT", "/admin/budgets/%s/%s" % (scope, ident), fields)

    def get_budget(self, scope, ident):
        return self.expect(200, "GET", "/admin/budgets/%s/%s" % (scope, ident))


def chat(port, key=None, model="gpt-4o-mini", headers=None, marker=None, via="authorization", stream=False,
         rid=None, timeout=10):
    """A chat completion presenting `key` in the header `via` (authorization,
    x-gateway-key or x-api-key). Returns (status, headers, body bytes)."""
    h = {}
    if key is not None:
        if via == "authorization":
            h["Authorization"] = "Bearer " + key
        else:
            h[via] = key
    if rid:
        h["x-request-id"] = rid
    h.update(headers or {})
    body = {"model": model, "messages": [{"role": "user", "content": marker or "hi"}]}
    if stream:
        body["stream"] = True
    return http_request(port, "POST", "/v1/chat/completions", body, h, timeout=timeout)


def error_of(payload):
    doc = body_json(payload)
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert {"message", "type", "code"} <= set(err), err
    return err


def seconds_left_in_minute(now=None):
    now = time.time() if now is None else now
    return 60.0 - (now % 60.0)


def fresh_window(need_seconds):
    """Waits for the next UTC minute when fewer than `need_seconds` are left
    in this one: rpm and tpm count in windows of one UTC minute."""
    left = seconds_left_in_minute()
    if left < need_seconds:
        time.sleep(left + 0.05)
    return int(time.time() // 60)


def parse_reset(value):
    """x-ratelimit-reset-*: "17s", "1m0s" -> seconds."""
    m = RESET_RE.match(value or "")
    assert m, "x-ratelimit-reset value %r" % value
    return int(m.group(1) or 0) * 60 + float(m.group(2))


def utc_day(now=None):
    return time.strftime("%Y%m%d", time.gmtime(time.time() if now is None else now))


def utc_month(now=None):
    return time.strftime("%Y%m", time.gmtime(time.time() if now is None else now))


def seconds_left_in_day(now=None):
    now = time.time() if now is None else now
    return 86400.0 - (now % 86400.0)


def records(gw):
    text = gw.stdout_text()
    return [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l.strip()]


def record(gw, rid, timeout=10):
    def find():
        for rec in records(gw):
            if rec["attributes"]["id"] == rid:
                return rec
        return None
    return wait_until("the record of %s" % rid, find, timeout=timeout)


def key_records(gws, key_id):
    """Every record (of every gateway in `gws`) naming the virtual key `key_id`."""
    out = []
    for gw in gws:
        out += [r for r in records(gw) if r["attributes"]["metadata"].get("virtual_key_id") == key_id]
    return out


def parse_metrics(text):
    """[(name, {label: value}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if m:
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric(port, name, **labels):
    """The sum of the series of `name` whose labels include `labels` (None: no such series)."""
    status, _, body = http_request(port, "GET", "/metrics")
    assert status == 200, status
    found = [v for n, l, v in parse_metrics(body.decode()) if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(found) if found else None


def health(port):
    status, _, payload = http_request(port, "GET", "/health")
    assert status == 200, (status, payload)
    doc = body_json(payload)
    assert doc.get("status") == "healthy", doc
    return doc


def state_store(port):
    return health(port).get("state_store")


def wait_state(port, states, timeout=5.0):
    """Waits until /health's state_store.state is one of `states`; returns the state_store object."""
    states = (states,) if isinstance(states, str) else tuple(states)
    return wait_until("state_store.state in %s" % (states,),
                      lambda: (lambda s: s if s and s.get("state") in states else None)(state_store(port)),
                      timeout=timeout)


class Client:
    """One keep-alive connection to a gateway, for load: post() returns
    (status, headers dict lower-case, body bytes, seconds taken)."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout * SLOW
        self.conn = None

    def post(self, body, headers, path="/v1/chat/completions"):
        data = json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers)
        t0 = time.monotonic()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", path, body=data, headers=h)
                r = self.conn.getresponse()
                payload = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, payload, time.monotonic() - t0
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the gateway closed between two requests: once more on a new one.
                self.close()
                if attempt:
                    raise
                t0 = time.monotonic()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
