#!/usr/bin/env bash
# Sets everything up and runs the gateway on port 3000 with the default
# exporters (console, prometheus). Any configuration variable in the
# environment is passed through, e.g.:  OPENAI_API_KEY=sk-... ./run.sh
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target magicapi-gateway
exec ./build/release/magicapi-gateway "$@"
