#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and starts the sink on
# 127.0.0.1:8080 with ./data/sessions.db. Extra arguments go to `sessionsink serve`
# (e.g. ./scripts/run.sh --token "$SECRET" --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sessionsink
mkdir -p data
exec ./build/sessionsink serve --db ./data/sessions.db --listen 127.0.0.1:8080 "$@"
