#include "core/affinity.h"

#include <pthread.h>
#include <sched.h>

#include <thread>

namespace rtchat::core {

unsigned hardware_cpus() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

bool pin_current_thread(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % hardware_cpus(), &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace rtchat::core
