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
# is the tool for those. It is also the tool for compacted segments
# (DB.events/seg-*.zdb: their events are zstd blocks SQL cannot read): their
# dead letters are in `log_rejected`, but their events are not in `events`,
# and the script names them on stderr.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DB [sqlite3 options] SQL" >&2; exit 2; }
db=$1
shift
[ -f "$db" ] || { echo "$0: no database file $db" >&2; exit 1; }
init=""
view=""
rej=""
n=0
skipped=""
for seg in "$db".events/seg-*.db "$db".events/seg-*.zdb; do
  [ -f "$seg" ] || continue
  case $seg in
    *.zdb) [ -f "${seg%.zdb}.db" ] && continue ;;  # both forms (an interrupted compaction): the raw one
  esac
  n=$((n + 1))
  if [ "$n" -gt 10 ]; then
    echo "$0: $db has more than 10 log segments; use sessionsink events --db $db" >&2
    exit 1
  fi
  esc=$(printf '%s' "$seg" | sed "s/'/''/g")
  init="$init ATTACH DATABASE '$esc' AS seg$n;"
  if [ -n "$rej" ]; then rej="$rej UNION ALL "; fi
  rej="${rej}SELECT * FROM seg$n.rejected"
  case $seg in
    *.zdb)
      skipped="$skipped ${seg##*/}"
      continue
      ;;
  esac
  if [ -n "$view" ]; then view="$view UNION ALL "; fi
  view="${view}SELECT * FROM seg$n.events"
done
if [ -n "$skipped" ]; then
  echo "$0: warning: the events of these compacted log segments are not in \`events\` (use sessionsink events --db $db):$skipped" >&2
fi
if [ -n "$view" ]; then
  init="$init CREATE TEMP VIEW events AS $view;"
fi
if [ -n "$rej" ]; then
  init="$init CREATE TEMP VIEW log_rejected AS $rej;"
fi
exec sqlite3 -readonly -batch -cmd "$init" "$db" "$@"
