#include "server/net/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/test_support.h"

namespace rtchat::server {
namespace {
namespace fs = std::filesystem;

void write_file(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// A temp tree: <tmp>/outside/secret.txt and <tmp>/dist/{index.html, assets/..., .git/config,
// links}.
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = rtchat::testing::make_temp_dir("static_files_test");
    root_ = tmp_ / "dist";
    write_file(tmp_ / "outside" / "secret.txt", "top secret");
    write_file(root_ / "index.html", "<!doctype html><title>chat</title>");
    write_file(root_ / "assets" / "app-3f2a9c1b.js", "console.log(1)");
    write_file(root_ / "assets" / "app-5HQWQ4KN.css", "body{}");
    write_file(root_ / "assets" / "chunk-ABCDEFGH.js.map", "{}");
    write_file(root_ / "assets" / "logo.svg", "<svg/>");
    write_file(root_ / "assets" / "my-font.woff2", "wOF2");
    write_file(root_ / "favicon.ico", "ico");
    write_file(root_ / "icon.png", "png");
    write_file(root_ / "manifest.json", "{}");
    write_file(root_ / "robots.txt", "User-agent: *");
    write_file(root_ / "docs" / "index.html", "docs");
    write_file(root_ / ".git" / "config", "[core]");
    write_file(root_ / ".env", "SECRET=1");
    fs::create_symlink(tmp_ / "outside" / "secret.txt", root_ / "leak.txt");
    fs::create_directory_symlink(tmp_ / "outside", root_ / "leakdir");
    fs::create_symlink(root_ / "robots.txt", root_ / "robots-alias.txt");  // stays inside: served
    files_ = StaticFiles::load(root_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  fs::path tmp_;
  fs::path root_;
  StaticFiles files_;
};

TEST_F(StaticFilesTest, ServesIndexForRootAndTrailingSlash) {
  const StaticFile* index = files_.find("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->body, "<!doctype html><title>chat</title>");
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->cache_control, "no-cache");
  EXPECT_EQ(files_.find("/index.html"), index);
  const StaticFile* docs = files_.find("/docs/");
  ASSERT_NE(docs, nullptr);
  EXPECT_EQ(docs->body, "docs");
}

TEST_F(StaticFilesTest, RefusesTraversalAndHiddenPaths) {
  const char* attempts[] = {
      "/../x",
      "/../outside/secret.txt",
      "/../../etc/passwd",  // what "/%2e%2e/%2e%2e/etc/passwd" decodes to
      "/assets/../../etc/passwd",
      "/assets/../index.html",
      "//etc/passwd",
      "/.git/config",
      "/.env",
      "/./index.html",
      "/assets\\..\\index.html",
      "",
      "index.html",
  };
  for (const char* path : attempts) {
    EXPECT_EQ(files_.find(path), nullptr) << path;
  }
  EXPECT_EQ(files_.find(std::string_view("/index.html\0", 12)), nullptr);
}

TEST_F(StaticFilesTest, DoesNotLoadSymlinksLeavingTheRootOrDotFiles) {
  EXPECT_EQ(files_.find("/leak.txt"), nullptr);
  EXPECT_EQ(files_.find("/leakdir/secret.txt"), nullptr);
  const StaticFile* alias = files_.find("/robots-alias.txt");
  ASSERT_NE(alias, nullptr);
  EXPECT_EQ(alias->body, "User-agent: *");
  // index, 5 assets, favicon, icon, manifest, robots, docs/index, robots-alias.
  EXPECT_EQ(files_.size(), 12u);
}

TEST_F(StaticFilesTest, SetsContentTypesByExtension) {
  struct {
    const char* path;
    const char* type;
  } cases[] = {
      {"/assets/app-3f2a9c1b.js", "text/javascript; charset=utf-8"},
      {"/assets/app-5HQWQ4KN.css", "text/css; charset=utf-8"},
      {"/assets/chunk-ABCDEFGH.js.map", "application/json; charset=utf-8"},
      {"/assets/logo.svg", "image/svg+xml; charset=utf-8"},
      {"/assets/my-font.woff2", "font/woff2"},
      {"/favicon.ico", "image/x-icon"},
      {"/icon.png", "image/png"},
      {"/manifest.json", "application/json; charset=utf-8"},
      {"/robots.txt", "text/plain; charset=utf-8"},
  };
  for (const auto& c : cases) {
    const StaticFile* f = files_.find(c.path);
    ASSERT_NE(f, nullptr) << c.path;
    EXPECT_EQ(f->content_type, c.type) << c.path;
  }
  EXPECT_EQ(content_type_for("blob.bin"), "application/octet-stream");
  EXPECT_EQ(content_type_for("PAGE.HTML"), "text/html; charset=utf-8");
}

TEST_F(StaticFilesTest, CachesHashedAssetsForeverAndRevalidatesTheRest) {
  struct {
    const char* path;
    const char* cache;
  } cases[] = {
      {"/assets/app-3f2a9c1b.js", "public, max-age=31536000, immutable"},
      {"/assets/app-5HQWQ4KN.css", "public, max-age=31536000, immutable"},
      {"/assets/chunk-ABCDEFGH.js.map", "public, max-age=31536000, immutable"},
      {"/assets/logo.svg", "no-cache"},
      {"/assets/my-font.woff2", "no-cache"},  // "font" is 4 chars: not a hash
      {"/index.html", "no-cache"},
      {"/robots.txt", "no-cache"},
  };
  for (const auto& c : cases) {
    const StaticFile* f = files_.find(c.path);
    ASSERT_NE(f, nullptr) << c.path;
    EXPECT_EQ(f->cache_control, c.cache) << c.path;
  }
  EXPECT_TRUE(has_content_hash("app-3f2a9c1b.js"));
  EXPECT_FALSE(has_content_hash("app-3f2a9c1.js"));
  EXPECT_FALSE(has_content_hash("app-3f2a9c1b"));
  EXPECT_FALSE(has_content_hash("app-3f2a_c1b.js"));
}

TEST_F(StaticFilesTest, FallsBackToIndexOnlyForExtensionlessPaths) {
  const StaticFile* index = files_.find("/index.html");
  EXPECT_EQ(files_.find("/rooms/lobby"), index);
  EXPECT_EQ(files_.find("/login"), index);
  EXPECT_EQ(files_.find("/assets/missing.js"), nullptr);
  EXPECT_EQ(files_.find("/missing.png"), nullptr);
}

TEST_F(StaticFilesTest, EtagDependsOnContentAndAnswers304) {
  const StaticFile* a = files_.find("/manifest.json");
  const StaticFile* b = files_.find("/assets/chunk-ABCDEFGH.js.map");  // same content "{}"
  const StaticFile* c = files_.find("/robots.txt");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->etag, b->etag);
  EXPECT_NE(a->etag, c->etag);
  EXPECT_EQ(a->etag.size(), 34u);  // quoted 32 hex digits

  std::string full = static_file_response(*c, "");
  EXPECT_TRUE(full.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(full.find("ETag: " + c->etag + "\r\n"), std::string::npos);
  EXPECT_NE(full.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_EQ(full.find("no-store"), std::string::npos);
  EXPECT_TRUE(full.ends_with("User-agent: *"));

  std::string cached = static_file_response(*c, "\"other\", W/" + c->etag);
  EXPECT_TRUE(cached.starts_with("HTTP/1.1 304 Not Modified\r\n"));
  EXPECT_TRUE(cached.ends_with("\r\n\r\n"));
}

TEST(StaticFiles, MissingRootGivesEmptyStore) {
  StaticFiles files = StaticFiles::load("/nonexistent/rtchat/web/dist");
  EXPECT_EQ(files.size(), 0u);
  EXPECT_EQ(files.find("/"), nullptr);
  EXPECT_EQ(files.find("/anything"), nullptr);
}

}  // namespace
}  // namespace rtchat::server
