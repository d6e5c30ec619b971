#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace rtchat::server {
namespace {

// Sets RTCHAT_* variables for one test and removes them after (parse_config reads the process env).
class ConfigEnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& n : set_) ::unsetenv(n.c_str());
  }
  void env(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    set_.push_back(name);
  }
  static bool parse(std::vector<std::string> args, ServerConfig& c) {
    args.insert(args.begin(), "rtchat-server");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = 0;
    return parse_config(static_cast<int>(argv.size()), argv.data(), c, code);
  }
  std::vector<std::string> set_;
};

TEST_F(ConfigEnvTest, DefaultsWithoutEnvOrFlags) {
  ServerConfig c;
  ASSERT_TRUE(parse({}, c));
  EXPECT_EQ(c.port, 4000);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_FALSE(c.production);
}

TEST_F(ConfigEnvTest, EnvOverridesDefault) {
  env("RTCHAT_PORT", "4100");
  env("RTCHAT_PRODUCTION", "true");
  env("RTCHAT_ALLOWED_HOSTS", "chat.example.com,*.example.org");
  ServerConfig c;
  ASSERT_TRUE(parse({}, c));
  EXPECT_EQ(c.port, 4100);
  EXPECT_TRUE(c.production);
  EXPECT_EQ(c.host, "0.0.0.0");  // the production default
  EXPECT_EQ(c.allowed_hosts, (std::vector<std::string>{"chat.example.com", "*.example.org"}));
}

TEST_F(ConfigEnvTest, FlagOverridesEnv) {
  env("RTCHAT_PORT", "4100");
  env("RTCHAT_DATA_DIR", "/var/lib/rtchat");
  ServerConfig c;
  ASSERT_TRUE(parse({"--port", "4200"}, c));
  EXPECT_EQ(c.port, 4200);
  EXPECT_EQ(c.data_dir, "/var/lib/rtchat");
}

TEST_F(ConfigEnvTest, FormatPrintsEffectiveValuesAndMasksSecrets) {
  env("RTCHAT_JWT_SECRET", "s3cret-value-0123456789");
  env("RTCHAT_PRODUCTION", "1");
  ServerConfig c;
  ASSERT_TRUE(parse({"--port", "4300", "--cluster", "redis://user:pw@10.0.0.5:6379",
                     "--allowed-origins", "https://a.example,https://b.example"},
                    c));
  const std::string out = format_config(c);
  EXPECT_NE(out.find("RTCHAT_PORT=4300\n"), std::string::npos) << out;
  EXPECT_NE(out.find("RTCHAT_PRODUCTION=true\n"), std::string::npos) << out;
  EXPECT_NE(out.find("RTCHAT_HOST=0.0.0.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("RTCHAT_ALLOWED_ORIGINS=https://a.example,https://b.example\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("RTCHAT_JWT_SECRET=<hidden, 23 characters>\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("s3cret"), std::string::npos) << out;
  EXPECT_NE(out.find("RTCHAT_CLUSTER=redis://<hidden>@10.0.0.5:6379\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("pw@"), std::string::npos) << out;
}

TEST_F(ConfigEnvTest, FormatListsEverySettingOnce) {
  ServerConfig c;
  ASSERT_TRUE(parse({}, c));
  const std::string out = format_config(c);
  const auto names = config_env_names();
  EXPECT_GT(names.size(), 30u);
  for (const auto& n : names) {
    EXPECT_NE(out.find(n + "="), std::string::npos) << n;
  }
  EXPECT_EQ(out.find("FAULT"), std::string::npos) << "test switches are not settings";
}

TEST_F(ConfigEnvTest, ApiKeysRepeatableFlagOrCommaSeparatedEnv) {
  ServerConfig off;
  ASSERT_TRUE(parse({}, off));
  EXPECT_TRUE(off.api_keys.empty());  // no key: the server API is off
  ServerConfig flags;
  ASSERT_TRUE(parse({"--api-key", "k-one", "--api-key", "k-two"}, flags));
  EXPECT_EQ(flags.api_keys, (std::vector<std::string>{"k-one", "k-two"}));
  env("RTCHAT_API_KEY", "old-key-123,new-key-456");
  ServerConfig from_env;
  ASSERT_TRUE(parse({}, from_env));
  EXPECT_EQ(from_env.api_keys, (std::vector<std::string>{"old-key-123", "new-key-456"}));
  const std::string out = format_config(from_env);
  EXPECT_NE(out.find("RTCHAT_API_KEY=<hidden, 2 keys>\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("key-123"), std::string::npos) << out;
}

TEST_F(ConfigEnvTest, RetentionSweepDefaultsToAMinuteAndRefusesOutOfRange) {
  ServerConfig c;
  ASSERT_TRUE(parse({}, c));
  EXPECT_EQ(c.retention_sweep_ms, 60000);
  ASSERT_TRUE(parse({"--retention-sweep-ms", "100"}, c));
  EXPECT_EQ(c.retention_sweep_ms, 100);
  env("RTCHAT_RETENTION_SWEEP_MS", "86400000");
  ServerConfig from_env;
  ASSERT_TRUE(parse({}, from_env));
  EXPECT_EQ(from_env.retention_sweep_ms, 86400000);
  for (const char* bad : {"0", "99", "-5", "86400001", "soon"}) {
    ServerConfig refused;
    EXPECT_FALSE(parse({"--retention-sweep-ms", bad}, refused)) << bad;
  }
}

// The packaged /etc/rtchat/rtchat.env documents every setting: a new flag without a line there
// fails here.
TEST(PackagedEnvFile, ListsEverySetting) {
  std::ifstream in(std::string(RTCHAT_SOURCE_DIR) + "/packaging/rtchat.env");
  ASSERT_TRUE(in) << "packaging/rtchat.env missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  for (const auto& n : config_env_names()) {
    EXPECT_NE(text.find(n + "="), std::string::npos) << n << " is not in packaging/rtchat.env";
  }
  // Production on, and the secret left for the operator to fill in.
  EXPECT_NE(text.find("\nRTCHAT_PRODUCTION=true\n"), std::string::npos);
  EXPECT_NE(text.find("\nRTCHAT_JWT_SECRET=\n"), std::string::npos);
}

}  // namespace
}  // namespace rtchat::server
