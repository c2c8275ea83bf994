#!/usr/bin/env bash
# Fuzzes the request body parsers and the session merge with libFuzzer
# (tests/fuzz/body_fuzz.cc, ASan + UBSan) in a clang build in build-fuzz/.
#   ./scripts/fuzz.sh                 short run: 300000 executions or 60 s, whichever ends first
#   ./scripts/fuzz.sh --runs N        N executions, no time limit
#   ./scripts/fuzz.sh --time S        S seconds, no execution limit
# The fuzzer works on build-fuzz/fuzz-corpus/: a copy of the seeds in
# tests/fuzz/corpus/ (left untouched) plus the inputs earlier runs found.
# Prints the executions done; exits non-zero on a finding and prints the
# path of the input that triggered it (build-fuzz/fuzz-findings/). Replay
# one with: build-fuzz/tests/fuzz/body_fuzz FILE
set -euo pipefail
cd "$(dirname "$0")/.."

runs=300000
max_time=60
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?--runs needs a number}"; max_time=0; shift 2 ;;
    --time) max_time="${2:?--time needs seconds}"; runs=-1; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

./scripts/deps.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSINK_FUZZ=ON \
  >/dev/null
cmake --build build-fuzz --target body_fuzz -j"$(nproc)"

corpus=build-fuzz/fuzz-corpus
findings=build-fuzz/fuzz-findings
mkdir -p "$corpus" "$findings"
cp -p tests/fuzz/corpus/* "$corpus"/
log="build-fuzz/fuzz-$(date +%Y%m%d-%H%M%S).log"

echo "fuzzing: runs=${runs} max_total_time=${max_time}s corpus=${corpus} log=${log}"
start=$(date +%s)
set +e
ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build-fuzz/tests/fuzz/body_fuzz -runs="$runs" -max_total_time="$max_time" -timeout=30 \
  -dict=tests/fuzz/body_fuzz.dict -artifact_prefix="$findings/" -print_final_stats=1 \
  "$corpus" >"$log" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - start))

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
echo "executions: ${execs:-unknown} in ${elapsed}s (${speed:-?}/s); ${cov:-no coverage line} inputs" \
  "($(ls "$corpus" | wc -l) files in ${corpus})"
if [ "$rc" -ne 0 ]; then
  grep -E 'ERROR|invariant violated|SUMMARY' "$log" | head -20 >&2 || true
  grep -E 'Test unit written to' "$log" >&2 || true
  echo "FINDING (exit ${rc}); full output: ${log}" >&2
  exit "$rc"
fi
echo "no findings; full output: ${log}"
