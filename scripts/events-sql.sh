#!/bin/sh
# Runs the sqlite3 shell, read-only, on a sink's main file with its event log
# attached: `events` and `log_rejected` are temporary views over every log
# segment (DB.events/seg-*.db), so the SQL that read the events table of
# older releases keeps working.
#
#   scripts/events-sql.sh data/sessions.db "select count(*) from events"
#   scripts/events-sql.sh data/sessions.db -separator '|' "select ... from events e join sessions s ..."
#
# The sqlite3 shell attaches at most 10 files: with more segments it says so
# and stops; `sessionsink events --db DB` (NDJSON, any number of segments)
# is the tool for those.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DB [sqlite3 options] SQL" >&2; exit 2; }
db=$1
shift
[ -f "$db" ] || { echo "$0: no database file $db" >&2; exit 1; }
init=""
view=""
rej=""
n=0
for seg in "$db".events/seg-*.db; do
  [ -f "$seg" ] || continue
  n=$((n + 1))
  if [ "$n" -gt 10 ]; then
    echo "$0: $db has more than 10 log segments; use sessionsink events --db $db" >&2
    exit 1
  fi
  esc=$(printf '%s' "$seg" | sed "s/'/''/g")
  init="$init ATTACH DATABASE '$esc' AS seg$n;"
  if [ -n "$view" ]; then view="$view UNION ALL "; rej="$rej UNION ALL "; fi
  view="${view}SELECT * FROM seg$n.events"
  rej="${rej}SELECT * FROM seg$n.rejected"
done
if [ -n "$view" ]; then
  init="$init CREATE TEMP VIEW events AS $view; CREATE TEMP VIEW log_rejected AS $rej;"
fi
exec sqlite3 -readonly -batch -cmd "$init" "$db" "$@"
