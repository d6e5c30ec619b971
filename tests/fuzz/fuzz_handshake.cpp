// Fuzzes the WebSocket opening handshake (server/net/handshake.h): arbitrary bytes are parsed as an
// HTTP request (the only way a request reaches check_upgrade), then checked as an upgrade. Beyond
// no crash, leak or UB: a refusal has a status the contract names and a one-response HTTP text;
// an accept carries the RFC 6455 accept key, and nothing the client sent can add a header line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "server/net/handshake.h"
#include "server/net/http_request.h"

namespace {

using rtchat::fuzz::require;
using namespace rtchat::server;

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// Header lines of a response head: each ends in CRLF, the head in an empty line, nothing after
// (refusal bodies are checked apart).
size_t count_lines(std::string_view head) {
  size_t n = 0;
  for (size_t p = head.find("\r\n"); p != std::string_view::npos; p = head.find("\r\n", p + 2)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  thread_local std::string storage;
  const std::string_view bytes = rtchat::fuzz::misaligned_copy(storage, data, size);
  HttpRequestParser parser;
  size_t consumed = 0;
  if (parser.feed(bytes, consumed) != HttpParseStatus::Complete) return 0;
  const HttpRequest& req = parser.request();

  UpgradeDecision d = check_upgrade(req);
  if (!d.ok) {
    require(d.status == 400 || d.status == 405 || d.status == 426);
    require(!d.reason.empty() && !has_line_break(d.reason));
    std::string refusal = build_upgrade_refusal(d);
    require(refusal.starts_with("HTTP/1.1 " + std::to_string(d.status) + " "));
    size_t head_end = refusal.find("\r\n\r\n");
    require(head_end != std::string::npos);
    require(refusal.substr(head_end + 4) == d.reason + "\n");
    return 0;
  }
  require(req.method == "GET");
  require(d.accept_key.size() == 28 &&
          d.accept_key == websocket_accept_key(req.header("sec-websocket-key")));
  require(d.selected_subprotocol.empty() || d.selected_subprotocol == kPhoenixSubprotocol ||
          d.selected_subprotocol == kBinarySubprotocol);
  require(!has_line_break(d.selected_subprotocol));
  std::string response = build_upgrade_response(d);
  require(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  require(response.ends_with("\r\n\r\n") && response.find("\r\n\r\n") == response.size() - 4);
  // Status line, Upgrade, Connection, Accept, optional Protocol, then the empty line.
  require(count_lines(response) == (d.selected_subprotocol.empty() ? 5u : 6u));
  return 0;
}
