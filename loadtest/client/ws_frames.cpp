// WebSocket client wire helpers (RFC 6455) and the format switch between the two chat codecs.
#include "loadtest/client/ws_frames.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <random>

#include "proto/base64.h"
#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace rtchat::client {
namespace {

// A response head larger than this is not a WebSocket handshake; stop buffering it.
constexpr size_t kMaxResponseHeadBytes = 16 * 1024;
// RFC 6455 section 5.5: control frames carry at most 125 payload bytes.
constexpr size_t kMaxControlPayloadBytes = 125;
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, size_t size) {
  return proto::base64_encode(std::string_view(reinterpret_cast<const char*>(data), size));
}

// Base64 with '=' padding dropped, as phoenix.js builds its auth-token subprotocol
// (btoa(token).replace(/=/g, "")), so the server decodes both clients alike.
std::string base64_unpadded(std::string_view s) {
  std::string out = base64(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// True when the comma-separated header value lists token (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string make_websocket_key() {
  std::array<unsigned char, 16> nonce{};
  // getrandom() for 16 bytes never blocks after boot; fall back to random_device if it fails.
  if (getrandom(nonce.data(), nonce.size(), 0) != static_cast<ssize_t>(nonce.size())) {
    std::random_device rd;
    for (unsigned char& b : nonce) b = static_cast<unsigned char>(rd());
  }
  return base64(nonce.data(), nonce.size());
}

std::string websocket_accept_for(std::string_view key) {
  std::string input(key);
  input.append(kWebSocketGuid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  return base64(digest.data(), digest.size());
}

std::string build_upgrade_request(std::string_view host_port, std::string_view path_query,
                                  std::string_view key, Format format,
                                  std::string_view auth_token) {
  std::string req;
  req.reserve(256 + auth_token.size() * 2);
  req.append("GET ").append(path_query).append(" HTTP/1.1\r\n");
  req.append("Host: ").append(host_port).append("\r\n");
  req.append("Upgrade: websocket\r\nConnection: Upgrade\r\n");
  req.append("Sec-WebSocket-Key: ").append(key).append("\r\n");
  req.append("Sec-WebSocket-Version: 13\r\n");
  if (format == Format::Binary) {
    req.append("Sec-WebSocket-Protocol: rtchat.v1\r\n");
  } else if (!auth_token.empty()) {
    req.append("Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.")
        .append(base64_unpadded(auth_token))
        .append("\r\n");
  }
  req.append("\r\n");
  return req;
}

int parse_upgrade_response(std::string_view bytes, std::string_view key, int& status) {
  status = 0;
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return bytes.size() > kMaxResponseHeadBytes ? -1 : 0;
  if (end + 4 > kMaxResponseHeadBytes) return -1;
  std::string_view head = bytes.substr(0, end + 2);  // keeps the last header's CRLF

  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  head.remove_prefix(eol + 2);
  // "HTTP/1.1 101 Switching Protocols"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ') {
    return -1;
  }
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(status_line[i]))) return -1;
    code = code * 10 + (status_line[i] - '0');
  }
  status = code;
  if (code != 101) return -1;

  bool upgrade = false;
  bool connection = false;
  bool accept = false;
  const std::string expected_accept = websocket_accept_for(key);
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return -1;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade")) upgrade = iequals(value, "websocket");
    if (iequals(name, "Connection")) connection = lists_token(value, "upgrade");
    if (iequals(name, "Sec-WebSocket-Accept")) accept = value == expected_accept;
  }
  if (!upgrade || !connection || !accept) return -1;
  return static_cast<int>(end + 4);
}

void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload,
                         uint32_t mask_key) {
  const size_t len = payload.size();
  out.push_back(static_cast<char>(0x80 | (opcode & 0x0F)));
  if (len <= 125) {
    out.push_back(static_cast<char>(0x80 | len));
  } else if (len <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((static_cast<uint64_t>(len) >> shift) & 0xFF));
    }
  }
  const std::array<char, 4> mask = {
      static_cast<char>(mask_key >> 24), static_cast<char>((mask_key >> 16) & 0xFF),
      static_cast<char>((mask_key >> 8) & 0xFF), static_cast<char>(mask_key & 0xFF)};
  out.append(mask.data(), mask.size());
  const size_t start = out.size();
  out.append(payload);
  for (size_t i = 0; i < len; ++i) out[start + i] ^= mask[i & 3];
}

// ------------------------------------------------------------------ FrameReader

void FrameReader::feed(std::string_view bytes) {
  if (skip_ > 0) {  // the rest of a skimmed frame
    const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, bytes.size()));
    skip_ -= n;
    bytes.remove_prefix(n);
  }
  // Compact before growing: consumed bytes in front are dead once a frame has been returned.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ >= 64 * 1024)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

FrameReader::Status FrameReader::fail(std::string_view why) {
  if (error_.empty()) error_.assign(why);
  return Status::Error;
}

FrameReader::Status FrameReader::next(Frame& out) {
  for (;;) {
    if (!error_.empty()) return Status::Error;
    const std::string_view avail = std::string_view(buf_).substr(pos_);
    if (avail.size() < 2) return Status::NeedMore;
    const auto b0 = static_cast<uint8_t>(avail[0]);
    const auto b1 = static_cast<uint8_t>(avail[1]);
    const bool fin = (b0 & 0x80) != 0;
    const uint8_t opcode = b0 & 0x0F;
    // No extension is negotiated, so every RSV bit must be clear.
    if ((b0 & 0x70) != 0) return fail("reserved bits set");
    if ((b1 & 0x80) != 0) return fail("masked server frame");
    size_t header = 2;
    uint64_t len = b1 & 0x7F;
    if (len == 126) {
      if (avail.size() < 4) return Status::NeedMore;
      len = (uint64_t{static_cast<uint8_t>(avail[2])} << 8) | static_cast<uint8_t>(avail[3]);
      header = 4;
    } else if (len == 127) {
      if (avail.size() < 10) return Status::NeedMore;
      len = 0;
      for (size_t i = 2; i < 10; ++i) len = (len << 8) | static_cast<uint8_t>(avail[i]);
      header = 10;
      if ((len >> 63) != 0) return fail("frame length with the top bit set");
    }
    const bool is_control = (opcode & 0x08) != 0;
    if (is_control) {
      if (opcode != kOpClose && opcode != kOpPing && opcode != kOpPong) {
        return fail("unknown control opcode");
      }
      if (!fin) return fail("fragmented control frame");
      if (len > kMaxControlPayloadBytes) return fail("control frame too long");
    } else if (opcode == kOpContinuation) {
      if (!in_fragment_) return fail("continuation without a start");
    } else if (opcode == kOpText || opcode == kOpBinary) {
      if (in_fragment_) return fail("new message inside a fragmented one");
    } else {
      return fail("unknown data opcode");
    }
    // The size guard runs on the header alone, before any of the payload is kept.
    const size_t already = is_control ? 0 : partial_.size();
    if (len > max_message_bytes_ || already + len > max_message_bytes_) {
      return fail("message too big");
    }
    if (skim_ != nullptr && fin && !is_control && opcode != kOpContinuation &&
        len >= kSkimMinBytes) {
      if (avail.size() - header < kSkimHeadBytes) return Status::NeedMore;
      if (skim_frame(opcode, avail, header, len, out)) return Status::Ready;
    }
    if (avail.size() - header < len) return Status::NeedMore;

    const std::string_view payload = avail.substr(header, static_cast<size_t>(len));
    pos_ += header + static_cast<size_t>(len);
    if (is_control || (opcode != kOpContinuation && fin)) {
      out.opcode = opcode;
      out.payload.assign(payload);
      out.skimmed = false;
      return Status::Ready;
    }
    if (opcode != kOpContinuation) {
      in_fragment_ = true;
      partial_opcode_ = opcode;
      partial_.assign(payload);
      continue;
    }
    partial_.append(payload);
    if (fin) {
      in_fragment_ = false;
      out.opcode = partial_opcode_;
      out.skimmed = false;
      out.payload.swap(partial_);
      partial_.clear();
      return Status::Ready;
    }
  }
}

bool FrameReader::skim_frame(uint8_t opcode, std::string_view avail, size_t header, uint64_t len,
                             Frame& out) {
  const std::string_view head = avail.substr(header, kSkimHeadBytes);
  if (!skim_(opcode, head)) return false;
  out.opcode = opcode;
  out.payload.assign(head);
  out.skimmed = true;
  const size_t have = static_cast<size_t>(std::min<uint64_t>(avail.size() - header, len));
  pos_ += header + have;
  skip_ = len - have;
  return true;
}

// ------------------------------------------------------------------ codecs

void encode_message(Format format, const proto::ClientMessage& msg, std::string& out) {
  if (format == Format::Binary) {
    proto::binary::encode_client(msg, out);
  } else {
    proto::phoenix::encode_client(msg, out);
  }
}

bool decode_message(Format format, std::string_view payload, proto::ServerMessage& out) {
  const proto::DecodeError err = format == Format::Binary
                                     ? proto::binary::decode_server(payload, out)
                                     : proto::phoenix::decode_server(payload, out);
  return err == proto::DecodeError::None;
}

}  // namespace rtchat::client
