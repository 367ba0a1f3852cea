"""Strict local stand-ins for the HTTP telemetry backends, for the
end-to-end exporter fault tests (test_exporter_faults.py).

Each fake validates the public wire format the way the real backend would
(and records a *violation* when it does not match), keeps what it accepted,
and can be told to misbehave:

- stop() / start(): the backend is down (connection refused; open keep-alive
  connections are cut) and back on the same port;
- fail_next(n, status, retry_after=None, path=None): the next n matching
  requests are answered `status` (429 with Retry-After, 503, ...), unread;
- slow_next(n, seconds, path=None): the next n matching requests are
  processed and *stored*, then answered only after `seconds` -- past the
  exporter's timeout, the gateway cannot know the outcome: the at-least-once
  case where a non-idempotent backend sees the records twice;
- per-backend "bad record" rules (see each class).

Python standard library only, except the OTLP protobuf decoding, which uses
Debian's python3-protobuf (scripts/install-deps.sh) and classes generated at
run time by protoc from src/exporters/otlp/proto.
"""
import atexit
import gzip
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "src", "exporters", "otlp", "proto")


def free_port():
    """A port nobody listens on now (for 'down at start')."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, owner):
        self.owner = owner
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self.conn_lock:
            self.connections.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self):
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _handle(self):
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        status, headers, body, delay = owner._dispatch(self.command, path, self.headers, raw)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass  # the client gave up (its timeout): the outcome stays unknown to it

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


class FakeBackend:
    name = "backend"

    def __init__(self, port=None, start=True):
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.violations = []
        self.requests = []  # (method, path, status, arrival time)
        self._faults = []  # [kind, remaining, path, args]
        self.last_ids = []  # the record ids of the last request handled (set by handle())
        self.slow_ids = []  # the record ids of the requests answered late
        if start:
            self.start()

    # --- lifecycle
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        deadline = time.time() + 10
        while True:
            try:
                self.server = _Server(("127.0.0.1", self.port), _Handler, self)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server.cut_connections()
        self.thread.join(5)
        self.server = None

    # --- faults
    def fail_next(self, n, status, retry_after=None, path=None):
        with self.lock:
            self._faults.append(["fail", n, path, (status, retry_after)])

    def slow_next(self, n, seconds, path=None):
        with self.lock:
            self._faults.append(["slow", n, path, seconds])

    def _take_fault(self, path):
        for f in self._faults:
            if f[1] > 0 and (f[2] is None or path.startswith(f[2])):
                f[1] -= 1
                return f
        return None

    def violation(self, why):
        self.violations.append(why)

    def _dispatch(self, method, path, headers, raw):
        now = time.time()
        with self.lock:
            fault = self._take_fault(path)
            delay = 0
            if fault and fault[0] == "fail":
                status, retry_after = fault[3]
                hdrs = [("Content-Type", "application/json")]
                if retry_after is not None:
                    hdrs.append(("Retry-After", str(retry_after)))
                self.requests.append((method, path, status, now))
                return status, hdrs, self.error_body(status), 0
            if fault and fault[0] == "slow":
                delay = fault[3]
            try:
                status, hdrs, body = self.handle(method, path, headers, raw)
            except Exception as e:  # a malformed request is a violation, answered 400
                self.violation("%s %s: %r" % (method, path, e))
                status, hdrs, body = 400, [("Content-Type", "application/json")], b'{"error":"bad request"}'
            if delay:
                self.slow_ids.extend(self.last_ids)
            self.last_ids = []
            self.requests.append((method, path, status, now))
            return status, hdrs, body, delay

    def error_body(self, status):
        return json.dumps({"errors": ["HTTP %d" % status]}).encode()

    def handle(self, method, path, headers, raw):
        raise NotImplementedError

    # --- what arrived
    def ids(self):
        """Every record id accepted, with repetitions (at-least-once)."""
        raise NotImplementedError

    def timed_requests(self):
        with self.lock:
            return list(self.requests)


def _json_response(status, doc, ctype="application/json"):
    return status, [("Content-Type", ctype)], json.dumps(doc).encode()


def _decode_body(headers, raw, require=None, max_out=64 << 20):
    enc = (headers.get("Content-Encoding") or "").lower()
    if require and enc != require:
        raise ValueError("Content-Encoding must be %s, not %r" % (require, enc))
    if enc == "gzip":
        return gzip.decompress(raw)
    if enc == "deflate":
        return zlib.decompress(raw)
    if enc:
        raise ValueError("unknown Content-Encoding %r" % enc)
    return raw


# ---------------------------------------------------------------- Elasticsearch

ES_INDEX_RE = re.compile(r'^[a-z0-9][^\\/*?"<>| ,#:A-Z]*$')


class FakeElasticsearch(FakeBackend):
    """Elasticsearch 8: GET /_cluster/health, PUT /_index_template/NAME,
    POST /_bulk (application/x-ndjson; action/source line pairs; the source
    is a docs/records.md record whose attributes.id equals the action's _id).
    Documents are stored by (_index, _id): a second `create` of the same id
    is answered 409 version_conflict_engine_exception, as Elasticsearch does.
    `reject_ids`: documents refused with a per-item 400
    (mapper_parsing_exception) in an `errors: true` response."""

    name = "elasticsearch"

    def __init__(self, *a, **kw):
        self.docs = {}
        self.templates = {}
        self.reject_ids = set()
        self.bulk_items = 0
        self.items_429 = 0  # the next N new documents are answered a per-item 429
        self.ids_429 = []
        super().__init__(*a, **kw)

    def error_body(self, status):
        kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
        return json.dumps({"error": {"type": kind, "reason": "fault injected"}, "status": status}).encode()

    def handle(self, method, path, headers, raw):
        if method == "GET" and path == "/_cluster/health":
            return _json_response(200, {"cluster_name": "fake", "status": "green", "timed_out": False,
                                        "number_of_nodes": 1, "active_shards_percent_as_number": 100.0})
        if method == "PUT" and path.startswith("/_index_template/"):
            doc = json.loads(raw)
            if not isinstance(doc.get("index_patterns"), list) or "template" not in doc:
                self.violation("index template without index_patterns/template")
                return _json_response(400, {"error": {"type": "x_content_parse_exception"}, "status": 400})
            self.templates[path.rsplit("/", 1)[1]] = doc
            return _json_response(200, {"acknowledged": True})
        if method == "POST" and path == "/_bulk":
            return self.bulk(headers, raw)
        return _json_response(404, {"error": "no handler for %s %s" % (method, path), "status": 404})

    def bulk(self, headers, raw):
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-ndjson":
            self.violation("_bulk content type %r" % ctype)
            return _json_response(406, {"error": "Content-Type header [%s] is not supported" % ctype, "status": 406})
        body = _decode_body(headers, raw).decode("utf-8")
        if not body.endswith("\n"):
            self.violation("_bulk body must end with a newline")
            return _json_response(400, {"error": {"type": "illegal_argument_exception",
                                                  "reason": "The bulk request must be terminated by a newline [\\n]"},
                                        "status": 400})
        lines = body[:-1].split("\n")
        if len(lines) % 2:
            self.violation("_bulk: odd number of lines (action without source)")
            return _json_response(400, {"error": {"type": "illegal_argument_exception"}, "status": 400})
        items, errors = [], False
        self.last_ids = []
        for i in range(0, len(lines), 2):
            action = json.loads(lines[i])
            if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in ("create", "index"):
                self.violation("_bulk action line %r" % lines[i][:200])
                return _json_response(400, {"error": {"type": "illegal_argument_exception"}, "status": 400})
            op, meta = next(iter(action.items()))
            index, doc_id = meta.get("_index"), meta.get("_id")
            if not isinstance(index, str) or not ES_INDEX_RE.match(index) or not isinstance(doc_id, str) or not doc_id:
                self.violation("_bulk action needs a valid _index and _id: %r" % meta)
                return _json_response(400, {"error": {"type": "illegal_argument_exception"}, "status": 400})
            source = json.loads(lines[i + 1])
            rec_id = (source.get("attributes") or {}).get("id") if isinstance(source, dict) else None
            if rec_id != doc_id:
                self.violation("_id %r is not the record id %r" % (doc_id, rec_id))
            self.bulk_items += 1
            self.last_ids.append(doc_id)
            base = {"_index": index, "_id": doc_id}
            if doc_id in self.reject_ids:
                errors = True
                items.append({op: dict(base, status=400, error={
                    "type": "mapper_parsing_exception", "reason": "failed to parse field [attributes.metadata]"})})
            elif self.items_429 > 0 and (index, doc_id) not in self.docs:
                self.items_429 -= 1
                self.ids_429.append(doc_id)
                errors = True
                items.append({op: dict(base, status=429, error={
                    "type": "es_rejected_execution_exception",
                    "reason": "rejected execution of coordinating operation"})})
            elif op == "create" and (index, doc_id) in self.docs:
                errors = True
                items.append({op: dict(base, status=409, error={
                    "type": "version_conflict_engine_exception",
                    "reason": "[%s]: version conflict, document already exists (current version [1])" % doc_id})})
            else:
                self.docs[(index, doc_id)] = source
                items.append({op: dict(base, _version=1, result="created", status=201,
                                       _shards={"total": 1, "successful": 1, "failed": 0})})
        return _json_response(200, {"took": 1, "errors": errors, "items": items})

    def ids(self):
        with self.lock:
            return [doc_id for (_, doc_id) in self.docs]

    def attempts(self):
        """How many documents the gateway sent in all (duplicates included)."""
        with self.lock:
            return self.bulk_items


# ---------------------------------------------------------------- Datadog

DD_SERIES_MAX_COMPRESSED = 512000
DD_MAX_DECOMPRESSED = 5 * 1000 * 1000
DD_LOGS_MAX_ENTRIES = 1000
DD_LOG_MAX_BYTES = 1000 * 1000


class FakeDatadog(FakeBackend):
    """Datadog intakes, header DD-API-KEY (403 otherwise):
    - POST /api/v2/series (gzip; 512 kB compressed / 5 MB decompressed;
      series[].metric, type 0..3, points[{timestamp int, value number}], tags);
    - POST /api/v1/distribution_points (deflate, Datadog's documented
      encoding; series[].metric, points [[ts int, [numbers...]]], tags, host,
      type "distribution"); `distributions_unknown` answers it 404 like an
      intake that has only the v2 APIs of docs/telemetry-plugins.md;
    - POST /api/v2/logs (gzip; an array of at most 1000 entries, 5 MB
      decompressed, 1 MB per entry; `message` is the record's JSON)."""

    name = "datadog"

    def __init__(self, api_key, *a, distributions_unknown=False, **kw):
        self.api_key = api_key
        self.distributions_unknown = distributions_unknown
        self.series = []
        self.distributions = []
        self.logs = []  # record ids, in arrival order
        super().__init__(*a, **kw)

    def handle(self, method, path, headers, raw):
        if headers.get("DD-API-KEY") != self.api_key:
            return _json_response(403, {"errors": ["Forbidden"]})
        if method != "POST":
            return _json_response(405, {"errors": ["Method Not Allowed"]})
        if (headers.get("Content-Type") or "").split(";")[0] != "application/json":
            self.violation("%s content type %r" % (path, headers.get("Content-Type")))
            return _json_response(415, {"errors": ["Unsupported Media Type"]})
        if path == "/api/v2/series":
            if len(raw) > DD_SERIES_MAX_COMPRESSED:
                self.violation("series payload over 512 kB compressed")
                return _json_response(413, {"errors": ["Payload too large"]})
            body = _decode_body(headers, raw, require="gzip")
            if len(body) > DD_MAX_DECOMPRESSED:
                self.violation("series payload over 5 MB decompressed")
                return _json_response(413, {"errors": ["Payload too large"]})
            doc = json.loads(body)
            for s in doc["series"]:
                assert isinstance(s["metric"], str) and s["metric"], "metric"
                assert s.get("type", 0) in (0, 1, 2, 3), "type"
                assert s["points"], "points"
                for p in s["points"]:
                    assert isinstance(p["timestamp"], int) and isinstance(p["value"], (int, float)), "point"
                assert all(isinstance(t, str) for t in s.get("tags", [])), "tags"
            with_type = doc["series"]
            self.series.extend(with_type)
            return _json_response(202, {"errors": []})
        if path == "/api/v1/distribution_points":
            if self.distributions_unknown:
                return _json_response(404, {"errors": ["Not Found"]})
            body = _decode_body(headers, raw, require="deflate")
            doc = json.loads(body)
            for s in doc["series"]:
                assert isinstance(s["metric"], str) and s["metric"], "metric"
                assert s.get("type", "distribution") == "distribution", "type"
                assert isinstance(s.get("host", ""), str), "host"
                for p in s["points"]:
                    assert isinstance(p, list) and len(p) == 2 and isinstance(p[0], int), "point"
                    assert p[1] and all(isinstance(v, (int, float)) for v in p[1]), "values"
                assert all(isinstance(t, str) for t in s.get("tags", [])), "tags"
            self.distributions.extend(doc["series"])
            return _json_response(202, {"status": "ok"})
        if path == "/api/v2/logs":
            body = _decode_body(headers, raw, require="gzip")
            if len(body) > DD_MAX_DECOMPRESSED:
                self.violation("logs payload over 5 MB")
                return _json_response(413, {"errors": ["Payload too large"]})
            doc = json.loads(body)
            if not isinstance(doc, list) or len(doc) > DD_LOGS_MAX_ENTRIES:
                self.violation("logs must be an array of at most 1000 entries")
                return _json_response(400, {"errors": ["Bad Request"]})
            for entry in doc:
                if len(json.dumps(entry)) > DD_LOG_MAX_BYTES:
                    self.violation("log entry over 1 MB (Datadog would truncate it)")
                record = json.loads(entry["message"])
                assert isinstance(entry.get("ddtags", ""), str) and entry.get("ddsource"), "ddsource/ddtags"
                self.logs.append(record["attributes"]["id"])
                self.last_ids.append(record["attributes"]["id"])
            return _json_response(202, {})
        return _json_response(404, {"errors": ["Not Found"]})

    def ids(self):
        with self.lock:
            return list(self.logs)

    def series_sum(self, metric):
        with self.lock:
            return sum(p["value"] for s in self.series if s["metric"] == metric for p in s["points"])

    def distribution_values(self, metric):
        with self.lock:
            return [v for s in self.distributions if s["metric"] == metric for p in s["points"] for v in p[1]]


# ---------------------------------------------------------------- New Relic

NR_MAX_PAYLOAD = 1000 * 1000  # 1 MB per POST (compressed), per New Relic's Log and Metric APIs


class FakeNewRelic(FakeBackend):
    """New Relic Log API (POST /log/v1) and Metric API (POST /metric/v1),
    header Api-Key (403 otherwise), gzip; payloads are arrays of
    {"common": {...}, "logs"|"metrics": [...]} blocks; counts and summaries
    need "interval.ms"; answered 202 {"requestId": ...}."""

    name = "newrelic"

    def __init__(self, license_key, *a, **kw):
        self.license_key = license_key
        self.metrics = []
        self.logs = []
        super().__init__(*a, **kw)

    def handle(self, method, path, headers, raw):
        if headers.get("Api-Key") != self.license_key:
            return _json_response(403, {})
        if method != "POST":
            return _json_response(405, {})
        if len(raw) > NR_MAX_PAYLOAD:
            self.violation("payload over 1 MB")
            return _json_response(413, {})
        body = json.loads(_decode_body(headers, raw, require="gzip"))
        assert isinstance(body, list) and body, "payload must be a non-empty array"
        if path == "/metric/v1":
            for block in body:
                common = block.get("common", {})
                for m in block["metrics"]:
                    assert isinstance(m["name"], str) and m["type"] in ("gauge", "count", "summary"), "metric"
                    if m["type"] in ("count", "summary"):
                        assert isinstance(m.get("interval.ms", common.get("interval.ms")), int), "interval.ms"
                        assert isinstance(m.get("timestamp", common.get("timestamp")), int), "timestamp"
                    if m["type"] == "summary":
                        assert set(m["value"]) == {"count", "sum", "min", "max"}, "summary value"
                    self.metrics.append(m)
            return _json_response(202, {"requestId": str(uuid.uuid4())})
        if path == "/log/v1":
            for block in body:
                assert isinstance(block.get("common", {}).get("attributes", {}), dict), "common.attributes"
                for log in block["logs"]:
                    assert isinstance(log["message"], str), "message"
                    if "timestamp" in log:
                        assert isinstance(log["timestamp"], int), "timestamp"
                    self.logs.append(log["attributes"]["request.id"])
                    self.last_ids.append(log["attributes"]["request.id"])
            return _json_response(202, {"requestId": str(uuid.uuid4())})
        return _json_response(404, {})

    def ids(self):
        with self.lock:
            return list(self.logs)

    def metric_sum(self, name):
        with self.lock:
            return sum(m["value"] for m in self.metrics if m["name"] == name and m["type"] == "count")


# ---------------------------------------------------------------- OTLP

_PB = None


def otlp_protobuf():
    """The generated OTLP message classes (python3-protobuf + protoc), or
    raises. Debian's python3-protobuf lives in the system dist-packages, which
    a pyenv/venv interpreter does not search: it is added when needed."""
    global _PB
    if _PB is not None:
        return _PB
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import google.protobuf  # noqa: F401
    out = tempfile.mkdtemp(prefix="gw-otlp-pb2-")
    atexit.register(shutil.rmtree, out, True)
    protos = []
    for root, _, files in os.walk(PROTO_DIR):
        protos += [os.path.relpath(os.path.join(root, f), PROTO_DIR) for f in files if f.endswith(".proto")]
    subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out", out] + sorted(protos), check=True)
    sys.path.insert(0, out)
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    _PB = {"json_format": json_format,
           "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
           "metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                       metrics_service_pb2.ExportMetricsServiceResponse),
           "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse)}
    return _PB


HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DIGITS = re.compile(r"^[0-9]+$")


def _any_value_ok(v):
    kinds = [k for k in ("stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue",
                         "bytesValue") if k in v]
    if len(kinds) > 1:
        return False
    if "intValue" in v and not (isinstance(v["intValue"], str) and re.match(r"^-?[0-9]+$", v["intValue"])):
        return False  # the JSON mapping encodes 64-bit integers as strings
    if "arrayValue" in v:
        return all(_any_value_ok(x) for x in v["arrayValue"].get("values", []))
    if "kvlistValue" in v:
        return all(_any_value_ok(kv.get("value", {})) for kv in v["kvlistValue"].get("values", []))
    return True


# The paths whose requests are GenAI operations (docs/exporters.md, "otlp").
GENAI_PATHS = {"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/completions", "/v1/embeddings"}


def _attrs(lst):
    out = {}
    for kv in lst or []:
        assert isinstance(kv["key"], str), "attribute key"
        assert _any_value_ok(kv.get("value", {})), "attribute value %r" % kv
        out[kv["key"]] = kv.get("value", {})
    return out


class FakeOtlp(FakeBackend):
    """An OTLP/HTTP receiver: POST /v1/traces, /v1/logs, /v1/metrics in
    application/json (the OTLP JSON mapping: lowerCamelCase, hex trace/span
    ids, 64-bit integers as strings) or application/x-protobuf (decoded with
    the generated classes and converted to the same mapping). Answers 200
    with an empty Export*ServiceResponse in the request's encoding.
    `reject_ids`: a request carrying one of these record ids is answered 400
    (the OTLP spec: not retryable), as a receiver refusing bad data does."""

    name = "otlp"

    def __init__(self, protocol, *a, gzip=False, **kw):
        self.protocol = protocol  # "http/json" or "http/protobuf"
        self.gzip = gzip  # OTEL_EXPORTER_OTLP_COMPRESSION=gzip expected
        self.reject_ids = set()
        self.received = {"traces": [], "logs": [], "metrics": []}  # record ids per signal
        self.metric_points = 0
        self.rejected_requests = []  # the record ids of requests answered 400
        if protocol == "http/protobuf":
            otlp_protobuf()
        super().__init__(*a, **kw)

    def handle(self, method, path, headers, raw):
        signal = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}.get(path)
        if method != "POST" or signal is None:
            return _json_response(404, {})
        ctype = (headers.get("Content-Type") or "").split(";")[0]
        want = "application/x-protobuf" if self.protocol == "http/protobuf" else "application/json"
        if ctype != want:
            self.violation("%s content type %r, expected %r" % (path, ctype, want))
            return _json_response(415, {})
        body = _decode_body(headers, raw, require="gzip" if self.gzip else None)
        if not self.gzip and headers.get("Content-Encoding"):
            self.violation("unexpected Content-Encoding %r" % headers.get("Content-Encoding"))
        if ctype == "application/json":
            doc = json.loads(body)
            hex_ids = True
        else:
            pb = otlp_protobuf()
            req_cls, _ = pb[signal]
            msg = req_cls()
            msg.ParseFromString(body)
            assert msg.ByteSize() == len(body), "protobuf bytes left over"
            doc = pb["json_format"].MessageToDict(msg)  # proto3 JSON: same names, ids base64
            hex_ids = False
        ids = self.validate(signal, doc, hex_ids)
        if isinstance(ids, list) and self.reject_ids & set(ids):
            self.rejected_requests.append(ids)
            return self.answer(ctype, signal, 400, ok=False)
        if signal == "metrics":
            self.metric_points += ids  # metrics carry no record ids: `ids` is the data point count
        else:
            self.received[signal].extend(ids)
            self.last_ids = list(ids)
        return self.answer(ctype, signal, 200)

    def answer(self, ctype, signal, status, ok=True):
        if ctype == "application/json":
            return _json_response(status, {} if ok else {"code": 3, "message": "invalid record"})
        pb = otlp_protobuf()
        if ok:
            return status, [("Content-Type", "application/x-protobuf")], pb[signal][1]().SerializeToString()
        return status, [("Content-Type", "application/x-protobuf")], b""

    def validate(self, signal, doc, hex_ids):
        def check_ids(o, trace_key="traceId", span_key="spanId"):
            for key, rx, n in ((trace_key, HEX32, 16), (span_key, HEX16, 8)):
                if key in o:
                    v = o[key]
                    if hex_ids:
                        assert rx.match(v), "%s must be lower-case hex: %r" % (key, v)
                    else:
                        import base64
                        assert len(base64.b64decode(v)) == n, key

        def time_ok(o, key):
            v = o.get(key)
            assert isinstance(v, str) and DIGITS.match(v) and int(v) > 0, "%s must be a string of digits: %r" % (key, v)

        if signal == "logs":
            ids = []
            for rl in doc["resourceLogs"]:
                assert "service.name" in _attrs(rl["resource"]["attributes"]), "resource service.name"
                for sl in rl["scopeLogs"]:
                    for lr in sl["logRecords"]:
                        time_ok(lr, "timeUnixNano")
                        check_ids(lr)
                        a = _attrs(lr.get("attributes"))
                        # GenAI operations carry the GenAI conventions, other requests none of them.
                        method = a.get("http.request.method", {}).get("stringValue")
                        path = a.get("url.path", {}).get("stringValue")
                        if method == "POST" and path in GENAI_PATHS:
                            assert "gen_ai.operation.name" in a, "gen_ai attributes"
                        else:
                            assert not any(k.startswith("gen_ai.") for k in a), "gen_ai attributes on %s" % path
                        ids.append(a["ai_gateway.request.id"]["stringValue"])
            return ids
        if signal == "traces":
            ids = []
            for rs in doc["resourceSpans"]:
                _attrs(rs["resource"]["attributes"])
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        time_ok(sp, "startTimeUnixNano")
                        time_ok(sp, "endTimeUnixNano")
                        check_ids(sp)
                        assert sp["name"], "span name"
                        for ev in sp.get("events", []):
                            time_ok(ev, "timeUnixNano")
                        ids.append(_attrs(sp.get("attributes"))["ai_gateway.request.id"]["stringValue"])
            return ids
        points = 0
        for rm in doc["resourceMetrics"]:
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    assert m["name"], "metric name"
                    h = m["histogram"]
                    for dp in h["dataPoints"]:
                        time_ok(dp, "timeUnixNano")
                        assert DIGITS.match(dp["count"]), "count as string"
                        counts = [int(c) for c in dp.get("bucketCounts", [])]
                        assert len(counts) == len(dp.get("explicitBounds", [])) + 1, "bucket counts"
                        assert sum(counts) == int(dp["count"]), "bucket sum"
                        _attrs(dp.get("attributes"))
                        points += 1
        return points

    def ids(self, signal="logs"):
        with self.lock:
            return list(self.received[signal])
