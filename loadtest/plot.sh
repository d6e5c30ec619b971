#!/bin/sh
# Plots a rtchat-loadtest --csv time series: throughput (publishes and deliveries per second) on
# top, delivery latency (p50, p99, max of each second) below. Needs gnuplot (Debian gnuplot-nox).
#   loadtest/plot.sh run.csv run.png
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 RUN.csv [OUT.png]" >&2
  exit 2
fi
csv=$1
png=${2:-${csv%.csv}.png}
[ -r "$csv" ] || { echo "$0: cannot read $csv" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
title=$(head -n 1 "$csv" | sed 's/^# //; s/"/\\"/g' | cut -c1-160)

gnuplot <<GNUPLOT
set terminal pngcairo size 1200,800 noenhanced font ",10"
set output "$png"
set datafile separator ","
set key autotitle columnhead top left
set multiplot layout 2,1 title "$title"
set grid
set xlabel "seconds"
set ylabel "messages/s"
set y2label "open connections"
set y2tics
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
plot "$csv" using 1:5 with lines lw 2 title "deliveries/s", \
     "" using 1:4 with lines lw 2 title "publishes/s", \
     "" using 1:3 axes x1y2 with lines dt 2 title "open connections"
unset y2label
unset y2tics
set yrange [0:*]
set y2range [0:*]
set ylabel "latency (ms)"
set autoscale y
set logscale y
plot "$csv" using 1:(\$6 > 0 ? \$6 : 1/0) with lines lw 2 title "p50", \
     "" using 1:(\$7 > 0 ? \$7 : 1/0) with lines lw 2 title "p99", \
     "" using 1:(\$8 > 0 ? \$8 : 1/0) with lines title "max"
unset multiplot
GNUPLOT
echo "wrote $png"
