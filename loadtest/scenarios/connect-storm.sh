#!/bin/sh
# connect-storm: as many connections as fast as possible. 30000 sockets from 2 processes (each
# under its own 20000 open-file limit) bound to one source address per 5000 sockets (the default
# --source-addrs 0: the kernel's source-port search slows connects long before a range is full),
# all joining 3000 rooms of 10 with no ramp. Shows connects/s, connect and join latency under a storm,
# and how many sockets the server holds. Bounded: 20 s connect timeout, 5 s hold.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
exec "$BIN" --port "$PORT" --connections 30000 --rooms 3000 --publishers 0 \
  --procs 2 --max-pending 1024 --connect-timeout 20 \
  --warmup 0 --duration 5 --csv "$OUT_DIR/connect-storm.csv" "$@"
