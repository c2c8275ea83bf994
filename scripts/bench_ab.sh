#!/usr/bin/env bash
# A/B: the same loads against several builds, rounds interleaved, one sitting.
#   ./scripts/bench_ab.sh NAME=BIN NAME=BIN ...   (e.g. old=/tmp/sessionsink-old new=build/sessionsink)
set -u
cd "$(dirname "$0")/.."
run() {  # bin load-args...
  local bin=$1; shift
  local d; d=$(mktemp -d /tmp/ab.XXXXXX)
  "$bin" serve --listen 127.0.0.1:0 --db "$d/s.db" 2> "$d/log" &
  local pid=$!
  local port=""
  for _ in $(seq 100); do port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$d/log" | grep -o '[0-9]*$'); [ -n "$port" ] && break; sleep 0.05; done
  ./build/sessionsink-loadgen --url "http://127.0.0.1:$port/events" --servers 8 --batch 100 --open-sessions 100000 --duration 8s "$@" > "$d/lg"
  kill $pid; wait $pid 2>/dev/null
  echo "$(grep '^events_per_s=' "$d/lg" | cut -d= -f2) p99=$(grep '^p99_ms=' "$d/lg" | cut -d= -f2)"
  rm -rf "$d"
}
for round in 1 2; do
  for load in hard easy; do
    args=(); [ $load = easy ] && args=(--sessions-per-batch 5)
    for nb in "$@"; do
      echo "round $round $load ${nb%%=*}: $(run "${nb#*=}" "${args[@]}")"
    done
  done
done
