# Sourced by the scenario scripts: where the tool and the server are.
#   RTCHAT_LOADTEST_BIN  the tool (default: build/loadtest/rtchat-loadtest under the repo)
#   RTCHAT_PORT          server port on 127.0.0.1 (default 4000)
#   RTCHAT_JWT_SECRET    the server's --jwt-secret (default: the server's dev-mode secret)
#   RTCHAT_SERVER_PID    the server's pid, for RSS sampling (soak, idle)
#   OUT_DIR              where CSV time series go (default: current directory)
# Extra arguments to a scenario script are appended to its flags; the last value of a flag wins.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RTCHAT_LOADTEST_BIN:-$repo/build/loadtest/rtchat-loadtest}
# shellcheck disable=SC2034  # used by the scripts that source this file
PORT=${RTCHAT_PORT:-4000}
export RTCHAT_JWT_SECRET="${RTCHAT_JWT_SECRET:-rtchat-dev-secret-do-not-use-in-production}"
OUT_DIR=${OUT_DIR:-.}
[ -x "$BIN" ] || { echo "$0: $BIN not found: build the rtchat-loadtest target or set RTCHAT_LOADTEST_BIN" >&2; exit 1; }
# Prepend --server-pid to the script's own arguments, so "$@" carries it (user flags still last).
if [ -n "${RTCHAT_SERVER_PID:-}" ]; then set -- --server-pid "$RTCHAT_SERVER_PID" "$@"; fi
