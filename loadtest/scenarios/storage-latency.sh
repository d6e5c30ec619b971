#!/bin/sh
# storage-latency: the same chat load against a server with --storage sqlite, then --storage
# memory, and the publish-to-delivery p99 of each. The difference is what SQLite's group commit
# costs on the message path (the ok reply and the fan-out both wait for the commit). Also prints
# messages/s persisted, from the server's rtchat_storage_messages_total over the run.
#
# Starts and stops its own servers (ephemeral ports, a temp data dir):
#   RTCHAT_SERVER_BIN  the server (default: build/server/rtchat-server under the repo)
#   SERVER_ARGS        extra server flags for both runs (e.g. "--sync-full" or "--shards 2")
# Load (defaults: 400 users in 40 rooms of 10, all posting 5 msgs/s = 2000 msgs/s in, 20000
# deliveries/s out, 120-byte bodies): CONNECTIONS, ROOMS, PUBLISHERS, RATE, MSG_SIZE, DURATION,
# WARMUP. Extra arguments go to rtchat-loadtest (the last value of a flag wins).
. "$(dirname "$0")/common.sh"
SERVER_BIN=${RTCHAT_SERVER_BIN:-$repo/build/server/rtchat-server}
[ -x "$SERVER_BIN" ] || { echo "$0: $SERVER_BIN not found: build rtchat-server or set RTCHAT_SERVER_BIN" >&2; exit 1; }
SERVER_ARGS=${SERVER_ARGS:-}
CONNECTIONS=${CONNECTIONS:-400}
ROOMS=${ROOMS:-40}
PUBLISHERS=${PUBLISHERS:-400}
RATE=${RATE:-5}
MSG_SIZE=${MSG_SIZE:-120}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/rtchat-storage-latency.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

storage_messages() {  # rtchat_storage_messages_total of the server on port $1
  curl -fsS "http://127.0.0.1:$1/metrics" | awk '$1 == "rtchat_storage_messages_total" { print $2 }'
}

# run <storage> [loadtest flags]: starts a server, runs the load, prints one line: storage,
# delivery p99 and p50, ack p99 (ms), messages persisted and per second over the whole load run
# (connect + warmup + measured + drain), deliveries, errors (lost, misordered, duplicated,
# unacked, failed connections).
run() {
  storage=$1
  shift
  mkdir -p "$work/$storage"
  # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
  "$SERVER_BIN" --host 127.0.0.1 --port 0 --storage "$storage" --data-dir "$work/$storage" \
    --jwt-secret "$RTCHAT_JWT_SECRET" --log-level warn $SERVER_ARGS >"$work/$storage.log" 2>&1 &
  server_pid=$!
  port=
  tries=0
  while [ -z "$port" ] && [ $tries -lt 100 ]; do
    sleep 0.1
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$work/$storage.log" | head -n 1)
    tries=$((tries + 1))
  done
  [ -n "$port" ] || { echo "$0: server ($storage) did not start:" >&2; cat "$work/$storage.log" >&2 || true; exit 1; }
  before=$(storage_messages "$port")
  t0=$(date +%s.%N)
  # shellcheck disable=SC2068 # extra arguments pass through word by word
  "$BIN" --port "$port" --connections "$CONNECTIONS" --rooms "$ROOMS" --publishers "$PUBLISHERS" \
    --rate "$RATE" --msg-size "$MSG_SIZE" --ramp 2000 --warmup "$WARMUP" --duration "$DURATION" \
    --server-pid "$server_pid" --quiet --json --csv "$OUT_DIR/storage-latency-$storage.csv" "$@" \
    >"$work/$storage.out" || { echo "$0: load ($storage) failed:" >&2; cat "$work/$storage.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  after=$(storage_messages "$port")
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  sed -n '/^[^{]/p' "$work/$storage.out" | sed "s/^/[$storage] /" >&2
  tail -n 1 "$work/$storage.out" | python3 -c '
import json, sys
storage, before, after, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
r = json.load(sys.stdin)
lat, ack = r["latency"], r["ack_latency"]
errors = (r["lost"] + r["order_violations"] + r["duplicates"] + r["connections_failed"] +
          r["published"] - r["acked"])
print(storage, lat["p99_ms"], lat["p50_ms"], ack["p99_ms"], int(after - before),
      round((after - before) / (t1 - t0)), r["delivered"], errors)
' "$storage" "$before" "$after" "$t0" "$t1"
}

sqlite=$(run sqlite "$@")
memory=$(run memory "$@")
echo
echo "load: $CONNECTIONS users, $ROOMS rooms, $PUBLISHERS publishers x $RATE msgs/s, $MSG_SIZE-byte bodies, ${DURATION}s (+${WARMUP}s warmup); server flags: ${SERVER_ARGS:-none}"
printf '%-8s %17s %17s %13s %10s %17s %11s %7s\n' storage "deliver p99 ms" "deliver p50 ms" "ack p99 ms" persisted "persisted msgs/s" deliveries errors
for line in "$sqlite" "$memory"; do
  # shellcheck disable=SC2086 # split the fields
  printf '%-8s %17s %17s %13s %10s %17s %11s %7s\n' $line
done
