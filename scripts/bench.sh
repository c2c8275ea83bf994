#!/usr/bin/env bash
# Named benchmark workloads, one table, ratios measured in the same run.
#
#   ./scripts/bench.sh [--quick] [--soak-events N] [--seconds S]
#
# Two loads, both 8 simulated media servers posting 100-event Flussonic
# batches over 100k open sessions (sessionsink-loadgen):
#   hard  every event of a batch goes to a random open session
#   easy  a batch is 5 sessions × 20 consecutive events (--sessions-per-batch 5)
#
#   hard-normal / hard-full   the sink, synchronous=normal / full
#   easy-normal / easy-full   the same with the easy load
#   kafka-hard / kafka-easy   with fan-out to the mock cluster: events/s, delivered, and
#                             how long after the load stopped the backlog was 0
#   kafka-ch-hard / -easy     the same with the ClickHouse envelopes (--kafka-topic-clickhouse)
#   half-load                 the hard load at half the hard-normal rate: latency
#   http-ceiling              the hard load against a no-op cpp-httplib server
#   sqlite-append             the raw SQLite loop that does only what a 2xx waits
#                             for (dedup lookup + append, same columns and index)
#   sqlite-upsert             append + session-row upsert per event: the ceiling of
#                             writing the row with its event (the design replaced)
#   soak                      N hard events (default 10M): first vs last million,
#                             peak RSS, bytes on disk per event
#   reports                   ./scripts/bench_reports.sh at 1M sessions (not with --quick)
#
# bytes/ev: database + WAL after the run, divided by the events it holds.
# rss MB: the sink's peak resident memory during the run.
# Everything runs on this machine's cores, the load generator included.
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
HARD=(--servers 8 --batch 100 --open-sessions 100000)
EASY=("${HARD[@]}" --sessions-per-batch 5)
. scripts/bench_lib.sh
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.0f%%", 100*a/b; else print "-" }'; }
bytes_per_event() {  # db-file
  local bytes events
  bytes=$(du -cb "$1"* | tail -1 | cut -f1)
  events=$(sqlite3 "$1" 'select count(*) from events')
  awk -v b="$bytes" -v n="$events" 'BEGIN{ if (n > 0) printf "%.0f", b/n; else print "-" }'
}
row() { printf '%-14s %9s %8s %8s %8s %8s %7s  %s\n' "$@"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(df -h "$WORK" | awk 'NR==2{print $1}')"
row workload "events/s" "p50 ms" "p99 ms" "max ms" "bytes/ev" "rss MB" notes

ingest() {  # name load-array-name sync
  local name=$1 sync=$3
  local -n load=$2
  start_sink "$WORK/sink-$name.log" --db "$WORK/$name.db" --synchronous "$sync"
  loadgen "$WORK/lg-$name.txt" "${load[@]}" --duration "${SECONDS_PER_RUN}s"
  local rss
  rss=$(rss_mb)
  stop_sink
  row "$name" "$(kv events_per_s "$WORK/lg-$name.txt")" "$(kv p50_ms "$WORK/lg-$name.txt")" \
      "$(kv p99_ms "$WORK/lg-$name.txt")" "$(kv max_ms "$WORK/lg-$name.txt")" \
      "$(bytes_per_event "$WORK/$name.db")" "$rss" \
      "errors=$(kv errors "$WORK/lg-$name.txt") 503s=$(kv retries "$WORK/lg-$name.txt")"
  rm -f "$WORK/$name.db"*
}
ingest hard-normal HARD normal
ingest hard-full HARD full
ingest easy-normal EASY normal
ingest easy-full EASY full
HARD_RATE=$(kv events_per_s "$WORK/lg-hard-normal.txt")
EASY_RATE=$(kv events_per_s "$WORK/lg-easy-normal.txt")

# kafka: fan-out to a mock cluster in another process
"$B/sessionsink" dev-kafka --partitions 6 > "$WORK/kafka.out" 2> "$WORK/kafka.err" &
KAFKA_PID=$!
for _ in $(seq 100); do [ -s "$WORK/kafka.out" ] && break; sleep 0.05; done
BROKERS=$(head -1 "$WORK/kafka.out")
kafka() {  # name load-array-name rate-without [sink options…]
  local name=$1 without=$3
  local -n load=$2
  shift 3
  start_sink "$WORK/sink-$name.log" --db "$WORK/$name.db" --kafka-brokers "$BROKERS" "$@"
  loadgen "$WORK/lg-$name.txt" "${load[@]}" --duration "${SECONDS_PER_RUN}s"
  # How long after the load stopped until every committed event was delivered.
  local t0 backlog=-1 waited=-1 metrics delivered
  t0=$(date +%s%N)
  for _ in $(seq 300); do
    metrics=$(curl -s "http://127.0.0.1:$PORT/metrics")
    backlog=$(echo "$metrics" | grep '^sessionsink_kafka_backlog_events ' | cut -d' ' -f2)
    if [ "$backlog" = 0 ]; then waited=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
    sleep 0.05
  done
  delivered=$(echo "$metrics" | grep '^sessionsink_kafka_events_delivered_total ' | cut -d' ' -f2)
  local rss
  rss=$(rss_mb)
  stop_sink
  local rate
  rate=$(kv events_per_s "$WORK/lg-$name.txt")
  row "$name" "$rate" "$(kv p50_ms "$WORK/lg-$name.txt")" "$(kv p99_ms "$WORK/lg-$name.txt")" \
      "$(kv max_ms "$WORK/lg-$name.txt")" "$(bytes_per_event "$WORK/$name.db")" "$rss" \
      "delivered=$delivered of $(kv events "$WORK/lg-$name.txt"), backlog 0 after ${waited} ms; $(pct "$rate" "$without") of the rate without"
  rm -f "$WORK/$name.db"*
}
kafka kafka-hard HARD "$HARD_RATE"
kafka kafka-easy EASY "$EASY_RATE"
# kafka-ch-*: the same, plus every event's envelope for ClickHouse
# (--kafka-topic-clickhouse): the cost of the third message per event.
kafka kafka-ch-hard HARD "$HARD_RATE" --kafka-topic-clickhouse sessionsink.events.ch --sink-name bench
kafka kafka-ch-easy EASY "$EASY_RATE" --kafka-topic-clickhouse sessionsink.events.ch --sink-name bench
kill "$KAFKA_PID" 2>/dev/null || true

# half-load: latency at half the measured hard rate
HALF=$((HARD_RATE / 2))
start_sink "$WORK/sink-half.log" --db "$WORK/half.db"
loadgen "$WORK/lg-half.txt" "${HARD[@]}" --duration "${SECONDS_PER_RUN}s" --rate "$HALF"
RSS=$(rss_mb)
stop_sink
row half-load "$(kv events_per_s "$WORK/lg-half.txt")" "$(kv p50_ms "$WORK/lg-half.txt")" \
    "$(kv p99_ms "$WORK/lg-half.txt")" "$(kv max_ms "$WORK/lg-half.txt")" - "$RSS" "target $HALF events/s"
rm -f "$WORK/half.db"*

# http-ceiling: the same load against a no-op server
"$B/sessionsink-noop" > "$WORK/noop.out" &
NOOP_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/noop.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(grep -o '[0-9]*$' "$WORK/noop.out")
loadgen "$WORK/lg-noop.txt" "${HARD[@]}" --duration "${SECONDS_PER_RUN}s"
kill "$NOOP_PID"
HTTP=$(kv events_per_s "$WORK/lg-noop.txt")
row http-ceiling "$HTTP" "$(kv p50_ms "$WORK/lg-noop.txt")" "$(kv p99_ms "$WORK/lg-noop.txt")" \
    "$(kv max_ms "$WORK/lg-noop.txt")" - - \
    "hard-normal = $(pct "$HARD_RATE" "$HTTP") of it, easy-normal = $(pct "$EASY_RATE" "$HTTP")"

# storage ceilings: the same events, 800 per transaction (8 servers x 100)
for mode in append upsert; do
  "$B/sessionsink-sqlite-ceiling" --mode "$mode" --db "$WORK/ceiling.db" --servers 8 \
      --open-sessions 100000 --events $((QUICK ? 300000 : 1000000)) --commit-events 800 \
      > "$WORK/ceiling-$mode.txt"
  CEIL=$(kv events_per_s "$WORK/ceiling-$mode.txt")
  row "sqlite-$mode" "$CEIL" - - - - - \
      "hard-normal = $(pct "$HARD_RATE" "$CEIL") of it, easy-normal = $(pct "$EASY_RATE" "$CEIL")"
done
rm -f "$WORK/ceiling.db"*

# soak: first vs last million, peak RSS, bytes per event
start_sink "$WORK/sink-soak.log" --db "$WORK/soak.db"
loadgen "$WORK/lg-soak.txt" "${HARD[@]}" --events "$SOAK"
RSS=$(rss_mb)
stop_sink
marks=$(kv per_million_events_per_s "$WORK/lg-soak.txt")
first=${marks%%,*}; last=${marks##*,}
row soak "$(kv events_per_s "$WORK/lg-soak.txt")" "$(kv p50_ms "$WORK/lg-soak.txt")" \
    "$(kv p99_ms "$WORK/lg-soak.txt")" "$(kv max_ms "$WORK/lg-soak.txt")" \
    "$(bytes_per_event "$WORK/soak.db")" "$RSS" \
    "$SOAK events; first million $first/s, last $last/s ($(pct "$last" "$first"))"

if [ "$QUICK" = 0 ]; then
  echo
  echo "reports over 1M sessions (./scripts/bench_reports.sh 1000000 3):"
  ./scripts/bench_reports.sh 1000000 3
fi
