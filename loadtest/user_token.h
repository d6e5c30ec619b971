// The token of load connection `index`: its own user ("lt<index>", named "load<index>"), so
// presence and per-user limits see distinct users. Minted with the server's JWT library
// (server/auth, linked on its own: the load tool never links the server).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::loadtest {

// Valid from now for run_s seconds plus an hour of margin (warm-up, slow setups).
std::string mint_user_token(std::string_view secret, size_t index, int64_t run_s);

}  // namespace rtchat::loadtest
