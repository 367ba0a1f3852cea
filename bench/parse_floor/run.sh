#!/usr/bin/env bash
# Instructions per parse of BODY by each reader of parse_floor.cc (callgrind: the count of 10,000
# parses less that of none, divided by 10,000). Needs valgrind and libsimdjson-dev.
#
#   bench/parse_floor/run.sh BODY.json [BODY.json...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)/parse_floor
trap 'rm -rf "$(dirname "$bin")"' EXIT
g++ -std=c++20 -O2 -I"$here/../../src" "$here/parse_floor.cc" -o "$bin" -lsimdjson
count() {  # mode body n
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$2" "$1" "$3" > /dev/null 2>&1
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
  rm -f "$out"
}
printf '| body | bytes | Boost.JSON SAX, no-op handler | simdjson DOM | simdjson On-Demand, every member |\n|---|---|---|---|---|\n'
for body in "$@"; do
  row="| $(basename "$body") | $(wc -c < "$body")"
  for mode in 0 1 2; do
    base=$(count "$mode" "$body" 0)
    many=$(count "$mode" "$body" 10000)
    row="$row | $(( (many - base) / 10000 ))"
  done
  echo "$row |"
done
