#!/usr/bin/env bash
# Builds rtchat-server with ASan+UBSan into build-asan/ and runs the core end-to-end suites against
# it; fails on a failing test or on any sanitizer report in the servers' output.
# Used by scripts/test.sh (skip with RTCHAT_SANITIZE_E2E=0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache_args.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${ccache_args[@]}" \
  -DRTCHAT_SANITIZE=address,undefined -DRTCHAT_BUILD_BENCH=OFF -DRTCHAT_BUILD_TESTS=OFF >/dev/null
cmake --build build-asan --target rtchat-server -j"$(nproc)"
log=build-asan/e2e-servers.log
rm -f "$log"
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
export RTCHAT_E2E_SERVER_LOG="$PWD/$log"
export RTCHAT_SERVER_BIN="$PWD/build-asan/server/rtchat-server"
export RTCHAT_BUILD_DIR="$PWD/build" RTCHAT_SOURCE_DIR="$PWD"
for suite in phoenix presence history drain ops hostile protocol_conformance presence_abuse \
  rooms_lifecycle web_security cluster_safety; do
  echo "== $suite.test.mjs under ASan+UBSan"
  node --test "tests/e2e/$suite.test.mjs"
done
if grep -nE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$log"; then
  echo "sanitizer reports in $log" >&2
  exit 1
fi
echo "sanitizer e2e: clean"
