#include "core/affinity.h"

#include <pthread.h>
#include <sched.h>

#include <thread>

namespace rtchat::core {

unsigned hardware_cpus() {
  // Read once: glibc answers hardware_concurrency() by opening and parsing
  // /sys/devices/system/cpu/online on every call, and ServerConfig::effective_shards() (every
  // join, leave, publish and mark with the default --shards 0) asks. Measured under the chat
  // load with a mark_read per delivery: 6 000 opens/s, ~10 % of the server's CPU.
  static const unsigned cpus = [] {
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
  }();
  return cpus;
}

bool pin_current_thread(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % hardware_cpus(), &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace rtchat::core
