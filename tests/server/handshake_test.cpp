#include "server/net/handshake.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/base64.h"
#include "server/net/http_response.h"

namespace rtchat::server {
namespace {

constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

// A valid Phoenix JSON upgrade request; tests edit it.
HttpRequest upgrade_request() {
  HttpRequest req;
  req.method = "GET";
  req.target = "/socket/websocket?vsn=2.0.0";
  req.path = "/socket/websocket";
  req.query = {{"vsn", "2.0.0"}};
  req.headers = {{"host", "127.0.0.1:4000"},
                 {"upgrade", "websocket"},
                 {"connection", "Upgrade"},
                 {"sec-websocket-key", kSampleKey},
                 {"sec-websocket-version", "13"}};
  req.upgrade = true;
  return req;
}

// The request holds views: names and values here are string literals, which outlive it.
void set_header(HttpRequest& req, std::string_view name, std::string_view value) {
  for (auto& [n, v] : req.headers) {
    if (n == name) {
      v = value;
      return;
    }
  }
  req.headers.emplace_back(name, value);
}

void remove_header(HttpRequest& req, std::string_view name) {
  std::erase_if(req.headers, [&](const auto& h) { return h.first == name; });
}

// RFC 6455 section 1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
TEST(WebSocketAcceptKey, MatchesRfc6455Sample) {
  EXPECT_EQ(websocket_accept_key(kSampleKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

// The authToken subprotocol carries standard-alphabet, unpadded base64 (phoenix.js uses btoa).
TEST(Base64DecodeAny, DecodesTheAuthTokenSubprotocolForms) {
  auto dec = [](std::string_view in) -> std::optional<std::string> {
    std::string out;
    if (!proto::base64_decode_any(in, out)) return std::nullopt;
    return out;
  };
  EXPECT_EQ(dec("ZGV2LXRva2Vu"), "dev-token");
  EXPECT_EQ(dec("dG9rPz4+"), "tok?>>");
  EXPECT_EQ(dec("dG9rPz4-"), "tok?>>");
  EXPECT_EQ(dec("YQ=="), "a");
  EXPECT_EQ(dec("YQ"), "a");
  EXPECT_FALSE(dec("Y").has_value());
  EXPECT_FALSE(dec("YQ=a").has_value());
  EXPECT_FALSE(dec("Y Q").has_value());
  EXPECT_FALSE(dec("YQ===").has_value());
}

TEST(CheckUpgrade, AcceptsValidPhoenixJsonUpgrade) {
  UpgradeDecision d = check_upgrade(upgrade_request());
  ASSERT_TRUE(d.ok) << d.reason;
  EXPECT_EQ(d.status, 101);
  EXPECT_EQ(d.format, UpgradeDecision::Format::Json);
  EXPECT_EQ(d.selected_subprotocol, "");
  EXPECT_EQ(d.token, "");
  EXPECT_EQ(d.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

  std::string response = build_upgrade_response(d);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  EXPECT_NE(response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  EXPECT_NE(response.find("Upgrade: websocket\r\n"), std::string::npos);
  EXPECT_EQ(response.find("Sec-WebSocket-Protocol"), std::string::npos);
  EXPECT_TRUE(response.ends_with("\r\n\r\n"));
}

TEST(CheckUpgrade, AcceptsCaseInsensitiveTokenLists) {
  HttpRequest req = upgrade_request();
  set_header(req, "upgrade", "WebSocket");
  set_header(req, "connection", "keep-alive, UPGRADE");
  EXPECT_TRUE(check_upgrade(req).ok);
}

struct RefusalCase {
  const char* name;
  void (*edit)(HttpRequest&);
  int status;
  const char* reason;
};

TEST(CheckUpgrade, RefusesInvalidUpgrades) {
  const RefusalCase cases[] = {
      {"POST", [](HttpRequest& r) { r.method = "POST"; }, 405, "method not allowed"},
      {"no upgrade header", [](HttpRequest& r) { remove_header(r, "upgrade"); }, 400,
       "missing Upgrade: websocket"},
      {"upgrade to h2c", [](HttpRequest& r) { set_header(r, "upgrade", "h2c"); }, 400,
       "missing Upgrade: websocket"},
      {"connection keep-alive only",
       [](HttpRequest& r) { set_header(r, "connection", "keep-alive"); }, 400,
       "missing Connection: upgrade"},
      {"missing key", [](HttpRequest& r) { remove_header(r, "sec-websocket-key"); }, 400,
       "missing Sec-WebSocket-Key"},
      {"key not base64",
       [](HttpRequest& r) { set_header(r, "sec-websocket-key", "!!!!!!!!!!!!!!!!!!!!!!=="); }, 400,
       "invalid Sec-WebSocket-Key"},
      {"key of 15 bytes",
       [](HttpRequest& r) { set_header(r, "sec-websocket-key", "AAAAAAAAAAAAAAAAAAAA"); }, 400,
       "invalid Sec-WebSocket-Key"},
      {"key of 17 bytes",
       [](HttpRequest& r) { set_header(r, "sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAAA="); }, 400,
       "invalid Sec-WebSocket-Key"},
      {"version 8", [](HttpRequest& r) { set_header(r, "sec-websocket-version", "8"); }, 426,
       "unsupported Sec-WebSocket-Version"},
      {"no version", [](HttpRequest& r) { remove_header(r, "sec-websocket-version"); }, 426,
       "unsupported Sec-WebSocket-Version"},
      {"missing vsn", [](HttpRequest& r) { r.query.clear(); }, 400, "unsupported vsn"},
      {"vsn 1.0.0",
       [](HttpRequest& r) {
         r.query = {{"vsn", "1.0.0"}};
       },
       400, "unsupported vsn"},
      {"vsn 20",
       [](HttpRequest& r) {
         r.query = {{"vsn", "20"}};
       },
       400, "unsupported vsn"},
      {"bad token subprotocol",
       [](HttpRequest& r) {
         set_header(r, "sec-websocket-protocol", "phoenix, base64url.bearer.phx.!!");
       },
       400, "invalid auth token subprotocol"},
  };
  for (const auto& c : cases) {
    HttpRequest req = upgrade_request();
    c.edit(req);
    UpgradeDecision d = check_upgrade(req);
    EXPECT_FALSE(d.ok) << c.name;
    EXPECT_EQ(d.status, c.status) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
  }
}

TEST(CheckUpgrade, RefusalResponseCarriesStatusAndVersionHint) {
  HttpRequest req = upgrade_request();
  set_header(req, "sec-websocket-version", "8");
  std::string response = build_upgrade_refusal(check_upgrade(req));
  EXPECT_TRUE(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
  EXPECT_NE(response.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(response.ends_with("unsupported Sec-WebSocket-Version\n"));
}

TEST(CheckUpgrade, SelectsPhoenixAndDecodesAuthTokenSubprotocol) {
  struct {
    const char* offered;
    const char* token;
  } cases[] = {
      {"phoenix, base64url.bearer.phx.ZGV2LXRva2Vu", "dev-token"},
      {"phoenix, base64url.bearer.phx.dG9rPz4+", "tok?>>"},
      {"base64url.bearer.phx.dG9rPz4+,phoenix", "tok?>>"},
  };
  for (const auto& c : cases) {
    HttpRequest req = upgrade_request();
    set_header(req, "sec-websocket-protocol", c.offered);
    UpgradeDecision d = check_upgrade(req);
    ASSERT_TRUE(d.ok) << c.offered << ": " << d.reason;
    EXPECT_EQ(d.selected_subprotocol, "phoenix") << c.offered;
    EXPECT_EQ(d.token, c.token) << c.offered;
    std::string response = build_upgrade_response(d);
    EXPECT_NE(response.find("Sec-WebSocket-Protocol: phoenix\r\n"), std::string::npos);
    EXPECT_EQ(response.find("bearer"), std::string::npos) << "never echo the token protocol";
  }
}

TEST(CheckUpgrade, ReadsSubprotocolsFromRepeatedHeaderLines) {
  HttpRequest req = upgrade_request();
  req.headers.emplace_back("sec-websocket-protocol", "phoenix");
  req.headers.emplace_back("sec-websocket-protocol", "base64url.bearer.phx.ZGV2LXRva2Vu");
  UpgradeDecision d = check_upgrade(req);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.selected_subprotocol, "phoenix");
  EXPECT_EQ(d.token, "dev-token");
}

TEST(CheckUpgrade, TakesTokenFromQueryWhenNoSubprotocolToken) {
  HttpRequest req = upgrade_request();
  req.query = {{"token", "first"}, {"token", "q-token"}, {"vsn", "2.0.0"}};
  UpgradeDecision d = check_upgrade(req);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.token, "q-token");
}

TEST(CheckUpgrade, PrefersSubprotocolTokenOverQueryToken) {
  HttpRequest req = upgrade_request();
  req.query = {{"token", "q-token"}, {"vsn", "2.0.0"}};
  set_header(req, "sec-websocket-protocol", "phoenix, base64url.bearer.phx.ZGV2LXRva2Vu");
  UpgradeDecision d = check_upgrade(req);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.token, "dev-token");
}

TEST(CheckUpgrade, SelectsBinaryFormatForRtchatV1WithoutVsn) {
  HttpRequest req = upgrade_request();
  req.query = {{"token", "abc"}};
  set_header(req, "sec-websocket-protocol", "rtchat.v1");
  UpgradeDecision d = check_upgrade(req);
  ASSERT_TRUE(d.ok) << d.reason;
  EXPECT_EQ(d.format, UpgradeDecision::Format::Binary);
  EXPECT_EQ(d.selected_subprotocol, "rtchat.v1");
  EXPECT_EQ(d.token, "abc");
  EXPECT_NE(build_upgrade_response(d).find("Sec-WebSocket-Protocol: rtchat.v1\r\n"),
            std::string::npos);
}

TEST(CheckUpgrade, IgnoresUnknownSubprotocols) {
  HttpRequest req = upgrade_request();
  set_header(req, "sec-websocket-protocol", "chat, superchat");
  UpgradeDecision d = check_upgrade(req);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.selected_subprotocol, "");
}

TEST(HttpResponse, WritesStatusLengthAndNoStoreByDefault) {
  std::string r = http_response(404, "text/plain; charset=utf-8", "not found\n");
  EXPECT_EQ(r,
            "HTTP/1.1 404 Not Found\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 10\r\n"
            "Connection: close\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "X-Frame-Options: DENY\r\n"
            "Referrer-Policy: no-referrer\r\n"
            "Cache-Control: no-store\r\n"
            "\r\n"
            "not found\n");
}

TEST(HttpResponse, KeepsCallerCacheControlAndOmitsBodyFor304AndHead) {
  std::string r = http_response(200, "text/css", "body{}", "cache-control: no-cache\r\n");
  EXPECT_EQ(r.find("no-store"), std::string::npos);
  EXPECT_NE(r.find("cache-control: no-cache\r\n"), std::string::npos);
  std::string not_modified = http_response(304, "text/css", "body{}", "ETag: \"x\"\r\n");
  EXPECT_EQ(not_modified.find("Content-Length"), std::string::npos);
  EXPECT_TRUE(not_modified.ends_with("\r\n\r\n"));
  std::string head = http_response(200, "text/css", "body{}", {}, true);
  EXPECT_NE(head.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
}

}  // namespace
}  // namespace rtchat::server
