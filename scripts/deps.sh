#!/usr/bin/env bash
# Installs the Debian packages sessionsink needs to build, test and run.
# Skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  cmake g++ make pkg-config           # build
  libcpp-httplib-dev                  # HTTP server
  libsimdjson-dev                     # JSON parsing
  libsqlite3-dev sqlite3              # storage (+ the sqlite3 shell for users)
  librdkafka-dev                      # Kafka fan-out (and its mock cluster for tests)
  kcat                                # reading the topics in the README examples
  libcli11-dev                        # command line
  libspdlog-dev libfmt-dev            # logging
  zlib1g-dev                          # gzip (tests compress bodies)
  libgtest-dev                        # tests
  clang-format                        # scripts/format.sh
  clang libclang-rt-14-dev            # scripts/fuzz.sh: clang 14 and its libFuzzer runtime
  curl                                # README examples
  chromium                            # tests/browser: the Streampixel relay in a real browser
  nginx libnginx-mod-rtmp ffmpeg      # tests/nginx: real nginx-rtmp callbacks, ffmpeg publishing and playing
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO="sudo"
  else
    echo "error: missing packages and not root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
