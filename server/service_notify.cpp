#include "server/service_notify.h"

#if RTCHAT_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace rtchat::server {

#if RTCHAT_HAVE_LIBSYSTEMD
// unset_environment = 0: a child process (none today) would need NOTIFY_SOCKET to notify too, and
// a failed send is not worth failing the server for: systemd then times the start out itself.
void notify_ready() { (void)sd_notify(0, "READY=1"); }
void notify_stopping() { (void)sd_notify(0, "STOPPING=1"); }
#else
void notify_ready() {}
void notify_stopping() {}
#endif

}  // namespace rtchat::server
