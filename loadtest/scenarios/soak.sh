#!/bin/sh
# soak: a bounded long run (SOAK_SECONDS, default 600) of steady chat traffic: 2000 users in 100
# rooms of 20, 200 publishers at 1 msg/s (200 msgs/s, 4000 deliveries/s). With RTCHAT_SERVER_PID
# set it samples the server's RSS every second into the CSV: a leak shows as a rising line.
# Heartbeats keep idle members alive past the server's 60 s silence timeout.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
[ -n "${RTCHAT_SERVER_PID:-}" ] || echo "$0: RTCHAT_SERVER_PID not set: no RSS samples" >&2
exec "$BIN" --port "$PORT" --connections 2000 --rooms 100 --publishers 200 --rate 1 \
  --msg-size 120 --ramp 2000 --warmup 5 --duration "${SOAK_SECONDS:-600}" \
  --csv "$OUT_DIR/soak.csv" "$@"
