#!/usr/bin/env bash
# The overhead race (issue 6): in ONE interleaved bench/run.sh run, the same mock upstream reached
#   direct                       no proxy (the floor)
#   nginx                        nginx as a plain reverse proxy (the reference)
#   gateway-console+prometheus   the gateway with console (stdout to a file) and prometheus
#   gateway-postgres             the gateway with the postgres exporter, into a real PostgreSQL on loopback
#   portkey                      the Portkey gateway (npm @portkey-ai/gateway, one node process), routed to the
#                                mock by its x-portkey-provider / x-portkey-custom-host headers
# non-streaming and streaming, at 8, 64 and 256 connections. One command:
#
#   bench/race.sh                                   # ROUNDS=3 DURATION=8s by default
#   ROUNDS=1 DURATION=3s bench/race.sh              # a quick smoke run
#
# Every other bench/run.sh variable works too (GATEWAY_BIN, BASE_PORT, LOAD_CPU, PROXY_CPU, OUT_DIR, ...).
# Prints the race report (Markdown) on stdout; raw data in OUT_DIR as for run.sh, plus race.md, race.env,
# metrics.<target>.txt (the gateway's /metrics after the load) and postgres/ (the server's state and log).
set -Eeuo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=SCRIPTDIR/lib/common.sh
source "$BENCH_DIR/lib/common.sh"

export TARGETS=${TARGETS:-direct,nginx,gateway-console+prometheus,gateway-postgres,portkey}
export ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-8s}
export WARMUP=${WARMUP:-2s}
export MODES=${MODES:-nonstream,stream}
export CONNECTIONS=${CONNECTIONS:-8,64,256}
export CPU_AT=${CPU_AT:-64}
export FIRST_EVENT=0 MEMCHECK=0          # the race is the load rounds only (run.sh's other checks: bench/run.sh)
export BASE_PORT=${BASE_PORT:-18080}
export OUT_DIR=${OUT_DIR:-$REPO_DIR/build/bench/race-$(date +%Y%m%d-%H%M%S)}
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
PORTKEY_DIR=${PORTKEY_DIR:-$REPO_DIR/build/portkey}
export PORTKEY_JS=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
PG_STATE=$OUT_DIR/postgres

mkdir -p "$OUT_DIR"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (Debian: apt-get install nodejs npm)"
if [[ ! -f "$PORTKEY_JS" ]]; then
  # @hono/node-server pinned to 1.14.2 (Portkey issue #1389: newer versions make Portkey fail with
  # "TypeError: immutable").
  log "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR"
  mkdir -p "$PORTKEY_DIR"
  cat >"$PORTKEY_DIR/package.json" <<JSON
{ "private": true, "dependencies": { "@portkey-ai/gateway": "$PORTKEY_VERSION" },
  "overrides": { "@hono/node-server": "1.14.2" } }
JSON
  npm install --prefix "$PORTKEY_DIR" --no-audit --no-fund >"$OUT_DIR/npm.log" 2>&1 ||
    die "npm install failed; see $OUT_DIR/npm.log"
fi
# Portkey 1.15.2 on Node answers every streaming chat completion with 500 "Something went wrong"
# (TypeError: immutable in ResponseService.updateHeaders: it appends x-portkey-* headers to the fetch Response
# of the upstream, whose headers are immutable; Portkey issue #1550). The fix of Portkey PR #1551, applied to
# the built file: copy an already-mapped streaming response into a new Response before adding the headers.
if ! grep -q 'r&&this.context.isStreaming&&(i=new Response' "$PORTKEY_JS"; then
  grep -q 'this.updateHeaders(i,n.cacheStatus,o),{response:i' "$PORTKEY_JS" ||
    die "cannot apply the streaming fix to $PORTKEY_JS (another Portkey version? set PORTKEY_VERSION=1.15.2)"
  cp "$PORTKEY_JS" "$PORTKEY_JS.orig"
  sed -i 's/this\.updateHeaders(i,n\.cacheStatus,o),{response:i/(r\&\&this.context.isStreaming\&\&(i=new Response(i.body,{status:i.status,statusText:i.statusText,headers:new Headers(i.headers)})),this.updateHeaders(i,n.cacheStatus,o)),{response:i/' "$PORTKEY_JS"
  log "applied the streaming fix (Portkey PR #1551) to $PORTKEY_JS"
fi
portkey_version=$(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version")

# Portkey is told where the upstream is by every request; all targets get the same headers (nginx forwards
# them, the gateway forwards or ignores them, the mock ignores them), so every target sees the same bytes.
export BENCH_HEADERS="x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$BASE_PORT/v1"

pg_url=
stop_pg() { [[ -z "$pg_url" ]] || bash "$REPO_DIR/scripts/services/postgres.sh" stop "$PG_STATE" || true; }
if [[ ",$TARGETS," == *,gateway-*postgres*,* ]]; then
  # PostgreSQL on loopback, pinned with the load generator (it is the exporter's backend, not the proxy).
  log "starting PostgreSQL (scripts/services/postgres.sh) on CPU ${LOAD_CPU:-0}"
  pg_url=$(taskset -c "${LOAD_CPU:-0}" bash "$REPO_DIR/scripts/services/postgres.sh" start "$PG_STATE") ||
    die "PostgreSQL did not start; see $PG_STATE"
  trap stop_pg EXIT
  export GATEWAY_ENV="${GATEWAY_ENV:+$GATEWAY_ENV }POSTGRES_URL=$pg_url"
fi

command="TARGETS=$TARGETS ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP MODES=$MODES CONNECTIONS=$CONNECTIONS${GATEWAY_BIN:+ GATEWAY_BIN=$GATEWAY_BIN} bench/race.sh"
rc=0
"$BENCH_DIR/run.sh" >"$OUT_DIR/run-report.md" || rc=$?
{
  echo "command=${command#"$REPO_DIR"/}"
  echo "duration=$DURATION"
  echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "portkey=@portkey-ai/gateway $portkey_version"
  echo "node=$(node --version)"
  if [[ -n "$pg_url" ]]; then
    echo "postgres=$(psql "$pg_url" -Atc 'show server_version' 2>/dev/null || echo '?')"
    echo "postgres_rows=$(psql "$pg_url" -Atc 'select count(*) from ai_gateway_logs' 2>/dev/null || echo '?')"
    echo "postgres_requests=$(awk -F'\t' '$2 == "gateway-postgres" { n += $5 } END { print n + 0 }' "$OUT_DIR/results.tsv" 2>/dev/null)"
  fi
} >"$OUT_DIR/race.env"
((rc == 0)) || die "bench/run.sh failed (status $rc); see $OUT_DIR"
python3 "$BENCH_DIR/lib/race_report.py" "$OUT_DIR" >"$OUT_DIR/race.md" || die "race_report.py failed"
log "done; raw data and logs in $OUT_DIR"
cat "$OUT_DIR/race.md"
