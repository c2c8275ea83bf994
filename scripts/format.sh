#!/usr/bin/env bash
# Formats the C++ sources with the repository's .clang-format.
#   ./scripts/format.sh          rewrite files in place
#   ./scripts/format.sh --check  print the diff and fail if anything would change
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [ "${1:-}" = "--check" ]; then
  status=0
  for f in "${files[@]}"; do
    if ! diff -u "$f" <(clang-format --style=file "$f") >/dev/null; then
      diff -u "$f" <(clang-format --style=file "$f") | head -40 || true
      status=1
    fi
  done
  [ $status -eq 0 ] || echo "format check failed: run ./scripts/format.sh" >&2
  exit $status
fi
clang-format -i --style=file "${files[@]}"
