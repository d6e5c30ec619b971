// Where the built web UI is served from when --web-root is not given.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rtchat::server {

// The places looked at, in order, for a server binary at exe:
//   1. <exe dir>/../share/rtchat/web   the installed layout (/usr/bin -> /usr/share/rtchat/web),
//                                      so a package or `cmake --install` needs no flag;
//   2. <each ancestor of exe>/web/dist the build tree (build/server/rtchat-server -> ./web/dist);
//   3. web/dist                        relative to the working directory.
std::vector<std::filesystem::path> web_root_candidates(const std::filesystem::path& exe);

// configured when not empty (an explicit --web-root always wins, even if it is missing: the
// operator asked for it and the log says what was served), else the first candidate holding an
// index.html, else web/dist.
std::filesystem::path find_web_root(const std::string& configured,
                                    const std::filesystem::path& exe);

// /proc/self/exe, or empty when it cannot be read.
std::filesystem::path current_executable();

}  // namespace rtchat::server
