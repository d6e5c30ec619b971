#!/bin/sh
# Plots a rtchat-loadtest --csv time series: throughput (publishes and deliveries per second, and
# open connections) on top; delivery latency (p50, p99, max of each second) when anything was
# delivered; the server's RSS and CPU when the run had --server-pid. Needs gnuplot (gnuplot-nox).
#   loadtest/plot.sh run.csv [run.png]
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 RUN.csv [OUT.png]" >&2
  exit 2
fi
csv=$1
png=${2:-${csv%.csv}.png}
[ -r "$csv" ] || { echo "$0: cannot read $csv" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

# Columns: 1 t_s, 3 open, 4 out_per_s, 5 in_per_s, 6 p50_ms, 7 p99_ms, 8 max_ms,
# 11 server_rss_kib, 12 server_cpu_pct. Line 1 is the config, line 2 the header.
has() { awk -F, -v c="$1" 'NR > 2 && $c > 0 { found = 1 } END { exit !found }' "$csv"; }
has_latency=0
has_server=0
if has 7; then has_latency=1; fi
if has 11; then has_server=1; fi
panels=$((1 + has_latency + has_server))
# Headroom above the highest connection count, so a flat line is not drawn on the frame.
conn_top=$(awk -F, 'NR > 2 && $3 > m { m = $3 } END { print (m > 0 ? m * 1.15 : 1) }' "$csv")
title=$(head -n 1 "$csv" | sed 's/^# //; s/"/\\"/g' | cut -c1-160)

gnuplot <<GNUPLOT
set terminal pngcairo size 1200,$((panels * 400)) noenhanced font ",10"
set output "$png"
set datafile separator ","
set key top left
set multiplot layout $panels,1 title "$title"
set grid
set xlabel "seconds"

set ylabel "messages/s"
set yrange [0:*]
set ytics nomirror
set y2label "open connections"
set y2tics
set y2range [0:$conn_top]
plot "$csv" using 1:5 with lines lw 2 title "deliveries/s", \
     "" using 1:4 with lines lw 2 title "publishes/s", \
     "" using 1:3 axes x1y2 with lines dt 2 title "open connections"
unset y2label
unset y2tics

if ($has_latency) {
  set ylabel "delivery latency (ms)"
  set autoscale y
  set logscale y
  plot "$csv" using 1:(\$6 > 0 ? \$6 : 1/0) with lines lw 2 title "p50", \
       "" using 1:(\$7 > 0 ? \$7 : 1/0) with lines lw 2 title "p99", \
       "" using 1:(\$8 > 0 ? \$8 : 1/0) with lines title "max"
  unset logscale y
}

if ($has_server) {
  set ylabel "server RSS (MiB)"
  set yrange [0:*]
  set y2label "server CPU (% of one core)"
  set y2tics
  set y2range [0:*]
  plot "$csv" using 1:(\$11 >= 0 ? \$11 / 1024.0 : 1/0) with lines lw 2 title "server RSS", \
       "" using 1:(\$12 >= 0 ? \$12 : 1/0) axes x1y2 with lines title "server CPU"
}
unset multiplot
GNUPLOT
echo "wrote $png"
