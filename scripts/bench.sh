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
#   capacity-V                an audience of V concurrent viewers in real time (each
#                             updates every 30 s, watch times exponential with a
#                             mean of 20 min, 2 % stalls; loadgen --viewers) after a
#                             warm-up that announces them all; it holds when p99
#                             <= 50 ms, no 503, the flush lag stays <= 2 s and the
#                             generator is never over 1 s behind. The last line
#                             names the most viewers that held.
#   reports                   ./scripts/bench_reports.sh at 1M sessions (not with --quick)
#
# bytes/ev: every file the sink keeps (database, WAL, log segments) after the
# run, divided by the events acknowledged.
# rss MB: the sink's peak resident memory during the run.
# Everything runs on this machine's cores, the load generator included.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=15
SOAK=10000000
QUICK=0
VIEWERS="500000 1000000 1500000 2000000"
CAPACITY_SECONDS=60
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; SECONDS_PER_RUN=5; SOAK=1000000; VIEWERS="100000 250000"; CAPACITY_SECONDS=35 ;;
    --soak-events) SOAK=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --viewers) VIEWERS=$2; shift ;;
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
bytes_per_event() {  # db-file events: every file of the store / the events acknowledged
  local bytes events=$2
  bytes=$(du -cb "$1"* | tail -1 | cut -f1)
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
      "$(bytes_per_event "$WORK/$name.db" "$(kv events "$WORK/lg-$name.txt")")" "$rss" \
      "errors=$(kv errors "$WORK/lg-$name.txt") 503s=$(kv retries "$WORK/lg-$name.txt")"
  rm -rf "$WORK/$name.db"*
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
      "$(kv max_ms "$WORK/lg-$name.txt")" "$(bytes_per_event "$WORK/$name.db" "$(kv events "$WORK/lg-$name.txt")")" "$rss" \
      "delivered=$delivered of $(kv events "$WORK/lg-$name.txt"), backlog 0 after ${waited} ms; $(pct "$rate" "$without") of the rate without"
  rm -rf "$WORK/$name.db"*
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
rm -rf "$WORK/half.db"*

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
rm -rf "$WORK/ceiling.db"*

# soak: first vs last million, peak RSS, bytes per event
start_sink "$WORK/sink-soak.log" --db "$WORK/soak.db"
loadgen "$WORK/lg-soak.txt" "${HARD[@]}" --events "$SOAK"
RSS=$(rss_mb)
stop_sink
marks=$(kv per_million_events_per_s "$WORK/lg-soak.txt")
first=${marks%%,*}; last=${marks##*,}
row soak "$(kv events_per_s "$WORK/lg-soak.txt")" "$(kv p50_ms "$WORK/lg-soak.txt")" \
    "$(kv p99_ms "$WORK/lg-soak.txt")" "$(kv max_ms "$WORK/lg-soak.txt")" \
    "$(bytes_per_event "$WORK/soak.db" "$(kv events "$WORK/lg-soak.txt")")" "$RSS" \
    "$SOAK events; first million $first/s, last $last/s ($(pct "$last" "$first"))"

# capacity: the most concurrent viewers that hold (see the header)
BEST=0
for v in $VIEWERS; do
  start_sink "$WORK/sink-cap-$v.log" --db "$WORK/cap.db"
  ( while kill -0 "$SINK_PID" 2>/dev/null; do  # epoch-seconds flush-lag, twice a second
      lag=$(curl -s "http://127.0.0.1:$PORT/metrics" |
            awk '/^sessionsink_sessions_flush_lag_seconds /{print $2}')
      echo "$(date +%s.%N) ${lag:-0}" >> "$WORK/lag-$v.txt"
      sleep 0.5; done ) &
  loadgen "$WORK/lg-cap-$v.txt" --servers 8 --batch 100 --viewers "$v" --duration "${CAPACITY_SECONDS}s"
  end=$(date +%s.%N)
  RSS=$(rss_mb)
  stop_sink
  f="$WORK/lg-cap-$v.txt"
  lag=$(awk -v from="$end" -v s="$CAPACITY_SECONDS" '$1 >= from - s && $2 > m {m=$2} END{printf "%.1f", m+0}' "$WORK/lag-$v.txt")
  ok=$(awk -v p="$(kv p99_ms "$f")" -v r="$(kv retries "$f")" -v e="$(kv errors "$f")" \
           -v l="$lag" -v b="$(kv behind_ms "$f")" \
           'BEGIN{ print (p <= 50 && r == 0 && e == 0 && l <= 2 && b <= 1000) ? "holds" : "fails" }')
  row "capacity-$v" "$(kv events_per_s "$f")" "$(kv p50_ms "$f")" "$(kv p99_ms "$f")" \
      "$(kv max_ms "$f")" "$(bytes_per_event "$WORK/cap.db" $(( $(kv events "$f") + $(kv warmup_events "$f") )))" "$RSS" \
      "$ok: offered $(kv offered_events_per_s "$f")/s, flush lag max ${lag} s, behind $(kv behind_ms "$f") ms, 503s=$(kv retries "$f"), warm-up $(kv warmup_events "$f") events in $(kv warmup_seconds "$f") s"
  rm -rf "$WORK/cap.db"*
  [ "$ok" = holds ] && BEST=$v
done
echo "capacity: $BEST concurrent viewers held (of: $VIEWERS)"

if [ "$QUICK" = 0 ]; then
  echo
  echo "reports over 1M sessions (./scripts/bench_reports.sh 1000000 3):"
  ./scripts/bench_reports.sh 1000000 3
fi
