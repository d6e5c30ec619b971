#!/bin/sh
# idle: memory per idle connection. Reads the server's RSS, opens IDLE_CONNECTIONS (default
# 10000) sockets that join 100 rooms and stay silent for 10 s, reads the RSS again and prints
# (after - before) / joined as "bytes per connection". Needs RTCHAT_SERVER_PID.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
[ -n "${RTCHAT_SERVER_PID:-}" ] || { echo "$0: set RTCHAT_SERVER_PID to the server's pid" >&2; exit 2; }
exec "$BIN" --port "$PORT" --connections "${IDLE_CONNECTIONS:-10000}" --rooms 100 --publishers 0 \
  --max-pending 1024 --warmup 0 --duration 10 --csv "$OUT_DIR/idle.csv" "$@"
