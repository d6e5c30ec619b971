// The client side of the WebSocket wire: upgrade request/response, masked client frames, a
// reassembling reader for server frames, and the chat codec for either wire format. Pure functions
// and plain buffers, no I/O, so the blocking Client (client.h) and the load tool's io_uring engine
// share them. Nothing here throws on peer bytes: bad input yields an error value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/messages.h"

namespace rtchat::client {

// Json: Phoenix v2 text frames. Binary: rtchat.v1 FlatBuffers binary frames.
enum class Format { Json, Binary };

// WebSocket opcodes (RFC 6455 section 5.2).
inline constexpr uint8_t kOpContinuation = 0x0;
inline constexpr uint8_t kOpText = 0x1;
inline constexpr uint8_t kOpBinary = 0x2;
inline constexpr uint8_t kOpClose = 0x8;
inline constexpr uint8_t kOpPing = 0x9;
inline constexpr uint8_t kOpPong = 0xA;

// A random 16-byte nonce, base64 encoded (24 characters), for Sec-WebSocket-Key.
std::string make_websocket_key();

// The base64 Sec-WebSocket-Accept value the server must answer for `key`.
std::string websocket_accept_for(std::string_view key);

// GET path_query HTTP/1.1 with Host, Upgrade, Connection, Sec-WebSocket-Key/Version, and
// Sec-WebSocket-Protocol: rtchat.v1 for Binary (the token then travels in path_query as
// ?token=JWT; auth_token is ignored), or for Json with a non-empty auth_token
// "phoenix, base64url.bearer.phx.<b64>" where auth_token is the raw JWT and <b64> its base64
// without '=' padding, exactly as phoenix.js's authToken option builds it.
std::string build_upgrade_request(std::string_view host_port, std::string_view path_query,
                                  std::string_view key, Format format,
                                  std::string_view auth_token = {});

// >0: bytes of the complete response head (status 101 verified incl. Sec-WebSocket-Accept; any
// bytes after it are already WebSocket frames); 0: need more; -1: refused or malformed (status set
// to the HTTP status when known, else 0).
int parse_upgrade_response(std::string_view bytes, std::string_view key, int& status);

// Appends one final (FIN) client frame, masked with mask_key (RFC 6455 requires clients to mask).
void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload,
                         uint32_t mask_key);

struct Frame {
  uint8_t opcode = 0;  // kOpText/kOpBinary (reassembled), or a control opcode
  std::string payload;
  bool skimmed = false;  // only the payload's head (FrameReader::set_skim); the rest was dropped
};

// Reads server->client frames (which must be unmasked), reassembling fragmented messages. Control
// frames may arrive between fragments and are returned on their own. Any protocol violation
// (masked frame, reserved bits, oversize, bad continuation, fragmented control) is sticky: every
// later next() returns Error.
class FrameReader {
 public:
  enum class Status { Ready, NeedMore, Error };

  // 16 MiB: far above a history page of 200 messages; anything bigger is a broken peer.
  explicit FrameReader(size_t max_message_bytes = 16 * 1024 * 1024)
      : max_message_bytes_(max_message_bytes) {}

  // A large unfragmented data frame whose head satisfies skim(opcode, head) is returned as soon
  // as its head is in, with only that head (Frame::skimmed); the rest of it is dropped as it
  // arrives, never buffered or copied. A load generator counts presence frames this way: a
  // 10,000-member mass rejoin carries ~9 GB of them, and copying each byte twice made the
  // generator, not the server, the bottleneck.
  using SkimFn = bool (*)(uint8_t opcode, std::string_view head);
  static constexpr size_t kSkimHeadBytes = 256;
  static constexpr size_t kSkimMinBytes = 4096;
  void set_skim(SkimFn skim) { skim_ = skim; }

  // Copies bytes into the internal buffer (consumed bytes are compacted lazily).
  void feed(std::string_view bytes);
  // Ready: out holds one complete message or control frame. NeedMore: feed more bytes.
  Status next(Frame& out);
  // A short description of the error after Error, e.g. "masked server frame".
  std::string_view error() const { return error_; }
  size_t buffered_bytes() const { return buf_.size() - pos_; }

 private:
  Status fail(std::string_view why);
  // Ready with the head of a frame to skim (out set, the frame consumed or left to drop), else
  // false (read the frame whole).
  bool skim_frame(uint8_t opcode, std::string_view avail, size_t header, uint64_t len, Frame& out);

  size_t max_message_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  std::string partial_;  // a fragmented data message in progress
  uint8_t partial_opcode_ = 0;
  bool in_fragment_ = false;
  std::string error_;
  SkimFn skim_ = nullptr;
  uint64_t skip_ = 0;  // bytes of a skimmed frame still to drop from what feed() gets
};

// Encodes a client message in the given format (Json: text payload, Binary: FlatBuffer bytes).
// Appends to out. The frame opcode is opcode_for(format).
void encode_message(Format format, const proto::ClientMessage& msg, std::string& out);
constexpr uint8_t opcode_for(Format format) {
  return format == Format::Binary ? kOpBinary : kOpText;
}
// Decodes one server message payload. False when it is not a valid message in that format.
bool decode_message(Format format, std::string_view payload, proto::ServerMessage& out);

}  // namespace rtchat::client
