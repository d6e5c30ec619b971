// Reads resource use of processes from /proc: the generator's own CPU (so an overloaded tool is
// visible next to its numbers) and the server's resident memory (idle and soak scenarios).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace rtchat::loadtest {

// VmRSS of pid in KiB, or -1 when the process is gone or unreadable.
int64_t read_rss_kib(pid_t pid);

// utime + stime of pid in nanoseconds, or -1 when unreadable.
int64_t read_cpu_ns(pid_t pid);

}  // namespace rtchat::loadtest
