#!/usr/bin/env bash
# Repeats the headline workloads N times (default 3) for medians:
#   ./scripts/bench_repeat.sh [N]
# Each run, in one sitting: the hard load (a random session per event) and the
# easy load (5 sessions x 20 events per batch) for 15 s each at
# synchronous=normal, 15 s of the hard load at half that run's rate
# (latency), and the raw SQLite loop that does only what a 2xx waits for
# (sessionsink-sqlite-ceiling --mode append, 300k events). Same load as
# ./scripts/bench.sh: 8 servers, 100-event batches, 100k open sessions.
# Prints each run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3}
B=./build
for bin in sessionsink sessionsink-loadgen sessionsink-sqlite-ceiling; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sessionsink-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
HARD=(--servers 8 --batch 100 --open-sessions 100000 --duration 15s)
EASY=("${HARD[@]}" --sessions-per-batch 5)
. scripts/bench_lib.sh
run_sink() {  # out-file loadgen-args... ; a fresh database each time
  local out=$1; shift
  rm -f "$WORK"/s.db*
  start_sink "$WORK/sink.log" --db "$WORK/s.db"
  loadgen "$out" "$@"
  stop_sink
}
fmt='%-6s %10s %8s %8s %10s %8s %8s %8s %8s %10s\n'
printf "$fmt" run hard/s p50 p99 easy/s p50 p99 half_p50 half_p99 append/s
: > "$WORK/rows"
for i in $(seq "$N"); do
  run_sink "$WORK/hard.txt" "${HARD[@]}"
  run_sink "$WORK/easy.txt" "${EASY[@]}"
  h=$(kv events_per_s "$WORK/hard.txt")
  run_sink "$WORK/half.txt" "${HARD[@]}" --rate $((h / 2))
  c=$("$B/sessionsink-sqlite-ceiling" --mode append --db "$WORK/c.db" --servers 8 \
        --open-sessions 100000 --events 300000 --commit-events 800 | grep '^events_per_s=' | cut -d= -f2)
  line=$(printf "$fmt" "$i" "$h" "$(kv p50_ms "$WORK/hard.txt")" "$(kv p99_ms "$WORK/hard.txt")" \
    "$(kv events_per_s "$WORK/easy.txt")" "$(kv p50_ms "$WORK/easy.txt")" "$(kv p99_ms "$WORK/easy.txt")" \
    "$(kv p50_ms "$WORK/half.txt")" "$(kv p99_ms "$WORK/half.txt")" "$c")
  echo "$line"
  echo "$line" >> "$WORK/rows"
done
meds=()
for col in $(seq 2 10); do meds+=("$(awk -v c="$col" '{print $c}' "$WORK/rows" | median)"); done
printf "$fmt" median "${meds[@]}"
