#!/usr/bin/env bash
# The Streampixel relay (clients/streampixel/sessionsink-streampixel.js) in
# headless Chromium, against a running sink.
#
#   streampixel_browser_test.sh SESSIONSINK_BIN STATIC_SERVER_BIN
#
# A static server serves the embedding page from http://127.0.0.1:P and a fake
# Streampixel iframe from http://localhost:P (another origin). The iframe
# posts what Streampixel's iframe posts; an impostor iframe on the page's own
# origin posts Streampixel-shaped messages the relay must ignore. Three page
# views, each one Chromium run:
#   queued   — waits in queue-2, queue-1; the Web SDK reports disconnect 4001
#   streamed — connects, streams, metadata, AFK warning and abort, disconnected
#   left     — streams, then the viewer navigates away (the relay's pagehide close)
# Then the sink's SQLite file must hold exactly those three sessions.
# Needs chromium and the sqlite3 shell (scripts/deps.sh installs both): a
# missing one fails the test. KEEP_TMP=1 keeps the database, pages and logs.
set -euo pipefail

sink_bin=${1:?usage: $0 SESSIONSINK_BIN STATIC_SERVER_BIN}
static_bin=${2:?usage: $0 SESSIONSINK_BIN STATIC_SERVER_BIN}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
token=browser-test-token

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessionsink-browser-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

failures=0
passes=0
show_logs() {
  for f in "$tmp"/static.log "$tmp"/sink.log "$tmp"/chromium-*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}
die() {
  echo "FAIL: $*" >&2
  show_logs
  exit 1
}
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passes=$((passes + 1))
  else
    echo "FAIL: $1: expected [$2], got [$3]" >&2
    failures=$((failures + 1))
  fi
}

command -v chromium >/dev/null || die "chromium is not installed (scripts/deps.sh installs it)"
command -v sqlite3 >/dev/null || die "the sqlite3 shell is not installed (scripts/deps.sh installs it)"
[ -x "$sink_bin" ] || die "not executable: $sink_bin"
[ -x "$static_bin" ] || die "not executable: $static_bin"

# Waits for "listening on http://127.0.0.1:PORT" in LOG and prints PORT.
wait_port() {
  local log=$1 pid=$2 port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

"$static_bin" --max-seconds 200 /www="$here/www" /client="$root/clients/streampixel" \
  2>"$tmp/static.log" &
pids+=($!)
page_port=$(wait_port "$tmp/static.log" "${pids[-1]}") || die "the static server did not start"
page_origin="http://127.0.0.1:$page_port"
iframe_origin="http://localhost:$page_port"

"$sink_bin" serve --listen 127.0.0.1:0 --db "$tmp/sessions.db" --token "$token" \
  --streampixel-origins "$page_origin" 2>"$tmp/sink.log" &
pids+=($!)
sink_port=$(wait_port "$tmp/sink.log" "${pids[-1]}") || die "the sink did not start"
sink_url="http://127.0.0.1:$sink_port/events/streampixel"

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# One page view. Site isolation is off so that the cross-origin iframe runs
# in the page's renderer, under the same virtual clock: Chromium then lets
# 10 s of virtual time pass (every timer of the scenario fires, and network
# fetches such as the beacons hold the clock) before it dumps the DOM.
view() {  # view SCENARIO [TOKEN]
  local scenario=$1 query
  query="scenario=$scenario&sink=$(urlencode "$sink_url")&iframe=$(urlencode "$iframe_origin")"
  [ -n "${2:-}" ] && query+="&token=$(urlencode "$2")"
  timeout 90 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$tmp/profile-$scenario" --no-first-run --no-default-browser-check \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-extensions --disable-default-apps --disable-domain-reliability \
    --disable-site-isolation-trials --disable-features=site-per-process,IsolateOrigins \
    --virtual-time-budget=10000 \
    --dump-dom "$page_origin/www/page.html?$query" \
    >"$tmp/dom-$scenario.html" 2>"$tmp/chromium-$scenario.log" ||
    die "chromium failed on the '$scenario' page view"
}

view queued
view streamed "$token"  # this one also carries the token in the URL
view left

# Each page ran to its end (the relay saw the impostor's messages and dropped them).
for s in queued streamed; do
  grep -q "id=\"status\">done $s<" "$tmp/dom-$s.html" ||
    die "the '$s' page did not finish: $(grep 'id="' "$tmp/dom-$s.html")"
  grep -q "id=\"log\">[^<]*impostor seen" "$tmp/dom-$s.html" ||
    die "the impostor iframe did not post on '$s': $(grep 'id="' "$tmp/dom-$s.html")"
done
grep -q 'id="status">done left<' "$tmp/dom-left.html" ||
  die "the 'left' page did not navigate away: $(grep 'id="' "$tmp/dom-left.html")"

db="$tmp/sessions.db"
q() { "$here/../../scripts/events-sql.sh" "$db" -noheader -separator '|' "$1"; }

# The beacons are answered after COMMIT; wait for all 17 events (4 + 8 + 5).
for _ in $(seq 1 100); do
  n=$(q "select count(*) from events" 2>/dev/null || echo 0)
  [ "$n" -ge 17 ] && break
  sleep 0.1
done
# Sessions are written behind the events (--session-flush): make the table current.
curl -sf --data "" -H "Authorization: Bearer $token" "http://127.0.0.1:$sink_port/flush" >/dev/null ||
  die "POST /flush failed"

check "events stored" 17 "$(q "select count(*) from events")"
check "nothing rejected" 0 "$(q "select count(*) from rejected")"
check "sessions" "3|3|3" "$(q "select count(*), sum(platform = 'streampixel'),
  sum(kind = 'play' and state = 'finished') from sessions")"
check "no impostor or foreign message reached the sink" 0 \
  "$(q "select count(*) from events where body like '%impostor%'
        or body like '%stream-stats%' or body like '%\"type\":\"test-%'")"
check "one key per page view" 3 "$(q "select count(distinct session_id) from events")"

row() {  # row USER COLUMNS
  q "select $2 from sessions where user_id = '$1'"
}
common="platform, kind, state, media, url like '$page_origin/www/page.html?scenario=%',
  user_agent like '%Chrome%', event_count"

# queued: never streamed, waited in the queue, ended for lack of capacity.
check "queued: row" "streampixel|play|finished|browser-test|1|1|4" "$(row viewer-queued "$common")"
check "queued: end" "capacity|disconnect|4001" "$(row viewer-queued "end_class, raw_state, raw_reason")"
check "queued: waited" "1|1" "$(row viewer-queued "queued_ms is not null, queued_ms > 0")"
check "queued: never started" "1|1|0" \
  "$(row viewer-queued "started_at is null, external_id is null, stall_count")"

# streamed: started, one AFK interval, ended normally.
check "streamed: row" "streampixel|play|finished|browser-test|1|1|8" "$(row viewer-streamed "$common")"
check "streamed: end" "normal|disconnected|1" \
  "$(row viewer-streamed "end_class, raw_state, raw_reason is null")"
check "streamed: ids" "sp-session-streamed|streamer-streamed" \
  "$(row viewer-streamed "external_id, server")"
check "streamed: started, one stall" "1|1|1" \
  "$(row viewer-streamed "started_at > opened_at, stall_count, closed_at > started_at")"
check "streamed: never queued" "1" "$(row viewer-streamed "queued_ms is null")"

# left: the relay's own close when the viewer navigated away.
check "left: row" "streampixel|play|finished|browser-test|1|1|5" "$(row viewer-left "$common")"
check "left: end" "user_left|disconnect|1001" "$(row viewer-left "end_class, raw_state, raw_reason")"
check "left: ids" "sp-session-left|streamer-left|1" \
  "$(row viewer-left "external_id, server, started_at is not null")"
check "left: pagehide close" 1 \
  "$(q "select count(*) from events e join sessions s on s.id = e.session_id
        where s.user_id = 'viewer-left' and e.body like '%\"reason\":\"pagehide\"%'")"

# Each page view numbered its items 1..n.
seqs() {
  q "select count(*), min(event_id), max(event_id) from events e join sessions s
     on s.id = e.session_id where s.user_id = '$1'"
}
check "queued: seq" "4|1|4" "$(seqs viewer-queued)"
check "streamed: seq" "8|1|8" "$(seqs viewer-streamed)"
check "left: seq" "5|1|5" "$(seqs viewer-left)"

if [ "$failures" -ne 0 ]; then
  echo "---- sessions" >&2
  sqlite3 -header "$db" "select * from sessions" >&2 || true
  show_logs
fi
echo "streampixel browser test: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
