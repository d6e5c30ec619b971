#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (as root): Debian packages
# only, then the npm packages pinned by package-lock.json. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  liburing-dev libwslay-dev libflatbuffers-dev flatbuffers-compiler libsimdjson-dev
  libssl-dev libsqlite3-dev libhiredis-dev libcli11-dev libreaderwriterqueue-dev libhttp-parser-dev
  libgtest-dev libgmock-dev libbenchmark-dev libboost-dev
  clang libclang-rt-14-dev
  libsystemd-dev pandoc dpkg-dev python3
  redis-server redis-tools gnuplot-nox
  nodejs npm chromium
)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nodejs may already come from another source (e.g. NodeSource, which bundles npm): keep it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  PACKAGES=("${PACKAGES[@]/nodejs/}")
  PACKAGES=("${PACKAGES[@]/npm/}")
fi
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
# Browsers are never downloaded by npm packages: tests drive Debian's /usr/bin/chromium.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
