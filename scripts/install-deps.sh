#!/usr/bin/env bash
# Installs every Debian 12 package the gateway needs to build, run, test and
# benchmark. The one place where dependencies are pinned (by Debian release).
# Idempotent: does nothing when everything is already installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build ccache pkg-config python3
  # fuzzing (scripts/run-fuzzers.sh): clang, libFuzzer and the sanitizer runtimes,
  # llvm-symbolizer for readable stacks in crash reports
  clang libclang-rt-14-dev llvm-14
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev zlib1g-dev libbrotli-dev libgoogle-perftools-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libpq-dev
  libhiredis-dev
  protobuf-compiler libprotobuf-dev
  # tests
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  postgresql prometheus redis-server ca-certificates curl python3-protobuf python3-brotli
  # the dashboard's browser test (tests/integration/test_dashboard_browser.py, puppeteer-core from npm)
  chromium
  # load harness
  nginx-light libnginx-mod-http-echo wrk util-linux
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start services we do not want running in the background
# (the tests start their own servers, on loopback ports of their choosing).
for svc in nginx prometheus postgresql redis-server; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
