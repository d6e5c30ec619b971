#!/usr/bin/env bash
# Builds the server, tools, tests and benchmarks (Release) into build/, and the web UI into
# web/dist/. Assumes scripts/install-deps.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
source scripts/ccache_args.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${ccache_args[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
npm run --silent build:web
