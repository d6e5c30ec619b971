// The HTTP parser's reuse: spare parsers per shard thread, a warmed parser that parses an ordinary
// upgrade request without one heap allocation, and the header limits when a reused parser gets
// its request in many small reads. Allocations are counted by replacing the global operator new
// (counting only on this thread while a test asks for it; the rest of the binary is unaffected).
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "server/net/http_request.h"

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace rtchat::server {
namespace {

// What phoenix.js sends from a browser, token in the query, with a few browser headers.
const std::string kUpgrade =
    "GET /socket/websocket?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl&vsn=2.0.0 "
    "HTTP/1.1\r\n"
    "Host: 127.0.0.1:4000\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Origin: http://127.0.0.1:4000\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Protocol: phoenix\r\n"
    "\r\n";

void expect_upgrade_parsed(const HttpRequest& req) {
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/socket/websocket");
  EXPECT_EQ(req.query_param("vsn"), "2.0.0");
  EXPECT_EQ(req.query_param("token"), "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl");
  EXPECT_EQ(req.header("host"), "127.0.0.1:4000");
  EXPECT_EQ(req.header("connection"), "keep-alive, Upgrade");
  EXPECT_EQ(req.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(req.header("sec-websocket-protocol"), "phoenix");
  EXPECT_EQ(req.headers.size(), 10u);
}

TEST(HttpParserReuse, AWarmedParserParsesAnUpgradeWithoutAllocating) {
  HttpParserPtr parser = take_http_parser(8192);
  size_t consumed = 0;
  ASSERT_EQ(parser->feed(kUpgrade, consumed), HttpParseStatus::Complete);
  parser.reset();  // back to the spares, buffers kept

  counting = true;
  allocations = 0;
  parser = take_http_parser(8192);
  HttpParseStatus status = parser->feed(kUpgrade, consumed);
  counting = false;
  ASSERT_EQ(status, HttpParseStatus::Complete);
  EXPECT_EQ(consumed, kUpgrade.size());
  EXPECT_EQ(allocations, 0u);
  expect_upgrade_parsed(parser->request());
}

TEST(HttpParserReuse, SparesAreReusedFreshAndPerThread) {
  HttpParserPtr first = take_http_parser(8192);
  size_t consumed = 0;
  ASSERT_EQ(first->feed("POST /x?a=1 HTTP/1.1\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc", consumed),
            HttpParseStatus::Complete);
  HttpRequestParser* raw = first.get();
  first.reset();
  HttpParserPtr again = take_http_parser(8192);
  EXPECT_EQ(again.get(), raw);  // the spare, not a new parser
  // Nothing of the previous request shows through.
  ASSERT_EQ(again->feed("GET /y HTTP/1.1\r\n\r\n", consumed), HttpParseStatus::Complete);
  EXPECT_EQ(again->request().path, "/y");
  EXPECT_TRUE(again->request().headers.empty());
  EXPECT_TRUE(again->request().query.empty());
  EXPECT_TRUE(again->request().body.empty());
  again.reset();
  // Another thread (another shard) has its own spares.
  HttpRequestParser* other = nullptr;
  std::thread([&] { other = take_http_parser(8192).get(); }).join();
  EXPECT_NE(other, raw);
}

// The limit a reused parser is given is the one it applies, whatever its previous owner's was,
// and an upgrade arriving a few bytes at a time is refused at the same byte as in one read.
TEST(HttpParserReuse, AppliesItsNewHeaderLimitAcrossManySmallReads) {
  HttpParserPtr roomy = take_http_parser(1 << 16);
  size_t consumed = 0;
  ASSERT_EQ(roomy->feed(kUpgrade, consumed), HttpParseStatus::Complete);
  roomy.reset();
  for (size_t step : {1u, 3u, 7u, 64u}) {
    HttpParserPtr exact = take_http_parser(kUpgrade.size());
    HttpParseStatus status = HttpParseStatus::NeedMore;
    for (size_t i = 0; i < kUpgrade.size() && status == HttpParseStatus::NeedMore; i += step) {
      status = exact->feed(std::string_view(kUpgrade).substr(i, step), consumed);
    }
    ASSERT_EQ(status, HttpParseStatus::Complete) << step;
    expect_upgrade_parsed(exact->request());
    exact.reset();

    HttpParserPtr tight = take_http_parser(kUpgrade.size() - 1);
    status = HttpParseStatus::NeedMore;
    size_t fed = 0;
    for (size_t i = 0; i < kUpgrade.size() && status == HttpParseStatus::NeedMore; i += step) {
      status = tight->feed(std::string_view(kUpgrade).substr(i, step), consumed);
      fed = i;
    }
    EXPECT_EQ(status, HttpParseStatus::HeadersTooLarge) << step;
    EXPECT_GE(fed + step, kUpgrade.size() - 1) << step;  // not refused before the limit
  }
}

// A spare never keeps what a hostile request grew: a parser that read 60 KiB of headers is
// handed out again with buffers of an ordinary request's size, so its next use reallocates.
TEST(HttpParserReuse, ASpareGivesBackBuffersAHugeRequestGrew) {
  HttpParserPtr big = take_http_parser(1 << 20);
  std::string bytes = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 1000; ++i)
    bytes += "X-H" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  bytes += "\r\n";
  size_t consumed = 0;
  ASSERT_EQ(big->feed(bytes, consumed), HttpParseStatus::Complete);
  EXPECT_EQ(big->request().headers.size(), 1000u);
  big.reset();
  HttpParserPtr next = take_http_parser(8192);
  counting = true;
  allocations = 0;
  ASSERT_EQ(next->feed(kUpgrade, consumed), HttpParseStatus::Complete);
  counting = false;
  EXPECT_GT(allocations, 0u);  // the grown buffers went back to malloc
  expect_upgrade_parsed(next->request());
}

// http_parser reports a chunked body's trailer lines through the header callbacks, after the
// header block ended. They are not headers of the request (and not kept): the request's views
// into the parser's buffer must stay valid however long the trailers are.
TEST(HttpParserReuse, ChunkedTrailersLeaveTheHeadersIntact) {
  std::string bytes = "POST /api/x?k=v HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(200, 'a') +
                      "\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n";
  for (int i = 0; i < 100; ++i)
    bytes += "X-Trailer-" + std::to_string(i) + ": " + std::string(60, 't') + "\r\n";
  bytes += "\r\n";
  HttpRequestParser parser;
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(bytes, consumed), HttpParseStatus::Complete);
  const HttpRequest& req = parser.request();
  EXPECT_EQ(req.header("host"), "h");
  EXPECT_EQ(req.header("x-long"), std::string(200, 'a'));
  EXPECT_EQ(req.header("x-trailer-5"), "");
  EXPECT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(req.target, "/api/x?k=v");
  EXPECT_EQ(req.body, "body");
}

// A connection's slot: no parser before its first bytes, the same spare for every request that
// comes in one read, a parser kept only across the reads of a split request, and "answered"
// after it (the reactor reads no more bytes then).
TEST(HttpParserSlot, HoldsAParserOnlyWhileARequestIsPartlyRead) {
  HttpParserPtr warm = take_http_parser(8192);
  HttpRequestParser* spare = warm.get();
  warm.reset();

  HttpParserSlot slot;
  EXPECT_FALSE(slot.has_parser());
  EXPECT_FALSE(slot.answered());
  size_t consumed = 0;
  std::string_view bytes = kUpgrade;
  ASSERT_EQ(slot.parser(8192).feed(bytes.substr(0, 40), consumed), HttpParseStatus::NeedMore);
  EXPECT_TRUE(slot.has_parser());
  ASSERT_EQ(slot.parser(8192).feed(bytes.substr(40), consumed), HttpParseStatus::Complete);
  HttpParserPtr done = slot.finish();
  EXPECT_EQ(done.get(), spare);
  EXPECT_TRUE(slot.answered());
  EXPECT_FALSE(slot.has_parser());
  expect_upgrade_parsed(done->request());
  done.reset();

  // Another connection, its request in one read: the same spare again, and back after.
  HttpParserSlot next;
  ASSERT_EQ(next.parser(8192).feed(bytes, consumed), HttpParseStatus::Complete);
  EXPECT_EQ(next.finish().get(), spare);
  // An error answer and a close give the parser back too.
  HttpParserSlot refused;
  ASSERT_EQ(refused.parser(8192).feed("GET / HTTP/1.1\r\n", consumed), HttpParseStatus::NeedMore);
  refused.mark_answered();
  EXPECT_TRUE(refused.answered());
  HttpParserSlot closed;
  ASSERT_EQ(closed.parser(8192).feed("GET / HTTP/1.1\r\n", consumed), HttpParseStatus::NeedMore);
  closed.reset();
  EXPECT_FALSE(closed.answered());
  EXPECT_EQ(take_http_parser(8192).get(), spare);
}

}  // namespace
}  // namespace rtchat::server
