#include "server/metrics_text.h"

#include <gtest/gtest.h>

namespace rtchat::server {
namespace {

TEST(MetricsText, OneSamplePerShardWithItsLabel) {
  ShardMetrics a, b;
  a.messages_published.add(3);
  b.messages_published.add(4);
  std::string text = render_prometheus({&a, &b}, nullptr);
  EXPECT_NE(text.find("# TYPE rtchat_messages_published_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("rtchat_messages_published_total{shard=\"0\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("rtchat_messages_published_total{shard=\"1\"} 4\n"), std::string::npos);
}

TEST(MetricsText, HistogramBucketsAreCumulativeAndEndWithInf) {
  ShardMetrics a;
  a.publish_to_deliver.observe(40);       // <= 50 us
  a.publish_to_deliver.observe(700);      // <= 1 ms
  a.publish_to_deliver.observe(5000000);  // > 1 s
  std::string text = render_prometheus({&a}, nullptr);
  EXPECT_NE(text.find("rtchat_publish_to_deliver_seconds_bucket{shard=\"0\",le=\"5e-05\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("rtchat_publish_to_deliver_seconds_bucket{shard=\"0\",le=\"0.001\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("rtchat_publish_to_deliver_seconds_bucket{shard=\"0\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("rtchat_publish_to_deliver_seconds_count{shard=\"0\"} 3\n"),
            std::string::npos);
}

TEST(MetricsText, StorageMetricsHaveNoLabels) {
  ShardMetrics a;
  StorageMetrics s;
  s.messages_committed.add(9);
  std::string text = render_prometheus({&a}, &s);
  EXPECT_NE(text.find("\nrtchat_storage_messages_total 9\n"), std::string::npos);
  EXPECT_EQ(text.find("{}"), std::string::npos);
}

TEST(MetricsText, ClosesAreCountedByCode) {
  ShardMetrics a;
  a.count_close(4008);
  a.count_close(3999);
  std::string text = render_prometheus({&a}, nullptr);
  EXPECT_NE(text.find("rtchat_closes_total{shard=\"0\",code=\"4008\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("rtchat_closes_total{shard=\"0\",code=\"other\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace rtchat::server
