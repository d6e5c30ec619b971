#pragma once

namespace rtchat::core {

// Pins the calling thread to one CPU (modulo the CPUs available). Returns false when the
// kernel refuses (e.g. a restricted cpuset); the shard then runs unpinned.
bool pin_current_thread(unsigned cpu);
unsigned hardware_cpus();

}  // namespace rtchat::core
