// Shared helpers for the GoogleTest suites (compiled into each test binary).
#include "support/test_support.h"

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace rtchat::testing {

std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::random_device rd;
  for (;;) {
    auto p = std::filesystem::temp_directory_path() / (prefix + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) return p;
  }
}

}  // namespace rtchat::testing
