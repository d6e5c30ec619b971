#!/usr/bin/env bash
# The Debian package end to end, without installing it: cpack -G DEB from the build directory,
# its file list and control data, then the server extracted with dpkg -x run from that tree
# (its own share/ UI, the packaged env file, a temporary data dir) on loopback, and the unit
# checked with systemd-analyze where it exists.
# Usage: tests/package/package_test.sh [BUILD_DIR] [SOURCE_DIR]
set -euo pipefail
SOURCE_DIR=$(realpath "${2:-$(dirname "$0")/../..}")
BUILD_DIR=$(realpath "${1:-$SOURCE_DIR/build}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rtchat-package-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }

# The UI is part of the package: build it if this checkout has not yet.
(cd "$SOURCE_DIR" && node -e "import('./web/ensure_built.mjs').then((m) => m.ensureWebBuilt())")

# -B: the package goes to the scratch dir, so a concurrent run never reads a half-written .deb.
(cd "$BUILD_DIR" && cpack -G DEB -B "$WORK/out" >"$WORK/cpack.log" 2>&1) ||
  { cat "$WORK/cpack.log"; fail "cpack -G DEB"; }
DEBS=("$WORK"/out/rtchat_*_*.deb)
[ -f "${DEBS[0]}" ] || fail "no rtchat_<version>_<arch>.deb in $(ls "$WORK/out")"
DEB=${DEBS[0]}
echo "package: $(basename "$DEB") $(stat -c %s "$DEB") bytes"

dpkg-deb -c "$DEB" >"$WORK/listing"
awk '{print $6}' "$WORK/listing" >"$WORK/files"
for f in ./usr/bin/rtchat-server ./usr/bin/rtchat-loadtest ./usr/bin/rtchat-cli \
  ./usr/share/rtchat/web/index.html ./usr/share/doc/rtchat/README.md \
  ./usr/share/doc/rtchat/protocol.md ./usr/share/man/man1/rtchat-server.1.gz \
  ./usr/lib/systemd/system/rtchat.service ./etc/rtchat/rtchat.env; do
  grep -qx -- "$f" "$WORK/files" || fail "dpkg-deb -c: $f missing"
done
grep -q '^\./usr/share/rtchat/web/assets/.*\.js$' "$WORK/files" || fail "no UI script under share/"
# The secret file is not world-readable, even before postinst hands it to group rtchat.
grep -q '^-rw-r----- .* \./etc/rtchat/rtchat.env$' "$WORK/listing" || fail "rtchat.env mode"

DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
for d in libc6 libstdc++6 libsqlite3 liburing libssl3 adduser; do
  [[ "$DEPENDS" == *"$d"* ]] || fail "Depends lacks $d (dpkg-shlibdeps)"
done
dpkg-deb -I "$DEB" >"$WORK/info"
grep -q 'Depends: .*libc6' "$WORK/info" || fail "dpkg-deb -I shows no Depends"
mkdir "$WORK/control"
dpkg-deb -e "$DEB" "$WORK/control"
grep -qx /etc/rtchat/rtchat.env "$WORK/control/conffiles" || fail "rtchat.env is not a conffile"
grep -q 'adduser --system' "$WORK/control/postinst" || fail "postinst creates no system user"
grep -q '/var/lib/rtchat' "$WORK/control/postinst" || fail "postinst creates no /var/lib/rtchat"
[ -x "$WORK/control/postinst" ] || fail "postinst not executable"
for script in postinst prerm postrm; do
  sh -n "$WORK/control/$script" || fail "$script: syntax error"
done

ROOT="$WORK/root"
dpkg -x "$DEB" "$ROOT"
ENV_FILE="$ROOT/etc/rtchat/rtchat.env"
grep -qx 'RTCHAT_PRODUCTION=true' "$ENV_FILE" || fail "env file: production is not on"
grep -qx 'RTCHAT_JWT_SECRET=' "$ENV_FILE" || fail "env file: no secret line to fill in"
grep -q '^EnvironmentFile=/etc/rtchat/rtchat.env$' "$ROOT/usr/lib/systemd/system/rtchat.service" ||
  fail "unit reads no EnvironmentFile"
SERVER="$ROOT/usr/bin/rtchat-server"
# The variables systemd would pass (EnvironmentFile: KEY=value lines, # comments).
mapfile -t PKG_ENV < <(grep -E '^RTCHAT_[A-Z_]+=' "$ENV_FILE")

# As packaged (no secret yet) the server refuses to start, with the reason.
if out=$(env "${PKG_ENV[@]}" "$SERVER" --host 127.0.0.1 --port 0 --storage memory 2>&1); then
  fail "started without a secret: $out"
fi
[[ "$out" == *"--production needs --jwt-secret"* ]] || fail "no reason given: $out"

# `config`: the effective settings, secret masked, UI found in the extracted share/.
CONFIG=$(env "${PKG_ENV[@]}" RTCHAT_JWT_SECRET=package-test-secret-0123456789 "$SERVER" config)
grep -qx 'RTCHAT_PRODUCTION=true' <<<"$CONFIG" || fail "config: $CONFIG"
grep -qx "RTCHAT_WEB_ROOT=$(realpath "$ROOT")/usr/share/rtchat/web" <<<"$CONFIG" ||
  fail "config: web root not the extracted share/: $CONFIG"
grep -q 'package-test-secret' <<<"$CONFIG" && fail "config prints the secret"

# The extracted server on loopback: /healthz, the UI at /, a phoenix.js round trip.
(cd "$SOURCE_DIR" && env "${PKG_ENV[@]}" RTCHAT_SERVER_BIN="$SERVER" \
  node --test tests/package/extracted_server.mjs) || fail "extracted server"

# Type=notify: READY=1 once it answers, STOPPING=1 on SIGTERM (a stand-in NOTIFY_SOCKET).
if command -v python3 >/dev/null; then
  python3 "$SOURCE_DIR/tests/package/notify_check.py" "$SERVER" || fail "sd_notify"
else
  echo "python3 not installed: sd_notify check skipped (unit test NotifyTest covers the message)"
fi

if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart and the unit's man page on this machine: point them at the tree.
  sed "s|^ExecStart=/usr/bin/|ExecStart=$ROOT/usr/bin/|; /^Documentation=/d" \
    "$ROOT/usr/lib/systemd/system/rtchat.service" >"$WORK/rtchat.service"
  systemd-analyze verify "$WORK/rtchat.service" || fail "systemd-analyze verify"
  echo "systemd-analyze verify: ok"
  systemd-analyze security --offline=true "$WORK/rtchat.service" 2>/dev/null |
    grep 'Overall exposure' || echo "systemd-analyze security --offline unavailable here"
else
  echo "systemd-analyze not installed: unit verification skipped"
fi
echo "package_test: ok"
