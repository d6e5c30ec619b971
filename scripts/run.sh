#!/usr/bin/env bash
# One command for a newcomer: install, build, start the server on its embedded defaults
# (dev mode, SQLite under ./data, UI and WebSocket on http://localhost:4000). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/server/rtchat-server --host 0.0.0.0 --port "${RTCHAT_PORT:-4000}" --data-dir ./data "$@"
