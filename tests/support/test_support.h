#pragma once

#include <filesystem>
#include <string>

namespace rtchat::testing {

// A fresh, empty directory under the system temp dir. The caller removes it.
std::filesystem::path make_temp_dir(const std::string& prefix);

}  // namespace rtchat::testing
