#!/bin/sh
# chat: many users in many small rooms at a human rate. 2000 users in 200 rooms of 10, every
# user posts about once every 10 s (200 msgs/s, 2000 deliveries/s). Shows the latency a normal
# chat load sees and the server CPU headroom it leaves; not a throughput test.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
exec "$BIN" --port "$PORT" --connections 2000 --rooms 200 --publishers 2000 --rate 0.1 \
  --msg-size 120 --ramp 2000 --warmup 10 --duration 30 --csv "$OUT_DIR/chat.csv" \
  "$@"
