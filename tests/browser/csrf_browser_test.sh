#!/usr/bin/env bash
# Cross-site request forgery against the tokenless default sink, with
# headless Chromium as the attacker: a page served from another origin
# (http://127.0.0.1:P, the sink being on another port) posts events and
# /flush with no-cors text/plain fetches, which need no CORS preflight.
# The sink must store nothing and log the refusals; curl, which sends no
# Origin, must still get through.
#
#   csrf_browser_test.sh SESSIONSINK_BIN STATIC_SERVER_BIN
#
# Needs chromium and the sqlite3 shell (scripts/deps.sh installs both).
# KEEP_TMP=1 keeps the database, page and logs.
set -euo pipefail

sink_bin=${1:?usage: $0 SESSIONSINK_BIN STATIC_SERVER_BIN}
static_bin=${2:?usage: $0 SESSIONSINK_BIN STATIC_SERVER_BIN}
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessionsink-csrf-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

die() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

command -v chromium >/dev/null || die "chromium is not installed (scripts/deps.sh installs it)"
command -v sqlite3 >/dev/null || die "the sqlite3 shell is not installed (scripts/deps.sh installs it)"

wait_port() {  # wait_port LOG PID: prints the port of "listening on http://127.0.0.1:PORT"
  local log=$1 pid=$2 port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$log" | head -n 1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

"$static_bin" --max-seconds 120 /www="$here/www" 2>"$tmp/static.log" &
pids+=($!)
page_port=$(wait_port "$tmp/static.log" "${pids[-1]}") || die "the static server did not start"

"$sink_bin" serve --listen 127.0.0.1:0 --db "$tmp/sessions.db" 2>"$tmp/sink.log" &
pids+=($!)
sink_port=$(wait_port "$tmp/sink.log" "${pids[-1]}") || die "the sink did not start"
sink="http://127.0.0.1:$sink_port"

timeout 90 chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --user-data-dir="$tmp/profile" --no-first-run --no-default-browser-check \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-extensions --disable-default-apps --disable-domain-reliability \
  --virtual-time-budget=10000 \
  --dump-dom "http://127.0.0.1:$page_port/www/csrf.html?sink=$sink" \
  >"$tmp/dom.html" 2>"$tmp/chromium.log" || die "chromium failed"

grep -q 'id="status">done csrf<' "$tmp/dom.html" || die "the page did not finish: $(cat "$tmp/dom.html")"
grep -q 'events posted' "$tmp/dom.html" || die "the page did not post: $(cat "$tmp/dom.html")"

q() { "$here/../../scripts/events-sql.sh" "$tmp/sessions.db" -noheader "$1"; }
n=$(q "select count(*) from events")
[ "$n" = 0 ] || die "a cross-site page stored $n events"
[ "$(q "select count(*) from rejected")" = 0 ] || die "a cross-site page left dead letters"
grep -q "refused with 403" "$tmp/sink.log" || die "the refusal was not logged"

# What a media server or curl sends (no Origin) still gets through.
curl -sf --data-binary '[{"event":"play_opened","id":"curl-1","server":"edge1"}]' \
  "$sink/events" >/dev/null || die "a post without Origin was refused"
[ "$(q "select count(*) from events")" = 1 ] || die "the post without Origin was not stored"
echo "csrf_browser_test: ok (the cross-site page stored nothing; curl stored 1 event)"
