#!/usr/bin/env bash
# A few seconds of every benchmark tool, so they cannot rot: the load
# generator against the real sink and against the no-op server, and the
# SQLite ceiling. Fails on any error or an empty result.
set -euo pipefail
B=${1:?build directory}
WORK=$(mktemp -d /tmp/sessionsink-bench-smoke.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

port_of() {
  for _ in $(seq 200); do
    p=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  echo "no port in $1" >&2; cat "$1" >&2; return 1
}
check() {  # file
  grep -q '^errors=0$' "$1" || { echo "errors in $1:" >&2; cat "$1" >&2; exit 1; }
  eps=$(grep '^events_per_s=' "$1" | cut -d= -f2)
  [ "${eps:-0}" -gt 0 ] || { echo "no events in $1" >&2; cat "$1" >&2; exit 1; }
}

"$B/sessionsink" serve --listen 127.0.0.1:0 --db "$WORK/s.db" 2> "$WORK/sink.log" &
PORT=$(port_of "$WORK/sink.log")
"$B/sessionsink-loadgen" --url "http://127.0.0.1:$PORT/events" --servers 2 --batch 50 \
  --open-sessions 1000 --duration 2s > "$WORK/lg.txt"
check "$WORK/lg.txt"
committed=$("$B/sessionsink" events --db "$WORK/s.db" --count)
sent=$(grep '^events=' "$WORK/lg.txt" | cut -d= -f2)
[ "$committed" = "$sent" ] || { echo "acknowledged $sent events, stored $committed" >&2; exit 1; }
# The easy load (a run of events per session); its events repeat the first
# run's (same seeds), so they are answered as duplicates: only errors count.
"$B/sessionsink-loadgen" --url "http://127.0.0.1:$PORT/events" --servers 2 --batch 50 \
  --sessions-per-batch 5 --open-sessions 1000 --duration 1s > "$WORK/lg-easy.txt"
check "$WORK/lg-easy.txt"

"$B/sessionsink-noop" > "$WORK/noop.log" &
PORT=$(port_of "$WORK/noop.log")
"$B/sessionsink-loadgen" --url "http://127.0.0.1:$PORT/events" --servers 2 --duration 1s \
  --open-sessions 1000 > "$WORK/noop.txt"
check "$WORK/noop.txt"

for mode in append upsert; do
  "$B/sessionsink-sqlite-ceiling" --mode "$mode" --db "$WORK/c.db" --events 20000 \
    --open-sessions 1000 > "$WORK/ceiling.txt"
  grep -q '^events_per_s=[1-9]' "$WORK/ceiling.txt" || { cat "$WORK/ceiling.txt" >&2; exit 1; }
done
grep -q '^events=20000$' "$WORK/ceiling.txt"
echo "bench smoke ok: sink $(grep ^events_per_s "$WORK/lg.txt"), noop $(grep ^events_per_s "$WORK/noop.txt"), ceiling $(grep ^events_per_s "$WORK/ceiling.txt")"
