#!/bin/sh
# Runs the whole Google Benchmark suite (bench/*.cpp) with 3 repetitions and writes the aggregates
# (mean, median, stddev, cv) as JSON to $BUILD_DIR/bench-results.json; the console table goes to
# stdout. Builds rtchat-bench (Release) first when the build directory has no binary yet.
#   BUILD_DIR    build directory (default: build under the repo)
#   REPETITIONS  --benchmark_repetitions (default 3; report the medians)
# Extra arguments go to rtchat-bench, e.g. --benchmark_filter=Spsc.
# The numbers are only as good as the machine is idle: check `uptime` before and after.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$repo/build}
REPETITIONS=${REPETITIONS:-3}
bin=$BUILD_DIR/bench/rtchat-bench
if [ ! -x "$bin" ]; then
  cmake -S "$repo" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target rtchat-bench
fi
echo "load before: $(uptime)" >&2
"$bin" --benchmark_repetitions="$REPETITIONS" --benchmark_report_aggregates_only=true \
  --benchmark_out="$BUILD_DIR/bench-results.json" --benchmark_out_format=json "$@"
echo "load after: $(uptime)" >&2
echo "results: $BUILD_DIR/bench-results.json" >&2
