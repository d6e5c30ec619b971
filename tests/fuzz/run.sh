#!/usr/bin/env bash
# tests/fuzz/run.sh [seconds]: builds the libFuzzer targets with clang + ASan/UBSan in build-fuzz/
# and runs each for a few seconds. Exits non-zero on any crash, leak, UB or timeout.
#   seconds (default 20)         each codec decoder: fuzz_binary_decode, fuzz_json_decode
#   RTCHAT_FUZZ_EDGE_SECONDS     each server edge parser (default 10): fuzz_http_request,
#                                fuzz_handshake, fuzz_jwt, fuzz_ws_frame
#   RTCHAT_FUZZ_SECONDS_<name>   one target, e.g. RTCHAT_FUZZ_SECONDS_jwt=300 (names as below)
#   RTCHAT_FUZZ_TARGETS          a subset, e.g. "jwt ws_frame"
set -euo pipefail
codec_seconds="${1:-20}"
edge_seconds="${RTCHAT_FUZZ_EDGE_SECONDS:-10}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-fuzz"
all_targets="binary_decode json_decode http_request handshake jwt ws_frame"
targets="${RTCHAT_FUZZ_TARGETS:-$all_targets}"

source "$root/scripts/ccache_args.sh"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${ccache_args[@]}" \
  -DRTCHAT_BUILD_FUZZ=ON -DRTCHAT_SANITIZE=address,undefined \
  -DRTCHAT_BUILD_TESTS=OFF -DRTCHAT_BUILD_BENCH=OFF >/dev/null
build_targets=(fuzz_seed_corpus)
for t in $targets; do build_targets+=("fuzz_$t"); done
cmake --build "$build" --target "${build_targets[@]}"

# Fresh generated seeds each run (the encoders follow the schema), plus the committed text seeds.
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/tests/fuzz/fuzz_seed_corpus" "$seeds"
cp "$root"/tests/fuzz/corpus/json/* "$seeds/json/"

# UBSan findings must stop the run like ASan's do.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
status=0
for target in $targets; do
  case "$target" in
    binary_decode) seed="$seeds/binary" seconds="$codec_seconds" max_len=65536 ;;
    json_decode) seed="$seeds/json" seconds="$codec_seconds" max_len=65536 ;;
    http_request | handshake) seed="$root/tests/fuzz/corpus/http" seconds="$edge_seconds" max_len=8192 ;;
    jwt) seed="$root/tests/fuzz/corpus/jwt" seconds="$edge_seconds" max_len=16384 ;;
    ws_frame) seed="$seeds/ws_frame" seconds="$edge_seconds" max_len=8192 ;;
    *) echo "unknown fuzz target: $target (known: $all_targets)"; exit 2 ;;
  esac
  override="RTCHAT_FUZZ_SECONDS_$target"
  seconds="${!override:-$seconds}"
  work="$build/fuzz-corpus-$target"  # grows across runs; kept out of the source tree
  mkdir -p "$work" "$build/fuzz-artifacts"
  echo "== fuzz_$target for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$target" "$work" "$seed" \
      -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/fuzz-artifacts/${target}-" -print_final_stats=1 \
      2>"$build/fuzz-$target.log"; then
    echo "fuzz_$target FAILED; log: $build/fuzz-$target.log"
    tail -40 "$build/fuzz-$target.log"
    status=1
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)|cov:" "$build/fuzz-$target.log" | tail -3
  fi
done
exit "$status"
