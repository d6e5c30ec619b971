// Headers every answer carries (issue 12: framing, referrer) and the UI's CSP on HTML only; and
// the room id rule shared by joins and the history API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/net/http_response.h"
#include "server/net/static_files.h"
#include "support/test_support.h"

namespace rtchat::server {
bool is_valid_room_id(std::string_view id);  // server/shard/room_ids.h

namespace {
namespace fs = std::filesystem;

TEST(SecurityHeaders, EveryResponseRefusesFramingAndReferrers) {
  for (const std::string& r :
       {http_response(200, "text/plain", "ok\n"), http_response(404, "application/json", "{}"),
        http_response(421, "text/plain", "host not allowed\n")}) {
    EXPECT_NE(r.find("\r\nX-Frame-Options: DENY\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\nReferrer-Policy: no-referrer\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos) << r;
  }
  EXPECT_TRUE(http_response(421, "text/plain", "").starts_with("HTTP/1.1 421 Misdirected Request"));
}

TEST(SecurityHeaders, HtmlCarriesTheCspHeaderWithFrameAncestors) {
  fs::path root = rtchat::testing::make_temp_dir("security_headers_test");
  std::ofstream(root / "index.html") << "<!doctype html><title>t</title>";
  std::ofstream(root / "app.js") << "1";
  StaticFiles files = StaticFiles::load(root);
  const StaticFile* html = files.find("/");
  const StaticFile* js = files.find("/app.js");
  ASSERT_TRUE(html && js);
  for (const std::string& r :
       {static_file_response(*html, ""), static_file_response(*html, html->etag)}) {
    auto at = r.find("\r\nContent-Security-Policy: ");
    ASSERT_NE(at, std::string::npos) << r;
    std::string csp = r.substr(at, r.find("\r\n", at + 2) - at);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("require-trusted-types-for 'script'"), std::string::npos);
  }
  EXPECT_EQ(static_file_response(*js, "").find("Content-Security-Policy"), std::string::npos);
  fs::remove_all(root);
}

TEST(RoomIds, DotsAloneAreNotARoom) {
  for (const char* bad : {".", "..", "...", "", "a b", "a/b"}) EXPECT_FALSE(is_valid_room_id(bad));
  for (const char* ok : {"a", ".a", "a..b", "..x", "lobby.2", "-", "_"}) {
    EXPECT_TRUE(is_valid_room_id(ok)) << ok;
  }
}

}  // namespace
}  // namespace rtchat::server
