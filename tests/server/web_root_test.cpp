#include "server/web_root.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace rtchat::server {
namespace {
namespace fs = std::filesystem;

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "<!doctype html>";
}

class WebRootTest : public ::testing::Test {
 protected:
  void SetUp() override { tmp_ = rtchat::testing::make_temp_dir("web_root_test"); }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

TEST_F(WebRootTest, CandidatesInstalledShareFirstThenBuildTreeThenCwd) {
  auto c = web_root_candidates("/opt/x/bin/rtchat-server");
  ASSERT_GE(c.size(), 4u);
  EXPECT_EQ(c[0], fs::path("/opt/x/share/rtchat/web"));
  EXPECT_EQ(c[1], fs::path("/opt/x/bin/web/dist"));
  EXPECT_EQ(c[2], fs::path("/opt/x/web/dist"));
  EXPECT_EQ(c.back(), fs::path("web/dist"));
}

TEST_F(WebRootTest, InstalledLayoutIsFound) {
  const auto exe = tmp_ / "usr" / "bin" / "rtchat-server";
  touch(tmp_ / "usr" / "share" / "rtchat" / "web" / "index.html");
  EXPECT_EQ(find_web_root("", exe), (tmp_ / "usr" / "share" / "rtchat" / "web").lexically_normal());
}

TEST_F(WebRootTest, BuildTreeLayoutStillFound) {
  const auto exe = tmp_ / "src" / "build" / "server" / "rtchat-server";
  touch(tmp_ / "src" / "web" / "dist" / "index.html");
  EXPECT_EQ(find_web_root("", exe), tmp_ / "src" / "web" / "dist");
}

TEST_F(WebRootTest, InstalledWinsOverAnEnclosingSourceTree) {
  // `cmake --install build --prefix src/stage`: the staged share/ is the one that matches the
  // binary.
  const auto exe = tmp_ / "src" / "stage" / "bin" / "rtchat-server";
  touch(tmp_ / "src" / "web" / "dist" / "index.html");
  touch(tmp_ / "src" / "stage" / "share" / "rtchat" / "web" / "index.html");
  EXPECT_EQ(find_web_root("", exe),
            (tmp_ / "src" / "stage" / "share" / "rtchat" / "web").lexically_normal());
}

TEST_F(WebRootTest, ConfiguredAlwaysWinsEvenWhenMissing) {
  const auto exe = tmp_ / "usr" / "bin" / "rtchat-server";
  touch(tmp_ / "usr" / "share" / "rtchat" / "web" / "index.html");
  EXPECT_EQ(find_web_root("/nonexistent/ui", exe), fs::path("/nonexistent/ui"));
}

TEST_F(WebRootTest, DirectoryWithoutIndexIsSkipped) {
  const auto exe = tmp_ / "usr" / "bin" / "rtchat-server";
  fs::create_directories(tmp_ / "usr" / "share" / "rtchat" / "web");
  EXPECT_EQ(find_web_root("", exe), fs::path("web/dist"));
}

}  // namespace
}  // namespace rtchat::server
