#!/bin/sh
# idle: memory per idle connection. Reads the server's RSS, opens IDLE_CONNECTIONS (default
# 10000) sockets that join 100 rooms and stay silent for IDLE_SECONDS (default 10), reads the RSS
# again and prints (after - before) / joined as "bytes per connection" (user space). Halfway
# through the hold it also prints the kernel's share (socket buffers and the socket objects),
# which the RSS does not show:
#   - ss -tm over the server's sockets (skmem: receive + send queues and forward allocations),
#   - /proc/net/sockstat TCP "mem" pages (all TCP sockets of the machine: on loopback both ends),
#   - the TCP slab object (struct tcp_sock and friends) from /proc/slabinfo when readable.
# Needs RTCHAT_SERVER_PID.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
[ -n "${RTCHAT_SERVER_PID:-}" ] || { echo "$0: set RTCHAT_SERVER_PID to the server's pid" >&2; exit 2; }
n=${IDLE_CONNECTIONS:-10000}
hold=${IDLE_SECONDS:-10}
tcp_mem_pages() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
pages_before=$(tcp_mem_pages)
"$BIN" --port "$PORT" --connections "$n" --rooms 100 --publishers 0 \
  --max-pending 1024 --warmup 0 --duration "$hold" --csv "$OUT_DIR/idle.csv" "$@" &
lt=$!
# Wait until the server holds the sockets (its established count stops growing), then sample.
prev=-1
while kill -0 "$lt" 2>/dev/null; do
  cur=$(ss -tnH state established "( sport = :$PORT )" 2>/dev/null | wc -l)
  [ "$cur" -gt 0 ] && [ "$cur" -eq "$prev" ] && break
  prev=$cur
  sleep 1
done
sleep $((hold / 2))
if kill -0 "$lt" 2>/dev/null; then
  ss -tmnH state established "( sport = :$PORT )" 2>/dev/null | awk -v pages_before="$pages_before" \
    -v pages_now="$(tcp_mem_pages)" -v page="$(getconf PAGESIZE)" \
    -v slab="$(awk '$1 == "TCP" { print $4 }' /proc/slabinfo 2>/dev/null)" '
    /skmem:/ {
      match($0, /skmem:\([^)]*\)/); s = substr($0, RSTART + 7, RLENGTH - 8); k = split(s, f, ",")
      for (i = 1; i <= k; i++) {
        v = f[i]; sub(/^[a-z]+/, "", v); key = f[i]; sub(/[0-9]+$/, "", key)
        if (key == "r" || key == "w" || key == "f" || key == "o" || key == "bl") bytes += v
      }
      socks++
    }
    END {
      if (socks == 0) { print "kernel: no server socket found"; exit }
      printf "kernel share (server side, %d sockets): skmem %.0f bytes per connection", socks, bytes / socks
      if (slab != "") printf " + TCP slab object %d bytes", slab
      printf "\n"
      printf "kernel TCP memory (sockstat, both loopback ends): %+.0f bytes per connection\n", \
        (pages_now - pages_before) * page / socks
    }'
fi
wait "$lt"
