// Errors are values on the data path (STYLE.md section 5): liburing's -errno is wrapped once here.
#pragma once

#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace rtchat::core {

// An errno-style failure: cheap to make, no allocation.
struct SysError {
  int code = 0;  // positive errno
  [[nodiscard]] std::string message() const { return std::strerror(code); }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(SysError error) : v_(error) {}      // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  [[nodiscard]] SysError error() const { return std::get<1>(v_); }

 private:
  std::variant<T, SysError> v_;
};

// Turns a liburing/syscall return (negative errno on failure) into a Result.
inline Result<int> from_syscall(int rc) {
  if (rc < 0) return SysError{-rc};
  return rc;
}

}  // namespace rtchat::core
