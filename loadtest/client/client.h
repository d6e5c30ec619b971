// A blocking WebSocket chat client for tests and tools: one TCP socket, poll() with a timeout on
// every wait, either wire format. Not for the load tool's hot path (it drives ws_frames.h from its
// own io_uring engine). Not thread-safe: use one Client from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "loadtest/client/ws_frames.h"
#include "proto/messages.h"

namespace rtchat::client {

class Client {
 public:
  // Connects to host:port (IPv4 literal or name), sends the upgrade for path_query (e.g.
  // "/socket/websocket?vsn=2.0.0&token=JWT") and waits for 101, all within timeout_ms. On failure
  // returns nullptr with error set and *http_status (if given) set to the HTTP status (0 when the
  // server never answered with one).
  static std::unique_ptr<Client> connect(std::string_view host, uint16_t port,
                                         std::string_view path_query, Format format,
                                         std::string_view auth_token, int timeout_ms,
                                         std::string& error, int* http_status = nullptr);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) = delete;
  Client& operator=(Client&&) = delete;

  Format format() const { return format_; }

  // Encodes msg in this client's format and sends it as one frame. False once the socket is dead.
  [[nodiscard]] bool send(const proto::ClientMessage& msg);
  // Sends any frame as is (masked), e.g. a garbage binary frame to test the server's close code.
  [[nodiscard]] bool send_raw(uint8_t opcode, std::string_view payload);

  // The next decoded server message, waiting at most timeout_ms. Answers pings with pongs on the
  // way. nullopt on timeout, on a close frame (close_code()/close_reason() are then set and the
  // close is echoed), on a dead socket, or on a frame that does not decode (error() says which).
  std::optional<proto::ServerMessage> recv(int timeout_ms);
  // The next raw data or close frame (pings are answered, pongs skipped). False on timeout/failure.
  bool recv_frame(Frame& out, int timeout_ms);

  // Sends a close frame (if none was sent), waits up to 1 s for the server's close, then closes.
  void close(uint16_t code = 1000, std::string_view reason = {});

  bool closed() const { return fd_ < 0 || close_received_; }
  // The peer's close code (1005 when its close frame carried none), 0 before any close frame.
  uint16_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  // The last failure: a timeout, a framing error, a decode error, or a socket error.
  const std::string& error() const { return error_; }

 private:
  Client(int fd, Format format) : fd_(fd), format_(format) {}

  bool write_all(std::string_view bytes, int timeout_ms);
  // Reads whatever is available into reader_, waiting up to timeout_ms. False on timeout/EOF/error.
  bool read_some(int timeout_ms);
  uint32_t next_mask();
  void shut();

  int fd_ = -1;
  Format format_;
  FrameReader reader_;
  std::string out_;  // reused per send
  uint64_t mask_state_ = 0x9E3779B97F4A7C15ull;
  bool close_sent_ = false;
  bool close_received_ = false;
  uint16_t close_code_ = 0;
  std::string close_reason_;
  std::string error_;
};

}  // namespace rtchat::client
