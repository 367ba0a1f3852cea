#!/usr/bin/env bash
# Sets everything up and runs every test: the unit, golden and integration
# tests (CTest) in a debug build, then the same suite built with ASan+UBSan,
# then with TSan, then every libFuzzer target for a bounded time. Test
# services (PostgreSQL, Prometheus) are started by the tests themselves on
# loopback.
#   ./test.sh                          everything
#   SKIP_ASAN=1 SKIP_TSAN=1 SKIP_FUZZ=1 ./test.sh   the debug suite only
#   FUZZ_SECONDS=N ./test.sh           how long each fuzzer runs (default 20)
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
if [ "${SKIP_TSAN:-0}" != "1" ]; then
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" run_suite tsan
fi
if [ "${SKIP_FUZZ:-0}" != "1" ]; then
  echo "=== fuzz: build and run each target for ${FUZZ_SECONDS:-20} s"
  ./scripts/run-fuzzers.sh "${FUZZ_SECONDS:-20}"
fi
