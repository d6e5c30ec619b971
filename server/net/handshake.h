// The RFC 6455 opening handshake as pure functions: validate a parsed HTTP request as a WebSocket
// upgrade (with the Phoenix V2 rules of docs/protocol.md) and build
// the 101 or the refusal. No I/O; the caller routes by path (/socket/websocket) before calling.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/net/http_request.h"

namespace rtchat::server {

// base64(SHA-1(key + RFC 6455 GUID)), the Sec-WebSocket-Accept value.
[[nodiscard]] std::string websocket_accept_key(std::string_view sec_websocket_key);

inline constexpr std::string_view kPhoenixSubprotocol = "phoenix";
inline constexpr std::string_view kBinarySubprotocol = "rtchat.v1";
inline constexpr std::string_view kAuthTokenSubprotocolPrefix = "base64url.bearer.phx.";

struct UpgradeDecision {
  bool ok = false;
  int status = 400;    // HTTP status to refuse with when !ok (400, 405 or 426)
  std::string reason;  // short, for the refusal body and the log, e.g. "missing Sec-WebSocket-Key"
  enum class Format { Json, Binary } format = Format::Json;
  // "rtchat.v1" when offered (binary socket), else "phoenix" when offered, else "" (no header).
  // The token subprotocol is never echoed.
  std::string selected_subprotocol;
  // From the "base64url.bearer.phx.<b64>" subprotocol (decoded), else the last "token" query param,
  // else "". The subprotocol wins when both are present. Not validated here (see server/auth).
  std::string token;
  std::string accept_key;  // Sec-WebSocket-Accept, set when ok
};

// Validates a parsed request as a WebSocket upgrade:
//   GET (else 405 "method not allowed"); Upgrade contains the token "websocket" and Connection the
//   token "upgrade", case-insensitively (else 400); Sec-WebSocket-Version 13 (else 426, and the
//   refusal carries "Sec-WebSocket-Version: 13"); Sec-WebSocket-Key base64 of 16 bytes (else 400);
//   for JSON sockets a query "vsn" starting with "2." (absent or other: 400 "unsupported vsn";
//   Phoenix treats absent as the legacy 1.0.0 format we do not speak). Binary sockets ("rtchat.v1"
//   offered) need no vsn. A token subprotocol that is not valid Base64 is a 400.
// Subprotocols may come in several Sec-WebSocket-Protocol lines; all are read.
[[nodiscard]] UpgradeDecision check_upgrade(const HttpRequest& req);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection, Sec-WebSocket-Accept and, when one
// was selected, Sec-WebSocket-Protocol. Requires d.ok.
[[nodiscard]] std::string build_upgrade_response(const UpgradeDecision& d);

// The HTTP refusal for !d.ok: d.status with d.reason as a text/plain body, Connection: close.
[[nodiscard]] std::string build_upgrade_refusal(const UpgradeDecision& d);

}  // namespace rtchat::server
