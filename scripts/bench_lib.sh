# Helpers shared by the bench scripts; sourced after B (the build directory)
# and WORK (a scratch directory the script removes on exit) are set.

kv() { grep "^$1=" "$2" | head -1 | cut -d= -f2; }  # key file → value of key=value
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

start_sink() {  # log-file serve-args... ; sets PORT, SINK_PID, and a peak-RSS watcher
  local log=$1; shift
  : > "$log"  # emptied here, not by the background job: a reused log's old port is never read
  "$B/sessionsink" serve --listen 127.0.0.1:0 "$@" 2> "$log" &
  SINK_PID=$!
  for _ in $(seq 200); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$PORT" ] && break
    sleep 0.05
  done
  [ -n "$PORT" ] || { echo "sink did not start: $(cat "$log")" >&2; exit 1; }
  echo 0 > "$WORK/hwm"
  ( while kill -0 "$SINK_PID" 2>/dev/null; do
      awk '/VmHWM/{print $2}' "/proc/$SINK_PID/status" > "$WORK/hwm.tmp" 2>/dev/null &&
        mv "$WORK/hwm.tmp" "$WORK/hwm"
      sleep 0.5; done ) &
}
stop_sink() { kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true; }
rss_mb() { echo $(( $(cat "$WORK/hwm") / 1024 )); }  # the sink's peak RSS so far

loadgen() {  # out-file loadgen-args... ; posts to the sink on PORT
  local out=$1; shift
  "$B/sessionsink-loadgen" --url "http://127.0.0.1:$PORT/events" "$@" > "$out" || true
}
