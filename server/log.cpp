#include "server/log.h"

#include <atomic>
#include <cstdarg>
#include <ctime>

namespace rtchat::server {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::Error:
      return "error";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Info:
      return "info";
    case LogLevel::Debug:
      return "debug";
  }
  return "?";
}
}  // namespace

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void set_log_level(std::string_view name) {
  LogLevel l = LogLevel::Info;
  if (name == "error")
    l = LogLevel::Error;
  else if (name == "warn")
    l = LogLevel::Warn;
  else if (name == "debug")
    l = LogLevel::Debug;
  g_level.store(static_cast<int>(l), std::memory_order_relaxed);
}

void log_line(LogLevel level, const char* event, const char* fmt, ...) {
  char line[1024];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, ts.tv_nsec / 1000000, level_name(level), event);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && static_cast<size_t>(n) < sizeof line) {
    std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  }
  va_end(ap);
  std::fprintf(stderr, "%s\n", line);  // one write per line; stderr is unbuffered
}

}  // namespace rtchat::server
