#!/usr/bin/env bash
# Named benchmark workloads, one table, ratios measured in the same run.
#
#   ./scripts/bench.sh [--quick] [--soak-events N] [--seconds S]
#
#   ingest-normal   the sink, synchronous=normal, events/s committed and latency
#   ingest-full     the same with synchronous=full
#   kafka           the sink with fan-out to the mock cluster (events/s, relay delivered)
#   half-load       the sink at half its measured rate: latency p50/p99
#   http-ceiling    the same load against a no-op cpp-httplib server (sessionsink-noop)
#   sqlite-ceiling  a raw SQLite append+upsert loop on the same events
#   soak            N events (default 10M): events/s of the first vs the last million,
#                   peak RSS, database bytes per million events
#   reports         ./scripts/bench_reports.sh at 1M sessions (skipped with --quick)
#
# Load: 8 simulated media servers, 100-event batches, 100k open sessions
# (sessionsink-loadgen); everything on this machine's 2 cores, the load
# generator included. --quick: 5 s runs, 1M-event soak, no report timing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=15
SOAK=10000000
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; SECONDS_PER_RUN=5; SOAK=1000000 ;;
    --soak-events) SOAK=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
B=./build
for bin in sessionsink sessionsink-loadgen sessionsink-noop sessionsink-sqlite-ceiling; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sessionsink-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
LOAD=(--servers 8 --batch 100 --open-sessions 100000)
kv() { grep "^$1=" "$2" | head -1 | cut -d= -f2; }

start_sink() {  # log-file args... ; sets PORT, SINK_PID
  local log=$1; shift
  "$B/sessionsink" serve --listen 127.0.0.1:0 "$@" 2> "$log" &
  SINK_PID=$!
  for _ in $(seq 200); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "sink did not start: $(cat "$log")" >&2; exit 1
}
stop_sink() { kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true; }
loadgen() {  # out-file args...
  local out=$1; shift
  "$B/sessionsink-loadgen" --url "http://127.0.0.1:$PORT/events" "${LOAD[@]}" "$@" > "$out" || true
}
row() { printf '%-16s %12s %9s %9s %9s  %s\n' "$@"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(df -h "$WORK" | awk 'NR==2{print $1}')"
row workload "events/s" "p50 ms" "p99 ms" "max ms" notes

# ingest-normal / ingest-full
for sync in normal full; do
  start_sink "$WORK/sink-$sync.log" --db "$WORK/$sync.db" --synchronous "$sync"
  loadgen "$WORK/lg-$sync.txt" --duration "${SECONDS_PER_RUN}s"
  stop_sink
  row "ingest-$sync" "$(kv events_per_s "$WORK/lg-$sync.txt")" "$(kv p50_ms "$WORK/lg-$sync.txt")" \
      "$(kv p99_ms "$WORK/lg-$sync.txt")" "$(kv max_ms "$WORK/lg-$sync.txt")" \
      "errors=$(kv errors "$WORK/lg-$sync.txt") 503s=$(kv retries "$WORK/lg-$sync.txt")"
done
NORMAL=$(kv events_per_s "$WORK/lg-normal.txt")

# kafka: the sink with fan-out to a mock cluster in another process
"$B/sessionsink" dev-kafka --partitions 6 > "$WORK/kafka.out" 2> "$WORK/kafka.err" &
KAFKA_PID=$!
for _ in $(seq 100); do [ -s "$WORK/kafka.out" ] && break; sleep 0.05; done
BROKERS=$(head -1 "$WORK/kafka.out")
start_sink "$WORK/sink-kafka.log" --db "$WORK/kafka.db" --kafka-brokers "$BROKERS"
loadgen "$WORK/lg-kafka.txt" --duration "${SECONDS_PER_RUN}s"
sleep 2
METRICS=$(curl -s "http://127.0.0.1:$PORT/metrics")
delivered=$(echo "$METRICS" | grep '^sessionsink_kafka_events_delivered_total ' | cut -d' ' -f2)
backlog=$(echo "$METRICS" | grep '^sessionsink_kafka_backlog_events ' | cut -d' ' -f2)
stop_sink
kill "$KAFKA_PID" 2>/dev/null || true
KAFKA=$(kv events_per_s "$WORK/lg-kafka.txt")
row kafka "$KAFKA" "$(kv p50_ms "$WORK/lg-kafka.txt")" "$(kv p99_ms "$WORK/lg-kafka.txt")" \
    "$(kv max_ms "$WORK/lg-kafka.txt")" \
    "delivered=$delivered of $(kv events "$WORK/lg-kafka.txt") (backlog $backlog 2 s after); $(awk -v a="$KAFKA" -v b="$NORMAL" 'BEGIN{printf "%.0f%% of ingest-normal", 100*a/b}')"

# half-load: latency at half the measured rate
HALF=$(awk -v n="$NORMAL" 'BEGIN{printf "%d", n/2}')
start_sink "$WORK/sink-half.log" --db "$WORK/half.db"
loadgen "$WORK/lg-half.txt" --duration "${SECONDS_PER_RUN}s" --rate "$HALF"
stop_sink
row half-load "$(kv events_per_s "$WORK/lg-half.txt")" "$(kv p50_ms "$WORK/lg-half.txt")" \
    "$(kv p99_ms "$WORK/lg-half.txt")" "$(kv max_ms "$WORK/lg-half.txt")" "target $HALF events/s"

# http-ceiling
"$B/sessionsink-noop" > "$WORK/noop.out" &
NOOP_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/noop.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -o '[0-9]*$' "$WORK/noop.out")
loadgen "$WORK/lg-noop.txt" --duration "${SECONDS_PER_RUN}s"
kill "$NOOP_PID"
HTTP=$(kv events_per_s "$WORK/lg-noop.txt")
row http-ceiling "$HTTP" "$(kv p50_ms "$WORK/lg-noop.txt")" "$(kv p99_ms "$WORK/lg-noop.txt")" \
    "$(kv max_ms "$WORK/lg-noop.txt")" \
    "sink = $(awk -v a="$NORMAL" -v b="$HTTP" 'BEGIN{printf "%.1f%%", 100*a/b}') of it"

# sqlite-ceiling: the same events, 800 per transaction (8 servers x 100)
"$B/sessionsink-sqlite-ceiling" --db "$WORK/ceiling.db" --servers 8 --open-sessions 100000 \
    --events $((QUICK ? 300000 : 1000000)) --commit-events 800 > "$WORK/ceiling.txt"
CEIL=$(kv events_per_s "$WORK/ceiling.txt")
row sqlite-ceiling "$CEIL" - - - \
    "sink = $(awk -v a="$NORMAL" -v b="$CEIL" 'BEGIN{printf "%.0f%%", 100*a/b}') of it"

# soak: first vs last million, peak RSS, bytes per million events
start_sink "$WORK/sink-soak.log" --db "$WORK/soak.db"
( while kill -0 "$SINK_PID" 2>/dev/null; do
    r=$(awk '/VmHWM/{print $2}' "/proc/$SINK_PID/status" 2>/dev/null || echo 0)
    echo "$r" > "$WORK/hwm"; sleep 1; done ) &
loadgen "$WORK/lg-soak.txt" --events "$SOAK"
peak_rss=$(cat "$WORK/hwm")
stop_sink
marks=$(kv per_million_events_per_s "$WORK/lg-soak.txt")
first=${marks%%,*}; last=${marks##*,}
dbbytes=$(du -cb "$WORK"/soak.db* | tail -1 | cut -f1)
row soak "$(kv events_per_s "$WORK/lg-soak.txt")" "$(kv p50_ms "$WORK/lg-soak.txt")" \
    "$(kv p99_ms "$WORK/lg-soak.txt")" "$(kv max_ms "$WORK/lg-soak.txt")" \
    "$SOAK events; first million $first/s, last $last/s ($(awk -v a="$last" -v b="$first" 'BEGIN{printf "%.0f%%", 100*a/b}')); peak RSS $((peak_rss / 1024)) MB; $(awk -v d="$dbbytes" -v n="$SOAK" 'BEGIN{printf "%.0f MB", d/(n/1e6)/1e6}') per million events"

if [ "$QUICK" = 0 ]; then
  echo
  echo "reports over 1M sessions (./scripts/bench_reports.sh 1000000 3):"
  ./scripts/bench_reports.sh 1000000 3
fi
