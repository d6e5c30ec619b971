// Blocking client: non-blocking socket plus poll(), so every wait has a deadline.
#include "loadtest/client/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace rtchat::client {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for events on fd until the deadline; false on timeout or poll failure.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

int open_socket(std::string_view host, uint16_t port, int timeout_ms, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string host_str(host);
  const std::string port_str = std::to_string(port);
  if (int rc = ::getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    error = std::string("resolve: ") + gai_strerror(rc);
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    ::freeaddrinfo(res);
    return -1;
  }
  const int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (rc != 0) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (!wait_for(fd, POLLOUT, deadline) ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
      error = so_error != 0 ? std::string("connect: ") + std::strerror(so_error)
                            : std::string("connect: timed out");
      ::close(fd);
      return -1;
    }
  }
  // Chat frames are small and latency matters more than packet count.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

std::unique_ptr<Client> Client::connect(std::string_view host, uint16_t port,
                                        std::string_view path_query, Format format,
                                        std::string_view auth_token, int timeout_ms,
                                        std::string& error, int* http_status) {
  if (http_status != nullptr) *http_status = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const int fd = open_socket(host, port, timeout_ms, error);
  if (fd < 0) return nullptr;
  std::unique_ptr<Client> c(new Client(fd, format));

  const std::string key = make_websocket_key();
  const std::string host_port = std::string(host) + ":" + std::to_string(port);
  if (!c->write_all(build_upgrade_request(host_port, path_query, key, format, auth_token),
                    remaining_ms(deadline))) {
    error = "upgrade: " + c->error_;
    return nullptr;
  }
  std::string head;
  for (;;) {
    int status = 0;
    const int n = parse_upgrade_response(head, key, status);
    if (http_status != nullptr) *http_status = status;
    if (n > 0) {
      // Frames the server sent right after its 101 (rare, but legal) are already in `head`.
      c->reader_.feed(std::string_view(head).substr(static_cast<size_t>(n)));
      return c;
    }
    if (n < 0) {
      error = status != 0 ? "upgrade refused: HTTP " + std::to_string(status)
                          : std::string("upgrade: malformed response");
      return nullptr;
    }
    if (!wait_for(c->fd_, POLLIN, deadline)) {
      error = "upgrade: timed out";
      return nullptr;
    }
    char buf[4096];
    const ssize_t got = ::recv(c->fd_, buf, sizeof(buf), 0);
    if (got == 0) {
      error = "upgrade: connection closed";
      return nullptr;
    }
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      error = std::string("upgrade: ") + std::strerror(errno);
      return nullptr;
    }
    head.append(buf, static_cast<size_t>(got));
  }
}

Client::~Client() { shut(); }

void Client::shut() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

uint32_t Client::next_mask() {
  // xorshift64: masks only defeat proxy cache poisoning, they need not be cryptographic here.
  mask_state_ ^= mask_state_ << 13;
  mask_state_ ^= mask_state_ >> 7;
  mask_state_ ^= mask_state_ << 17;
  return static_cast<uint32_t>(mask_state_);
}

bool Client::write_all(std::string_view bytes, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!bytes.empty()) {
    if (fd_ < 0) {
      error_ = "socket closed";
      return false;
    }
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_for(fd_, POLLOUT, deadline)) {
        error_ = "send timed out";
        return false;
      }
      continue;
    }
    error_ = std::string("send: ") + std::strerror(errno);
    shut();
    return false;
  }
  return true;
}

bool Client::read_some(int timeout_ms) {
  if (fd_ < 0) {
    error_ = "socket closed";
    return false;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
      return true;
    }
    if (n == 0) {
      error_ = "connection closed by peer";
      shut();
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      error_ = std::string("recv: ") + std::strerror(errno);
      shut();
      return false;
    }
    if (!wait_for(fd_, POLLIN, deadline)) {
      error_ = "timed out";
      return false;
    }
  }
}

bool Client::send_raw(uint8_t opcode, std::string_view payload) {
  out_.clear();
  append_client_frame(out_, opcode, payload, next_mask());
  return write_all(out_, 5000);
}

bool Client::send(const proto::ClientMessage& msg) {
  std::string payload;
  encode_message(format_, msg, payload);
  return send_raw(opcode_for(format_), payload);
}

bool Client::recv_frame(Frame& out, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    switch (reader_.next(out)) {
      case FrameReader::Status::Ready:
        if (out.opcode == kOpPing) {
          if (!send_raw(kOpPong, out.payload)) return false;
          continue;
        }
        if (out.opcode == kOpPong) continue;
        if (out.opcode == kOpClose) {
          close_received_ = true;
          close_code_ = 1005;  // "no status received" (RFC 6455 7.4.1)
          if (out.payload.size() >= 2) {
            close_code_ = static_cast<uint16_t>((static_cast<uint8_t>(out.payload[0]) << 8) |
                                                static_cast<uint8_t>(out.payload[1]));
            close_reason_ = out.payload.substr(2);
          }
          if (!close_sent_) {
            close_sent_ = true;
            (void)send_raw(kOpClose, std::string_view(out.payload).substr(0, 2));
          }
        }
        return true;
      case FrameReader::Status::Error:
        error_ = "framing: " + std::string(reader_.error());
        shut();
        return false;
      case FrameReader::Status::NeedMore:
        break;
    }
    if (!read_some(remaining_ms(deadline))) return false;
  }
}

std::optional<proto::ServerMessage> Client::recv(int timeout_ms) {
  Frame frame;
  if (closed() || !recv_frame(frame, timeout_ms)) return std::nullopt;
  if (frame.opcode == kOpClose) return std::nullopt;
  proto::ServerMessage msg;
  if (!decode_message(format_, frame.payload, msg)) {
    error_ = "undecodable server frame";
    return std::nullopt;
  }
  return msg;
}

void Client::close(uint16_t code, std::string_view reason) {
  if (fd_ < 0) return;
  if (!close_sent_) {
    close_sent_ = true;
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.substr(0, 123));
    (void)send_raw(kOpClose, payload);
  }
  // Wait briefly for the server's close so its queued frames and close handshake complete.
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  Frame frame;
  while (!close_received_ && fd_ >= 0 && remaining_ms(deadline) > 0) {
    if (!recv_frame(frame, remaining_ms(deadline))) break;
  }
  shut();
}

}  // namespace rtchat::client
