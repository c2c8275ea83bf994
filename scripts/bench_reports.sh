#!/usr/bin/env bash
# Times every report over a generated database of N sessions (default 1M).
#   ./scripts/bench_reports.sh [sessions] [runs]
# The database has the sink's schema (schemas/sql, applied in order) and
# synthetic sessions (scripts/gen_sessions.sql): 95 % plays over 30 days, 500 media, N/20 users, 20
# servers, 80 % of plays started, 95 % closed, some stalls; the rest are
# ingest/publish sources with viewers linked by source_id, plus stream-level
# events (tests/query/gen_stream_events.sql). Prints the median
# wall time of each report through the CLI: over all 30 days and over one day
# (native evaluation where a report has one), and over one day with --sql
# (the SQL file itself, as sqlite3 would run it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-3}
BIN=./build/sessionsink
[ -x "$BIN" ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
DB=${BENCH_DB:-/tmp/sessionsink-bench-reports-$N.db}
T0=1767225600000      # 2026-01-01T00:00:00Z
DAY=86400000
NOW=$((T0 + 30 * DAY))

if [ ! -s "$DB" ]; then
  echo "generating $N sessions into $DB ..." >&2
  rm -f "$DB" "$DB-wal" "$DB-shm"
  v=0
  for f in schemas/sql/*.sql; do
    v=$((10#$(basename "$f" | cut -d_ -f1)))
    sqlite3 "$DB" < "$f"
  done
  sed -e "s/@N@/$N/g" -e "s/@T0@/$T0/g" -e "s/@DAY@/$DAY/g" -e "s/@NOW@/$NOW/g" \
      -e "s/@VERSION@/$v/g" scripts/gen_sessions.sql | sqlite3 "$DB"
  sqlite3 "$DB" < tests/query/gen_stream_events.sql  # what the outages report reads too
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_report() {  # name extra-args...
  local name=$1; shift
  for _ in $(seq "$RUNS"); do
    local s e
    s=$(date +%s.%N)
    "$BIN" report "$name" --db "$DB" --now "$NOW" --format csv "$@" > /dev/null
    e=$(date +%s.%N)
    echo "$e - $s" | bc
  done | median
}

ONE_DAY=(--from $((T0 + 10 * DAY)) --to $((T0 + 11 * DAY)))
printf '%-18s %14s %14s %14s %9s\n' report "30 days (s)" "1 day (s)" "1 day, SQL (s)" rows
for r in sessions-per-user concurrency media startup stalls sharing sources outages live servers endings; do
  extra=()
  [ "$r" = concurrency ] && extra=(--bucket 1h)
  full=$(time_report "$r" "${extra[@]}")
  day=$(time_report "$r" "${extra[@]}" "${ONE_DAY[@]}")
  day_sql=$(time_report "$r" "${extra[@]}" "${ONE_DAY[@]}" --sql)
  rows=$("$BIN" report "$r" --db "$DB" --now "$NOW" --format csv "${extra[@]}" | tail -n +2 | wc -l)
  printf '%-18s %14.3f %14.3f %14.3f %9d\n' "$r" "$full" "$day" "$day_sql" "$rows"
done
echo "sessions: $("$BIN" report live --db "$DB" --now "$NOW" --format csv >/dev/null; sqlite3 "$DB" 'select count(*) from sessions'), db: $(du -h "$DB" | cut -f1), runs: $RUNS (median)"
