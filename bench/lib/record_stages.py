#!/usr/bin/env python3
"""Where a request's record goes in a gateway profile of bench/instructions.sh, by thread and by stage.

    CALLGRIND_ARGS=--separate-threads=yes EXPORTERS=console,prometheus PROXIES=gateway bench/instructions.sh
    python3 bench/lib/record_stages.py /tmp/gw-instructions.XXXXXX/gateway.nonstream.callgrind [--top 10]

Reads the per-thread files OUT-01, OUT-02, ... (or OUT itself) with callgrind_annotate, inclusive and exclusive,
and the requests served from OUT.requests. Prints instructions per request of each thread (the worker: the request
path, where the record is captured; the telemetry thread: the record builder, metrics and observers; one thread
per exporter that receives records: its batches, encoders and sends), the stages of each as the inclusive cost of
the functions that do them, and the functions with the most exclusive cost on the telemetry thread, on each exporter's and on both together (the
record path after the request).

A stage is a set of functions, counted once each (the outermost call: callgrind_annotate names recursive calls
f'2, f'3, which are inside f). Stages of one thread may overlap (a parse inside the build); the table says which
contain which. Functions the compiler inlined are counted in their caller.
"""
import argparse
import pathlib
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:\S*?:)?(.+?)(?: \[[^\]]*\])?$")

# (stage, regexes of the functions whose inclusive cost it is, what it contains). Applied to the thread whose
# role is given; the first regex that names a function present counts, every matching function is summed.
STAGES = {
    "worker": [
        ("  hand the record over (Telemetry::submit)", [r"^gw::Telemetry::submit\("], ""),
        ("  scan the usage of a body or chunk", [r"^gw::scan\w*Usage\("], "also with prometheus alone"),
        ("  keep a stream's chunks for the record", [r"^gw::\w*::?observeChunk", r"^gw::ResponseObservation::\w+\("], ""),
    ],
    "telemetry": [
        ("process a record (all)", [r"^gw::Telemetry::process\("], ""),
        ("  build (record builder)", [r"^gw::RecordBuilder::build\("], "the builds below"),
        ("    parse bodies (Boost.JSON tree)", [r"^gw::parseUntrustedJson\("], ""),
        ("    scrub secrets in the trees", [r"^gw::scrubForRecord\(boost::json::value&\)$"], ""),
        ("    capture a body (parse + scrub)", [r"^gw::captureBody\("], "request body: parse and scrub"),
        ("    scrub and write a body (one SAX pass)", [r"^gw::appendScrubbedJson\("], "request and response bodies"),
        ("    capture a body (text)", [r"^gw::appendCapturedBody\("], "request body, one pass"),
        ("    assemble a stream", [r"^gw::StreamAssembler::(add|finish)\("], "chunks parsed, response rebuilt"),
        ("    write the record text (tree -> JSON)", [r"^gw::\(anonymous namespace\)::writeRecord\("], ""),
        ("    write a tree's text (a stream's response)", [r"^gw::\(anonymous namespace\)::appendJson\("], ""),
        ("    timestamp", [r"^gw::formatRfc3339Millis"], ""),
        ("    price lookup", [r"^gw::PricingTable::cost\("], ""),
        ("  dashboard rollups (record observer)", [r"^gw::dashboard::Dashboard::observe\("], ""),
        ("  metrics (Prometheus series)", [r"^gw::Telemetry::updateMetrics\(", r"^gw::Histogram::observeInto\("], ""),
        ("  hand to the exporters' queues", [r"^gw::ExporterWorker::offer\("], ""),
        ("  free the request's capture", [r"^gw::RequestRecord::~RequestRecord\("], ""),
    ],
    "exporter": [
        ("export a batch (all)", [r"^gw::ExportProcessor::attempt\("], ""),
        ("  exporter's exportBatch", [r"^gw::exporters::\w+::\w+::exportBatch\("], "serialise + send"),
        ("    parse the record text again (TelemetryRecord::json)", [r"^gw::TelemetryRecord::json\(\) const$"], ""),
        ("    console: lines (pretty or compact)", [r"^gw::exporters::console::serializeConsoleBatch"], ""),
        ("    otlp: the batch's model (attributes, ids, histograms)", [r"^gw::exporters::otlp::buildModel\("],
         "once for the three signals"),
        ("    otlp: logs", [r"^gw::exporters::otlp::logsProtobuf\(", r"^gw::exporters::otlp::\(anonymous namespace\)::encodeLogs\("],
         "bodies, attributes"),
        ("    otlp: traces", [r"^gw::exporters::otlp::tracesProtobuf\(", r"^gw::exporters::otlp::\(anonymous namespace\)::encodeTraces\("], ""),
        ("    otlp: metrics", [r"^gw::exporters::otlp::metricsProtobuf\(", r"^gw::exporters::otlp::\(anonymous namespace\)::encodeMetrics\("], ""),
        ("    otlp: grouping keys (JSON text of attributes)", [r"^gw::exporters::otlp::\(anonymous namespace\)::keyOf\("], ""),
        ("    otlp: message destructors", [r"^opentelemetry::proto::collector::\w+::v1::Export\w+ServiceRequest::~"], ""),
        ("    otlp: protobuf encoding (SerializeToString)", [r"^google::protobuf::MessageLite::SerializeToString\("], ""),
        ("    postgres: rows", [r"^gw::exporters::postgres::rowFor\("], "jsonbSafe copy of the text"),
        ("    postgres: libpq (PQexecParams)", [r"^PQexecParams$"], "statement, parameters, wait"),
        ("    HTTP send (client, TLS, gzip)", [r"^gw::exporters::http::\w+::send\(", r"^gw::exporters::http::Client::send\("], ""),
        ("    deflate (gzip)", [r"^deflate$"], ""),
        ("    write(2) / fdatasync(2) (user side)", [r"^write$", r"^__libc_write$", r"^fdatasync$"], ""),
        ("  free the records (TelemetryRecord dtor)", [r"^gw::TelemetryRecord::~TelemetryRecord\("], ""),
        ("  spool", [r"^gw::Spool::\w+\("], ""),
    ],
}


# Functions of Debian 12's libboost_json.so.1.81.0 and libprotobuf.so.32 that have no symbol (internal linkage),
# named by their callers in these profiles.
UNNAMED = {
    "0x0000000000024750": "[boost::json serializer: write a value (object/array, recursive)]",
    "0x0000000000023240": "[boost::json serializer: write a string (escaping)]",
    "0x0000000000024870": "[boost::json serializer: write a number]",
    "0x000000000002f6c0": "[boost::json parser: parse a value (object/array, recursive)]",
    "0x000000000002c570": "[boost::json parser: parse a string]",
    "0x000000000013e680": "[protobuf: UTF-8 check of a string field (IsStructurallyValidUTF8)]",
}


def annotate(path, inclusive):
    args = ["callgrind_annotate", "--threshold=100"] + (["--inclusive=yes"] if inclusive else []) + [str(path)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    costs, total, body = {}, 0, False
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            n = line.split()[0].replace(",", "")
            total = int(n) if n.isdigit() else 0
            continue
        if line.startswith("Ir") and "file:function" in line:
            body = True
            continue
        m = LINE.match(line) if body else None
        if m:
            name = m.group(2).strip()
            base, _, depth = name.partition("'")
            if base in UNNAMED:
                name = UNNAMED[base] + ("'" + depth if depth else "")
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return total, costs


def role(inclusive):
    names = " ".join(inclusive)
    if "gw::Telemetry::run()" in inclusive:
        return "telemetry", ""
    if "gw::ExporterWorker::run()" in inclusive:
        m = re.search(r"gw::exporters::(\w+)::\w+::exportBatch", names)
        return "exporter", m.group(1) if m else "?"
    if any(n.startswith("gw::server::proxyRequest") for n in inclusive):
        return "worker", ""
    return "other", ""


def stage_cost(inclusive, patterns):
    total = 0
    for name, cost in inclusive.items():
        if re.search(r"'\d+$", name):
            continue  # a recursive call, inside its outermost one
        if any(re.search(p, name) for p in patterns):
            total += cost
    return total


def short(name, width=110):
    name = re.sub(r"std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string", name)
    name = re.sub(r"std::basic_string_view<char, std::char_traits<char> >", "std::string_view", name)
    return name if len(name) <= width else name[:width - 1] + "…"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="the callgrind output of one run (its per-thread files are OUT-NN)")
    ap.add_argument("--requests", type=int, help="requests served (default: OUT.requests)")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    requests = args.requests or int(pathlib.Path(str(out) + ".requests").read_text())
    files = sorted(out.parent.glob(out.name + "-[0-9]*")) or [out]
    threads = []
    for f in files:
        total, inclusive = annotate(f, True)
        if not total:
            continue
        _, exclusive = annotate(f, False)
        threads.append((role(inclusive), total, inclusive, exclusive))
    p = print
    p(f"{out.name}: {requests} requests; instructions per request")
    p()
    p("| thread | instructions/request |")
    p("|---|---|")
    for (kind, exporter), total, _, _ in threads:
        if kind != "other":
            p(f"| {kind}{' ' + exporter if exporter else ''} | {total / requests:,.0f} |")
    other = sum(t[1] for t in threads if t[0][0] == "other")
    if other:
        p(f"| other threads | {other / requests:,.0f} |")
    p(f"| all | {sum(t[1] for t in threads) / requests:,.0f} |")
    for (kind, exporter), total, inclusive, _ in threads:
        if kind not in STAGES:
            continue
        p()
        p(f"{kind}{' ' + exporter if exporter else ''} thread, by stage (inclusive):")
        p()
        p("| stage | instructions/request | share of the thread | contains |")
        p("|---|---|---|---|")
        for label, patterns, note in STAGES[kind]:
            cost = stage_cost(inclusive, patterns)
            if cost:
                p(f"| {label.replace('  ', '&nbsp;&nbsp;')} | {cost / requests:,.0f} | {100 * cost / total:.1f} % | {note} |")
    lists, merged = [], {}
    for (kind, exporter), _, _, exclusive in threads:
        if kind not in ("telemetry", "exporter"):
            continue
        own = {}
        for name, cost in exclusive.items():
            name = re.sub(r"'\d+$", "", name)  # a function's recursive calls are its own cost too
            own[name] = own.get(name, 0) + cost
            merged[name] = merged.get(name, 0) + cost
        lists.append((f"the {kind}{' ' + exporter if exporter else ''} thread", own))
    if len(lists) > 1:
        lists.append(("the telemetry and exporter threads together", merged))
    for title, costs in lists:
        p()
        p(f"Top {args.top} functions by exclusive cost on {title}:")
        p()
        p("| function | instructions/request |")
        p("|---|---|")
        for name, cost in sorted(costs.items(), key=lambda kv: -kv[1])[:args.top]:
            p(f"| `{short(name)}` | {cost / requests:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
