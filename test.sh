#!/usr/bin/env bash
# Sets everything up and runs every test: the unit, golden and integration
# tests (CTest), then the same suite built with ASan+UBSan. Test services
# (PostgreSQL, Prometheus) are started by the tests themselves on loopback.
#   ./test.sh            everything
#   SKIP_ASAN=1 ./test.sh  the debug suite only (quicker while developing)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh

jobs=$(nproc)

run_suite() {
  local preset=$1
  echo "=== $preset: build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test"
  ctest --preset "$preset" -j "$jobs"
}

run_suite debug
if [ "${SKIP_ASAN:-0}" != "1" ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run_suite asan
fi
