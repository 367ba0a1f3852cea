#!/usr/bin/env bash
# The soak (issue 6): exactly SOAK_REQUESTS (1,000,000) requests, 1 in SOAK_STREAM_EVERY (4) streaming, through
# the gateway (release build, exporters `file` and `prometheus`) against the nginx mock of bench/run.sh; then:
#   - every request answered 200 with its body complete (bench/lua/soak.lua checks each response);
#   - exactly SOAK_REQUESTS records delivered: lines across the file exporter's file and its rotated copies,
#     distinct record ids (each request carries x-request-id soak-NNNNNNN, which becomes attributes.id), and
#     the sum of ai_gateway_requests_total from /metrics;
#   - the gateway's RSS sampled every SOAK_SAMPLE_SECONDS (the curve), and its open descriptors before/after;
#   - nothing dropped (/health) and nothing logged at warn/error level on stderr.
#
#   bench/soak.sh                                     # 1,000,000 requests, WORKER_THREADS=1
#   SOAK_REQUESTS=20000 bench/soak.sh                 # a quick check of the script itself
#   GATEWAY_BIN=build/h-bench/magicapi-gateway SOAK_WORKER_THREADS=2 bench/soak.sh
#
# Load: wrk (one thread) with bench/lua/soak.lua, which issues exactly SOAK_REQUESTS POSTs and checks every
# answer. Prints a Markdown report (soak.md) on stdout; raw data in OUT_DIR (curve.tsv, wrk.out, verify.json,
# metrics-*.txt, health-*.json, run/ with the logs). The record files are deleted at the end unless
# SOAK_KEEP_RECORDS=1 (a million records with bodies are a few GB).
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/targets.sh
source "$BENCH_DIR/lib/targets.sh"

SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_STREAM_EVERY=${SOAK_STREAM_EVERY:-4}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-64}
SOAK_SAMPLE_SECONDS=${SOAK_SAMPLE_SECONDS:-5}
SOAK_WORKER_THREADS=${SOAK_WORKER_THREADS:-1}
SOAK_FILE_MAX_BYTES=${SOAK_FILE_MAX_BYTES:-268435456}   # 256 MiB per file: the run rotates, and every file is counted
SOAK_KEEP_RECORDS=${SOAK_KEEP_RECORDS:-0}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-1024}
GATEWAY_BIN=${GATEWAY_BIN:-$REPO_DIR/build/release/magicapi-gateway}
BASE_PORT=${BASE_PORT:-18280}
OUT_DIR=${OUT_DIR:-$REPO_DIR/build/bench/soak-$(date +%Y%m%d-%H%M%S)}
FIRST_EVENT_DELAY_MS=50
SLOW_EVENT_GAP_MS=250
MOCK_PORT=$BASE_PORT
MOCK_TTFB_PORT=$((BASE_PORT + 1))
MOCK_SLOW_PORT=$((BASE_PORT + 2))
RUN_DIR=$OUT_DIR/run
GW=gateway-file+prometheus
GW_PORT=$((BASE_PORT + 10))
RECORDS_DIR=$OUT_DIR/records

for tool in nginx wrk taskset python3 curl; do command -v "$tool" >/dev/null || die "'$tool' not found"; done
[[ -x "$GATEWAY_BIN" ]] || die "GATEWAY_BIN=$GATEWAY_BIN is not an executable"
for ((port = BASE_PORT; port <= BASE_PORT + 10; port++)); do ! port_in_use "$port" || die "port $port is in use"; done
mkdir -p "$OUT_DIR" "$RUN_DIR" "$RECORDS_DIR"
trap cleanup EXIT
trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

gw_version=$("$GATEWAY_BIN" --version 2>&1 | head -1)
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command=SOAK_REQUESTS=$SOAK_REQUESTS SOAK_STREAM_EVERY=$SOAK_STREAM_EVERY SOAK_CONNECTIONS=$SOAK_CONNECTIONS SOAK_WORKER_THREADS=$SOAK_WORKER_THREADS GATEWAY_BIN=${GATEWAY_BIN#"$REPO_DIR"/} bench/soak.sh"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc --all) cores)"
  echo "kernel=$(uname -sr)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "gateway=$gw_version (${GATEWAY_BIN#"$REPO_DIR"/}, built $(date -u -r "$GATEWAY_BIN" +%Y-%m-%dT%H:%MZ))"
  echo "git=$(git -C "$REPO_DIR" rev-parse --short HEAD)$(git -C "$REPO_DIR" diff --quiet HEAD -- src include 2>/dev/null || echo ' (src dirty)')"
} >"$OUT_DIR/meta.env"

start_mock
GATEWAY_ENV="WORKER_THREADS=$SOAK_WORKER_THREADS FILE_EXPORTER_PATH=$RECORDS_DIR/records.jsonl FILE_EXPORTER_MAX_BYTES=$SOAK_FILE_MAX_BYTES FILE_EXPORTER_MAX_FILES=1000 ${GATEWAY_ENV:-}"
start_target "$GW" "$GW_PORT" "$MOCK_PORT"
pid=${TARGET_PID[$GW]}
log "gateway pid $pid on port $GW_PORT (WORKER_THREADS=$SOAK_WORKER_THREADS, exporters file,prometheus); records in $RECORDS_DIR"
sleep 1
fd_before=$(ls "/proc/$pid/fd" | wc -l)
rss_before=$(status_kb "$pid" VmRSS)
curl -sS --max-time 5 "http://127.0.0.1:$GW_PORT/health" >"$OUT_DIR/health-before.json"

log "load: $SOAK_REQUESTS requests (1 in $SOAK_STREAM_EVERY streaming) over $SOAK_CONNECTIONS connections (wrk -t1, bench/lua/soak.lua)"
nonstream_bytes=$(wc -c <"$RUN_DIR/mock/completion.json")

# The RSS curve: VmRSS, VmHWM, descriptors and ai_gateway_requests_total every SOAK_SAMPLE_SECONDS.
sampler() {
  local t0=$SECONDS done
  printf 'elapsed_s\trequests_done\tpercent\tvmrss_kb\tvmhwm_kb\tfds\tthreads\n'
  while [[ ! -e "$OUT_DIR/.load-done" ]] && pid_alive "$pid"; do
    done=$(curl -sS --max-time 5 "http://127.0.0.1:$GW_PORT/metrics" 2>/dev/null | awk '/^ai_gateway_requests_total\{/ { s += $NF } END { printf "%d", s }') || done=-1
    printf '%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' $((SECONDS - t0)) "$done" "$(awk -v d="$done" -v n="$SOAK_REQUESTS" 'BEGIN { print 100 * d / n }')" \
      "$(status_kb "$pid" VmRSS)" "$(status_kb "$pid" VmHWM)" "$(ls "/proc/$pid/fd" | wc -l)" "$(status_kb "$pid" Threads)"
    sleep "$SOAK_SAMPLE_SECONDS"
  done
}
rm -f "$OUT_DIR/.load-done"
sampler >"$OUT_DIR/curve.tsv" &
sampler_pid=$!
remember_pid "$sampler_pid"
t_load=$SECONDS
rc=0
rm -f "$OUT_DIR/.wrk-finished"
SOAK_REQUESTS=$SOAK_REQUESTS SOAK_STREAM_EVERY=$SOAK_STREAM_EVERY SOAK_NONSTREAM_BYTES=$nonstream_bytes \
  SOAK_DONE_FILE=$OUT_DIR/.wrk-finished \
  taskset -c "$LOAD_CPU" wrk -t1 -c"$SOAK_CONNECTIONS" -d2h --timeout 30s -s "$BENCH_DIR/lua/soak.lua" \
  "http://127.0.0.1:$GW_PORT/" >"$OUT_DIR/wrk.out" 2>&1 &
wrk_pid=$!
remember_pid "$wrk_pid"
# soak.lua writes .wrk-finished when the last POST is answered and stops its thread; wrk's main thread then
# still sleeps for -d, and SIGINT makes it print its summary and exit.
while pid_alive "$wrk_pid" && [[ ! -e "$OUT_DIR/.wrk-finished" ]]; do sleep 0.5; done
sleep 1
pid_alive "$wrk_pid" && kill -INT "$wrk_pid"
wait "$wrk_pid" || rc=$?
unset "PID_START[$wrk_pid]"
load_seconds=$((SECONDS - t_load))
touch "$OUT_DIR/.load-done"
wait "$sampler_pid" || true
log "load: $(grep '^SOAK_' "$OUT_DIR/wrk.out" | tr '\n' ' ') (status $rc, ${load_seconds} s)"
# One last sample, after the load.
pid_alive "$pid" || die "the gateway died during the soak; see $RUN_DIR/$GW.stderr"

# Let the exporters finish: queues empty, then the record count stable for 3 s (at most ~60 s).
drain_telemetry "$GW_PORT" || die "GET /health failed"
prev=-1
for ((i = 0; i < 20; i++)); do
  now=$(cat "$RECORDS_DIR"/records.jsonl* | wc -l)
  [[ "$now" == "$prev" ]] && break
  prev=$now
  sleep 3
done
printf '%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$load_seconds" "$(curl -sS --max-time 2 "http://127.0.0.1:$GW_PORT/metrics" | awk '/^ai_gateway_requests_total\{/ { s += $NF } END { printf "%d", s }')" 100 \
  "$(status_kb "$pid" VmRSS)" "$(status_kb "$pid" VmHWM)" "$(ls "/proc/$pid/fd" | wc -l)" "$(status_kb "$pid" Threads)" >>"$OUT_DIR/curve.tsv"
rss_after=$(status_kb "$pid" VmRSS)
hwm_after=$(status_kb "$pid" VmHWM)
fd_after=$(ls "/proc/$pid/fd" | wc -l)
fd_sockets_after=$(find "/proc/$pid/fd" -lname 'socket:*' | wc -l)
# Idle upstream keep-alive connections are closed after their idle timeout; count again after waiting for it.
sleep "${SOAK_IDLE_WAIT:-65}"
fd_after_idle=$(ls "/proc/$pid/fd" | wc -l)
curl -sS --max-time 5 "http://127.0.0.1:$GW_PORT/health" >"$OUT_DIR/health-after.json"
curl -sS --max-time 5 "http://127.0.0.1:$GW_PORT/metrics" >"$OUT_DIR/metrics-after.txt"
requests_total=$(awk '/^ai_gateway_requests_total\{/ { s += $NF } END { printf "%d", s }' "$OUT_DIR/metrics-after.txt")
status_200=$(awk '/^ai_gateway_requests_total\{/ && /status_code="200"/ { s += $NF } END { printf "%d", s }' "$OUT_DIR/metrics-after.txt")
read -r queued dropped < <(telemetry_counters "$GW_PORT")
stderr_lines=$(grep -c -i -E '\b(warn|warning|error|critical)\b' "$RUN_DIR/$GW.stderr" || true)
log "verifying the records (${SOAK_REQUESTS} expected)"
python3 "$BENCH_DIR/lib/soak_verify.py" "$SOAK_REQUESTS" "$RECORDS_DIR"/records.jsonl* >"$OUT_DIR/verify.json" || true
log "verify: $(cat "$OUT_DIR/verify.json")"
record_files=$(ls "$RECORDS_DIR" | wc -l)
record_bytes=$(du -sb "$RECORDS_DIR" | cut -f1)
stop_target "$GW"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT_DIR/meta.env"
((SOAK_KEEP_RECORDS)) || rm -rf "$RECORDS_DIR"

{
  echo "fd_before=$fd_before"
  echo "fd_after=$fd_after"
  echo "fd_sockets_after=$fd_sockets_after"
  echo "fd_after_idle=$fd_after_idle"
  echo "rss_before_kb=$rss_before"
  echo "rss_after_kb=$rss_after"
  echo "hwm_after_kb=$hwm_after"
  echo "requests_total=$requests_total"
  echo "requests_total_200=$status_200"
  echo "queued_after=$queued"
  echo "dropped_after=$dropped"
  echo "stderr_warn_error_lines=$stderr_lines"
  echo "record_files=$record_files"
  echo "record_bytes=$record_bytes"
  echo "driver_status=$rc"
  echo "load_seconds=$load_seconds"
  grep '^SOAK_RESULT' "$OUT_DIR/wrk.out" | sed 's/^SOAK_RESULT //' | tr ' ' '\n' | sed 's/^/wrk_/'
  echo "first_bad=$({ grep '^SOAK_FIRST_BAD' "$OUT_DIR/wrk.out" || true; } | head -1)"  # none in a good run
} >"$OUT_DIR/soak.env"
python3 - "$OUT_DIR" "$SOAK_REQUESTS" >"$OUT_DIR/soak.md" <<'EOF'
import json, pathlib, sys
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
env = {}
for f in ("meta.env", "soak.env"):
    for line in (out / f).read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
ver = json.loads((out / "verify.json").read_text() or "{}")
rows = [l.split("\t") for l in (out / "curve.tsv").read_text().splitlines()[1:]]
rows = [(float(r[0]), int(r[1]), float(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]
def at(pct):  # the first sample at or after pct % of the requests
    for r in rows:
        if r[2] >= pct:
            return r
    return rows[-1]
p = print
p(f"### Soak of {env['date']}")
p()
p(f"- Command: `{env['command']}`")
p(f"- Machine: {env['cpu']}, {env['kernel']}; load average at start {env['loadavg_start']}, at end {env.get('loadavg_end', '?')}")
p(f"- Gateway: {env['gateway']}, git {env['git']}; exporters `file` (rotating at 256 MiB) and `prometheus`; "
  "pinned to CPU 1, wrk -t1 (bench/lua/soak.lua, exact count) and the nginx mock on CPU 0")
p()
w = {k[4:]: int(v) for k, v in env.items() if k.startswith("wrk_")}
ok, secs = w.get("ok", 0), int(env["load_seconds"])
p("| check | result |")
p("|---|---|")
p(f"| POSTs issued / answered / 200 and complete | {w.get('issued', 0):,} / {w.get('answered', 0):,} / {ok:,} "
  f"({w.get('ok_stream', 0):,} streams, {ok - w.get('ok_stream', 0):,} non-streaming) in {secs} s, "
  f"{w.get('issued', 0) / max(secs, 1):,.0f} req/s; latency p50 {w.get('p50_us', 0) / 1000:.1f} ms, p99 {w.get('p99_us', 0) / 1000:.1f} ms |")
errs = {k: w.get(k, 0) for k in ("bad_status", "bad_body", "err_connect", "err_read", "err_write", "err_timeout")}
p(f"| errors (bad status, bad body, socket errors, timeouts) | {sum(errs.values())} {errs if sum(errs.values()) else ''} {env.get('first_bad', '')} |")
p(f"| record lines in the file exporter's files | {ver.get('lines', 0):,} across {ver.get('files')} files "
  f"({int(env['record_bytes']) / 2**20:,.0f} MiB) |")
p(f"| distinct record ids (soak-0000000 .. soak-{n - 1:07d}) | {ver.get('distinct_ids', 0):,}; duplicates {ver.get('duplicates')}, "
  f"missing {ver.get('missing')}, other lines {ver.get('foreign', 0) + ver.get('unparsable', 0)} |")
p(f"| `ai_gateway_requests_total` (sum over labels; status 200) | {int(env['requests_total']):,} ({int(env['requests_total_200']):,}) |")
p(f"| exporter queue / dropped after (`/health`) | {env['queued_after']} / {env['dropped_after']} |")
p(f"| warn/error lines on the gateway's stderr | {env['stderr_warn_error_lines']} |")
p(f"| open descriptors: before / right after / after 65 s idle | {env['fd_before']} / {env['fd_after']} "
  f"({env['fd_sockets_after']} sockets) / {env['fd_after_idle']} |")
p(f"| RSS before load / after / peak (VmHWM) | {int(env['rss_before_kb']) / 1024:.1f} / {int(env['rss_after_kb']) / 1024:.1f} / "
  f"{int(env['hwm_after_kb']) / 1024:.1f} MB |")
p()
p("RSS curve (samples every few seconds; a subset shown, all in `curve.tsv`):")
p()
p("| elapsed s | requests done | % | VmRSS MB | VmHWM MB | fds |")
p("|---|---|---|---|---|---|")
step = max(1, len(rows) // 20)
shown = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
for r in shown:
    p(f"| {r[0]:.0f} | {r[1]:,} | {r[2]:.0f} | {r[3] / 1024:.1f} | {r[4] / 1024:.1f} | {r[5]} |")
p()
r10, r50, r100 = at(10), at(50), at(100)
growth = (r100[3] - r10[3]) / r10[3] * 100 if r10[3] else 0
flat = abs(growth) <= 10
p(f"Verdict: RSS at 10 % of the requests {r10[3] / 1024:.1f} MB, at 50 % {r50[3] / 1024:.1f} MB, at 100 % "
  f"{r100[3] / 1024:.1f} MB ({growth:+.1f} % from 10 % to 100 %): "
  + ("**flat after warm-up**" if flat else "**NOT flat: grows after warm-up**") + ".")
exact = ver.get("lines") == n and ver.get("distinct_ids") == n and int(env["requests_total"]) == n
p(f"Records: " + ("**exactly {:,} delivered**".format(n) if exact else "**NOT exactly {:,}**".format(n))
  + f" (lines {ver.get('lines', 0):,}, distinct ids {ver.get('distinct_ids', 0):,}, requests_total {int(env['requests_total']):,}).")
EOF
log "done; raw data in $OUT_DIR"
cat "$OUT_DIR/soak.md"
