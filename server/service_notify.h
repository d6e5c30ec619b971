// systemd readiness (Type=notify): tells the service manager when the server can take traffic.
#pragma once

namespace rtchat::server {

// READY=1: sent once the listeners are bound and the store is open, so `systemctl start` returns
// only when the server answers and units ordered After=rtchat.service start against a live one.
// Both are no-ops when NOTIFY_SOCKET is unset (not under systemd) or libsystemd was not built in.
void notify_ready();
// STOPPING=1: the drain has begun (systemctl status shows "deactivating" instead of "running").
void notify_stopping();

}  // namespace rtchat::server
