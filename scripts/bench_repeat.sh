#!/usr/bin/env bash
# Repeats the headline workloads N times (default 3) for medians:
#   ./scripts/bench_repeat.sh [N]
# Each run: ingest 15 s (synchronous=normal), 15 s at half of that run's
# rate (latency), the raw SQLite ceiling on 300k events. Same load as
# ./scripts/bench.sh: 8 servers, 100-event batches, 100k open sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3}
B=./build
for bin in sessionsink sessionsink-loadgen sessionsink-sqlite-ceiling; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sessionsink-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
LOAD=(--servers 8 --batch 100 --open-sessions 100000 --duration 15s)
kv() { grep "^$1=" "$2" | head -1 | cut -d= -f2; }
run_sink() {  # out-file loadgen-args...
  local out=$1; shift
  rm -f "$WORK"/s.db*
  "$B/sessionsink" serve --listen 127.0.0.1:0 --db "$WORK/s.db" 2> "$WORK/sink.log" &
  local pid=$! port=""
  for _ in $(seq 200); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/sink.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  "$B/sessionsink-loadgen" --url "http://127.0.0.1:$port/events" "${LOAD[@]}" "$@" > "$out" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
printf '%-4s %10s %8s %8s %8s %8s %10s %6s\n' run events/s p50 p99 half_p50 half_p99 ceiling ratio
for i in $(seq "$N"); do
  run_sink "$WORK/full.txt"
  n=$(kv events_per_s "$WORK/full.txt")
  run_sink "$WORK/half.txt" --rate $((n / 2))
  c=$("$B/sessionsink-sqlite-ceiling" --db "$WORK/c.db" --servers 8 --open-sessions 100000 \
        --events 300000 --commit-events 800 | grep '^events_per_s=' | cut -d= -f2)
  printf '%-4s %10s %8s %8s %8s %8s %10s %5s%%\n' "$i" "$n" "$(kv p50_ms "$WORK/full.txt")" \
    "$(kv p99_ms "$WORK/full.txt")" "$(kv p50_ms "$WORK/half.txt")" "$(kv p99_ms "$WORK/half.txt")" \
    "$c" "$(awk -v a="$n" -v b="$c" 'BEGIN{printf "%.0f", 100*a/b}')"
done
