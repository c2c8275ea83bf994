#!/usr/bin/env bash
# nginx-rtmp end to end: the real sink, the real nginx with the RTMP module
# (Debian's nginx + libnginx-mod-rtmp), and ffmpeg publishing and playing.
#
#   nginx_rtmp_e2e_test.sh SESSIONSINK_BIN
#
# nginx runs in the foreground with its own config, pid, logs and temp paths
# in a temp dir and RTMP on a free loopback port; its rtmp block is
# docs/nginx-rtmp.conf — the one README.md and docs/platforms.md show, which
# this test first checks they show verbatim — with only the sink's port, the
# RTMP port and notify_update_timeout (2s instead of 30s) replaced.
#
# Scenario: one publisher of live/cam1?token=ptok&user=studio for 10 s
# (testsrc 160x120 at 10 fps), pushed by nginx to the relay app; player
# alice stopped with SIGINT after ~3 s, player bob killed with SIGKILL after
# ~6 s; carol playing live/ghost, which nobody publishes. Then the rows:
# one publish, the plays with their users and durations (within a second of
# what the test measured), the relay as a push and no phantom viewer. Then
# nginx is stopped and started again (connection numbers start again) and
# live/cam1 published for 3 s: a new session, the first one untouched; and
# `sessionsink report outages` shows the gap between the two.
# KEEP_TMP=1 keeps the logs and the database.
set -euo pipefail

sink_bin=${1:?usage: $0 SESSIONSINK_BIN}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
module=/usr/lib/nginx/modules/ngx_rtmp_module.so
conf_doc="$root/docs/nginx-rtmp.conf"
t_start=$(date +%s%3N)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sessionsink-nginx-XXXXXX")
pids=()
nginx_pid=""
cleanup() {
  for pid in "${pids[@]}" $nginx_pid; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}" $nginx_pid; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

passes=0
failures=0
show_logs() {
  for f in "$tmp"/sink.log "$tmp"/error.log "$tmp"/ffmpeg-*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 30 lines)" >&2
    tail -n 30 "$f" >&2
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
within() {  # within NAME EXPECTED ACTUAL TOLERANCE
  local d=$(($3 - $2))
  if [ "${d#-}" -le "$4" ]; then
    passes=$((passes + 1))
  else
    echo "FAIL: $1: expected $2 ± $4, got $3" >&2
    failures=$((failures + 1))
  fi
}
now_ms() { date +%s%3N; }
q() { "$here/../../scripts/events-sql.sh" "$tmp/sessions.db" -noheader -separator '|' "$@"; }
# Polls CMD (a shell snippet) every 0.1 s until it succeeds, for at most SECONDS.
wait_for() {  # wait_for SECONDS WHAT CMD
  local deadline=$(($(now_ms) + $1 * 1000))
  until eval "$3" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || die "timed out after $1 s waiting for $2"
    sleep 0.1
  done
}

for tool in nginx ffmpeg sqlite3 curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh installs it)"
done
[ -f "$module" ] || die "$module is missing (libnginx-mod-rtmp; scripts/deps.sh installs it)"
[ -x "$sink_bin" ] || die "not executable: $sink_bin"

# 1. The docs show docs/nginx-rtmp.conf verbatim.
for doc in README.md docs/platforms.md; do
  found=no
  awk -v dir="$tmp" '/^```nginx$/ {n++; f=dir "/block-" n; getline; while ($0 != "```") {print > f; if ((getline) <= 0) break}}' \
    "$root/$doc"
  for block in "$tmp"/block-*; do
    [ -f "$block" ] && cmp -s "$block" "$conf_doc" && found=yes
  done
  rm -f "$tmp"/block-*
  check "$doc shows docs/nginx-rtmp.conf in a \`\`\`nginx block" yes "$found"
done

# 2. The sink, on a free port.
"$sink_bin" serve --listen 127.0.0.1:0 --db "$tmp/sessions.db" 2>"$tmp/sink.log" &
pids+=($!)
wait_for 10 "the sink to listen" "grep -q 'listening on http://127.0.0.1:' '$tmp/sink.log'"
sink_port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$tmp/sink.log" | head -1)

# 3. nginx: the documented rtmp block with this test's ports.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
write_conf() {  # the rtmp block, then the main file around it
  sed -e "s|127\.0\.0\.1:8080|127.0.0.1:$sink_port|g" \
      -e "s|listen 1935;|listen 127.0.0.1:$rtmp_port;|" \
      -e "s|rtmp://127\.0\.0\.1:1935/|rtmp://127.0.0.1:$rtmp_port/|g" \
      -e "s|notify_update_timeout 30s;|notify_update_timeout 2s;|" \
      "$conf_doc" >"$tmp/rtmp.conf"
  check "every callback URL points at the sink" 9 "$(grep -c "http://127.0.0.1:$sink_port/events/nginx-rtmp/edge1;" "$tmp/rtmp.conf")"
  check "the listen line was replaced" 1 "$(grep -c "listen 127.0.0.1:$rtmp_port;" "$tmp/rtmp.conf")"
  check "the push URL was replaced" 1 "$(grep -c "push rtmp://127.0.0.1:$rtmp_port/relay;" "$tmp/rtmp.conf")"
  check "the update interval was replaced" 1 "$(grep -c "notify_update_timeout 2s;" "$tmp/rtmp.conf")"
  cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log info;
load_module $module;
events { worker_connections 256; }
include $tmp/rtmp.conf;
EOF
}
start_nginx() {
  for _ in 1 2 3 4 5; do
    rtmp_port=$(free_port) || die "no free port"
    write_conf
    nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
    nginx_pid=$!
    local deadline=$(($(now_ms) + 5000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
      (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null && return 0
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
  done
  die "nginx did not start"
}
stop_nginx() {
  kill -QUIT "$nginx_pid"  # graceful: its clients are gone, so it exits at once
  local deadline=$(($(now_ms) + 5000))
  while kill -0 "$nginx_pid" 2>/dev/null; do
    if [ "$(now_ms)" -ge "$deadline" ]; then kill -KILL "$nginx_pid" 2>/dev/null || true; fi
    sleep 0.05
  done
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
}
start_nginx
url="rtmp://127.0.0.1:$rtmp_port"

publish() {  # publish SECONDS STREAM LOG
  ffmpeg -hide_banner -nostdin -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=10 \
    -t "$1" -c:v libx264 -preset ultrafast -g 10 -f flv "$url/$2" 2>"$tmp/ffmpeg-$3.log" &
  pids+=($!)
  pub_pid=$!
}
play() {  # play STREAM LOG
  ffmpeg -hide_banner -nostdin -loglevel error -i "$url/$1" -f null - 2>"$tmp/ffmpeg-$2.log" &
  pids+=($!)
  play_pid=$!
}
sessions() { q "SELECT count(*) FROM sessions WHERE $1"; }

# 4. Publisher, players.
publish 10 'live/cam1?token=ptok&user=studio' publisher
publisher=$pub_pid
wait_for 10 "the publish session" "[ \"\$(sessions \"kind = 'publish' AND media = 'live/cam1'\")\" = 1 ]"
wait_for 10 "the relay" "[ \"\$(sessions \"kind = 'push'\")\" = 1 ]"
play 'live/cam1?token=ta&user=alice' alice
alice=$play_pid
alice_from=$(now_ms)
play 'live/cam1?token=tb&user=bob' bob
bob=$play_pid
bob_from=$(now_ms)
play 'live/ghost?user=carol' carol
carol=$play_pid
wait_for 10 "three plays" "[ \"\$(sessions \"kind = 'play'\")\" = 3 ]"
sleep 3  # alice watches ~3 s
kill -INT "$alice"
alice_to=$(now_ms)
kill -INT "$carol"
sleep 3  # bob watches ~6 s
kill -KILL "$bob"
bob_to=$(now_ms)
wait "$alice" "$carol" "$bob" 2>/dev/null || true
wait "$publisher" || die "the publisher failed"
wait_for 10 "every session to finish" "[ \"\$(sessions \"state <> 'finished'\")\" = 0 ]"

# 5. The rows.
check "sessions" 6 "$(sessions "1")"
check "platform and server" "nginx-rtmp|edge1" "$(q "SELECT DISTINCT platform, server FROM sessions")"
check "one publish of live/cam1" "publish|studio|ptok|127.0.0.1" \
  "$(q "SELECT kind, user_id, token, ip FROM sessions WHERE media = 'live/cam1' AND kind = 'publish'")"
pub_ms=$(q "SELECT closed_at - started_at FROM sessions WHERE media = 'live/cam1' AND kind = 'publish'")
within "the publish lasted the publisher's 10 s" 10000 "$pub_ms" 1000
check "updates every 2 s gave it a duration" 1 \
  "$(q "SELECT duration_ms >= 8000 AND updated_at > started_at FROM sessions WHERE kind = 'publish' AND media = 'live/cam1'")"
check "the relay is a push of live/cam1, not a viewer" "push|live/cam1|rtmp://127.0.0.1:$rtmp_port/relay/cam1|" \
  "$(q "SELECT kind, media, url, ip FROM sessions WHERE kind = 'push'")"
check "its receiving side is the publish of relay/cam1" 1 "$(sessions "kind = 'publish' AND media = 'relay/cam1'")"
check "no phantom viewer: the plays are alice, bob and carol" "alice|bob|carol" \
  "$(q "SELECT group_concat(user_id, '|') FROM (SELECT user_id FROM sessions WHERE kind = 'play' ORDER BY user_id)")"
check "alice and bob watched live/cam1 (started)" "alice|ta|1
bob|tb|1" "$(q "SELECT user_id, token, started_at IS NOT NULL FROM sessions WHERE kind = 'play' AND media = 'live/cam1' ORDER BY user_id")"
within "alice's play lasted what she watched" $((alice_to - alice_from)) \
  "$(q "SELECT closed_at - opened_at FROM sessions WHERE user_id = 'alice'")" 1000
within "bob's play lasted until his SIGKILL" $((bob_to - bob_from)) \
  "$(q "SELECT closed_at - opened_at FROM sessions WHERE user_id = 'bob'")" 1000
check "carol waited for live/ghost, which never started" "live/ghost|finished|1" \
  "$(q "SELECT media, state, started_at IS NULL FROM sessions WHERE user_id = 'carol'")"
first=$(q "SELECT id || '|' || closed_at || '|' || event_count || '|' || external_id FROM sessions WHERE kind = 'publish' AND media = 'live/cam1'")

# 6. nginx restarts; connection numbers start again; live/cam1 again.
stop_nginx
restart_at=$(now_ms)
start_nginx
url="rtmp://127.0.0.1:$rtmp_port"
publish 3 'live/cam1?token=ptok2&user=studio' publisher2
wait "$pub_pid" || die "the second publisher failed"
wait_for 10 "the second publish to finish" \
  "[ \"\$(sessions \"kind = 'publish' AND media = 'live/cam1' AND state = 'finished'\")\" = 2 ]"
check "two publish sessions of live/cam1" 2 "$(sessions "kind = 'publish' AND media = 'live/cam1'")"
check "the first is untouched" "$first" \
  "$(q "SELECT id || '|' || closed_at || '|' || event_count || '|' || external_id FROM sessions WHERE kind = 'publish' AND media = 'live/cam1' ORDER BY opened_at LIMIT 1")"
check "the second is new, after the restart" "ptok2|1" \
  "$(q "SELECT token, opened_at >= $restart_at FROM sessions WHERE kind = 'publish' AND media = 'live/cam1' ORDER BY opened_at DESC LIMIT 1")"
check "both were nginx's connection #$(echo "$first" | cut -d'|' -f4) (the number came again)" \
  "$(echo "$first" | cut -d'|' -f4)" \
  "$(q "SELECT external_id FROM sessions WHERE kind = 'publish' AND media = 'live/cam1' ORDER BY opened_at DESC LIMIT 1")"

# 7. The outage between the two publishes, and nothing lost.
report=$("$sink_bin" report outages --db "$tmp/sessions.db" --platform nginx-rtmp --media live/cam1 --format csv)
second_up=$(q "SELECT started_at FROM sessions WHERE kind = 'publish' AND media = 'live/cam1' ORDER BY opened_at DESC LIMIT 1")
first_down=$(q "SELECT closed_at FROM sessions WHERE kind = 'publish' AND media = 'live/cam1' ORDER BY opened_at LIMIT 1")
check "outages: live/cam1 down from the first publish's end to the second's start" \
  "edge1,live/cam1,$first_down,$second_up" "$(echo "$report" | sed -n 2p | cut -d, -f1-4)"
metrics=$(curl -sf "http://127.0.0.1:$sink_port/metrics")
check "no callback unrecorded" 0 \
  "$(echo "$metrics" | awk '/^sessionsink_unrecorded_callbacks_total/ {s += $2} END {print s + 0}')"
check "callbacks answered 200" 0 \
  "$(echo "$metrics" | awk -F'[ "]' '/^sessionsink_http_requests_total\{code="[^2]/ {s += $NF} END {print s + 0}')"

echo "nginx-rtmp e2e: $(( ($(now_ms) - t_start) / 1000 )) s, $(sessions 1) sessions, $(q "SELECT count(*) FROM events") callbacks stored"
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ] || { show_logs; exit 1; }
