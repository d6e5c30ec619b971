// rtchat-server: the chat server, and `rtchat-server token` to mint a development token.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "core/clock.h"
#include "core/heap_policy.h"
#include "proto/display_text.h"
#include "proto/jwt.h"
#include "server/auth/dev_tokens.h"
#include "server/config.h"
#include "server/server.h"
#include "server/web_root.h"

namespace {

int mint_token_command(int argc, char** argv) {
  CLI::App app{"rtchat-server token: mint a JWT for a user (development and tooling)"};
  std::string user, name, secret;
  int64_t ttl = 3600;
  std::vector<std::string> rooms;
  app.add_option("--user", user, "User id (sub)")->required();
  app.add_option("--name", name, "Display name (default: the user id)");
  app.add_option("--ttl", ttl, "Lifetime in seconds")->capture_default_str();
  app.add_option("--rooms", rooms, "Allowed rooms (ids or prefixes ending in *)")->delimiter(',');
  app.add_option("--jwt-secret", secret, "HS256 secret (default: the dev secret)")
      ->envname("RTCHAT_JWT_SECRET");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  using rtchat::server::kMaxMintTtlS;
  const auto exp =
      rtchat::server::expiry_after(rtchat::core::unix_millis() / 1000, ttl, kMaxMintTtlS);
  if (!exp) {
    std::fprintf(stderr, "rtchat-server token: --ttl must be 1..%lld seconds (10 years)\n",
                 static_cast<long long>(kMaxMintTtlS));
    return 2;
  }
  if (user.size() > rtchat::proto::kMaxJwtSubBytes) {
    std::fprintf(stderr, "rtchat-server token: --user is at most %zu bytes\n",
                 rtchat::proto::kMaxJwtSubBytes);
    return 2;
  }
  rtchat::proto::JwtClaims claims;
  claims.sub = user;
  // Cut like the dev endpoint does, on a character boundary, to what the server accepts.
  claims.name =
      rtchat::proto::utf8_prefix(name.empty() ? user : name, rtchat::proto::kMaxJwtNameBytes);
  claims.exp = *exp;
  if (!rooms.empty()) claims.rooms = rooms;
  std::string token =
      rtchat::proto::mint_jwt(secret.empty() ? rtchat::server::kDevJwtSecret : secret, claims);
  std::printf("%s\n", token.c_str());
  return token.empty() ? 1 : 0;
}

// `rtchat-server config [flags]`: the effective configuration (flags over RTCHAT_* env over
// defaults, as the server would run with it), secrets masked. The env file and the unit's flags
// are checked with `sudo -u rtchat env $(cat /etc/rtchat/rtchat.env) rtchat-server config`.
int print_config_command(int argc, char** argv) {
  rtchat::server::ServerConfig config;
  int exit_code = 0;
  if (!rtchat::server::parse_config(argc, argv, config, exit_code)) return exit_code;
  config.web_root =
      rtchat::server::find_web_root(config.web_root, rtchat::server::current_executable()).string();
  std::fputs(rtchat::server::format_config(config).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "token") == 0) return mint_token_command(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "config") == 0) {
    return print_config_command(argc - 1, argv + 1);
  }
  rtchat::core::tune_heap();
  rtchat::server::ServerConfig config;
  int exit_code = 0;
  if (!rtchat::server::parse_config(argc, argv, config, exit_code)) return exit_code;
  try {
    return rtchat::server::run_server(std::move(config));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rtchat-server: %s\n", e.what());
    return 1;
  }
}
