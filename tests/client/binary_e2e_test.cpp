// End to end against the real server (RTCHAT_SERVER_BIN): a binary (rtchat.v1) client and a JSON
// client in one room see the same messages in the same order, and broken binary frames close only
// their own connection with 1007. Skips when the server cannot be started or refuses the join.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/client/client.h"
#include "proto/binary_codec.h"
#include "support/test_support.h"

namespace rtchat::client {
namespace {

constexpr const char* kSecret = "binary-e2e-secret-0123456789abcdef";
constexpr int kTimeoutMs = 5000;

std::string b64url(std::string_view s) {
  std::string out(4 * ((s.size() + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// HS256 JWT with sub, name and exp, as tests/e2e/lib/server.mjs mints them.
std::string mint_token(const std::string& sub, const std::string& name) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string head =
      b64url(R"({"alg":"HS256","typ":"JWT"})") + "." +
      b64url(R"({"sub":")" + sub + R"(","name":")" + name + R"(","exp":)" +
             std::to_string(now + 3600) + R"(,"iat":)" + std::to_string(now) + "}");
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret, static_cast<int>(std::strlen(kSecret)),
       reinterpret_cast<const unsigned char*>(head.data()), head.size(), mac, &len);
  return head + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

// The server process, stopped with SIGTERM (then SIGKILL) when the test ends.
class ServerProcess {
 public:
  bool start(std::string& error) {
    data_dir_ = rtchat::testing::make_temp_dir("rtchat-binary-e2e-");
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], 1);
      ::dup2(pipe_fds[1], 2);
      const std::string dir = data_dir_.string();
      ::execl(RTCHAT_SERVER_BIN, RTCHAT_SERVER_BIN, "--host", "127.0.0.1", "--port", "0",
              "--data-dir", dir.c_str(), "--jwt-secret", kSecret, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    out_fd_ = pipe_fds[0];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    std::string output;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[1024];
      const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
      if (n <= 0) break;
      output.append(buf, static_cast<size_t>(n));
      const size_t at = output.find("listening on 127.0.0.1:");
      if (at != std::string::npos) {
        const size_t start = at + std::strlen("listening on 127.0.0.1:");
        const size_t end = output.find_first_not_of("0123456789", start);
        if (end != std::string::npos) {
          port_ = static_cast<uint16_t>(std::stoi(output.substr(start, end - start)));
          return true;
        }
      }
    }
    error = "server did not start: " + output;
    return false;
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = 0;
          break;
        }
        ::usleep(50 * 1000);
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    std::error_code ec;
    if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_, ec);
  }

  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = 0;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  std::filesystem::path data_dir_;
};

std::unique_ptr<Client> connect_as(const ServerProcess& server, Format format,
                                   const std::string& user) {
  std::string error;
  int status = 0;
  auto c = Client::connect("127.0.0.1", server.port(),
                           "/socket/websocket?vsn=2.0.0&token=" + mint_token(user, user), format,
                           {}, kTimeoutMs, error, &status);
  EXPECT_NE(c, nullptr) << error << " (HTTP " << status << ")";
  return c;
}

// Receives until pred matches (other frames are skipped), or nullopt after the timeout.
template <typename Pred>
std::optional<proto::ServerMessage> recv_until(Client& c, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    auto msg = c.recv(100);
    if (msg && pred(*msg)) return msg;
    if (!msg && c.closed()) return std::nullopt;
  }
  return std::nullopt;
}

int next_ref = 10;

bool join(Client& c, const std::string& topic) {
  proto::ClientMessage m;
  m.join_ref = std::to_string(next_ref++);
  m.ref = m.join_ref;
  m.topic = topic;
  m.event = proto::ClientEvent::Join;
  if (!c.send(m)) return false;
  auto reply = recv_until(c, [&](const proto::ServerMessage& s) {
    return s.event == proto::ServerEvent::Reply && s.ref == m.ref;
  });
  return reply && reply->reply.status == proto::ReplyStatus::Ok;
}

bool publish(Client& c, const std::string& topic, const std::string& body) {
  proto::ClientMessage m;
  m.ref = std::to_string(next_ref++);
  m.topic = topic;
  m.event = proto::ClientEvent::NewMsg;
  m.body = body;
  return c.send(m);
}

std::vector<proto::ChatMessage> collect_new_msgs(Client& c, size_t count) {
  std::vector<proto::ChatMessage> out;
  while (out.size() < count) {
    auto msg = recv_until(
        c, [](const proto::ServerMessage& s) { return s.event == proto::ServerEvent::NewMsg; });
    if (!msg) break;
    out.push_back(msg->message);
  }
  return out;
}

class BinaryE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    if (!server_.start(error)) GTEST_SKIP() << error;
  }
  ServerProcess server_;
};

TEST_F(BinaryE2e, BinaryAndJsonClientsSeeTheSameMessagesInOrder) {
  auto bin = connect_as(server_, Format::Binary, "ubin");
  auto json = connect_as(server_, Format::Json, "ujson");
  ASSERT_TRUE(bin && json);
  const std::string topic = "room:binary_e2e";
  if (!join(*bin, topic)) GTEST_SKIP() << "binary join refused: " << bin->error();
  ASSERT_TRUE(join(*json, topic)) << json->error();

  constexpr int kEach = 10;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(publish(*bin, topic, "from binary " + std::to_string(i)));
    ASSERT_TRUE(publish(*json, topic, "from json \xF0\x9F\x98\x80 " + std::to_string(i)));
  }
  const auto seen_by_bin = collect_new_msgs(*bin, 2 * kEach);
  const auto seen_by_json = collect_new_msgs(*json, 2 * kEach);
  ASSERT_EQ(seen_by_bin.size(), 2u * kEach);
  EXPECT_EQ(seen_by_bin, seen_by_json);
  for (size_t i = 1; i < seen_by_bin.size(); ++i)
    EXPECT_GT(seen_by_bin[i].id, seen_by_bin[i - 1].id);
  EXPECT_EQ(seen_by_bin.front().room, "binary_e2e");
}

TEST_F(BinaryE2e, BrokenBinaryFramesCloseOnlyTheirConnectionWith1007) {
  auto json = connect_as(server_, Format::Json, "ujson");
  ASSERT_TRUE(json);
  const std::string topic = "room:binary_bad";
  if (!join(*json, topic)) GTEST_SKIP() << "join refused: " << json->error();

  proto::ClientMessage push;
  push.ref = "1";
  push.topic = topic;
  push.event = proto::ClientEvent::NewMsg;
  push.body = "hello";
  std::string valid;
  proto::binary::encode_client(push, valid);
  std::string wrong_identifier = valid;
  wrong_identifier.replace(4, 4, "XXXX");
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"truncated", valid.substr(0, valid.size() / 2)},
      {"garbage", std::string("\x13\x37garbage, not a flatbuffer at all", 34)},
      {"wrong root identifier", wrong_identifier},
  };
  int n = 0;
  for (const auto& [name, bytes] : bad) {
    SCOPED_TRACE(name);
    auto bin = connect_as(server_, Format::Binary, "ubad");
    ASSERT_TRUE(bin);
    ASSERT_TRUE(bin->send_raw(kOpBinary, bytes));
    auto none = recv_until(*bin, [](const proto::ServerMessage&) { return false; });
    EXPECT_FALSE(none.has_value());
    EXPECT_EQ(bin->close_code(), 1007) << bin->close_reason() << " / " << bin->error();

    // The JSON client in the room is unaffected.
    ASSERT_TRUE(publish(*json, topic, "still here " + std::to_string(n++)));
    auto echoed = recv_until(
        *json, [](const proto::ServerMessage& s) { return s.event == proto::ServerEvent::NewMsg; });
    ASSERT_TRUE(echoed.has_value()) << json->error();
  }
}

}  // namespace
}  // namespace rtchat::client
