// HTTP/1.1 request parsing for the listener's HTTP state (before a WebSocket upgrade). Pure: bytes
// in, a parsed request or an error value out; no I/O, no exceptions, no asserts on client bytes.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtchat::server {

// One parsed request. Owns all its strings (copied once out of the receive buffer).
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, query included
  std::string path;  // percent-decoded once ("%2e%2e" -> ".."; '+' stays '+'), no query or fragment
  std::vector<std::pair<std::string, std::string>> query;    // decoded ('+' -> ' '), in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  bool upgrade = false;     // the request asked for a protocol switch (Upgrade header or CONNECT)
  bool keep_alive = false;  // per HTTP version and Connection header

  // The first header with that (lower-case) name; "" when absent. The view lives as long as *this.
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

// Decodes %XX escapes once; an invalid escape is kept literally. With plus_as_space, '+' -> ' '
// (query strings, application/x-www-form-urlencoded).
[[nodiscard]] std::string percent_decode(std::string_view in, bool plus_as_space);

// Incremental parser, one per connection while it is in HTTP state. Shard-local. Not copyable or
// movable (http_parser keeps a pointer back to it); hold it by unique_ptr if it must move.
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

  // Ready for the next request on the same connection (keep-alive).
  void reset();

 private:
  size_t take_request_line(std::string_view chunk, bool& line_ends_here);
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
  size_t header_bytes_ = 0;   // bytes handed to the parser before the header block ended
  std::string request_line_;  // the request line until its LF arrives (bounded by the header cap)
  bool request_line_checked_ = false;
  bool headers_complete_ = false;
  bool message_complete_ = false;
  bool last_was_value_ = true;  // to tell a new header name from a name split across feeds
};

}  // namespace rtchat::server
