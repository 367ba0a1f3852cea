#!/usr/bin/env bash
# User-space instructions per request of the gateway and of nginx as the reference proxy, counted by
# callgrind: a figure that does not move with the machine's load, next to run.sh's CPU time (which on a
# shared VM moves by +-30 % from round to round). It counts user space only: system calls are time in the
# kernel, which run.sh measures.
#
#   bench/instructions.sh                     # non-streaming and streaming, telemetry off
#   MODES=responses-stream,messages-stream bench/instructions.sh   # the Responses and Messages API streams
#   EXPORTERS=prometheus bench/instructions.sh
#   EXPORTERS=prometheus,otlp PROXIES=gateway bench/instructions.sh   # the gateway alone, with record export
#   PROXIES=nginx,gateway,gateway-routed bench/instructions.sh   # also the gateway with routes (ROUTES_FILE)
#   PROXIES=nginx,gateway,gateway-keys-redis bench/instructions.sh   # also the gateway with a rate-limited virtual key
#   EXPORTERS=console,prometheus GATEWAY_ENV=DASHBOARD_ENABLED=false bench/instructions.sh   # the dashboard off
#
# GATEWAY_ENV (default empty): more settings for every gateway, space-separated NAME=VALUE (as run.sh's),
# shown in the table's header.
#
# PROXIES (default nginx,gateway): which of nginx, gateway, gateway-routed, gateway-keys-redis to count.
# gateway-routed is the same gateway with --config ROUTES_FILE (bench/gateway/routed.yaml: a route named as each
# model the load generator sends, whose one target is the provider the unrouted gateway uses, so every request is
# routed and answered by its first attempt, with the client's bytes forwarded unchanged); the table then also
# shows gateway-routed ÷ gateway. gateway-keys-redis is the same gateway with REDIS_URL (a redis-server started
# here, not under valgrind, without persistence), GATEWAY_ADMIN_KEY and REDIS_TIMEOUT_MS=1000 (callgrind slows the
# gateway ~50x; Redis's answers must not time out), and every request carries a virtual key whose rpm/tpm limits
# (1e9 and 1e12) are checked through Redis (on leases, one EVALSHA each) and never reached; the table then also shows
# gateway-keys-redis ÷ gateway.
#
# EXPORTERS (default none) is the gateway's ENABLED_EXPORTERS. Record exporters get a backend here, outside valgrind:
# console writes to $RUN_DIR/NAME.MODE.stdout, file to $RUN_DIR/NAME.records.MODE.jsonl, otlp to lib/otlp_receiver.py (the project's strict
# receiver, http/protobuf) on OTLP_PORT, postgres to a PostgreSQL started with scripts/services/postgres.sh. After
# each run the script fails unless every one of them holds at least one record per request served.
#
# CALLGRIND_ARGS adds valgrind options for the gateway: --separate-threads=yes writes one file per thread
# (OUT-01, OUT-02, ...: the worker, the telemetry thread and each exporter's), for reading where a record's cost goes.
#
# Each proxy runs under valgrind --tool=callgrind in front of the harness's mock upstream (nginx,
# bench/mock/), with one worker (WORKER_THREADS=1; nginx with master_process off), and is loaded by wrk with
# 4 connections for DURATION (a timeout of 30 s: a request the slowed proxy answers late is still counted).
# Collected: the gateway's worker, telemetry and exporter threads
# (scheduler::run, Telemetry::run, ExporterWorker::run: everything a request costs, not start-up), nginx's
# event loop (ngx_process_events_and_timers). Printed: instructions per request, and the ratio.
# Needs valgrind besides what run.sh needs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
GATEWAY_BIN=${GATEWAY_BIN:-$root/build/release/magicapi-gateway}
EXPORTERS=${EXPORTERS:-none}
GATEWAY_ENV=${GATEWAY_ENV:-}
DURATION=${DURATION:-5s}
MODES=${MODES:-nonstream,stream}
PROXIES=${PROXIES:-nginx,gateway}
ROUTES_FILE=${ROUTES_FILE:-$here/gateway/routed.yaml}
RUN_DIR=$(mktemp -d /tmp/gw-instructions.XXXXXX)
MOCK_PORT=${MOCK_PORT:-28480}
NGINX_PORT=${NGINX_PORT:-28490}
GATEWAY_PORT=${GATEWAY_PORT:-28495}
REDIS_PORT=${REDIS_PORT:-28497}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
CALLGRIND_ARGS=${CALLGRIND_ARGS:-}   # more valgrind options for the gateway, e.g. --separate-threads=yes
OTLP_PORT=${OTLP_PORT:-28498}

for tool in valgrind callgrind_annotate nginx wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is needed" >&2; exit 2; }
done
[[ -x $GATEWAY_BIN ]] || { echo "instructions.sh: no gateway binary at $GATEWAY_BIN (build the release preset)" >&2; exit 2; }

pids=()
pg_state=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -z $pg_state ]] || bash "$root/scripts/services/postgres.sh" stop "$pg_state" >/dev/null 2>&1 || true
  # redis-servers started inside $(measure_gateway ...), a subshell, are remembered in files
  for f in "$RUN_DIR"/redis.*.pid; do [[ -f $f ]] && { kill "$(cat "$f")" 2>/dev/null || true; }; done
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

# The backends of the record exporters in EXPORTERS (see the top), started once for every run.
has_exporter() { [[ ",$EXPORTERS," == *",$1,"* ]]; }
record_kinds=()
for kind in console file otlp postgres; do has_exporter "$kind" && record_kinds+=("$kind"); done
record_env=()
if has_exporter otlp; then
  python3 "$here/lib/otlp_receiver.py" --port "$OTLP_PORT" --protocol http/protobuf >"$RUN_DIR/otlp.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$OTLP_PORT/stats" && break; sleep 0.1; done
  record_env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
fi
if has_exporter postgres; then
  pg_state=$RUN_DIR/postgres
  pg_url=$(bash "$root/scripts/services/postgres.sh" start "$pg_state") ||
    { echo "instructions.sh: PostgreSQL did not start (apt-get install postgresql)" >&2; exit 1; }
  record_env+=(POSTGRES_URL="$pg_url")
fi

# records_held KIND NAME MODE: the records KIND's backend holds so far (the stdout and the file are the run's own).
records_held() {
  local f
  case "$1" in
    console | file)
      f=$RUN_DIR/$2.$3.stdout
      [[ $1 == file ]] && f=$RUN_DIR/$2.records.$3.jsonl
      if [[ -f $f ]]; then wc -l <"$f"; else echo 0; fi ;;
    otlp) curl -s "http://127.0.0.1:$OTLP_PORT/stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"]["logs"])' ;;
    postgres) psql "$pg_url" -Atc 'select count(*) from ai_gateway_logs' 2>/dev/null || echo 0 ;;
  esac
}

# total_instructions OUT_FILE: over OUT_FILE, or over its per-thread parts OUT_FILE-NN (--separate-threads=yes).
total_instructions() {
  local f sum=0 n
  for f in "$1" "$1"-[0-9]*; do
    [[ -f $f ]] || continue
    # callgrind_annotate shows a zero total (a thread that ran nothing collected) as "."
    n=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print ($1 ~ /^[0-9]+$/ ? $1 : 0); exit}')
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
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

# load PORT MODE [HEADERS] -> requests served (HEADERS: "Name: value|...", as BENCH_HEADERS)
load() {
  local out stream api path
  read -r stream api path < <(mode_env "$2")
  out=$(BENCH_HEADERS=${3:-} BENCH_STREAM=$stream BENCH_API=$api wrk -t1 -c4 -d"$DURATION" --timeout 30s -s "$here/lua/chat.lua" "http://127.0.0.1:$1$path")
  grep -o 'requests=[0-9]*' <<<"$out" | cut -d= -f2
}

# per_request PID PORT MODE SIGNAL OUT_FILE [HEADERS]: loads the proxy started as PID (under callgrind, writing
# OUT_FILE) once it answers on PORT, stops it with SIGNAL (callgrind writes its counts at exit) and prints
# its instructions per request. The requests served are also left in $RUN_DIR/last_requests and in
# OUT_FILE.requests (for reading the profile later).
per_request() {
  local p=$1 port=$2 mode=$3 signal=$4 out=$5 headers=${6:-}
  wait_for "http://127.0.0.1:$port/v1/chat/completions"
  local n
  n=$(load "$port" "$mode" "$headers")
  echo "$n" >"$RUN_DIR/last_requests"
  echo "$n" >"$out.requests"
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

measure_gateway() {  # MODE NAME (gateway, gateway-routed, gateway-keys-redis) -> instructions per request
  local name=$2 args=() env=() headers='' redis_pid='' admin
  [[ -n $GATEWAY_ENV ]] && read -r -a env <<<"$GATEWAY_ENV"
  [[ $name == gateway-routed ]] && args=(--config "$ROUTES_FILE")
  if [[ $name == gateway-keys-redis ]]; then
    mkdir -p "$RUN_DIR/redis.$1"
    "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$RUN_DIR/redis.$1" \
      --daemonize no --logfile "$RUN_DIR/redis.$1/redis.log" >/dev/null 2>&1 &
    redis_pid=$!
    echo "$redis_pid" >"$RUN_DIR/redis.$1.pid"
    admin=bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    # the provider key is the gateway's own with a virtual key (ANTHROPIC_API_KEY for the Messages API mode)
    env+=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" REDIS_TIMEOUT_MS=1000 GATEWAY_ADMIN_KEY="$admin" ANTHROPIC_API_KEY=sk-bench)
  fi
  local out="$RUN_DIR/$name.$1.callgrind" kind
  local -A held=()
  local -a cg_args=()
  read -r -a cg_args <<<"$CALLGRIND_ARGS"
  for kind in "${record_kinds[@]}"; do held[$kind]=$(records_held "$kind" "$name" "$1"); done
  env -i PATH="$PATH" HOST=127.0.0.1 PORT="$GATEWAY_PORT" WORKER_THREADS=1 LOG_LEVEL=warn \
    OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" OPENAI_API_KEY=sk-bench ENABLED_EXPORTERS="$EXPORTERS" \
    ANTHROPIC_BASE_URL="http://127.0.0.1:$MOCK_PORT" FILE_EXPORTER_PATH="$RUN_DIR/$name.records.$1.jsonl" \
    TELEMETRY_SPOOL_DIR="$RUN_DIR/spool" "${env[@]}" "${record_env[@]}" \
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      --toggle-collect='boost::asio::detail::scheduler::run*' --toggle-collect='gw::Telemetry::run*' \
      --toggle-collect='gw::ExporterWorker::run*' "${cg_args[@]}" \
      "$GATEWAY_BIN" "${args[@]}" >"$RUN_DIR/$name.$1.stdout" 2>"$RUN_DIR/$name.$1.valgrind.log" &
  local p=$!
  if [[ $name == gateway-routed ]]; then check_routed "$1" "$p"; fi
  if [[ $name == gateway-keys-redis ]]; then headers=$(keys_setup "$1" "$p" "$admin"); fi
  per_request $p "$GATEWAY_PORT" "$1" INT "$out" "$headers"
  # Every request served has its record at each record exporter's backend (the gateway delivers what it holds
  # when it stops), or the count would be of an exporter that did not do its work.
  local served n
  served=$(cat "$RUN_DIR/last_requests")
  for kind in "${record_kinds[@]}"; do
    n=$(($(records_held "$kind" "$name" "$1") - held[$kind]))
    if ((n < served)); then
      echo "instructions.sh: $name $1: $n records reached the $kind exporter's backend for $served requests (see $RUN_DIR)" >&2
      exit 1
    fi
  done
  if [[ -n $redis_pid ]]; then
    keys_verify "$1" "$redis_pid" "$(cat "$RUN_DIR/last_requests")" "$RUN_DIR/$name.$1.valgrind.log"
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -f "$RUN_DIR/redis.$1.pid"
  fi
}

# keys_setup MODE PID ADMIN_KEY: creates a virtual key with rpm/tpm limits on the gateway (PID) through the admin
# API and checks that a request of MODE's API with it is limited by the key (x-ratelimit-limit-requests);
# prints "Authorization: Bearer gw-..." for the load. Otherwise PID is stopped and the script fails.
keys_setup() {
  local stream api path body file="$RUN_DIR/key.$1.json" key limit code
  read -r stream api path < <(mode_env "$1")
  wait_for "http://127.0.0.1:$GATEWAY_PORT$path"
  for _ in $(seq 50); do  # the worker's Redis connection may still be opening (503)
    code=$(curl -s -o "$file" -w '%{http_code}' -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
      --data '{"name":"bench","limits":{"rpm":1000000000,"tpm":1000000000000}}' "http://127.0.0.1:$GATEWAY_PORT/admin/keys") || code=000
    [[ $code == 503 || $code == 000 ]] || break
    sleep 0.2
  done
  key=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["key"])' "$file" 2>/dev/null) || key=''
  case "$api" in
    messages) body='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"x"}]}' ;;
    responses) body='{"model":"gpt-4o-mini","input":"x"}' ;;
    *) body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}' ;;
  esac
  if [[ $key == gw-* ]]; then
    limit=$(curl -s -o /dev/null -D - -H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
      --data "$body" "http://127.0.0.1:$GATEWAY_PORT$path" | tr -d '\r' | awk -F': *' 'tolower($1) == "x-ratelimit-limit-requests" { print $2 }')
  fi
  if [[ $key != gw-* || $limit != 1000000000 ]]; then
    kill "$2" 2>/dev/null || true
    wait "$2" 2>/dev/null || true
    echo "instructions.sh: gateway-keys-redis: no virtual key (POST /admin/keys: $code) or a $1 request not limited by it (x-ratelimit-limit-requests: '${limit:-}')" >&2
    exit 1
  fi
  echo "Authorization: Bearer $key"
}

# keys_verify MODE REDIS_PID REQUESTS VALGRIND_LOG: every request of the load was admitted on a count of the key's rpm
# windows in Redis (the windows hold at least as many counts as requests were served: leases reserve them ahead)
# and the gateway logged no state-store error (which would mean requests admitted on local counts).
keys_verify() {
  local counted=0 name
  for name in $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern 'gw:rpm:*'); do
    counted=$((counted + $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET "$name")))
  done
  if ((counted < $3)) || grep -q 'state store:' "$4"; then
    echo "instructions.sh: gateway-keys-redis $1: $counted rpm counts in Redis for $3 requests, or state-store errors (see $4)" >&2
    exit 1
  fi
}

# check_routed MODE PID: one request of MODE's API to the routed gateway (PID) must be routed and answered at the
# first attempt (x-gateway-attempts: 1), or the count would be of another path; otherwise PID is stopped and the
# script fails.
check_routed() {
  local stream api path body attempts
  read -r stream api path < <(mode_env "$1")
  wait_for "http://127.0.0.1:$GATEWAY_PORT$path"
  case "$api" in
    messages) body='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"x"}]}' ;;
    responses) body='{"model":"gpt-4o-mini","input":"x"}' ;;
    *) body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}' ;;
  esac
  attempts=$(curl -s -o /dev/null -D - -H 'Content-Type: application/json' -H 'Authorization: Bearer sk-bench' \
    --data "$body" "http://127.0.0.1:$GATEWAY_PORT$path" | tr -d '\r' | awk -F': *' 'tolower($1) == "x-gateway-attempts" { print $2 }')
  if [[ $attempts != 1 ]]; then
    kill "$2" 2>/dev/null || true
    wait "$2" 2>/dev/null || true
    echo "instructions.sh: gateway-routed did not route a $1 request at the first attempt (x-gateway-attempts: '$attempts'; see $ROUTES_FILE)" >&2
    exit 1
  fi
}

IFS=, read -ra proxies <<<"$PROXIES"
for proxy in "${proxies[@]}"; do
  case "$proxy" in
    nginx | gateway) ;;
    gateway-routed) [[ -f $ROUTES_FILE ]] || { echo "instructions.sh: no routes file at $ROUTES_FILE" >&2; exit 2; } ;;
    gateway-keys-redis)
      if [[ ! -x $REDIS_SERVER ]] || ! command -v redis-cli >/dev/null; then
        echo "instructions.sh: gateway-keys-redis needs $REDIS_SERVER and redis-cli (apt-get install redis-server)" >&2
        exit 2
      fi ;;
    *) echo "instructions.sh: PROXIES: unknown '$proxy' (known: nginx, gateway, gateway-routed, gateway-keys-redis)" >&2; exit 2 ;;
  esac
done
has() { [[ ",$PROXIES," == *",$1,"* ]]; }

# Columns: instructions per request of each proxy, then the ratios that apply: each gateway to nginx, and the
# routed gateway and the keyed gateway to the plain one.
head="| mode"
sep="|---"
for proxy in "${proxies[@]}"; do
  label=$proxy
  [[ $proxy == gateway* ]] && label="$proxy (ENABLED_EXPORTERS=$EXPORTERS${GATEWAY_ENV:+ $GATEWAY_ENV})"
  head+=" | $label instructions/request"
  sep+="|---"
done
ratios=()
if has nginx; then
  for proxy in "${proxies[@]}"; do [[ $proxy == gateway* ]] && ratios+=("$proxy/nginx"); done
fi
if has gateway && has gateway-routed; then ratios+=("gateway-routed/gateway"); fi
if has gateway && has gateway-keys-redis; then ratios+=("gateway-keys-redis/gateway"); fi
for r in "${ratios[@]}"; do head+=" | ${r%/*} x ${r#*/}"; sep+="|---"; done
echo "$head |"
echo "$sep|"
IFS=, read -ra modes <<<"$MODES"
for mode in "${modes[@]}"; do
  declare -A count=()
  for proxy in "${proxies[@]}"; do
    case "$proxy" in
      nginx) count[$proxy]=$(measure_nginx "$mode") ;;
      gateway | gateway-routed | gateway-keys-redis) count[$proxy]=$(measure_gateway "$mode" "$proxy") ;;
    esac
  done
  row="| $mode"
  for proxy in "${proxies[@]}"; do row+=" | ${count[$proxy]}"; done
  for r in "${ratios[@]}"; do
    row+=" | $(awk -v a="${count[${r%/*}]}" -v b="${count[${r#*/}]}" 'BEGIN { printf "%.3fx", a / b }')"
  done
  echo "$row |"
  unset count
done
echo
echo "(callgrind, user space only; wrk -c4 for $DURATION per proxy; raw data in $RUN_DIR)"
