# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this file
# Starting the mock upstream and the targets under test. Sourced by bench/run.sh after common.sh.
#
# A target is named in TARGETS:
#   direct                 the load generator talks to the mock itself (the floor every proxy is compared to)
#   nginx                  nginx as a plain reverse proxy (bench/nginx/proxy.conf.in)
#   gateway                the gateway with ENABLED_EXPORTERS=none (telemetry off)
#   gateway-A+B            the gateway with ENABLED_EXPORTERS=A,B, e.g. gateway-prometheus,
#                          gateway-console+prometheus (console records go to a file in the output directory),
#                          gateway-prometheus+file, gateway-prometheus+otlp, gateway-prometheus+postgres: each record
#                          exporter gets a backend of its own in the output directory (start_record_backends)
#   gateway-routed         the gateway as `gateway`, plus --config bench/gateway/routed.yaml (ROUTES_FILE): a
#                          route named exactly as each model the harness sends, whose one target is the provider
#                          (and mock) `gateway` uses, without a model of its own, so the request is routed,
#                          forwarded byte for byte and answered at the first attempt; compared with `gateway`
#   gateway-routed-A+B     the same with ENABLED_EXPORTERS=A,B (compared with gateway-A+B)
#   gateway-nodashboard-A+B  the gateway as gateway-A+B with DASHBOARD_ENABLED=false (the dashboard's rollups
#                          off; compared with gateway-A+B, where they are on by default)
#   gateway-keys-redis     the gateway as `gateway`, plus REDIS_URL to a redis-server of its own (pinned to LOAD_CPU,
#                          no persistence) and a virtual key with rpm/tpm limits that are enforced on every request
#                          (on leases from Redis, one EVALSHA each) but never reached; every request the harness
#                          sends to it carries that key (TARGET_HEADERS); compared with `gateway` and with nginx
#   gateway-keys-redis-A+B the same with ENABLED_EXPORTERS=A,B (compared with gateway-A+B)
#   portkey                the Portkey gateway (npm @portkey-ai/gateway, PORTKEY_JS), one node process; it finds
#                          the upstream from the request headers x-portkey-provider / x-portkey-custom-host, so
#                          the caller must send them (BENCH_HEADERS, see bench/race.sh)
# To add a kind of target (another proxy), add a start_<kind> function below and a case in start_target.
#
# start_target sets, for the target's name:
#   TARGET_PORT[name]  where the load generator connects
#   TARGET_PID[name]   the process whose CPU and memory are measured (nginx: its single worker); empty for direct
#   TARGET_LOG[name]   file the target's stdout goes to (cleared after each measurement)
#   TARGET_ALL_PIDS[name]  every process of the target (nginx: master and worker; gateway-keys-redis: the gateway
#                      and its redis-server), for stop_target
#   TARGET_HEADERS[name]   headers every request to this target carries, "Name: value|Name: value" like
#                      BENCH_HEADERS (see target_headers); empty for most targets. An Authorization header here
#                      replaces the default `Bearer sk-bench`.
#   TARGET_REDIS_PORT[name], TARGET_REDIS_PID[name]  gateway-keys-redis*: its redis-server
#   TARGET_RECORDS[name]   the record exporters whose deliveries are counted (records_delivered): any of console,
#                      file, otlp, postgres, space-separated; empty for targets that export no records
#   TARGET_FILE[name], TARGET_OTLP_PORT[name], TARGET_PG_URL[name], TARGET_PG_STATE[name]  where they go (below)

declare -A TARGET_PORT TARGET_PID TARGET_LOG TARGET_ALL_PIDS TARGET_HEADERS TARGET_REDIS_PORT TARGET_REDIS_PID
declare -A TARGET_RECORDS TARGET_FILE TARGET_OTLP_PORT TARGET_OTLP_PID TARGET_PG_URL TARGET_PG_STATE
RECORD_ENV=()                     # set by start_record_backends
CLEANUP_HOOKS+=(stop_all_postgres)

# Virtual-key limits of the gateway-keys-redis* targets: checked on every request, never reached (a run sends
# well under a million requests a minute and far fewer tokens).
KEYS_RPM=1000000000
KEYS_TPM=1000000000000

# render TEMPLATE OUT NAME=VALUE...: copy TEMPLATE to OUT replacing every @NAME@ with VALUE.
render() {
  local template=$1 out=$2 expr=() kv
  shift 2
  for kv in "$@"; do expr+=(-e "s#@${kv%%=*}@#${kv#*=}#g"); done
  sed "${expr[@]}" "$template" >"$out"
  if grep -q '@[A-Z_]*@' "$out"; then die "unfilled placeholder in $out: $(grep -o '@[A-Z_]*@' "$out" | head -1)"; fi
}

# nginx_worker MASTER_PID: the pid of the single worker (at most 5 s for it to appear).
nginx_worker() {
  local i children
  for ((i = 0; i < 100; i++)); do
    children=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || return 1
    if [[ -n "${children// /}" ]]; then echo "${children%% *}"; return 0; fi
    sleep 0.05
  done
  return 1
}

# start_mock: the mock upstream, pinned to LOAD_CPU next to the load generator.
start_mock() {
  python3 "$BENCH_DIR/mock/make_mock.py" "$RUN_DIR/mock" || die "make_mock.py failed"
  mkdir -p "$RUN_DIR/mock.tmp"
  render "$BENCH_DIR/mock/mock.conf.in" "$RUN_DIR/mock.conf" \
    RUN_DIR="$RUN_DIR" MOCK_PORT="$MOCK_PORT" MOCK_TTFB_PORT="$MOCK_TTFB_PORT" MOCK_SLOW_PORT="$MOCK_SLOW_PORT" \
    TTFB_DELAY_S="$(awk -v ms="$FIRST_EVENT_DELAY_MS" 'BEGIN { printf "%.3f", ms / 1000 }')" \
    SLOW_GAP_S="$(awk -v ms="$SLOW_EVENT_GAP_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"
  taskset -c "$LOAD_CPU" nginx -p "$RUN_DIR" -c "$RUN_DIR/mock.conf" >"$RUN_DIR/mock.out" 2>&1 &
  MOCK_MASTER_PID=$!
  remember_pid "$MOCK_MASTER_PID"
  wait_port "$MOCK_PORT" "$MOCK_MASTER_PID" || die "mock did not start; see $RUN_DIR/mock.out and mock.error.log"
  MOCK_WORKER_PID=$(nginx_worker "$MOCK_MASTER_PID") || die "mock worker not found"
  remember_pid "$MOCK_WORKER_PID"
}

# start_nginx NAME PORT UPSTREAM_PORT
start_nginx() {
  local name=$1 port=$2 upstream=$3 master worker
  mkdir -p "$RUN_DIR/$name.tmp"
  render "$BENCH_DIR/nginx/proxy.conf.in" "$RUN_DIR/$name.conf" \
    RUN_DIR="$RUN_DIR" NAME="$name" PORT="$port" UPSTREAM_PORT="$upstream" KEEPALIVE="$UPSTREAM_KEEPALIVE"
  taskset -c "$PROXY_CPU" nginx -p "$RUN_DIR" -c "$RUN_DIR/$name.conf" >"$RUN_DIR/$name.out" 2>&1 &
  master=$!
  remember_pid "$master"
  wait_port "$port" "$master" || die "$name did not start; see $RUN_DIR/$name.out and $name.error.log"
  worker=$(nginx_worker "$master") || die "$name: worker not found"
  remember_pid "$worker"
  TARGET_PID[$name]=$worker
  TARGET_ALL_PIDS[$name]="$master $worker"
  TARGET_LOG[$name]=$RUN_DIR/$name.out
}

# start_gateway NAME PORT UPSTREAM_PORT EXPORTERS [CONFIG_FILE [NAME=VALUE...]]
# A clean environment (env -i) so that nothing from the caller's shell (an exported OPENAI_API_KEY,
# ENABLED_EXPORTERS, ...) changes what is measured; GATEWAY_ENV adds settings (space-separated NAME=VALUE).
# CONFIG_FILE (gateway-routed*; may be empty) is passed as --config; the settings stay in the environment for
# every target. NAME=VALUE after it are more settings of this target only (gateway-keys-redis*: REDIS_URL, ...).
start_gateway() {
  local name=$1 port=$2 upstream=$3 exporters=$4 config=${5:-} pid
  shift $(($# < 5 ? $# : 5))
  [[ -x "$GATEWAY_BIN" ]] || die "GATEWAY_BIN=$GATEWAY_BIN is not an executable (build it, or set TARGETS without gateway*)"
  local -a extra=() args=()
  [[ -n "${GATEWAY_ENV:-}" ]] && read -r -a extra <<<"$GATEWAY_ENV"
  extra+=("$@")
  if [[ -n "$config" ]]; then
    [[ -f "$config" ]] || die "$name: config file $config not found"
    cp "$config" "$RUN_DIR/$name.yaml"   # the file the run used, kept with its logs
    args=(--config "$RUN_DIR/$name.yaml")
  fi
  TARGET_LOG[$name]=$RUN_DIR/$name.stdout
  mkdir -p "$RUN_DIR/$name.spool"   # the default (telemetry-spool/ in the working directory) would litter the caller's
  # >> (O_APPEND), so that truncating the file between measurements keeps it small instead of sparse.
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    HOST=127.0.0.1 PORT="$port" WORKER_THREADS=1 LOG_LEVEL=warn \
    UPSTREAM_MAX_IDLE_CONNECTIONS_PER_HOST="$UPSTREAM_KEEPALIVE" \
    OPENAI_BASE_URL="http://127.0.0.1:$upstream/v1" OPENAI_API_KEY=sk-bench \
    ANTHROPIC_BASE_URL="http://127.0.0.1:$upstream" \
    ENABLED_EXPORTERS="$exporters" TELEMETRY_SPOOL_DIR="$RUN_DIR/$name.spool" \
    "${extra[@]}" \
    taskset -c "$PROXY_CPU" "$GATEWAY_BIN" "${args[@]}" >>"${TARGET_LOG[$name]}" 2>"$RUN_DIR/$name.stderr" &
  pid=$!
  remember_pid "$pid"
  wait_port "$port" "$pid" || die "$name did not start; see $RUN_DIR/$name.stderr"
  TARGET_PID[$name]=$pid
  TARGET_ALL_PIDS[$name]="$pid${TARGET_OTLP_PID[$name]:+ ${TARGET_OTLP_PID[$name]}}"
}

# start_record_backends NAME PORT EXPORTERS: a backend for each record exporter in EXPORTERS (comma-separated)
# that needs one, in the output directory, never in the caller's: the settings the gateway needs for them are left
# in RECORD_ENV (NAME=VALUE words for start_gateway), and TARGET_RECORDS[NAME] lists what records_delivered counts.
#   console   stdout, already a file (TARGET_LOG)
#   file      FILE_EXPORTER_PATH=RUN_DIR/NAME.records.jsonl, never rotated (FILE_EXPORTER_MAX_BYTES=0): the harness
#             empties it after each measurement, once its lines are counted, as it does the console's stdout
#   otlp      lib/otlp_receiver.py (the project's strict OTLP receiver, tests/integration/fake_backends.py) on PORT+200,
#             pinned to LOAD_CPU; OTEL_EXPORTER_OTLP_ENDPOINT to it, OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
#   postgres  a PostgreSQL of its own (scripts/services/postgres.sh, state in RUN_DIR/NAME.postgres), pinned to
#             LOAD_CPU; POSTGRES_URL to it
# A backend that GATEWAY_ENV already names is used instead (bench/soak.sh: FILE_EXPORTER_PATH with rotation;
# bench/race.sh: POSTGRES_URL, one server for the whole run); an OTLP endpoint given there is not counted.
# Backends are part of the deployment, not of the proxy under test: like the mock and Redis they share LOAD_CPU
# with the load generator, and the gateway's figure is the gateway process alone.
start_record_backends() {
  local name=$1 port=$2 exporters=",$3," path url
  RECORD_ENV=()
  TARGET_RECORDS[$name]=
  if [[ "$exporters" == *,console,* ]]; then TARGET_RECORDS[$name]+=" console"; fi
  if [[ "$exporters" == *,file,* ]]; then
    path=$(gateway_env_value FILE_EXPORTER_PATH)
    if [[ -z "$path" ]]; then
      path=$RUN_DIR/$name.records.jsonl
      RECORD_ENV+=(FILE_EXPORTER_PATH="$path" FILE_EXPORTER_MAX_BYTES=0)
    fi
    TARGET_FILE[$name]=$path
    TARGET_RECORDS[$name]+=" file"
  fi
  if [[ "$exporters" == *,otlp,* && -z "$(gateway_env_value OTEL_EXPORTER_OTLP_ENDPOINT)" ]]; then
    start_otlp_receiver "$name" $((port + 200))
    RECORD_ENV+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:${TARGET_OTLP_PORT[$name]}"
      OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
    TARGET_RECORDS[$name]+=" otlp"
  fi
  if [[ "$exporters" == *,postgres,* ]]; then
    url=$(gateway_env_value POSTGRES_URL)
    if [[ -z "$url" ]]; then
      start_postgres "$name"
      url=${TARGET_PG_URL[$name]}
      RECORD_ENV+=(POSTGRES_URL="$url")
    fi
    TARGET_PG_URL[$name]=$url
    TARGET_RECORDS[$name]+=" postgres"
  fi
  TARGET_RECORDS[$name]=${TARGET_RECORDS[$name]# }
}

# gateway_env_value NAME: the value GATEWAY_ENV gives NAME (its last NAME=VALUE word); empty when none.
gateway_env_value() {
  local kv value=''
  local -a words=()
  [[ -n "${GATEWAY_ENV:-}" ]] && read -r -a words <<<"$GATEWAY_ENV"
  for kv in "${words[@]}"; do
    if [[ "$kv" == "$1="* ]]; then value=${kv#"$1"=}; fi
  done
  echo "$value"
}

# start_otlp_receiver NAME PORT: lib/otlp_receiver.py for target NAME on 127.0.0.1:PORT, pinned to LOAD_CPU, its output
# in RUN_DIR/NAME.otlp.log. Sets TARGET_OTLP_PORT/PID[NAME].
start_otlp_receiver() {
  local name=$1 port=$2 pid
  ! port_in_use "$port" || die "$name: port $port (its OTLP receiver) is in use; pick another BASE_PORT"
  taskset -c "$LOAD_CPU" python3 "$BENCH_DIR/lib/otlp_receiver.py" --port "$port" --protocol http/protobuf \
    >"$RUN_DIR/$name.otlp.log" 2>&1 &
  pid=$!
  remember_pid "$pid"
  wait_port "$port" "$pid" || die "$name: the OTLP receiver did not start; see $RUN_DIR/$name.otlp.log"
  TARGET_OTLP_PORT[$name]=$port
  TARGET_OTLP_PID[$name]=$pid
}

# start_postgres NAME: a throwaway PostgreSQL for target NAME (scripts/services/postgres.sh: initdb in a directory
# under /tmp, a free loopback port, fsync off), pinned to LOAD_CPU; stopped and deleted by stop_target or, on any
# exit, by stop_all_postgres. Sets TARGET_PG_URL/STATE[NAME].
start_postgres() {
  local name=$1 state=$RUN_DIR/$1.postgres url
  mkdir -p "$state"
  TARGET_PG_STATE[$name]=$state
  url=$(taskset -c "$LOAD_CPU" bash "$REPO_DIR/scripts/services/postgres.sh" start "$state" 2>"$state/start.log") ||
    die "$name: PostgreSQL did not start (Debian: apt-get install postgresql); see $state/start.log"
  TARGET_PG_URL[$name]=$url
}

# stop_postgres NAME: stops target NAME's PostgreSQL, if it has one, and deletes its data.
stop_postgres() {
  local state=${TARGET_PG_STATE[$1]:-}
  [[ -n "$state" ]] || return 0
  bash "$REPO_DIR/scripts/services/postgres.sh" stop "$state" >/dev/null 2>&1 || log "warning: $1: stopping PostgreSQL failed"
  TARGET_PG_STATE[$1]=
}

# stop_all_postgres: every PostgreSQL still running (the harness's exit, after its processes are stopped).
stop_all_postgres() {
  local name
  for name in "${!TARGET_PG_STATE[@]}"; do stop_postgres "$name"; done
}

# otlp_stats NAME: the OTLP receiver's counters (GET /stats, lib/otlp_receiver.py) as JSON.
otlp_stats() { curl -sS --max-time 5 "http://127.0.0.1:${TARGET_OTLP_PORT[$1]}/stats"; }

# records_delivered NAME KIND: how many records target NAME's KIND exporter (console, file, otlp, postgres) has
# delivered so far: lines in its stdout or file, log records at the OTLP receiver, rows in the table.
records_delivered() {
  local name=$1 kind=$2
  case "$kind" in
    console) wc -l <"${TARGET_LOG[$name]}" ;;
    file) if [[ -f "${TARGET_FILE[$name]}" ]]; then wc -l <"${TARGET_FILE[$name]}"; else echo 0; fi ;;
    otlp) otlp_stats "$name" | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"]["logs"])' ;;
    postgres) timeout 30 psql "${TARGET_PG_URL[$name]}" -Atc 'select count(*) from ai_gateway_logs' 2>/dev/null || echo 0 ;;
    *) die "records_delivered: unknown kind $kind" ;;
  esac
}

# record_delivered NAME KIND ID: whether the record with id ID (letters, digits, '.', '_', '-': the caller checks) has
# reached target NAME's KIND backend.
record_delivered() {
  local name=$1 kind=$2 id=$3
  case "$kind" in
    console) grep -qF "\"id\":\"$id\"" "${TARGET_LOG[$name]}" ;;
    file) [[ -f "${TARGET_FILE[$name]}" ]] && grep -qF "\"id\":\"$id\"" "${TARGET_FILE[$name]}" ;;
    otlp)
      otlp_stats "$name" | python3 -c 'import json, sys; ids = json.load(sys.stdin)["ids"]
sys.exit(0 if sys.argv[1] in ids["logs"] and sys.argv[1] in ids["traces"] else 1)' "$id" ;;
    postgres)
      [[ "$(timeout 10 psql "${TARGET_PG_URL[$name]}" -Atc "select count(*) from ai_gateway_logs where request_id = '$id'" 2>/dev/null)" == 1 ]] ;;
  esac
}

# clear_records NAME: empties target NAME's record file after a measurement (the console's stdout is TARGET_LOG,
# emptied with it), so that long runs do not fill the disk.
clear_records() {
  if [[ -n "${TARGET_FILE[$1]:-}" && -f "${TARGET_FILE[$1]}" ]]; then : >"${TARGET_FILE[$1]}"; fi
}

# start_redis NAME PORT: a redis-server for target NAME on 127.0.0.1:PORT, pinned to LOAD_CPU with the load
# generator (it is the deployment's shared state, not the proxy under test), without persistence, its directory
# and log under RUN_DIR. Sets TARGET_REDIS_PORT/PID[NAME].
start_redis() {
  local name=$1 port=$2 pid dir=$RUN_DIR/$1.redis
  local server=${REDIS_SERVER:-redis-server}
  command -v "$server" >/dev/null || die "'$server' not found (Debian: apt-get install redis-server)"
  ! port_in_use "$port" || die "$name: port $port (its redis-server) is in use; pick another BASE_PORT"
  mkdir -p "$dir"
  taskset -c "$LOAD_CPU" "$server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$dir" --daemonize no --logfile "$dir/redis.log" >"$dir/redis.out" 2>&1 &
  pid=$!
  remember_pid "$pid"
  wait_port "$port" "$pid" || die "$name: redis-server did not start; see $dir/redis.log"
  TARGET_REDIS_PORT[$name]=$port
  TARGET_REDIS_PID[$name]=$pid
}

# redis_info_field PORT SECTION PATTERN: one value from INFO (e.g. commandstats 'cmdstat_evalsha:calls=');
# 0 when absent.
redis_info_field() {
  local out
  out=$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" INFO "$2" 2>/dev/null) || return 1
  tr -d '\r' <<<"$out" | awk -v p="$3" 'index($0, p) == 1 { v = substr($0, length(p) + 1); sub(/[^0-9.].*/, "", v); print v; found = 1 }
    END { if (!found) print 0 }'
}

# create_bench_key NAME PORT ADMIN_KEY: POST /admin/keys on the gateway NAME (port PORT) for a key limited to
# KEYS_RPM / KEYS_TPM; prints the key (gw-...). The response (with the key) stays in RUN_DIR, never in the log.
create_bench_key() {
  local name=$1 port=$2 admin=$3 code file=$RUN_DIR/$1.key.json i
  local body="{\"name\":\"bench\",\"limits\":{\"rpm\":$KEYS_RPM,\"tpm\":$KEYS_TPM}}"
  # The worker's Redis connection may still be opening: retry a 503 (state_unavailable) for up to 5 s.
  for ((i = 0; i < 50; i++)); do
    code=$(curl -sS --max-time 5 -o "$file" -w '%{http_code}' -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $admin" --data "$body" "http://127.0.0.1:$port/admin/keys") || code=000
    [[ "$code" == 503 || "$code" == 000 ]] || break
    sleep 0.1
  done
  [[ "$code" == 201 ]] || die "$name: POST /admin/keys answered $code: $(head -c 300 "$file")"
  python3 -c 'import json, sys; k = json.load(open(sys.argv[1]))["key"]; assert k.startswith("gw-"); print(k)' "$file" ||
    die "$name: no gw- key in the answer to POST /admin/keys (see $file)"
}

# start_gateway_keys NAME PORT UPSTREAM_PORT EXPORTERS [NAME=VALUE...]: its redis-server on PORT+100, the gateway with
# REDIS_URL, an admin key of this run and ANTHROPIC_API_KEY (and the settings given), and a virtual key with rpm/tpm
# limits that every request to NAME then carries.
start_gateway_keys() {
  local name=$1 port=$2 upstream=$3 exporters=$4 redis_port=$(($2 + 100)) admin key
  shift 4
  start_redis "$name" "$redis_port"
  admin=bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  # With a virtual key the client's credential never goes upstream: the provider key is the gateway's own
  # (OPENAI_API_KEY for every gateway; ANTHROPIC_API_KEY here, for the Messages API mode).
  start_gateway "$name" "$port" "$upstream" "$exporters" "" \
    REDIS_URL="redis://127.0.0.1:$redis_port/0" GATEWAY_ADMIN_KEY="$admin" ANTHROPIC_API_KEY=sk-bench "$@"
  TARGET_ALL_PIDS[$name]="${TARGET_PID[$name]}${TARGET_OTLP_PID[$name]:+ ${TARGET_OTLP_PID[$name]}} ${TARGET_REDIS_PID[$name]}"
  key=$(create_bench_key "$name" "$port" "$admin") || exit 1
  TARGET_HEADERS[$name]="Authorization: Bearer $key"
}

# target_headers NAME: the headers every request to NAME carries besides the defaults, "Name: value|..."
# (BENCH_HEADERS, for every target, then the target's own TARGET_HEADERS, which win for a name in both).
target_headers() {
  local own=${TARGET_HEADERS[$1]:-}
  if [[ -n "${BENCH_HEADERS:-}" && -n "$own" ]]; then echo "$BENCH_HEADERS|$own"; else echo "${BENCH_HEADERS:-}$own"; fi
}

# start_portkey NAME PORT: node PORTKEY_JS --port=PORT --headless, pinned like every proxy. The upstream is not
# configured here: Portkey takes it from every request (x-portkey-custom-host), which BENCH_HEADERS supplies.
start_portkey() {
  local name=$1 port=$2 pid
  [[ -f "${PORTKEY_JS:-}" ]] || die "PORTKEY_JS=${PORTKEY_JS:-} not found (bench/race.sh installs @portkey-ai/gateway)"
  command -v node >/dev/null || die "'node' not found (Debian: apt-get install nodejs)"
  TARGET_LOG[$name]=$RUN_DIR/$name.stdout
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" NODE_ENV=production \
    taskset -c "$PROXY_CPU" node "$PORTKEY_JS" --port="$port" --headless >>"${TARGET_LOG[$name]}" 2>"$RUN_DIR/$name.stderr" &
  pid=$!
  remember_pid "$pid"
  wait_port "$port" "$pid" || die "$name did not start; see $RUN_DIR/$name.stderr"
  TARGET_PID[$name]=$pid
  TARGET_ALL_PIDS[$name]=$pid
}

# telemetry_counters PORT: "QUEUED DROPPED" summed over the gateway's exporters, from GET /health (docs/configuration.md:
# exporters.NAME.queue_depth / .dropped); "0 0" with telemetry off. Fails if /health does not answer.
telemetry_counters() {
  local health i
  # Three tries of 5 s: a single-threaded gateway on a contended core can take seconds to answer right after
  # a run at 256 connections (the race lost a whole run to one 2 s timeout).
  for ((i = 0; i < 3; i++)); do
    health=$(curl -sS --max-time 5 "http://127.0.0.1:$1/health") && break
    ((i < 2)) || return 1
  done
  { grep -o '"\(queue_depth\|dropped\)":[0-9]*' <<<"$health" || true; } |
    awk -F'[":]+' '{ sum[$2] += $3 } END { printf "%d %d\n", sum["queue_depth"], sum["dropped"] }'
}

# drain_telemetry PORT: wait until no record waits in any exporter queue (at most 15 s).
drain_telemetry() {
  local i queued dropped
  for ((i = 0; i < 150; i++)); do
    read -r queued dropped < <(telemetry_counters "$1") || return 1
    ((queued == 0)) && return 0
    sleep 0.1
  done
  log "warning: gateway on port $1 still has $queued records queued after 15 s"
}

# start_target NAME PORT UPSTREAM_PORT: NAME may carry an instance suffix after '@' (nginx@slow), which
# only changes the file names.
start_target() {
  local name=$1 port=$2 upstream=$3 kind=${1%%@*}
  case "$kind" in
    direct)
      TARGET_PORT[$name]=$upstream
      TARGET_PID[$name]=
      TARGET_ALL_PIDS[$name]=
      TARGET_LOG[$name]=
      return 0
      ;;
    nginx) start_nginx "$name" "$port" "$upstream" ;;
    portkey) start_portkey "$name" "$port" ;;
    gateway) start_gateway "$name" "$port" "$upstream" none ;;
    gateway-routed | gateway-routed-*)
      local exporters=${kind#gateway-routed}
      exporters=${exporters#-}
      exporters=${exporters//+/,}
      start_record_backends "$name" "$port" "$exporters"
      start_gateway "$name" "$port" "$upstream" "${exporters:-none}" "$ROUTES_FILE" "${RECORD_ENV[@]}"
      ;;
    gateway-keys-redis | gateway-keys-redis-*)
      local exporters=${kind#gateway-keys-redis}
      exporters=${exporters#-}
      exporters=${exporters//+/,}
      start_record_backends "$name" "$port" "$exporters"
      start_gateway_keys "$name" "$port" "$upstream" "${exporters:-none}" "${RECORD_ENV[@]}"
      ;;
    gateway-nodashboard-*)
      local exporters=${kind#gateway-nodashboard-}
      start_record_backends "$name" "$port" "${exporters//+/,}"
      start_gateway "$name" "$port" "$upstream" "${exporters//+/,}" "" DASHBOARD_ENABLED=false "${RECORD_ENV[@]}"
      ;;
    gateway-*)
      local exporters=${kind#gateway-}
      start_record_backends "$name" "$port" "${exporters//+/,}"
      start_gateway "$name" "$port" "$upstream" "${exporters//+/,}" "" "${RECORD_ENV[@]}"
      ;;
    *) die "unknown target '$kind' (known: direct, nginx, portkey, gateway, gateway-EXPORTER[+EXPORTER...], gateway-nodashboard-EXPORTER[+EXPORTER...], gateway-routed, gateway-routed-EXPORTER[+EXPORTER...], gateway-keys-redis, gateway-keys-redis-EXPORTER[+EXPORTER...])" ;;
  esac
  TARGET_PORT[$name]=$port
}

# stop_target NAME: stops one target started by start_target (used by the memory and first-event checks,
# which give every target a fresh process).
stop_target() {
  local -a pids
  read -r -a pids <<<"${TARGET_ALL_PIDS[$1]:-}"
  ((${#pids[@]})) && stop_pids "${pids[@]}"
  stop_postgres "$1"
  TARGET_HEADERS[$1]=
  return 0
}
