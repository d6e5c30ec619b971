#!/bin/sh
# fanout: one large room, several publishers. 1000 members, 10 publishers at 10 msgs/s each
# (100 msgs/s in, 100000 deliveries/s out). Shows the cost of room broadcast (encode once, corked
# sends) and where delivery latency starts to grow; raise --rate/--publishers to find the knee
# (the server rate-limits each connection at 20 pushes/s by default: add publishers, not rate).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
exec "$BIN" --port "$PORT" --connections 1000 --rooms 1 --publishers 10 --rate 10 \
  --msg-size 100 --ramp 2000 --warmup 3 --duration 20 --csv "$OUT_DIR/fanout.csv" \
  "$@"
