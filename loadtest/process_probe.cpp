#include "loadtest/process_probe.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace rtchat::loadtest {

int64_t read_rss_kib(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char line[256];
  int64_t rss = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    long long v = 0;
    if (std::sscanf(line, "VmRSS: %lld kB", &v) == 1) {
      rss = v;
      break;
    }
  }
  std::fclose(f);
  return rss;
}

int64_t read_cpu_ns(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may contain spaces: parse after its closing parenthesis.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return -1;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // Fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2) {
    return -1;
  }
  const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<int64_t>((utime + stime) *
                              (1'000'000'000ULL / static_cast<unsigned long long>(hz)));
}

}  // namespace rtchat::loadtest
