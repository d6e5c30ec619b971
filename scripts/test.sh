#!/usr/bin/env bash
# One command for all tests: install, build, run every GoogleTest suite and end-to-end test
# (real server processes on loopback, phoenix.js in Node, headless Debian Chromium, redis-server),
# then the fuzzers briefly under ASan/UBSan, then the core end-to-end suites against an ASan/UBSan
# server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Does install-deps.sh install every package whose headers the build uses? (A green run here can
# hide a missing install step: this machine keeps what earlier runs installed.)
if [ -x ../shared/tools/check-deps ]; then
  ../shared/tools/check-deps build
fi
mkdir -p build/artifacts
ctest --test-dir build --output-on-failure -j2 --timeout 300
if [ -x tests/fuzz/run.sh ]; then
  tests/fuzz/run.sh "${RTCHAT_FUZZ_SECONDS:-20}"
fi
if [ "${RTCHAT_SANITIZE_E2E:-1}" != 0 ]; then
  scripts/sanitize-e2e.sh
fi
echo "all tests passed"
