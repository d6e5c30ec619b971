#include "server/net/handshake.h"

#include <openssl/evp.h>

#include <array>

#include "proto/base64.h"
#include "server/net/http_response.h"

namespace rtchat::server {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(token) for each trimmed, non-empty element of a comma-separated list.
template <typename Fn>
void for_each_list_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view token = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (!token.empty()) fn(token);
  }
}

// True when any header `lower_name` (all lines) lists `token`, case-insensitively.
bool header_has_token(const HttpRequest& req, std::string_view lower_name, std::string_view token) {
  bool found = false;
  for (const auto& [name, value] : req.headers) {
    if (name != lower_name) continue;
    for_each_list_token(value, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

UpgradeDecision refuse(int status, std::string reason) {
  UpgradeDecision d;
  d.ok = false;
  d.status = status;
  d.reason = std::move(reason);
  return d;
}

}  // namespace

std::string websocket_accept_key(std::string_view sec_websocket_key) {
  std::string input;
  input.reserve(sec_websocket_key.size() + kWebSocketGuid.size());
  input.append(sec_websocket_key).append(kWebSocketGuid);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr) !=
      1) {
    return {};  // OpenSSL without SHA-1 would fail every handshake; the caller sees an empty key
  }
  return proto::base64_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest_len));
}

UpgradeDecision check_upgrade(const HttpRequest& req) {
  if (req.method != "GET") return refuse(405, "method not allowed");
  if (!header_has_token(req, "upgrade", "websocket"))
    return refuse(400, "missing Upgrade: websocket");
  if (!header_has_token(req, "connection", "upgrade")) {
    return refuse(400, "missing Connection: upgrade");
  }
  if (req.header("sec-websocket-version") != "13") {
    return refuse(426, "unsupported Sec-WebSocket-Version");
  }
  std::string_view key = req.header("sec-websocket-key");
  if (key.empty()) return refuse(400, "missing Sec-WebSocket-Key");
  // RFC 6455 4.2.1: a 16-byte nonce, base64-encoded, so exactly 24 characters with "==".
  std::string nonce;
  if (key.size() != 24 || !proto::base64_decode_any(key, nonce) || nonce.size() != 16) {
    return refuse(400, "invalid Sec-WebSocket-Key");
  }

  UpgradeDecision d;
  bool offered_phoenix = false;
  bool offered_binary = false;
  bool bad_token = false;
  std::optional<std::string> protocol_token;
  for (const auto& [name, value] : req.headers) {
    if (name != "sec-websocket-protocol") continue;
    for_each_list_token(value, [&](std::string_view p) {
      if (p == kPhoenixSubprotocol) {
        offered_phoenix = true;
      } else if (p == kBinarySubprotocol) {
        offered_binary = true;
      } else if (p.starts_with(kAuthTokenSubprotocolPrefix)) {
        std::string decoded;
        if (proto::base64_decode_any(p.substr(kAuthTokenSubprotocolPrefix.size()), decoded)) {
          protocol_token = std::move(decoded);
        } else {
          bad_token = true;
        }
      }
    });
  }
  if (bad_token) return refuse(400, "invalid auth token subprotocol");

  if (offered_binary) {
    d.format = UpgradeDecision::Format::Binary;
    d.selected_subprotocol = kBinarySubprotocol;
  } else {
    auto vsn = req.query_param("vsn");
    if (!vsn || !vsn->starts_with("2.")) return refuse(400, "unsupported vsn");
    if (offered_phoenix) d.selected_subprotocol = kPhoenixSubprotocol;
  }
  if (protocol_token) {
    d.token = std::move(*protocol_token);
  } else if (auto t = req.query_param("token")) {
    d.token = std::string(*t);
  }
  d.ok = true;
  d.status = 101;
  d.accept_key = websocket_accept_key(key);
  return d;
}

std::string build_upgrade_response(const UpgradeDecision& d) {
  std::string out;
  out.reserve(160);
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(d.accept_key).append("\r\n");
  if (!d.selected_subprotocol.empty()) {
    out.append("Sec-WebSocket-Protocol: ").append(d.selected_subprotocol).append("\r\n");
  }
  out.append("\r\n");
  return out;
}

std::string build_upgrade_refusal(const UpgradeDecision& d) {
  std::string body = d.reason + "\n";
  std::string_view extra;
  if (d.status == 426) extra = "Sec-WebSocket-Version: 13\r\n";
  if (d.status == 405) extra = "Allow: GET\r\n";
  return http_response(d.status, "text/plain; charset=utf-8", body, extra);
}

}  // namespace rtchat::server
