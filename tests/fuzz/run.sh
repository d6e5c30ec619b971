#!/usr/bin/env bash
# tests/fuzz/run.sh [seconds]: builds the libFuzzer targets with clang + ASan/UBSan in build-fuzz/
# and runs each for N seconds (default 20). Exits non-zero on any crash, leak, UB or timeout.
set -euo pipefail
seconds="${1:-20}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build-fuzz"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRTCHAT_BUILD_FUZZ=ON -DRTCHAT_SANITIZE=address,undefined \
  -DRTCHAT_BUILD_TESTS=OFF -DRTCHAT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target fuzz_binary_decode fuzz_json_decode fuzz_seed_corpus

# Fresh generated seeds each run (the encoders follow the schema), plus the committed JSON seeds.
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/tests/fuzz/fuzz_seed_corpus" "$seeds"
cp "$root"/tests/fuzz/corpus/json/* "$seeds/json/"

# UBSan findings must stop the run like ASan's do.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
status=0
for target in binary json; do
  work="$build/fuzz-corpus-$target"  # grows across runs; kept out of the source tree
  mkdir -p "$work" "$build/fuzz-artifacts"
  echo "== fuzz_${target}_decode for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_${target}_decode" "$work" "$seeds/$target" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/fuzz-artifacts/${target}-" -print_final_stats=1 \
      2>"$build/fuzz-$target.log"; then
    echo "fuzz_${target}_decode FAILED; log: $build/fuzz-$target.log"
    tail -40 "$build/fuzz-$target.log"
    status=1
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)|cov:" "$build/fuzz-$target.log" | tail -3
  fi
done
exit "$status"
