#!/usr/bin/env bash
# Times every request the dashboard page makes, against a running sink over
# a generated database of N sessions (default 1M).
#   ./scripts/bench_dashboard.sh [sessions] [runs]
# The database is scripts/gen_sessions.sql's (as ./scripts/bench_reports.sh
# makes it), copied, with 4 events per session added to `events` (opened,
# started, updated, closed, spread over the session's first..last event
# time) so that a timeline has events to find, and seen_at moved far ahead so
# that the sink's idle sweep leaves the open sessions open. Prints the median
# wall time (curl, the whole answer) of each request over all 30 days and
# over one day, and the time of a whole page load (all of them at once).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-5}
BIN=./build/sessionsink
[ -x "$BIN" ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
DB=${BENCH_DB:-/tmp/sessionsink-bench-dashboard-$N.db}
T0=1767225600000  # 2026-01-01T00:00:00Z, as bench_reports.sh
DAY=86400000
NOW=$((T0 + 30 * DAY))

if [ ! -s "$DB" ]; then
  echo "generating $N sessions and $((4 * N)) events into $DB ..." >&2
  rm -f "$DB" "$DB-wal" "$DB-shm"
  # Written as release 0.1 wrote it (schema 7: the events in the main
  # file); the sink moves them into its log's first segment at start.
  v=0
  for f in schemas/sql/00[1-7]_*.sql; do
    v=$((10#$(basename "$f" | cut -d_ -f1)))
    sqlite3 "$DB" < "$f"
  done
  sed -e "s/@N@/$N/g" -e "s/@T0@/$T0/g" -e "s/@DAY@/$DAY/g" -e "s/@NOW@/$NOW/g" \
      -e "s/@VERSION@/$v/g" scripts/gen_sessions.sql | sqlite3 "$DB"
  sqlite3 "$DB" <<SQL
PRAGMA synchronous = OFF;
BEGIN;
UPDATE sessions SET seen_at = 4102444800000;
-- The merge state the sink keeps per row (store/session.cc, version 3) as a
-- session of one explicit-kind event at first_event_at would have it: the
-- sink loads the open rows' states at start and refuses a malformed one.
UPDATE sessions SET merge_state =
  replace(replace(replace('3 1 F F F M M M M M M M M M F 1 0 M 0 F L -1 -1 M 0 M 0 0 0 0 0 0 0 1 F 1 0 0',
                  'M', '9223372036854775807'), 'F', first_event_at), 'L', last_event_at);
WITH k(i, phase) AS (VALUES (0, 'opened'), (1, 'started'), (2, 'updated'), (3, 'closed'))
INSERT INTO events(received_at, server, event, kind, phase, session_id, utc_ms, event_id, dedup, body)
SELECT s.first_event_at, s.server, s.kind || '_' || k.phase, s.kind, k.phase, s.id,
       s.first_event_at + k.i * (max(s.last_event_at, s.first_event_at) - s.first_event_at) / 3,
       k.i, abs(random()),
       json_object('event', s.kind || '_' || k.phase, 'id', s.id, 'server', s.server,
                   'media', s.media, 'user_id', s.user_id, 'ip', s.ip,
                   'utc_ms', s.first_event_at + k.i * (max(s.last_event_at, s.first_event_at) - s.first_event_at) / 3)
FROM (SELECT * FROM sessions ORDER BY first_event_at) s, k;
-- The rows already hold these events: nothing to replay at start.
UPDATE store_state SET value = (SELECT max(seq) FROM events) WHERE name = 'sessions_watermark';
COMMIT;
ANALYZE;
SQL
fi

log=$(mktemp)
"$BIN" serve --db "$DB" --listen 127.0.0.1:0 2> "$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the sink did not start: $(cat "$log")" >&2; exit 1; }
base="http://127.0.0.1:$port"

# A session whose events span about an hour, and the longest one.
typical=$(sqlite3 "$DB" "select id from sessions where last_event_at - first_event_at between 3000000 and 4000000 limit 1")
longest=$(sqlite3 "$DB" "select id from sessions where kind = 'play' order by last_event_at - first_event_at desc limit 1")
span() { sqlite3 "$DB" "select (last_event_at - first_event_at) / 3600000.0 from sessions where id = '$1'"; }

. scripts/bench_lib.sh  # median
time_get() {  # path → median seconds
  for _ in $(seq "$RUNS"); do
    curl -s -o /dev/null -w '%{time_total}\n' --fail "$base$1" || echo "FAILED $1" >&2
  done | median
}

requests() {  # window query → the page's requests
  local w=$1
  echo "/api/now"
  echo "/api/concurrency?$w"
  echo "/api/concurrency?$w&media=ch7"
  echo "/reports/media?$w"
  echo "/reports/startup?$w"
  echo "/reports/endings?$w"
  echo "/reports/durations?$w"
  echo "/api/stalls?limit=15&$w"
  echo "/api/sessions?$w&sort=opened_at&order=desc&offset=0&limit=25"
  echo "/api/sessions?$w&user=u123&sort=opened_at&order=desc&offset=0&limit=25"
  echo "/api/sessions?$w&ip=10.7.*&state=live&sort=watch_ms&order=desc&offset=1000&limit=25"
  echo "/api/users?q=u12&limit=20&$w"
  echo "/api/user?id=u123&$w"
}
month="from=$T0&to=$NOW"
day="from=$((T0 + 10 * DAY))&to=$((T0 + 11 * DAY))"

printf '%-84s %9s %9s\n' request "30 d (s)" "1 d (s)"
paste <(requests "$month") <(requests "$day") | while IFS=$'\t' read -r m d; do
  printf '%-84s %9.3f %9.3f\n' "${m/$month/WINDOW}" "$(time_get "$m")" "$(time_get "$d")"
done
for id in "$typical" "$longest"; do
  printf '%-84s %9.3f %9s\n' "/api/session?id=$id (events over $(span "$id") h)" "$(time_get "/api/session?id=$id")" ""
done
for a in / /assets/app.js /assets/uPlot.iife.min.js; do
  printf '%-84s %9.3f %9s\n' "$a" "$(time_get "$a")" ""
done

page_load() {  # every request of a page load at once, as the browser sends them
  local w=$1 s e
  s=$(date +%s.%N)
  requests "$w" | xargs -P 16 -I{} curl -s -o /dev/null --fail "$base{}"
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}
printf 'whole page load, all requests at once: 30 d %.3f s, 1 d %.3f s (median of %s)\n' \
  "$(for _ in $(seq "$RUNS"); do page_load "$month"; done | median)" \
  "$(for _ in $(seq "$RUNS"); do page_load "$day"; done | median)" "$RUNS"
echo "sessions: $(sqlite3 "$DB" 'select count(*) from sessions'), events: $(sqlite3 "$DB" 'select count(*) from events'), db: $(du -h "$DB" | cut -f1), runs: $RUNS (median)"
