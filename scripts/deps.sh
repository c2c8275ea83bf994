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
  zlib1g-dev                          # gzip and deflate request bodies (ingest/body_decoder)
  libzstd-dev                         # compressed log segments (store/zstd_codec)
  libssl-dev openssl                  # HTTPS (--tls-cert); the tests make a certificate with openssl
  libgtest-dev                        # tests
  clang-format                        # scripts/format.sh
  clang libclang-rt-14-dev            # scripts/fuzz.sh: clang 14 and its libFuzzer runtime
  curl                                # README examples
  chromium                            # tests/browser: the Streampixel relay in a real browser
  nginx libnginx-mod-rtmp ffmpeg      # tests/nginx: real nginx-rtmp callbacks, ffmpeg publishing and playing
  clickhouse-server clickhouse-client # tests/clickhouse: the fleet-wide reports (scripts/clickhouse-dev.sh)
  dpkg-dev systemd adduser            # the .deb (cpack: dpkg-shlibdeps), systemd-analyze verify, its postinst
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm: the dashboard's chart library (dashboard/package.json) and
# its browser test. Any install will do (Debian's nodejs + npm, or a nodejs
# package that bundles npm), so ask for the commands, not the packages.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

# The dashboard's npm packages, pinned by dashboard/package-lock.json, once
# per change of the lock file (no install scripts run).
npm_ci() {
  local lock=dashboard/package-lock.json stamp=dashboard/node_modules/.installed-package-lock.json
  if ! cmp -s "$lock" "$stamp" || [ ! -f dashboard/node_modules/uplot/dist/uPlot.iife.min.js ]; then
    echo "installing the dashboard's npm packages (npm ci in dashboard/)" >&2
    (cd dashboard && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$lock" "$stamp"
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  npm_ci
  exit 0
fi

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
npm_ci
