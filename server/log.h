// Structured logs: one line per event, `ts level event key=value ...`. Never log tokens.
#pragma once

#include <cstdio>
#include <string_view>

namespace rtchat::server {

enum class LogLevel : int { Error = 0, Warn = 1, Info = 2, Debug = 3 };

LogLevel log_level();
void set_log_level(std::string_view name);
// printf-style fields after the event name; formatting happens only when the level is enabled.
void log_line(LogLevel level, const char* event, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define RTCHAT_LOG(level, event, ...)                                               \
  do {                                                                              \
    if (static_cast<int>(level) <= static_cast<int>(::rtchat::server::log_level())) \
      ::rtchat::server::log_line(level, event, __VA_ARGS__);                        \
  } while (0)
#define LOG_ERROR(event, ...) RTCHAT_LOG(::rtchat::server::LogLevel::Error, event, __VA_ARGS__)
#define LOG_WARN(event, ...) RTCHAT_LOG(::rtchat::server::LogLevel::Warn, event, __VA_ARGS__)
#define LOG_INFO(event, ...) RTCHAT_LOG(::rtchat::server::LogLevel::Info, event, __VA_ARGS__)
#define LOG_DEBUG(event, ...) RTCHAT_LOG(::rtchat::server::LogLevel::Debug, event, __VA_ARGS__)

}  // namespace rtchat::server
