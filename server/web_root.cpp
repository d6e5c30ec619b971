#include "server/web_root.h"

#include <system_error>

namespace rtchat::server {

std::vector<std::filesystem::path> web_root_candidates(const std::filesystem::path& exe) {
  std::vector<std::filesystem::path> out;
  if (!exe.empty() && exe.has_parent_path()) {
    const auto bin = exe.parent_path();
    out.push_back((bin / ".." / "share" / "rtchat" / "web").lexically_normal());
    for (auto dir = bin; dir.has_relative_path(); dir = dir.parent_path()) {
      out.push_back(dir / "web" / "dist");
    }
  }
  out.emplace_back("web/dist");
  return out;
}

std::filesystem::path find_web_root(const std::string& configured,
                                    const std::filesystem::path& exe) {
  if (!configured.empty()) return configured;
  for (const auto& dir : web_root_candidates(exe)) {
    std::error_code ec;
    if (std::filesystem::exists(dir / "index.html", ec)) return dir;
  }
  return "web/dist";
}

std::filesystem::path current_executable() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path{} : exe;
}

}  // namespace rtchat::server
