#!/usr/bin/env bash
# The ClickHouse path's cost in ingest rate: the hard and easy loads of
# bench.sh against a sink with Kafka fan-out (mock cluster in another
# process), in three variants run in turn, round after round, so that a
# busy machine biases each alike:
#   kafka       fan-out as it is without ClickHouse (events + sessions topics)
#   envelope    plus --kafka-topic-clickhouse: a third message per event
#   consumers   plus ClickHouse (scripts/clickhouse-dev.sh, on this machine)
#               consuming the sessions and envelope topics as it runs
# Between runs ClickHouse's materialized views are detached, which stops its
# Kafka tables from consuming.
#   ./scripts/bench_clickhouse.sh [rounds] [seconds]    (default 3 rounds of 8 s)
# Prints the median events/s of each variant and load, and each as a share
# of the kafka variant.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-8}
B=./build
for bin in sessionsink sessionsink-loadgen; do
  [ -x "$B/$bin" ] || { echo "build first: cmake -S . -B build && cmake --build build -j" >&2; exit 1; }
done
command -v clickhouse-server >/dev/null || { echo "needs clickhouse-server (scripts/deps.sh)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/sessionsink-bench-ch.XXXXXX)
CH_PID=
trap '[ -n "$CH_PID" ] && kill -9 "$CH_PID" 2>/dev/null; pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
HARD=(--servers 8 --batch 100 --open-sessions 100000)
EASY=("${HARD[@]}" --sessions-per-batch 5)
. scripts/bench_lib.sh

"$B/sessionsink" dev-kafka --partitions 6 \
  --topic sessionsink.events --topic sessionsink.sessions --topic sessionsink.events.ch \
  > "$WORK/kafka.out" 2> "$WORK/kafka.err" &
for _ in $(seq 100); do [ -s "$WORK/kafka.out" ] && break; sleep 0.05; done
BROKERS=$(head -1 "$WORK/kafka.out")

CH_HTTP=$(shuf -i 20000-40000 -n 1)
scripts/clickhouse-dev.sh "$WORK/ch" "$CH_HTTP" $((CH_HTTP + 20000)) > "$WORK/ch.log" 2>&1 &
CH_PID=$!
CH=http://127.0.0.1:$CH_HTTP
"$B/sessionsink" clickhouse init --url "$CH" --kafka-brokers "$BROKERS" > "$WORK/init.txt"
ch() { curl -sf "$CH/" --data-binary "$1" > /dev/null; }
consumers() {  # on | off
  local verb=DETACH
  [ "$1" = on ] && verb=ATTACH
  ch "$verb TABLE sessionsink.sessions_mv" || true
  ch "$verb TABLE sessionsink.events_mv" || true
}
consumers off

run() {  # variant load-name → events/s
  local variant=$1 name=$2
  local -n load=$2
  local extra=()
  [ "$variant" != kafka ] && extra=(--kafka-topic-clickhouse sessionsink.events.ch --sink-name bench)
  [ "$variant" = consumers ] && consumers on
  start_sink "$WORK/sink.log" --db "$WORK/run.db" --kafka-brokers "$BROKERS" "${extra[@]}"
  loadgen "$WORK/lg.txt" "${load[@]}" --duration "${SECONDS_PER_RUN}s"
  stop_sink
  [ "$variant" = consumers ] && consumers off
  rm -f "$WORK/run.db"*
  kv events_per_s "$WORK/lg.txt"
}

for r in $(seq "$ROUNDS"); do
  for load in HARD EASY; do
    for variant in kafka envelope consumers; do
      rate=$(run "$variant" "$load")
      echo "$variant $load $rate" >> "$WORK/rates"
      echo "round $r: $variant ${load,,} $rate events/s" >&2
    done
  done
done
rows=$(curl -sf "$CH/" --data-binary "SELECT count() FROM sessionsink.events")
printf '%-10s %12s %8s %12s %8s\n' variant "hard ev/s" share "easy ev/s" share
for variant in kafka envelope consumers; do
  h=$(awk -v v=$variant '$1==v && $2=="HARD" {print $3}' "$WORK/rates" | median)
  e=$(awk -v v=$variant '$1==v && $2=="EASY" {print $3}' "$WORK/rates" | median)
  [ $variant = kafka ] && { H0=$h; E0=$e; }
  printf '%-10s %12s %7s%% %12s %7s%%\n' $variant "$h" "$(awk -v a="$h" -v b="$H0" 'BEGIN{printf "%.0f", 100*a/b}')" \
    "$e" "$(awk -v a="$e" -v b="$E0" 'BEGIN{printf "%.0f", 100*a/b}')"
done
echo "(median of $ROUNDS rounds of ${SECONDS_PER_RUN} s; ClickHouse stored $rows event envelopes)"
