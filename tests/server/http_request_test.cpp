#include "server/net/http_request.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::server {
namespace {

constexpr std::string_view kUpgrade =
    "GET /socket/websocket?user=alice&token=abc&vsn=2.0.0 HTTP/1.1\r\n"
    "Host: 127.0.0.1:4000\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

HttpParseStatus parse_all(HttpRequestParser& parser, std::string_view bytes, size_t& consumed) {
  return parser.feed(bytes, consumed);
}

TEST(HttpRequestParser, ParsesUpgradeRequestInOneFeed) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(kUpgrade, consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, kUpgrade.size());
  const HttpRequest& req = parser.request();
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/socket/websocket?user=alice&token=abc&vsn=2.0.0");
  EXPECT_EQ(req.path, "/socket/websocket");
  EXPECT_EQ(req.header("upgrade"), "websocket");
  EXPECT_EQ(req.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(req.header("absent"), "");
  EXPECT_TRUE(req.upgrade);
  EXPECT_EQ(req.query_param("vsn"), "2.0.0");
  EXPECT_EQ(req.query_param("user"), "alice");
  EXPECT_FALSE(req.query_param("nope").has_value());
}

TEST(HttpRequestParser, ParsesRequestSplitAcrossOneByteFeeds) {
  HttpRequestParser parser;
  size_t consumed = 0;
  for (size_t i = 0; i + 1 < kUpgrade.size(); ++i) {
    ASSERT_EQ(parser.feed(kUpgrade.substr(i, 1), consumed), HttpParseStatus::NeedMore) << i;
    EXPECT_EQ(consumed, 1u);
  }
  ASSERT_EQ(parser.feed(kUpgrade.substr(kUpgrade.size() - 1), consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, 1u);
  EXPECT_EQ(parser.request().header("sec-websocket-version"), "13");
  EXPECT_EQ(parser.request().header("connection"), "Upgrade");
  EXPECT_EQ(parser.request().query_param("token"), "abc");
}

TEST(HttpRequestParser, LowerCasesHeaderNamesAndTrimsValues) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\nX-Thing:   spaced value  \r\nHOST: h\r\n\r\n", consumed),
            HttpParseStatus::Complete);
  EXPECT_EQ(parser.request().header("x-thing"), "spaced value");
  EXPECT_EQ(parser.request().header("host"), "h");
}

TEST(HttpRequestParser, LeavesEarlyWebSocketBytesAfterUpgradeUnconsumed) {
  HttpRequestParser parser;
  std::string bytes(kUpgrade);
  bytes.append("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);  // a masked "Hello" frame
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, kUpgrade.size());
}

TEST(HttpRequestParser, StopsAtEndOfFirstPipelinedRequest) {
  HttpRequestParser parser;
  std::string first = "POST /api/dev/token HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  std::string bytes = first + "GET /healthz HTTP/1.1\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, first.size());
  EXPECT_EQ(parser.request().method, "POST");
  EXPECT_EQ(parser.request().body, "hello");
  EXPECT_TRUE(parser.request().keep_alive);
  EXPECT_FALSE(parser.request().upgrade);

  // Further feeds report the same result until reset(); then the rest parses as a new request.
  EXPECT_EQ(parser.feed("x", consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, 0u);
  parser.reset();
  ASSERT_EQ(parser.feed(std::string_view(bytes).substr(first.size()), consumed),
            HttpParseStatus::Complete);
  EXPECT_EQ(parser.request().path, "/healthz");
}

TEST(HttpRequestParser, ReadsBodyArrivingInLaterFeed) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", consumed),
            HttpParseStatus::NeedMore);
  ASSERT_EQ(parser.feed("cdEXTRA", consumed), HttpParseStatus::Complete);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(parser.request().body, "abcd");
}

struct MalformedCase {
  const char* name;
  std::string bytes;
};

TEST(HttpRequestParser, RejectsGarbageAsMalformed) {
  const MalformedCase cases[] = {
      {"binary noise", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)},
      {"not http", "hello there\r\n\r\n"},
      {"bad version", "GET / HTTP/9.Z\r\n\r\n"},
      {"control byte in header name", "GET / HTTP/1.1\r\nBad\x01Header: x\r\n\r\n"},
      {"control byte in header value",
       "GET / HTTP/1.1\r\nX: a\x01"
       "b\r\n\r\n"},
      {"empty header name", "GET / HTTP/1.1\r\n: v\r\n\r\n"},
      {"nul in target", std::string("GET /a\0b HTTP/1.1\r\n\r\n", 21)},
      {"bad content length", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"},
      {"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
  };
  for (const auto& c : cases) {
    HttpRequestParser parser;
    size_t consumed = 0;
    EXPECT_EQ(parser.feed(c.bytes, consumed), HttpParseStatus::Malformed) << c.name;
    // Sticky: the connection is done.
    EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n", consumed), HttpParseStatus::Malformed)
        << c.name;
  }
}

TEST(HttpRequestParser, RefusesHeaderFloodBeforeBufferingIt) {
  HttpRequestParser parser(1024);
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("GET / HTTP/1.1\r\n", consumed), HttpParseStatus::NeedMore);
  HttpParseStatus status = HttpParseStatus::NeedMore;
  int feeds = 0;
  std::string line = "X-Flood: " + std::string(50, 'a') + "\r\n";
  while (status == HttpParseStatus::NeedMore && feeds < 1000) {
    status = parser.feed(line, consumed);
    ++feeds;
  }
  EXPECT_EQ(status, HttpParseStatus::HeadersTooLarge);
  EXPECT_LE(feeds, 1024 / static_cast<int>(line.size()) + 1);
}

TEST(HttpRequestParser, RefusesOneHugeFeedOfHeaders) {
  HttpRequestParser parser(1024);
  std::string bytes = "GET / HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(bytes, consumed), HttpParseStatus::HeadersTooLarge);
}

TEST(HttpRequestParser, AcceptsHeadersJustUnderTheLimit) {
  std::string bytes = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  HttpRequestParser parser(bytes.size());
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete);
  HttpRequestParser tight(bytes.size() - 1);
  EXPECT_EQ(tight.feed(bytes, consumed), HttpParseStatus::HeadersTooLarge);
}

TEST(HttpRequestParser, RefusesDeclaredBodyOverLimit) {
  HttpRequestParser parser(8192, 16);
  size_t consumed = 0;
  EXPECT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", consumed),
            HttpParseStatus::BodyTooLarge);
}

TEST(HttpRequestParser, RefusesChunkedBodyOverLimit) {
  HttpRequestParser parser(8192, 16);
  size_t consumed = 0;
  std::string bytes =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n";
  EXPECT_EQ(parser.feed(bytes, consumed), HttpParseStatus::BodyTooLarge);
}

struct QueryCase {
  const char* target;
  const char* key;
  std::optional<std::string> expected;
};

TEST(HttpRequestParser, DecodesQueryParameters) {
  const QueryCase cases[] = {
      {"/p?name=a%20b", "name", "a b"},
      {"/p?name=a+b", "name", "a b"},
      {"/p?na%6De=x", "name", "x"},
      {"/p?k=1&k=2&k=3", "k", "3"},  // last value wins
      {"/p?flag", "flag", ""},
      {"/p?a=1&&b=2", "b", "2"},
      {"/p?a%5Bb%5D=1", "a[b]", "1"},
      {"/p?bad=%zz%4", "bad", "%zz%4"},  // invalid escapes stay literal
      {"/p?x=1#frag", "x", "1"},
      {"/p", "x", std::nullopt},
      {"http://example.com/p?abs=1", "abs", "1"},
  };
  for (const auto& c : cases) {
    HttpRequestParser parser;
    size_t consumed = 0;
    std::string bytes = std::string("GET ") + c.target + " HTTP/1.1\r\n\r\n";
    ASSERT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete) << c.target;
    auto got = parser.request().query_param(c.key);
    if (c.expected) {
      ASSERT_TRUE(got.has_value()) << c.target;
      EXPECT_EQ(*got, *c.expected) << c.target;
    } else {
      EXPECT_FALSE(got.has_value()) << c.target;
    }
    EXPECT_EQ(parser.request().path, "/p") << c.target;
  }
}

TEST(HttpRequestParser, DecodesPathOnceAndKeepsPlus) {
  struct {
    const char* target;
    const char* path;
  } cases[] = {
      {"/%2e%2e/x", "/../x"}, {"/a%2Fb", "/a/b"},
      {"/a+b", "/a+b"},       {"/%252e", "/%2e"},  // decoded once only
      {"/a%20b?q=1", "/a b"},
  };
  for (const auto& c : cases) {
    HttpRequestParser parser;
    size_t consumed = 0;
    std::string bytes = std::string("GET ") + c.target + " HTTP/1.1\r\n\r\n";
    ASSERT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete) << c.target;
    EXPECT_EQ(parser.request().path, c.path) << c.target;
  }
}

TEST(HttpRequestParser, ReportsConnectionCloseAsNotKeepAlive) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parse_all(parser, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", consumed),
            HttpParseStatus::Complete);
  EXPECT_FALSE(parser.request().keep_alive);
}

TEST(HttpRequestParser, GivesTheSameResultForEverySplitOfMixedInput) {
  // A bounded, deterministic sweep beside the fuzz target: fed in two parts split anywhere, each
  // input ends in the status, consumed count and request of a single feed.
  struct Input {
    std::string bytes;
    HttpParseStatus status;
    size_t consumed;  // when Complete
    const char* method;
    const char* path;
    const char* body;
  };
  const std::string chunked =
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  const Input inputs[] = {
      {std::string(kUpgrade) + "\x81\x85", HttpParseStatus::Complete, kUpgrade.size(), "GET",
       "/socket/websocket", ""},
      {chunked, HttpParseStatus::Complete, chunked.size(), "POST", "/a", "hello"},
      {std::string("\r\n\r\n\0\0\xff GET", 10), HttpParseStatus::Malformed, 0, "", "", ""},
      {"GET /healthz\r\n\r\n", HttpParseStatus::Malformed, 0, "", "", ""},
      {"GET / HTTP/2.0\r\n\r\n", HttpParseStatus::VersionNotSupported, 0, "", "", ""},
  };
  for (const auto& in : inputs) {
    for (size_t split = 0; split <= in.bytes.size(); ++split) {
      HttpRequestParser parser;
      size_t consumed = 0;
      size_t total = 0;
      HttpParseStatus status = parser.feed(std::string_view(in.bytes).substr(0, split), consumed);
      total += consumed;
      if (status == HttpParseStatus::NeedMore) {
        status = parser.feed(std::string_view(in.bytes).substr(split), consumed);
        total += consumed;
      }
      ASSERT_EQ(status, in.status) << "split at " << split << " of " << in.bytes;
      if (status != HttpParseStatus::Complete) continue;
      EXPECT_EQ(total, in.consumed) << "split at " << split;
      EXPECT_EQ(parser.request().method, in.method);
      EXPECT_EQ(parser.request().path, in.path);
      EXPECT_EQ(parser.request().body, in.body);
    }
  }
}

TEST(HttpRequestParser, ChecksTheRequestLineStrictly) {
  // http_parser as packaged is lenient (HTTP_PARSER_STRICT=0): it reads "HTXP/1.1" as a version
  // and a line without one as HTTP/0.9. The parser checks the line itself.
  struct Case {
    const char* line;
    HttpParseStatus status;
  } cases[] = {
      {"GET / HTTP/1.1", HttpParseStatus::Complete},
      {"GET / HTTP/1.0", HttpParseStatus::Complete},
      {"GET /a?b=c HTTP/1.9", HttpParseStatus::Complete},  // a later 1.x reads as 1.1
      {"GET /healthz", HttpParseStatus::Malformed},        // no version (HTTP/0.9)
      {"GET /healthz ", HttpParseStatus::Malformed},
      {"GET /healthz HTXP/1.1", HttpParseStatus::Malformed},
      {"GET /healthz http/1.1", HttpParseStatus::Malformed},  // the name is case-sensitive
      {"GET /healthz HTTP/1", HttpParseStatus::Malformed},
      {"GET /healthz HTTP/1.1x", HttpParseStatus::Malformed},
      {"GET /healthz HTTP/0.9", HttpParseStatus::Malformed},
      {"GET  /healthz HTTP/1.1", HttpParseStatus::Malformed},  // one space only
      {"GET /healthz  HTTP/1.1", HttpParseStatus::Malformed},
      {" GET /healthz HTTP/1.1", HttpParseStatus::Malformed},
      {"GET /a\tb HTTP/1.1", HttpParseStatus::Malformed},
      {"G(T / HTTP/1.1", HttpParseStatus::Malformed},
      {"GET / HTTP/2.0", HttpParseStatus::VersionNotSupported},
      {"PRI * HTTP/2.0", HttpParseStatus::Malformed},  // http_parser refuses the h2 preface
      {"GET / HTTP/3.0", HttpParseStatus::VersionNotSupported},
  };
  for (const auto& c : cases) {
    for (std::string_view eol : {"\r\n", "\n"}) {
      HttpRequestParser parser;
      size_t consumed = 0;
      std::string bytes =
          std::string(c.line) + std::string(eol) + "Host: x" + std::string(eol) + std::string(eol);
      EXPECT_EQ(parser.feed(bytes, consumed), c.status) << c.line;
    }
  }
}

TEST(HttpRequestParser, SkipsEmptyLinesBeforeTheRequestLine) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("\r\n\r\nGET /x HTTP/1.1\r\n\r\n", consumed), HttpParseStatus::Complete);
  EXPECT_EQ(parser.request().path, "/x");
}

TEST(HttpRequestParser, ChecksTheRequestLineAgainAfterReset) {
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\n\r\n", consumed), HttpParseStatus::Complete);
  parser.reset();
  EXPECT_EQ(parser.feed("GET /b HTXP/1.1\r\n\r\n", consumed), HttpParseStatus::Malformed);
}

}  // namespace
}  // namespace rtchat::server
