// HTTP/1.1 request parsing for the listener's HTTP state (before a WebSocket upgrade). Pure: bytes
// in, a parsed request or an error value out; no I/O, no exceptions, no asserts on client bytes.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtchat::server {

// One parsed request. Its views point into the parser that produced it (its request bytes, kept in
// one buffer, and the percent-decoded path and query in another): valid until that parser is
// reset or goes back to the spares. Only the body is owned (the dev-token and API POSTs).
struct HttpRequest {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // raw request target, query included
  std::string_view path;    // percent-decoded once ("%2e%2e" -> ".."; '+' stays '+'), no query
  std::vector<std::pair<std::string_view, std::string_view>> query;    // decoded ('+' -> ' ')
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // names lower-cased,
                                                                       // values trimmed
  std::string body;
  bool upgrade = false;     // the request asked for a protocol switch (Upgrade header or CONNECT)
  bool keep_alive = false;  // per HTTP version and Connection header

  // The first header with that (lower-case) name; "" when absent.
  [[nodiscard]] std::string_view header(std::string_view lower_name) const;
  // The LAST value of `key` (a repeated key overrides earlier ones); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> query_param(std::string_view key) const;
};

enum class HttpParseStatus {
  NeedMore,
  Complete,
  Malformed,
  HeadersTooLarge,
  BodyTooLarge,
  VersionNotSupported,  // a well-formed request line with HTTP/2.0 or later (answer 505)
};

// Decodes %XX escapes once (an invalid escape is kept literally; with plus_as_space, '+' -> ' ' as
// in query strings) into out, which has room for in.size() bytes (decoding never grows). Returns
// the length.
size_t percent_decode_into(std::string_view in, bool plus_as_space, char* out);

// Incremental parser, one per connection while it is in HTTP state. Shard-local. Not copyable or
// movable (http_parser keeps a pointer back to it); hold it by HttpParserPtr if it must move.
// An ordinary request allocates nothing once the parser's buffers have grown to its size: the
// request bytes are copied into one buffer and the headers are views into it, and reset() keeps
// the capacity (so a reused parser serves the next connection without touching the heap).
class HttpRequestParser {
 public:
  // Headers are small (a browser's upgrade is < 2 KiB with cookies); 8 KiB is what nginx allows by
  // default. Bodies: only the dev-token POST carries one, a few dozen bytes.
  explicit HttpRequestParser(size_t max_header_bytes = 8192, size_t max_body_bytes = 16384);
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Feeds the next received bytes. Returns Complete once a full request (headers and body) is
  // parsed; `consumed` then tells how many of *these* bytes belong to the request: the rest (if
  // any) came after it — WebSocket frames a client sent early, or a pipelined request — and the
  // caller keeps them. On NeedMore all bytes were taken (consumed == bytes.size()). After Complete
  // or an error, further calls return the same status with consumed == 0 until reset(). Header
  // bytes are counted before they are buffered: a header block over max_header_bytes yields
  // HeadersTooLarge; a body (declared Content-Length or chunked total) over max_body_bytes yields
  // BodyTooLarge; anything http_parser rejects yields Malformed. The request line is checked
  // strictly (RFC 7230 section 3.1.1: method SP request-target SP "HTTP/" DIGIT "." DIGIT, one
  // space each, CRLF or bare LF), because the distribution's http_parser is built lenient: it
  // takes "HTXP/1.1" for a version and a line without one for HTTP/0.9. Any other line is
  // Malformed; a valid one with a major version other than 1 is Malformed (0.x) or
  // VersionNotSupported (2 and up, which never arrive as HTTP/1 text).
  [[nodiscard]] HttpParseStatus feed(std::string_view bytes, size_t& consumed);

  // The request; meaningful after Complete. The caller may move from it.
  HttpRequest& request() { return request_; }

  // Ready for the next request on the same connection (keep-alive), or for another connection.
  void reset();
  // reset() for another connection with these limits; buffers a hostile request grew past what
  // an ordinary one needs are given back, so a spare parser holds ~1 KiB at most.
  void reuse(size_t max_header_bytes, size_t max_body_bytes);

 private:
  struct Span {  // bytes of raw_
    uint32_t off = 0;
    uint32_t len = 0;
  };
  struct HeaderSpan {
    Span name;
    Span value;
  };
  size_t take_request_line(std::string_view chunk, bool& line_ends_here);
  bool split_target();
  void parse_query(std::string_view q, char* out, size_t& used);
  std::string_view view(Span s) const { return std::string_view(raw_).substr(s.off, s.len); }
  static int on_url(http_parser* p, const char* at, size_t length);
  static int on_header_field(http_parser* p, const char* at, size_t length);
  static int on_header_value(http_parser* p, const char* at, size_t length);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t length);
  static int on_message_complete(http_parser* p);

  size_t max_header_bytes_;
  size_t max_body_bytes_;
  http_parser parser_{};
  http_parser_settings settings_{};
  HttpRequest request_;
  HttpParseStatus status_ = HttpParseStatus::NeedMore;
  size_t header_bytes_ = 0;  // bytes handed to the parser before the header block ended
  // The target, then each header's lower-cased name and raw value, as the parser hands them over
  // (bounded by the header cap); spans until the block ends, as the buffer may still move.
  std::string raw_;
  std::string decoded_;  // the percent-decoded path and query keys and values
  Span target_;
  std::vector<HeaderSpan> header_spans_;
  std::string request_line_;  // the request line until its LF arrives (bounded by the header cap)
  bool request_line_checked_ = false;
  bool headers_complete_ = false;
  bool message_complete_ = false;
  bool last_was_value_ = true;  // to tell a new header name from a name split across feeds
};

// Parsers are taken per connection and given back when its request is parsed or it closes: a
// bounded list of spares per shard thread keeps them (and their buffers) between connections,
// so an upgrade storm neither allocates per connection nor leaves freed parsers as holes among
// the connections' long-lived allocations.
struct HttpParserRecycler {
  void operator()(HttpRequestParser* p) const noexcept;
};
using HttpParserPtr = std::unique_ptr<HttpRequestParser, HttpParserRecycler>;
[[nodiscard]] HttpParserPtr take_http_parser(size_t max_header_bytes,
                                             size_t max_body_bytes = 16384);

// A connection's parser while it is in HTTP state, in one pointer. No parser until the request's
// first bytes arrive: most requests come in one read, so the parser is taken from the spares,
// used and given back within that read, and the connections of a storm waiting for their
// request hold none (nor its buffers). A parser while a request is partly read. After the
// request (or an error answer): the mark that it is being answered, so later bytes are not read.
class HttpParserSlot {
 public:
  HttpParserSlot() = default;
  ~HttpParserSlot() { reset(); }
  HttpParserSlot(const HttpParserSlot&) = delete;
  HttpParserSlot& operator=(const HttpParserSlot&) = delete;

  // The parser of the request being read; taken from the spares for its first bytes.
  HttpRequestParser& parser(size_t max_header_bytes);
  // The request is complete: its parser leaves the slot (it goes back to the spares when the
  // caller is done with the request) and the slot is marked answered.
  [[nodiscard]] HttpParserPtr finish();
  // An answer is queued: a parser still here goes back to the spares; no more bytes are read.
  void mark_answered() { (void)finish(); }
  [[nodiscard]] bool answered() const { return bits_ == kAnswered; }
  [[nodiscard]] bool has_parser() const { return bits_ > kAnswered; }
  // The connection closes: a parser still here goes back to the spares.
  void reset() {
    if (has_parser()) HttpParserRecycler{}(reinterpret_cast<HttpRequestParser*>(bits_));
    bits_ = 0;
  }

 private:
  static constexpr uintptr_t kAnswered = 1;  // parsers are aligned: never a parser's address
  uintptr_t bits_ = 0;                       // 0, kAnswered or the parser's address
};

}  // namespace rtchat::server
