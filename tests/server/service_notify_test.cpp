#include "server/service_notify.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace rtchat::server {
namespace {

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rtchat::testing::make_temp_dir("notify_test");
    path_ = (dir_ / "notify").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    if (fd_ >= 0) ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  std::string receive() {
    char buf[256];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(NotifyTest, ReadyAndStoppingReachTheNotifySocket) {
#if RTCHAT_HAVE_LIBSYSTEMD
  ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  notify_ready();
  EXPECT_EQ(receive(), "READY=1");
  notify_stopping();
  EXPECT_EQ(receive(), "STOPPING=1");
#else
  GTEST_SKIP() << "built without libsystemd: notify is a no-op";
#endif
}

TEST_F(NotifyTest, NoSocketIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  notify_ready();  // must neither crash nor block
  notify_stopping();
  SUCCEED();
}

}  // namespace
}  // namespace rtchat::server
