#!/usr/bin/env bash
# User-space instructions per request of the gateway and of nginx as the reference proxy, counted by
# callgrind: a figure that does not move with the machine's load, next to run.sh's CPU time (which on a
# shared VM moves by +-30 % from round to round). It counts user space only: system calls are time in the
# kernel, which run.sh measures.
#
#   bench/instructions.sh                     # non-streaming and streaming, telemetry off
#   MODES=responses-stream,messages-stream bench/instructions.sh   # the Responses and Messages API streams
#   EXPORTERS=prometheus bench/instructions.sh
#
# Each proxy runs under valgrind --tool=callgrind in front of the harness's mock upstream (nginx,
# bench/mock/), with one worker (WORKER_THREADS=1; nginx with master_process off), and is loaded by wrk with
# 4 connections for DURATION. Collected: the gateway's worker, telemetry and exporter threads
# (scheduler::run, Telemetry::run, ExporterWorker::run: everything a request costs, not start-up), nginx's
# event loop (ngx_process_events_and_timers). Printed: instructions per request, and the ratio.
# Needs valgrind besides what run.sh needs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
GATEWAY_BIN=${GATEWAY_BIN:-$root/build/release/magicapi-gateway}
EXPORTERS=${EXPORTERS:-none}
DURATION=${DURATION:-5s}
MODES=${MODES:-nonstream,stream}
RUN_DIR=$(mktemp -d /tmp/gw-instructions.XXXXXX)
MOCK_PORT=${MOCK_PORT:-28480}
NGINX_PORT=${NGINX_PORT:-28490}
GATEWAY_PORT=${GATEWAY_PORT:-28495}

for tool in valgrind callgrind_annotate nginx wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is needed" >&2; exit 2; }
done
[[ -x $GATEWAY_BIN ]] || { echo "instructions.sh: no gateway binary at $GATEWAY_BIN (build the release preset)" >&2; exit 2; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# The mock upstream, as run.sh renders it.
mkdir -p "$RUN_DIR/mock.tmp"
python3 "$here/mock/make_mock.py" "$RUN_DIR/mock" >/dev/null
sed -e "s#@RUN_DIR@#$RUN_DIR#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" -e "s#@MOCK_TTFB_PORT@#$((MOCK_PORT + 1))#g" \
    -e "s#@MOCK_SLOW_PORT@#$((MOCK_PORT + 2))#g" -e "s#@TTFB_DELAY_S@#0.050#g" -e "s#@SLOW_GAP_S@#0.200#g" \
    "$here/mock/mock.conf.in" > "$RUN_DIR/mock.conf"
nginx -p "$RUN_DIR" -c "$RUN_DIR/mock.conf" >/dev/null 2>&1 &
pids+=($!)

wait_for() {  # url
  for _ in $(seq 150); do curl -s -o /dev/null -X POST -d '{}' "$1" && return 0; sleep 0.2; done
  echo "instructions.sh: nothing answers at $1" >&2
  exit 1
}
wait_for "http://127.0.0.1:$MOCK_PORT/v1/chat/completions"

# total_instructions OUT_FILE
total_instructions() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

# mode_env MODE -> "STREAM API PATH" for the wrk script (run.sh's modes)
mode_env() {
  case "$1" in
    nonstream) echo "0 chat /v1/chat/completions" ;;
    stream) echo "1 chat /v1/chat/completions" ;;
    responses-stream) echo "1 responses /v1/responses" ;;
    messages-stream) echo "1 messages /v1/messages" ;;
    *) echo "unknown mode '$1'" >&2; exit 2 ;;
  esac
}

# load PORT MODE -> requests served
load() {
  local out stream api path
  read -r stream api path < <(mode_env "$2")
  out=$(BENCH_STREAM=$stream BENCH_API=$api wrk -t1 -c4 -d"$DURATION" -s "$here/lua/chat.lua" "http://127.0.0.1:$1$path")
  grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2
}

# per_request PID PORT MODE SIGNAL OUT_FILE: loads the proxy started as PID (under callgrind, writing
# OUT_FILE) once it answers on PORT, stops it with SIGNAL (callgrind writes its counts at exit) and prints
# its instructions per request.
per_request() {
  local p=$1 port=$2 mode=$3 signal=$4 out=$5
  wait_for "http://127.0.0.1:$port/v1/chat/completions"
  local n
  n=$(load "$port" "$mode")
  kill "-$signal" "$p"
  wait "$p" 2>/dev/null || true
  echo $(( $(total_instructions "$out") / n ))
}

measure_nginx() {  # MODE -> instructions per request
  local out="$RUN_DIR/nginx.$1.callgrind"
  mkdir -p "$RUN_DIR/ngx.tmp"
  sed -e "s#@RUN_DIR@#$RUN_DIR#g" -e "s#@NAME@#ngx#g" -e "s#@PORT@#$NGINX_PORT#g" \
      -e "s#@UPSTREAM_PORT@#$MOCK_PORT#g" -e "s#@KEEPALIVE@#1024#g" "$here/nginx/proxy.conf.in" > "$RUN_DIR/ngx.conf"
  valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='ngx_process_events_and_timers' \
    nginx -p "$RUN_DIR" -c "$RUN_DIR/ngx.conf" -g 'master_process off;' >/dev/null 2>"$RUN_DIR/nginx.$1.valgrind.log" &
  per_request $! "$NGINX_PORT" "$1" QUIT "$out"
}

measure_gateway() {  # MODE -> instructions per request
  local out="$RUN_DIR/gateway.$1.callgrind"
  env -i PATH="$PATH" HOST=127.0.0.1 PORT="$GATEWAY_PORT" WORKER_THREADS=1 LOG_LEVEL=warn \
    OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" OPENAI_API_KEY=sk-bench ENABLED_EXPORTERS="$EXPORTERS" \
    ANTHROPIC_BASE_URL="http://127.0.0.1:$MOCK_PORT" \
    TELEMETRY_SPOOL_DIR="$RUN_DIR/spool" \
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      --toggle-collect='boost::asio::detail::scheduler::run*' --toggle-collect='gw::Telemetry::run*' \
      --toggle-collect='gw::ExporterWorker::run*' \
      "$GATEWAY_BIN" >"$RUN_DIR/gateway.$1.stdout" 2>"$RUN_DIR/gateway.$1.valgrind.log" &
  per_request $! "$GATEWAY_PORT" "$1" INT "$out"
}

echo "| mode | nginx instructions/request | gateway (ENABLED_EXPORTERS=$EXPORTERS) instructions/request | x nginx |"
echo "|---|---|---|---|"
IFS=, read -ra modes <<<"$MODES"
for mode in "${modes[@]}"; do
  ngx=$(measure_nginx "$mode")
  gw=$(measure_gateway "$mode")
  awk -v m="$mode" -v a="$ngx" -v b="$gw" 'BEGIN { printf "| %s | %d | %d | %.2fx |\n", m, a, b, b / a }'
done
echo
echo "(callgrind, user space only; wrk -c4 for $DURATION per proxy; raw data in $RUN_DIR)"
