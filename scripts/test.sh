#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest).
#   ./scripts/test.sh              Release build in build/
#   ./scripts/test.sh --sanitize   ASan+UBSan build in build-asan/
#   ./scripts/test.sh --tsan       ThreadSanitizer build in build-tsan/
# Extra arguments after the option go to ctest (e.g. -R golden, -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
case "${1:-}" in
  --sanitize) shift; dir=build-asan
    flags=(-DCMAKE_BUILD_TYPE=Debug "-DSINK_SANITIZE=address,undefined")
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ;;
  --tsan) shift; dir=build-tsan
    flags=(-DCMAKE_BUILD_TYPE=Debug -DSINK_SANITIZE=thread)
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" ;;
esac

cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j"$(nproc)" --timeout 300 "$@"
