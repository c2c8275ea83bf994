#!/usr/bin/env bash
# Bytes on disk per event at steady state, closed segments compacted.
#
#   ./scripts/bench_disk.sh [--events N] [--segment-bytes BYTES] [--rounds R]
#
# Each round: a fresh sink (compaction on, the default) takes N events of the
# hard load (8 servers, 100-event batches, 100k open sessions; as
# scripts/bench.sh), then the script waits until every closed segment is in
# its compact form (only the open segment is left as `seg-*.db`), stops the
# sink, and divides every file of the store — main file, its WAL, every
# segment with its WAL — by the events acknowledged. It prints each round
# and the medians:
#   total      every file / events
#   compact    the compact segments alone / the events they hold
#   main       the main file and its WAL / events
#   open       the open (raw) segment / events
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=2000000
SEGMENT_BYTES=$((64 << 20))
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS=$2; shift ;;
    --segment-bytes) SEGMENT_BYTES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
B=./build
for bin in sessionsink sessionsink-loadgen; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sessionsink-bench-disk.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
. scripts/bench_lib.sh
HARD=(--servers 8 --batch 100 --open-sessions 100000)
bytes() { { du -cb "$@" 2>/dev/null || true; } | tail -1 | cut -f1; }
per() { awk -v b="$1" -v n="$2" 'BEGIN{ if (n > 0) printf "%.1f", b/n; else print "-" }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load: hard, $EVENTS events; --segment-bytes $SEGMENT_BYTES"
printf '%-6s %10s %9s %9s %9s %9s %9s %s\n' round events total compact main open segments wait_s
: > "$WORK/rounds"
for r in $(seq "$ROUNDS"); do
  db="$WORK/r$r.db"
  start_sink "$WORK/sink-$r.log" --db "$db" --segment-bytes "$SEGMENT_BYTES"
  loadgen "$WORK/lg-$r.txt" "${HARD[@]}" --events "$EVENTS"
  events=$(kv events "$WORK/lg-$r.txt")
  # Every closed segment compacted: only the open one is raw.
  t0=$(date +%s)
  for _ in $(seq 1200); do
    raw=$(find "$db.events" -name 'seg-*.db' | wc -l)
    [ "$raw" -le 1 ] && break
    sleep 0.5
  done
  waited=$(( $(date +%s) - t0 ))
  stop_sink
  compact_files=$(find "$db.events" -name 'seg-*.zdb' | sort)
  compact_events=0
  for f in $compact_files; do
    compact_events=$((compact_events + $(sqlite3 -readonly "$f" "select value from meta where name = 'count'")))
  done
  total=$(bytes "$db"*)
  # shellcheck disable=SC2086
  compact=$( [ -n "$compact_files" ] && bytes $compact_files || echo 0)
  main=$(bytes "$db" "$db-wal")
  open=$(bytes "$db.events"/seg-*.db "$db.events"/seg-*.db-wal)
  nseg=$(find "$db.events" \( -name 'seg-*.db' -o -name 'seg-*.zdb' \) | wc -l)
  row=$(printf '%-6s %10s %9s %9s %9s %9s %9s %s' "$r" "$events" "$(per "$total" "$events")" \
    "$(per "$compact" "$compact_events")" "$(per "$main" "$events")" "$(per "$open" "$events")" \
    "$nseg" "$waited")
  echo "$row"
  echo "$row" >> "$WORK/rounds"
  rm -rf "$db"*
done
med() { awk -v c="$1" '{print $c}' "$WORK/rounds" | median; }
printf '%-6s %10s %9s %9s %9s %9s\n' median "$(med 2)" "$(med 3)" "$(med 4)" "$(med 5)" "$(med 6)"
