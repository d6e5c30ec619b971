#!/usr/bin/env bash
# One command for a newcomer: install, build, start the server on its embedded defaults
# (dev mode, SQLite under ./data, UI and WebSocket on http://localhost:4000). Ctrl-C stops it.
# Dev mode listens on 127.0.0.1 and answers localhost names only (its secret is public); to try it
# from another machine add e.g. `--host 0.0.0.0 --allowed-hosts devbox.lan`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/server/rtchat-server --port "${RTCHAT_PORT:-4000}" --data-dir ./data "$@"
