#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests, on a loopback port.
#
#   postgres.sh start STATE_DIR   initdb + start; prints the libpq URL (also in STATE_DIR/url)
#   postgres.sh stop  STATE_DIR   stop the server and delete its data
#   postgres.sh pause STATE_DIR   stop the server, keep the data   (outage tests)
#   postgres.sh resume STATE_DIR  start it again on the same port
#
# PostgreSQL refuses to run as root, and CI runs as root: then the cluster
# belongs to the `postgres` system user (created by Debian's postgresql
# package) and lives in a private directory under /tmp that it can reach.
# Authentication is `trust` on 127.0.0.1 only; fsync is off (test data).
set -euo pipefail

cmd=${1:-}
state=${2:-}
if [[ -z "$cmd" || -z "$state" ]]; then
  echo "usage: $0 start|stop|pause|resume STATE_DIR" >&2
  exit 64
fi

find_bin() {
  local name=$1
  for dir in ${PG_BIN_DIR:-} /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [[ -n "$dir" && -x "$dir/$name" ]] && { echo "$dir/$name"; return; }
  done
  command -v "$name" || { echo "postgres.sh: $name not found (apt-get install postgresql)" >&2; exit 69; }
}
PG_CTL=$(find_bin pg_ctl)
INITDB=$(find_bin initdb)

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() {
  local data=$1 port=$2
  as_owner "$PG_CTL" -D "$data" -l "$data/server.log" -w -t 30 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off -c full_page_writes=off" start >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$state"
    if [[ -f "$state/datadir" ]]; then "$0" stop "$state" || true; fi
    data=$(mktemp -d /tmp/gw-postgres.XXXXXX)
    chmod 700 "$data"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$data"
    as_owner "$INITDB" -D "$data" -U gw -A trust --no-sync -E UTF8 >"$state/initdb.log" 2>&1 ||
      { cat "$state/initdb.log" >&2; exit 1; }
    echo "$data" >"$state/datadir"
    # A port nobody listens on can still be taken (the local end of some
    # connection, or a server that starts meanwhile): try a few.
    started=""
    for _attempt in 1 2 3 4 5; do
      port=""
      for _ in $(seq 1 50); do
        candidate=$((20000 + RANDOM % 30000))
        if port_free "$candidate"; then port=$candidate; break; fi
      done
      [[ -n "$port" ]] || { echo "postgres.sh: no free port" >&2; exit 1; }
      echo "$port" >"$state/port"
      if start_server "$data" "$port"; then started=1; break; fi
      grep -q "could not bind\|could not create any TCP/IP sockets" "$data/server.log" 2>/dev/null || break
    done
    [[ -n "$started" ]] || { cat "$data/server.log" >&2; exit 1; }
    url="postgresql://gw@127.0.0.1:$port/postgres"
    echo "$url" >"$state/url"
    echo "$url"
    ;;
  stop)
    if [[ -f "$state/datadir" ]]; then
      data=$(cat "$state/datadir")
      as_owner "$PG_CTL" -D "$data" -m immediate stop >/dev/null 2>&1 || true
      rm -rf "$data"
    fi
    rm -f "$state/datadir" "$state/port" "$state/url"
    ;;
  pause)
    data=$(cat "$state/datadir")
    as_owner "$PG_CTL" -D "$data" -m fast -w stop >/dev/null
    ;;
  resume)
    data=$(cat "$state/datadir")
    start_server "$data" "$(cat "$state/port")" || { cat "$data/server.log" >&2; exit 1; }
    ;;
  *)
    echo "usage: $0 start|stop|pause|resume STATE_DIR" >&2
    exit 64
    ;;
esac
