#!/usr/bin/env bash
# The hard load against each session flush interval, rounds interleaved:
#   ./scripts/bench_flush.sh [ROUNDS] [INTERVAL...]     (default: 2 rounds of 1s 2s 5s)
# Each run: a fresh database, `sessionsink serve --session-flush INTERVAL`,
# 15 s of the hard load (8 servers, 100-event batches, a random session per
# event out of 100k open ones). Prints the rate, latency and peak RSS of each.
# SECONDS_PER_RUN=N changes the 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
shift || true
INTERVALS=("$@")
[ ${#INTERVALS[@]} -gt 0 ] || INTERVALS=(1s 2s 5s)
B=./build
for bin in sessionsink sessionsink-loadgen; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sessionsink-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench_lib.sh
printf '%-8s %6s %10s %8s %8s %8s\n' flush round events/s p50 p99 rss_MB
for r in $(seq "$ROUNDS"); do
  for f in "${INTERVALS[@]}"; do
    rm -f "$WORK"/s.db*
    start_sink "$WORK/sink.log" --db "$WORK/s.db" --session-flush "$f"
    loadgen "$WORK/lg.txt" --servers 8 --batch 100 --open-sessions 100000 --duration "${SECONDS_PER_RUN:-15}s"
    rss=$(rss_mb)
    stop_sink
    printf '%-8s %6s %10s %8s %8s %8s\n' "$f" "$r" "$(kv events_per_s "$WORK/lg.txt")" \
      "$(kv p50_ms "$WORK/lg.txt")" "$(kv p99_ms "$WORK/lg.txt")" "$rss"
  done
done
