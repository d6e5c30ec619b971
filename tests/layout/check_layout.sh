#!/usr/bin/env bash
# The dependency rules of docs/architecture.md, checked on every project #include:
#   core/                         core/
#   proto/                        core/ proto/
#   server/{net,auth,messages}/   core/ proto/ and their own folder
#   server/ base (config, log, metrics, metrics_text)   core/ and the base
#   server/storage/               + server/messages/ server/storage/ and the base
#   server/cluster/               + server/messages/ server/storage/ server/cluster/ and the base
#   server/shard/                 everything but server/cluster/ and the wiring
#   loadtest/                     core/ proto/ loadtest/ (never server/)
#   server.cpp, main.cpp, tests, bench: anything
# Prints every violation (file: include) and exits 1 when there is one.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
base='server/(config|log|metrics|metrics_text)\.h'
status=0
check() {  # check <folder> <allowed include regex>
  local dir=$1 allowed=$2 f inc
  while IFS= read -r f; do
    while IFS= read -r inc; do
      if ! [[ $inc =~ ^($allowed)$ ]]; then
        echo "$f: includes $inc"
        status=1
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | grep -E '^(core|proto|server|loadtest)/' || true)
  done < <(find "$dir" -maxdepth 1 -name '*.h' -o -maxdepth 1 -name '*.cpp' | sort)
}
check core 'core/.*'
check proto '(core|proto)/.*'
for d in net auth messages; do check server/$d "(core|proto|server/$d)/.*"; done
check server/storage "(core|proto|server/messages|server/storage)/.*|$base"
check server/cluster "(core|proto|server/messages|server/storage|server/cluster)/.*|$base"
check server/shard "(core|proto|server/messages|server/storage|server/net|server/auth|server/shard)/.*|$base"
check loadtest '(core|proto|loadtest)/.*'
for f in server/config.h server/config.cpp server/log.h server/log.cpp server/metrics.h \
         server/metrics_text.h server/metrics_text.cpp; do
  sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | grep -E '^(proto|server|loadtest)/' |
    grep -Ev "^($base)$" | sed "s|^|$f: includes |" && status=1
done
exit $status
