#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/*_fuzz.cc) with clang, ASan and UBSan,
# and runs each for SECONDS on a temporary copy of its seed corpus plus its
# past findings (fuzz/regressions/), so the tree is never modified. Prints
# one line per target (runs, coverage) and a total; exits non-zero when any
# target crashes, leaks, times out or exceeds its memory limit, after
# printing the report and keeping the input that did it.
#
#   scripts/run-fuzzers.sh [SECONDS] [TARGET...]    default 20 s, every target
#
# Environment:
#   FUZZ_BUILD_DIR  build directory (default: build/fuzz, the `fuzz` preset's)
#   FUZZ_JOBS       build parallelism (default: nproc)
#   FUZZ_KEEP       directory that receives crashing inputs and full logs
#                   (default: $FUZZ_BUILD_DIR/fuzz-findings)
#   FUZZ_NO_BUILD   when 1, use the existing build as it is (no configure/build)
#   FUZZ_CORPUS_OUT when set, the grown corpus of each target is copied to
#                   FUZZ_CORPUS_OUT/<target>/ (for minimising into the tree by hand)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
build=${FUZZ_BUILD_DIR:-build/fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
keep=${FUZZ_KEEP:-$build/fuzz-findings}

# The `fuzz` preset's cache variables, plus instrumentation of the gateway's
# own libraries (fuzzer-no-link): coverage guidance and ASan reach the code
# under test, not just the entry points.
cache=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DGW_BUILD_FUZZ=ON
       -DGW_BUILD_TESTS=OFF -DGW_BUILD_BENCH=OFF -DGW_SANITIZE=address,undefined,fuzzer-no-link)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in fuzz/*_fuzz.cc; do
    name=$(basename "$src" _fuzz.cc)
    targets+=("fuzz_$name")
  done
fi

if [ "${FUZZ_NO_BUILD:-0}" != "1" ]; then
  echo "=== fuzz: configure and build ($build)"
  if [ -z "${FUZZ_BUILD_DIR:-}" ]; then
    cmake --preset fuzz "${cache[@]}" >/dev/null
  else
    cmake -S . -B "$build" -G Ninja "${cache[@]}" >/dev/null
  fi
  # Only the fuzz targets and what they link: not the server's Beast units.
  # -k 0: a target that does not build fails alone, the others still run.
  cmake --build "$build" --target "${targets[@]}" -j "$jobs" -- -k 0 || true
fi

# Inputs longer than this are not generated; seeds are truncated to it.
max_len_for() {
  case "$1" in
    fuzz_sse_parser|fuzz_config|fuzz_backend_responses) echo 4096 ;;
    *) echo 8192 ;;
  esac
}
dict_for() {
  case "$1" in
    fuzz_http_request) echo fuzz/dict/http_request.dict ;;
    fuzz_config) echo fuzz/dict/config.dict ;;
    fuzz_redis) echo fuzz/dict/redis.dict ;;
    fuzz_event_stream_decoder | fuzz_content_decoder) echo "" ;;
    *) echo fuzz/dict/json.dict ;;
  esac
}

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$keep"

failed=0
total_runs=0
printf '%-28s %8s %12s %8s %8s %8s  %s\n' target seconds runs cov ft corpus result
for t in "${targets[@]}"; do
  bin="$build/fuzz/$t"
  # Up to date, or it failed to build (an old binary must not stand in).
  if [ ! -x "$bin" ] || { [ "${FUZZ_NO_BUILD:-0}" != "1" ] &&
                          ! ninja -C "$build" -n "$t" 2>/dev/null | grep -q '^ninja: no work to do'; }; then
    printf '%-28s %8s %12s %8s %8s %8s  %s\n' "$t" - - - - - "FAILED (not built)"
    failed=1
    continue
  fi
  corpus="$work/$t/corpus"
  mkdir -p "$corpus" "$work/$t/artifacts"
  cp -r "fuzz/corpus/$t/." "$corpus/"
  # Past findings run first as seeds, so a regression fails at once.
  if [ -d "fuzz/regressions/$t" ]; then cp -r "fuzz/regressions/$t/." "$corpus/"; fi
  dict=$(dict_for "$t")
  log="$work/$t/log"
  rc=0
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds
  # memory (the CI machine is shared); -error_exitcode makes leaks count.
  "$bin" "$corpus" -max_total_time="$seconds" -max_len="$(max_len_for "$t")" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -error_exitcode=77 -timeout_exitcode=78 \
    -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" ${dict:+-dict=$dict} >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  status_line=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status_line")
  total_runs=$((total_runs + ${runs:-0}))
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=1
    mkdir -p "$keep/$t"
    cp "$log" "$keep/$t/log"
    cp -r "$work/$t/artifacts/." "$keep/$t/" 2>/dev/null || true
  fi
  printf '%-28s %8s %12s %8s %8s %8s  %s\n' "$t" "$seconds" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    # The report: the sanitizer's or libFuzzer's own, with the stack.
    grep -n -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal|ERROR: libFuzzer' "$log" >/dev/null &&
      sed -n "$(grep -n -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal|ERROR: libFuzzer' "$log" | cut -d: -f1),+40p" "$log" | sed 's/^/    /'
    echo "    input and log kept in $keep/$t/"
  fi
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then
    mkdir -p "$FUZZ_CORPUS_OUT/$t"
    cp -r "$corpus/." "$FUZZ_CORPUS_OUT/$t/"
  fi
done
echo "fuzz total: ${#targets[@]} targets, $total_runs runs, $([ $failed -eq 0 ] && echo 'no findings' || echo 'FINDINGS: see above')"
exit $failed
