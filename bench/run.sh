#!/usr/bin/env bash
# The load harness: the gateway against nginx (a plain reverse proxy) and against no proxy at all, on loopback,
# measured with wrk in interleaved rounds. One command reruns everything:
#
#   bench/run.sh                                     # defaults below
#   ROUNDS=1 DURATION=3s TARGETS=direct,nginx bench/run.sh
#
# It prints a Markdown report on stdout (paste it into bench/RESULTS.md) and keeps raw data, configuration and
# logs in OUT_DIR. Method, fairness and how to read the report: bench/README.md.
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=SCRIPTDIR/lib/targets.sh
source "$BENCH_DIR/lib/targets.sh"

# --- parameters (environment) ---------------------------------------------------------------------------------
TARGETS=${TARGETS:-direct,nginx,gateway}      # see lib/targets.sh; e.g. add gateway-prometheus,gateway-console+prometheus,gateway-routed,gateway-keys-redis
ROUNDS=${ROUNDS:-5}                           # interleaved rounds; the report gives medians over them
DURATION=${DURATION:-10s}                     # per wrk run
WARMUP=${WARMUP:-2s}                          # per target and mode before the first round (not recorded)
MODES=${MODES:-nonstream,stream}
CONNECTIONS=${CONNECTIONS:-1,32,128}          # latency is read at the lowest, CPU per request at CPU_AT
CPU_AT=${CPU_AT:-32}                          # which connection count the summary's CPU per request comes from
WRK_THREADS=${WRK_THREADS:-1}
LOAD_CPU=${LOAD_CPU:-0}                       # wrk, the mock and the Python checkers
PROXY_CPU=${PROXY_CPU:-1}                     # the proxy under test, alone
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-1024} # idle upstream connections a proxy may keep (nginx and gateway alike)
GATEWAY_BIN=${GATEWAY_BIN:-$REPO_DIR/build/release/magicapi-gateway}
GATEWAY_ENV=${GATEWAY_ENV:-}                  # extra NAME=VALUE settings for every gateway target
ROUTES_FILE=${ROUTES_FILE:-$BENCH_DIR/gateway/routed.yaml}  # --config of the gateway-routed* targets
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}  # the gateway-keys-redis* targets' state store
BASE_PORT=${BASE_PORT:-18080}                 # ports BASE_PORT .. BASE_PORT+99 on 127.0.0.1
CLIENT_USAGE=${CLIENT_USAGE:-0}               # 1: streaming clients ask for include_usage themselves (same upstream
                                              # stream for every target: isolates what observing a stream costs)
FIRST_EVENT=${FIRST_EVENT:-1}                 # 1: time to first streamed event with a delaying upstream
FIRST_EVENT_DELAY_MS=${FIRST_EVENT_DELAY_MS:-50}
FIRST_EVENT_REQUESTS=${FIRST_EVENT_REQUESTS:-40}
MEMCHECK=${MEMCHECK:-0}                       # 1: RSS with MEMCHECK_CONNECTIONS idle connections / slow streams
MEMCHECK_CONNECTIONS=${MEMCHECK_CONNECTIONS:-1000}
SLOW_EVENT_GAP_MS=${SLOW_EVENT_GAP_MS:-250}   # pacing of the slow streams (24 events: 6 s per stream)
OUT_DIR=${OUT_DIR:-$REPO_DIR/build/bench/$(date +%Y%m%d-%H%M%S)}

MOCK_PORT=$BASE_PORT
MOCK_TTFB_PORT=$((BASE_PORT + 1))
MOCK_SLOW_PORT=$((BASE_PORT + 2))
RUN_DIR=$OUT_DIR/run
RESULTS_TSV=$OUT_DIR/results.tsv
WRK_SCRIPT=$BENCH_DIR/lua/chat.lua

IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
IFS=, read -r -a MODE_LIST <<<"$MODES"
IFS=, read -r -a CONN_LIST <<<"$CONNECTIONS"

# --- checks before starting anything ---------------------------------------------------------------------------
check_setup() {
  local tool mode c t
  for tool in nginx wrk taskset python3 curl getconf; do
    command -v "$tool" >/dev/null || die "'$tool' not found (Debian: apt-get install nginx-light libnginx-mod-http-echo wrk curl python3)"
  done
  [[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]] ||
    die "nginx echo module missing (Debian: apt-get install libnginx-mod-http-echo)"
  [[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$ROUNDS" -le 100 ]] || die "ROUNDS must be 1..100"
  [[ "$(seconds "$DURATION")" =~ ^[1-9][0-9]*$ ]] || die "DURATION must look like 10s, 30 or 1m"
  [[ "$(seconds "$WARMUP")" =~ ^[0-9]+$ ]] || die "WARMUP must look like 2s or 0"
  for mode in "${MODE_LIST[@]}"; do
    [[ "$mode" =~ ^(nonstream|stream|responses-stream|messages-stream)$ ]] || die "MODES: unknown '$mode'"
  done
  for c in "${CONN_LIST[@]}"; do
    [[ "$c" =~ ^[1-9][0-9]*$ && "$c" -le 10000 && "$c" -ge "$WRK_THREADS" ]] || die "CONNECTIONS: bad '$c'"
  done
  ((${#TARGET_LIST[@]})) || die "TARGETS is empty"
  [[ "$UPSTREAM_KEEPALIVE" =~ ^[1-9][0-9]*$ ]] || die "UPSTREAM_KEEPALIVE must be a positive number"
  for t in "${TARGET_LIST[@]}"; do [[ "$t" =~ ^[a-z0-9+-]+$ ]] || die "TARGETS: bad name '$t'"; done
  if [[ ",$TARGETS" == *",gateway-"*otlp* ]]; then
    command -v protoc >/dev/null || die "the OTLP receiver of gateway-*otlp* targets needs protoc and python3-protobuf (Debian: apt-get install protobuf-compiler python3-protobuf)"
  fi
  if [[ ",$TARGETS" == *",gateway-"*postgres* ]]; then
    command -v psql >/dev/null || die "gateway-*postgres* targets need PostgreSQL (Debian: apt-get install postgresql)"
  fi
  if [[ ",$TARGETS" == *",gateway-keys-redis"* ]]; then
    if [[ ! -x "$REDIS_SERVER" ]] || ! command -v redis-cli >/dev/null; then
      die "REDIS_SERVER=$REDIS_SERVER or redis-cli not found (Debian: apt-get install redis-server)"
    fi
  fi
  local cpus
  cpus=$(nproc --all)
  ((LOAD_CPU < cpus && PROXY_CPU < cpus)) || die "LOAD_CPU/PROXY_CPU must be below $cpus"
  [[ "$LOAD_CPU" != "$PROXY_CPU" ]] || log "warning: LOAD_CPU == PROXY_CPU: proxies share a core with wrk"
  local port
  for ((port = BASE_PORT; port < BASE_PORT + 100; port++)); do
    ! port_in_use "$port" || die "port $port is in use; pick another BASE_PORT"
  done
  local need=$((MEMCHECK_CONNECTIONS * 2 + 200))
  (($(ulimit -n) >= need)) || ulimit -n "$need" 2>/dev/null || die "ulimit -n is below $need"
}

# --- one measurement -------------------------------------------------------------------------------------------
# measure ROUND TARGET MODE CONNS: one wrk run; appends a line to results.tsv.
measure() {
  local round=$1 target=$2 mode=$3 conns=$4
  local pid=${TARGET_PID[$target]} port=${TARGET_PORT[$target]} stream=0 out line kv api=chat path=/v1/chat/completions
  [[ "$mode" == stream ]] && stream=1
  case "$mode" in
    responses-stream) api=responses path=/v1/responses stream=1 ;;
    messages-stream) api=messages path=/v1/messages stream=1 ;;
  esac
  local c0='' c1='' k0='' k1='' m0 m1 dropped0='' dropped1='' queued is_gateway=0
  local redis_port=${TARGET_REDIS_PORT[$target]:-} s0='' s1='' r0='' r1='' e0='' e1='' kind records=''
  local -a kinds=()
  local -A delivered0=()
  [[ "$target" == gateway* ]] && is_gateway=1
  # Record exporters (console, file, otlp, postgres): what their backends held before the run.
  read -r -a kinds <<<"${TARGET_RECORDS[$target]:-}"
  for kind in "${kinds[@]}"; do
    delivered0[$kind]=$(records_delivered "$target" "$kind") || die "$target: its $kind backend does not answer"
  done
  if ((is_gateway)); then
    read -r queued dropped0 < <(telemetry_counters "$port") || die "$target: GET /health failed"
  fi
  if [[ -n "$pid" ]]; then
    c0=$(cpu_ticks "$pid") || die "$target (pid $pid) is gone; see $RUN_DIR"
    k0=$(sys_ticks "$pid") || die "$target (pid $pid) is gone; see $RUN_DIR"
  fi
  m0=$(cpu_ticks "$MOCK_WORKER_PID") || die "the mock (pid $MOCK_WORKER_PID) is gone; see $RUN_DIR"
  # gateway-keys-redis*: Redis's EVALSHA calls and CPU (on the load core), and the gateway's state-store warnings
  # (logged on stderr, at most one per 10 s): a run in which Redis failed was served on local counts.
  if [[ -n "$redis_port" ]]; then
    s0=$(redis_info_field "$redis_port" commandstats 'cmdstat_evalsha:calls=') || die "$target: its Redis does not answer"
    r0=$(cpu_ticks "${TARGET_REDIS_PID[$target]}") || die "$target: its redis-server is gone; see $RUN_DIR/$target.redis"
    e0=$(state_warnings "$target")
  fi
  out=$(BENCH_HEADERS=$(target_headers "$target") BENCH_STREAM=$stream BENCH_API=$api BENCH_CLIENT_USAGE=$CLIENT_USAGE \
    timeout $(($(seconds "$DURATION") + 60)) \
    taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --timeout 10s -s "$WRK_SCRIPT" \
    "http://127.0.0.1:$port$path" 2>&1) || die "wrk failed against $target: $out"
  if [[ -n "$pid" ]]; then
    pid_alive "$pid" || die "$target (pid $pid) died during the run; see $RUN_DIR"
    # A gateway's exporters may still hold records (batches wait up to TELEMETRY_FLUSH_INTERVAL_MS, 1 s by
    # default): their cost belongs to this run, so wait for the queues to empty and then for a 1.2 s window
    # with at most 3 ticks (2.5 % of a core: the gateway's idle background polling); for nginx, 0.3 s without
    # a tick.
    if ((is_gateway)); then
      drain_telemetry "$port" || die "$target: GET /health failed"
      wait_cpu_quiet "$pid" 12 3
    elif [[ "$target" == portkey* ]]; then
      wait_cpu_quiet "$pid" 12 3   # node's timers (garbage collection, idle sweeps) tick now and then, like the gateway's
    else
      wait_cpu_quiet "$pid" 3 0
    fi
    c1=$(cpu_ticks "$pid") || die "$target (pid $pid) is gone; see $RUN_DIR"
    k1=$(sys_ticks "$pid") || die "$target (pid $pid) is gone; see $RUN_DIR"
  fi
  if ((is_gateway)); then
    read -r queued dropped1 < <(telemetry_counters "$port") || die "$target: GET /health failed"
  fi
  m1=$(cpu_ticks "$MOCK_WORKER_PID") || die "the mock is gone; see $RUN_DIR"
  if [[ -n "$redis_port" ]]; then
    s1=$(redis_info_field "$redis_port" commandstats 'cmdstat_evalsha:calls=') || die "$target: its Redis does not answer"
    r1=$(cpu_ticks "${TARGET_REDIS_PID[$target]}") || die "$target: its redis-server is gone; see $RUN_DIR/$target.redis"
    e1=$(state_warnings "$target")
  fi
  line=$(grep '^BENCH_RESULT ' <<<"$out") || die "no BENCH_RESULT from wrk: $out"
  local -A r=()
  for kv in ${line#BENCH_RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  # Records delivered during the run: the fewest of any of the target's record exporters, after the CPU reading.
  # Every request wrk counted has a record (and a request cut off at the end of the run one more), so fewer
  # records than requests means records missing; their delivery may still be under way: up to 5 s more.
  if ((${#kinds[@]})); then
    local i n
    for ((i = 0; i < 50; i++)); do
      records=
      for kind in "${kinds[@]}"; do
        n=$(records_delivered "$target" "$kind") || die "$target: its $kind backend does not answer"
        n=$((n - delivered0[$kind]))
        if [[ -z "$records" ]] || ((n < records)); then records=$n; fi
      done
      ((records >= r[requests])) && break
      sleep 0.1
    done
    clear_records "$target"
  fi
  if [[ -n "${TARGET_LOG[$target]}" ]]; then : >"${TARGET_LOG[$target]}"; fi
  local errors=$((r[err_connect] + r[err_read] + r[err_write] + r[err_status] + r[err_timeout]))
  awk -v OFS='\t' -v round="$round" -v target="$target" -v mode="$mode" -v conns="$conns" \
    -v req="${r[requests]}" -v dur="${r[duration_us]}" -v p50="${r[p50_us]}" -v p90="${r[p90_us]}" \
    -v p99="${r[p99_us]}" -v p999="${r[p999_us]}" -v errors="$errors" -v c0="$c0" -v c1="$c1" \
    -v m0="$m0" -v m1="$m1" -v tck="$CLK_TCK" -v d0="$dropped0" -v d1="$dropped1" \
    -v s0="$s0" -v s1="$s1" -v r0="$r0" -v r1="$r1" -v e0="$e0" -v e1="$e1" -v records="$records" -v k0="$k0" -v k1="$k1" 'BEGIN {
      rps = dur > 0 ? req / (dur / 1e6) : 0
      cpu = c0 == "" ? "" : sprintf("%.2f", (c1 - c0) / tck * 1e6 / (req > 0 ? req : 1))
      mock = sprintf("%.2f", (m1 - m0) / tck * 1e6 / (req > 0 ? req : 1))
      dropped = d0 == "" ? "" : d1 - d0
      calls = s0 == "" ? "" : sprintf("%.3f", (s1 - s0) / (req > 0 ? req : 1))
      rcpu = r0 == "" ? "" : sprintf("%.2f", (r1 - r0) / tck * 1e6 / (req > 0 ? req : 1))
      state_errors = e0 == "" ? "" : e1 - e0
      sys = k0 == "" ? "" : sprintf("%.2f", (k1 - k0) / tck * 1e6 / (req > 0 ? req : 1))
      print round, target, mode, conns, req, sprintf("%.3f", dur / 1e6), sprintf("%.1f", rps), p50, p90, p99, p999, errors, cpu, mock, dropped, calls, rcpu, state_errors, records, sys
    }' >>"$RESULTS_TSV"
  log "round $round  $(printf '%-28s %-9s c=%-4s' "$target" "$mode" "$conns") $(tail -1 "$RESULTS_TSV" | awk -F'\t' '{ printf "%9.0f req/s  p50 %7.0f us  p99 %7.0f us  cpu/req %6s us (sys %s)  errors %s%s%s%s%s", $7, $8, $10, ($13 == "" ? "-" : $13), ($20 == "" ? "-" : $20), $12, ($15 > 0 ? "  TELEMETRY DROPPED " $15 : ""), ($16 == "" ? "" : "  evalsha/req " $16 "  redis cpu/req " $17 " us"), ($18 > 0 ? "  STATE STORE ERRORS" : ""), ($19 == "" ? "" : "  records " $19 ($19 < $5 ? " RECORDS MISSING" : "")) }')"
}

# state_warnings TARGET: how many "state store:" warnings (Redis failures) the gateway TARGET has logged so far.
state_warnings() { grep -c 'state store:' "$RUN_DIR/$1.stderr" 2>/dev/null || true; }

# --- correctness before speed ------------------------------------------------------------------------------------
# check_routed TARGET HEADERS_FILE WHAT: a gateway-routed* target must have routed the request (x-gateway-provider
# present) and answered at its first attempt (x-gateway-attempts: 1); any other target must not have routed it.
# Otherwise the run would measure another path than the one it is named after.
check_routed() {
  local target=$1 headers=$2 what=$3 provider attempts
  provider=$(tr -d '\r' <"$headers" | awk -F': *' 'tolower($1) == "x-gateway-provider" { print $2 }')
  attempts=$(tr -d '\r' <"$headers" | awk -F': *' 'tolower($1) == "x-gateway-attempts" { print $2 }')
  if [[ "$target" == gateway-routed* ]]; then
    [[ -n "$provider" ]] || die "$target: the $what request was not routed (no x-gateway-provider; see $headers and $ROUTES_FILE)"
    [[ "$attempts" == 1 ]] || die "$target: the $what request took $attempts attempts, not 1 (see $headers)"
    echo "$target $what: routed to $provider at the first attempt" >>"$OUT_DIR/checks.txt"
  elif [[ -n "$provider" ]]; then
    die "$target: the $what request was routed (x-gateway-provider: $provider), but $target has no routes"
  fi
}

# check_keys TARGET HEADERS_FILE WHAT: a gateway-keys-redis* target must have enforced its key's limits on the
# request (x-ratelimit-limit-requests and -tokens, the key's rpm and tpm); any other target must not send them.
check_keys() {
  local target=$1 headers=$2 what=$3 rpm tpm
  rpm=$(tr -d '\r' <"$headers" | awk -F': *' 'tolower($1) == "x-ratelimit-limit-requests" { print $2 }')
  tpm=$(tr -d '\r' <"$headers" | awk -F': *' 'tolower($1) == "x-ratelimit-limit-tokens" { print $2 }')
  if [[ "$target" == gateway-keys-redis* ]]; then
    [[ "$rpm" == "$KEYS_RPM" && "$tpm" == "$KEYS_TPM" ]] ||
      die "$target: the $what request was not limited by its virtual key (x-ratelimit-limit-requests '$rpm', -tokens '$tpm'; see $headers)"
    echo "$target $what: limited by the virtual key (x-ratelimit-limit-requests: $rpm, x-ratelimit-limit-tokens: $tpm)" >>"$OUT_DIR/checks.txt"
  elif [[ -n "$rpm$tpm" ]]; then
    die "$target: the $what request carries x-ratelimit-limit-* headers, but $target has no virtual key"
  fi
}

# check_state_store TARGET: after the response checks, a gateway-keys-redis* target's Redis holds the key's rpm
# window (the count went through Redis, not the gateway's local fallback) and /health shows the store up.
check_state_store() {
  local target=$1 health windows
  [[ "$target" == gateway-keys-redis* ]] || return 0
  health=$(curl -sS --max-time 5 "http://127.0.0.1:${TARGET_PORT[$target]}/health") || die "$target: GET /health failed"
  grep -q '"state_store":{[^}]*"backend":"redis"[^}]*"state":"up"' <<<"$health" ||
    die "$target: /health does not show its Redis up: $health"
  windows=$(timeout 5 redis-cli -h 127.0.0.1 -p "${TARGET_REDIS_PORT[$target]}" --scan --pattern 'gw:rpm:*' | wc -l)
  ((windows > 0)) || die "$target: no gw:rpm:* counter in its Redis after the checks: the requests were not counted there"
  (($(state_warnings "$target") == 0)) || die "$target: the gateway logged state-store errors (see $RUN_DIR/$target.stderr)"
  echo "$target: /health state_store up (redis), $windows gw:rpm:* window(s) in Redis, no state-store warning" >>"$OUT_DIR/checks.txt"
}

# check_delivery TARGET: after the response checks, the record of every check request (its x-request-id) must reach
# each of the target's record backends (TARGET_RECORDS: console and file lines, the OTLP receiver's log records and
# spans, PostgreSQL rows) within 15 s, and the OTLP receiver must have found nothing to object to in what it
# was sent (lib/otlp_receiver.py checks the first requests of each signal in full). Otherwise the run would measure
# an exporter that delivers nothing.
check_delivery() {
  local target=$1 kind id i headers stats missing
  local -a kinds=() ids=()
  read -r -a kinds <<<"${TARGET_RECORDS[$target]:-}"
  ((${#kinds[@]})) || return 0
  for headers in "$RUN_DIR/check.$target".*headers; do
    id=$(tr -d '\r' <"$headers" | awk -F': *' 'tolower($1) == "x-request-id" { print $2 }')
    [[ "$id" =~ ^[A-Za-z0-9._-]+$ ]] || die "$target: no usable x-request-id in $headers ('$id')"
    ids+=("$id")
  done
  for kind in "${kinds[@]}"; do
    for id in "${ids[@]}"; do
      for ((i = 0; i < 150; i++)); do
        record_delivered "$target" "$kind" "$id" && break
        sleep 0.1
      done
      ((i < 150)) || die "$target: the record of check request $id did not reach its $kind exporter's backend within 15 s (see $RUN_DIR/$target.stderr)"
    done
    if [[ "$kind" == otlp ]]; then
      stats=$(otlp_stats "$target") || die "$target: its OTLP receiver does not answer"
      missing=$(python3 -c 'import json, sys; print("; ".join(json.loads(sys.argv[1])["violations"][:3]))' "$stats")
      [[ -z "$missing" ]] || die "$target: the OTLP receiver rejected what the gateway sent: $missing (see $RUN_DIR/$target.otlp.log)"
      echo "$target: the records of the ${#ids[@]} check requests reached the OTLP receiver as log records and spans (http/protobuf, checked in full: $(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(", ".join(f"{k} {v}" for k, v in s["items"].items()))' "$stats"), no violation)" >>"$OUT_DIR/checks.txt"
    else
      echo "$target: the records of the ${#ids[@]} check requests reached its $kind exporter's backend ($(records_delivered "$target" "$kind") records there)" >>"$OUT_DIR/checks.txt"
    fi
  done
}

# check_target TARGET: one non-streaming and one streaming request; the answer must be the mock's.
check_target() {
  local target=$1 port=${TARGET_PORT[$1]} code
  local url="http://127.0.0.1:$port/v1/chat/completions" h auth='Authorization: Bearer sk-bench' headers
  local -a extra=() hs=()
  # The default Authorization, unless BENCH_HEADERS or the target's own headers (a virtual key) replace it, as
  # they do in lua/chat.lua.
  headers=$(target_headers "$target")
  if [[ -n "$headers" ]]; then
    IFS='|' read -r -a hs <<<"$headers"
    for h in "${hs[@]}"; do
      if [[ "${h,,}" == authorization:* ]]; then auth=$h; else extra+=(-H "$h"); fi
    done
  fi
  extra=(-H "$auth" "${extra[@]}")
  local body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
  local sbody='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
  local sexpected=$RUN_DIR/mock/stream.sse
  if [[ "$CLIENT_USAGE" == 1 ]]; then
    sbody='{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":64}'
    sexpected=$RUN_DIR/mock/stream_usage.sse
  fi
  code=$(curl -sS --max-time 10 -o "$RUN_DIR/check.$target.json" -D "$RUN_DIR/check.$target.json.headers" \
    -w '%{http_code}' -H 'Content-Type: application/json' \
    "${extra[@]}" --data "$body" "$url") || die "$target: request failed"
  [[ "$code" == 200 ]] || die "$target: non-streaming answer has status $code: $(head -c 300 "$RUN_DIR/check.$target.json")"
  if cmp -s "$RUN_DIR/check.$target.json" "$RUN_DIR/mock/completion.json"; then
    echo "$target nonstream: 200, body byte-identical to the mock's" >>"$OUT_DIR/checks.txt"
  else
    echo "$target nonstream: 200, body DIFFERS from the mock's (see run/check.$target.json)" >>"$OUT_DIR/checks.txt"
    log "warning: $target changes the non-streaming body"
  fi
  check_routed "$target" "$RUN_DIR/check.$target.json.headers" nonstream
  check_keys "$target" "$RUN_DIR/check.$target.json.headers" nonstream
  code=$(curl -sS -N --max-time 10 -o "$RUN_DIR/check.$target.sse" -D "$RUN_DIR/check.$target.sse.headers" \
    -w '%{http_code}' -H 'Content-Type: application/json' \
    "${extra[@]}" --data "$sbody" "$url") || die "$target: streaming request failed"
  [[ "$code" == 200 ]] || die "$target: streaming answer has status $code: $(head -c 300 "$RUN_DIR/check.$target.sse")"
  local events last
  events=$(grep -c '^data: ' "$RUN_DIR/check.$target.sse" || true)
  last=$(grep '^data: ' "$RUN_DIR/check.$target.sse" | tail -1)
  [[ "$last" == 'data: [DONE]' ]] || die "$target: stream does not end with data: [DONE] (see $RUN_DIR/check.$target.sse)"
  if cmp -s "$RUN_DIR/check.$target.sse" "$sexpected"; then
    echo "$target stream: 200, $events data events, byte-identical to the mock's" >>"$OUT_DIR/checks.txt"
  else
    echo "$target stream: 200, $events data events, bytes DIFFER from the mock's (see run/check.$target.sse)" >>"$OUT_DIR/checks.txt"
    log "warning: $target changes the stream ($events data events)"
  fi
  check_routed "$target" "$RUN_DIR/check.$target.sse.headers" stream
  check_keys "$target" "$RUN_DIR/check.$target.sse.headers" stream
  local mode api_path api_body
  for mode in "${MODE_LIST[@]}"; do
    case "$mode" in
      responses-stream)
        api_path=/v1/responses
        api_body='{"model":"gpt-4o-mini","stream":true,"input":"Write one short sentence about load testing."}' ;;
      messages-stream)
        api_path=/v1/messages
        api_body='{"model":"claude-sonnet-4-5","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Write one short sentence about load testing."}]}' ;;
      *) continue ;;
    esac
    code=$(curl -sS -N --max-time 10 -o "$RUN_DIR/check.$target.$mode.sse" -D "$RUN_DIR/check.$target.$mode.headers" \
      -w '%{http_code}' -H 'Content-Type: application/json' "${extra[@]}" \
      --data "$api_body" "http://127.0.0.1:$port$api_path") || die "$target: $mode request failed"
    [[ "$code" == 200 ]] || die "$target: $mode answer has status $code: $(head -c 300 "$RUN_DIR/check.$target.$mode.sse")"
    if cmp -s "$RUN_DIR/check.$target.$mode.sse" "$RUN_DIR/mock/${mode//-/_}.sse"; then
      echo "$target $mode: 200, byte-identical to the mock's" >>"$OUT_DIR/checks.txt"
    else
      die "$target: the $mode answer differs from the mock's (see $RUN_DIR/check.$target.$mode.sse)"
    fi
    check_routed "$target" "$RUN_DIR/check.$target.$mode.headers" "$mode"
    check_keys "$target" "$RUN_DIR/check.$target.$mode.headers" "$mode"
  done
  check_state_store "$target"
  check_delivery "$target"
}

# header_args TARGET: --header NAME: VALUE for each of the target's headers (target_headers), for ttfb.py and
# memcheck.py.
header_args() {
  local h headers
  local -a hs=()
  headers=$(target_headers "$1")
  [[ -n "$headers" ]] || return 0
  IFS='|' read -r -a hs <<<"$headers"
  for h in "${hs[@]}"; do printf '%s\0%s\0' --header "$h"; done
}

# --- time to first streamed event (upstream delays its first event by FIRST_EVENT_DELAY_MS) --------------------
first_event_check() {
  local t name port=$((BASE_PORT + 60)) json
  log "time to first event: upstream delays its first event by ${FIRST_EVENT_DELAY_MS} ms"
  for t in "${TARGET_LIST[@]}"; do
    [[ "$t" == portkey* ]] && { log "  $t: skipped (ttfb.py does not send Portkey's routing headers)"; continue; }
    name="$t@ttfb"
    start_target "$name" "$port" "$MOCK_TTFB_PORT"
    local -a hargs=()
    mapfile -d '' -t hargs < <(header_args "$name")
    json=$(taskset -c "$LOAD_CPU" timeout 120 python3 "$BENCH_DIR/lib/ttfb.py" --port "${TARGET_PORT[$name]}" \
      --requests "$FIRST_EVENT_REQUESTS" "${hargs[@]}") || die "ttfb.py failed against $name"
    printf '%s\t%s\n' "$t" "$json" >>"$OUT_DIR/first_event.tsv"
    log "  $t: $json"
    stop_target "$name"
    port=$((port + 1))
  done
}

# --- memory: idle keep-alive connections and concurrent slow streams, each on a fresh process --------------------
memory_check() {
  local t name kind port=$((BASE_PORT + 80)) json
  log "memory: $MEMCHECK_CONNECTIONS idle keep-alive connections, then $MEMCHECK_CONNECTIONS concurrent slow streams"
  for t in "${TARGET_LIST[@]}"; do
    [[ "$t" == direct ]] && continue
    [[ "$t" == portkey* ]] && { log "  $t: skipped (memcheck.py does not send Portkey's routing headers)"; continue; }
    for kind in idle streams; do
      name="$t@mem-$kind"
      start_target "$name" "$port" "$MOCK_SLOW_PORT"
      local -a hargs=()
      mapfile -d '' -t hargs < <(header_args "$name")
      json=$(taskset -c "$LOAD_CPU" timeout 300 python3 "$BENCH_DIR/lib/memcheck.py" "$kind" "${hargs[@]}" \
        --port "$port" --pid "${TARGET_PID[$name]}" --connections "$MEMCHECK_CONNECTIONS" \
        --stream-seconds "$(awk -v ms="$SLOW_EVENT_GAP_MS" 'BEGIN { print ms * 24 / 1000 }')") ||
        die "memcheck.py $kind failed against $name"
      printf '%s\t%s\t%s\n' "$t" "$kind" "$json" >>"$OUT_DIR/memory.tsv"
      log "  $t $kind: $json"
      stop_target "$name"
      port=$((port + 1))
    done
  done
}

write_meta() {
  local gw_version=n/a
  if [[ " ${TARGET_LIST[*]} " == *" gateway"* && -x "$GATEWAY_BIN" ]]; then
    gw_version=$(timeout 5 "$GATEWAY_BIN" --version 2>&1 | head -1) || gw_version="(--version failed)"
    gw_version="$gw_version (${GATEWAY_BIN#"$REPO_DIR"/}, built $(date -u -r "$GATEWAY_BIN" +%Y-%m-%dT%H:%MZ))"
  fi
  {
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command=$(printf 'TARGETS=%s ROUNDS=%s DURATION=%s WARMUP=%s MODES=%s CONNECTIONS=%s MEMCHECK=%s FIRST_EVENT=%s UPSTREAM_KEEPALIVE=%s%s%s bench/run.sh' \
      "$TARGETS" "$ROUNDS" "$DURATION" "$WARMUP" "$MODES" "$CONNECTIONS" "$MEMCHECK" "$FIRST_EVENT" "$UPSTREAM_KEEPALIVE" \
      "${GATEWAY_ENV:+ GATEWAY_ENV=\"$GATEWAY_ENV\"}" "$([[ "$CLIENT_USAGE" == 1 ]] && echo ' CLIENT_USAGE=1')")"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc --all) cores)"
    echo "kernel=$(uname -sr)"
    echo "loadavg_at_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nginx=$(nginx -v 2>&1 | sed 's/.*version: //')"
    echo "wrk=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $2 }')"
    echo "gateway=$gw_version"
    if [[ " ${TARGET_LIST[*]} " == *" gateway-routed"* ]]; then echo "routes_file=${ROUTES_FILE#"$REPO_DIR"/}"; fi
    if [[ ",$TARGETS" == *",gateway-"*otlp* ]]; then
      echo "otlp_receiver=bench/lib/otlp_receiver.py (FakeOtlp of tests/integration/fake_backends.py), http/protobuf, one per target, pinned to CPU $LOAD_CPU"
    fi
    if [[ ",$TARGETS" == *",gateway-"*postgres* ]]; then
      echo "postgres=$(psql --version | awk '{ print $3 }') (scripts/services/postgres.sh), one per target, pinned to CPU $LOAD_CPU"
    fi
    if [[ " ${TARGET_LIST[*]} " == *" gateway-keys-redis"* ]]; then
      echo "redis=$("$REDIS_SERVER" --version | awk '{ print $3 }' | sed 's/^v=//'), pinned to CPU $LOAD_CPU, no persistence"
      echo "keys_limits=rpm $KEYS_RPM, tpm $KEYS_TPM"
    fi
    echo "git=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo n/a)$(git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
    echo "pinning=load generator and mock on CPU $LOAD_CPU, proxy under test on CPU $PROXY_CPU; 1 nginx worker, WORKER_THREADS=1"
    echo "cpu_at=$CPU_AT"
    echo "first_event_delay_ms=$FIRST_EVENT_DELAY_MS"
    echo "memcheck_connections=$MEMCHECK_CONNECTIONS"
    echo "slow_event_gap_ms=$SLOW_EVENT_GAP_MS"
  } >"$OUT_DIR/meta.env"
}

main() {
  check_setup
  mkdir -p "$OUT_DIR" "$RUN_DIR"
  trap cleanup EXIT
  trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "output in $OUT_DIR"
  write_meta
  printf 'round\ttarget\tmode\tconns\trequests\tduration_s\trps\tp50_us\tp90_us\tp99_us\tp999_us\terrors\tproxy_cpu_us_per_req\tmock_cpu_us_per_req\ttelemetry_dropped\tstate_calls_per_req\tstate_cpu_us_per_req\tstate_errors\trecords\tproxy_sys_us_per_req\n' >"$RESULTS_TSV"
  : >"$OUT_DIR/checks.txt"

  start_mock
  local i t mode c round rss_tsv=$OUT_DIR/rss.tsv
  for i in "${!TARGET_LIST[@]}"; do
    t=${TARGET_LIST[$i]}
    start_target "$t" $((BASE_PORT + 10 + i)) "$MOCK_PORT"
    check_target "$t"
  done

  if (($(seconds "$WARMUP") > 0)); then
    log "warm-up: $WARMUP per target and mode"
    for t in "${TARGET_LIST[@]}"; do
      for mode in "${MODE_LIST[@]}"; do
        BENCH_HEADERS=$(target_headers "$t") BENCH_STREAM=$([[ "$mode" == stream ]] && echo 1 || echo 0) \
          timeout $(($(seconds "$WARMUP") + 60)) \
          taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c32 -d"$WARMUP" -s "$WRK_SCRIPT" \
          "http://127.0.0.1:${TARGET_PORT[$t]}/v1/chat/completions" >/dev/null 2>&1 || die "warm-up of $t failed"
      done
      if [[ "$t" == gateway* ]]; then
        drain_telemetry "${TARGET_PORT[$t]}" || die "$t: GET /health failed"
        wait_cpu_quiet "${TARGET_PID[$t]}" 12 3
        clear_records "$t"
      fi
      if [[ -n "${TARGET_LOG[$t]}" ]]; then : >"${TARGET_LOG[$t]}"; fi
    done
  fi

  # Interleaved rounds: every (mode, connections) cell runs all targets back to back, and the order of the
  # targets rotates from round to round, so that drift on the machine hits every target alike.
  local n=${#TARGET_LIST[@]}
  for ((round = 1; round <= ROUNDS; round++)); do
    for mode in "${MODE_LIST[@]}"; do
      for c in "${CONN_LIST[@]}"; do
        for ((i = 0; i < n; i++)); do
          measure "$round" "${TARGET_LIST[$(((i + round - 1) % n))]}" "$mode" "$c"
        done
      done
    done
  done

  printf 'target\tvmhwm_kb\tvmrss_kb\n' >"$rss_tsv"
  for t in "${TARGET_LIST[@]}"; do
    [[ -n "${TARGET_PID[$t]}" ]] || continue
    printf '%s\t%s\t%s\n' "$t" "$(status_kb "${TARGET_PID[$t]}" VmHWM)" "$(status_kb "${TARGET_PID[$t]}" VmRSS)" >>"$rss_tsv"
  done
  # The gateway's own view of its overhead (ai_gateway_overhead_seconds, request latency minus provider latency)
  # over the whole load, from every gateway target that exports Prometheus metrics.
  for t in "${TARGET_LIST[@]}"; do
    [[ "$t" == gateway-*prometheus* ]] || continue
    curl -sS --max-time 5 -o "$OUT_DIR/metrics.$t.txt" "http://127.0.0.1:${TARGET_PORT[$t]}/metrics" ||
      log "warning: GET /metrics failed on $t"
  done
  for t in "${TARGET_LIST[@]}"; do stop_target "$t"; done

  if ((FIRST_EVENT)); then first_event_check; fi
  if ((MEMCHECK)); then memory_check; fi

  python3 "$BENCH_DIR/lib/report.py" "$OUT_DIR" >"$OUT_DIR/report.md" || die "report.py failed"
  log "done; raw data and logs in $OUT_DIR"
  cat "$OUT_DIR/report.md"
}

main "$@"
