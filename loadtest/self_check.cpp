#include "loadtest/self_check.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "loadtest/latency_histogram.h"
#include "loadtest/message_body.h"
#include "loadtest/run_report.h"
#include "loadtest/user_token.h"
#include "loadtest/worker_link.h"
#include "proto/jwt.h"

namespace rtchat::loadtest {

namespace {

int g_failures = 0;

void expect(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "self-check FAILED: %s\n", what);
    ++g_failures;
  }
}

void check_histogram() {
  auto h = std::make_unique<LatencyHistogram>();
  expect(h->percentile(0.5) == 0 && h->count() == 0, "empty histogram reads 0");
  // Every bucket's upper edge maps back to the same bucket and relative error stays < 1/128.
  for (uint64_t v : {0ULL, 1ULL, 127ULL, 128ULL, 129ULL, 255ULL, 256ULL, 1000ULL, 123456ULL,
                     999999999ULL, (1ULL << 39) + 12345ULL}) {
    const int i = LatencyHistogram::bucket_index(v);
    const uint64_t up = LatencyHistogram::bucket_upper(i);
    expect(up >= v, "bucket upper edge >= value");
    expect(LatencyHistogram::bucket_index(up) == i, "upper edge stays in its bucket");
    expect(static_cast<double>(up - v) <= static_cast<double>(v) / 128.0 + 1,
           "relative error < 1%");
  }
  for (uint64_t v = 1; v <= 10000; ++v) h->record(v * 1000);  // 1 us .. 10 ms uniform
  const auto near = [](uint64_t got, double want) {
    return static_cast<double>(got) >= want * 0.99 && static_cast<double>(got) <= want * 1.01;
  };
  expect(h->count() == 10000, "count");
  expect(near(h->percentile(0.5), 5e6), "p50 of uniform 1..10 ms is 5 ms");
  expect(near(h->percentile(0.99), 9.9e6), "p99 is 9.9 ms");
  expect(near(h->percentile(0.999), 9.99e6), "p99.9 is 9.99 ms");
  expect(h->percentile(1.0) == 10'000'000 && h->max() == 10'000'000, "max is exact");
  expect(h->min() == 1000, "min is exact");
  expect(h->percentile(0.5) <= h->percentile(0.99) && h->percentile(0.99) <= h->max(), "monotone");

  std::string text;
  h->serialize(text);
  auto back = std::make_unique<LatencyHistogram>();
  expect(back->deserialize(text), "histogram round-trips");
  expect(back->count() == h->count() && back->percentile(0.9) == h->percentile(0.9) &&
             back->max() == h->max(),
         "round-trip keeps the distribution");
  expect(!back->deserialize("3 1 2 3 1 5:2"), "count mismatch is rejected");
  expect(!back->deserialize("garbage"), "garbage is rejected");

  auto other = std::make_unique<LatencyHistogram>();
  other->record(50'000'000);
  back->merge(*other);
  expect(back->count() == 10001 && back->max() == 50'000'000, "merge adds counts and max");
}

void check_body() {
  std::string body;
  encode_body(BodyStamp{7, 42, 123456789}, 100, body);
  expect(body.size() == 100, "body padded to msg-size");
  BodyStamp s;
  expect(parse_body(body, s) && s.publisher == 7 && s.seq == 42 && s.send_ns == 123456789,
         "body round-trips");
  body.clear();
  encode_body(BodyStamp{1, 1, 1}, 5000, body);
  expect(body.size() == kMaxBodyBytes, "body capped at 4000");
  expect(!parse_body("hello there", s), "human text is not a stamp");
  expect(!parse_body("lt 1 2", s), "truncated stamp is rejected");
}

void check_jwt() {
  // The token a load connection presents verifies with the server's own rules (same library).
  const std::string t = mint_user_token("secret", 7, 60);
  rtchat::proto::JwtClaims claims;
  expect(rtchat::proto::verify_jwt(t, "secret", std::time(nullptr), 0, claims) ==
             rtchat::proto::JwtError::None,
         "load token verifies");
  expect(claims.sub == "lt7" && claims.name == "load7", "load token claims");
  expect(rtchat::proto::verify_jwt(t, "other", std::time(nullptr), 0, claims) ==
             rtchat::proto::JwtError::BadSignature,
         "load token is signed with the secret");
}

void check_link_message() {
  auto m = std::make_unique<WorkerMessage>();
  m->kind = WorkerMessage::Kind::Final;
  m->counters[Counter::Published] = 12;
  m->counters[Counter::Received] = 345;
  m->e2e.record(1000);
  m->e2e.record(2'000'000);
  m->room_counts = {{0, 3}, {9, 4}};
  m->text = "connect: refused | x";
  std::string wire;
  m->serialize(wire);
  auto back = std::make_unique<WorkerMessage>();
  expect(back->deserialize(wire), "worker message parses");
  expect(back->kind == WorkerMessage::Kind::Final && back->counters[Counter::Published] == 12 &&
             back->counters[Counter::Received] == 345 && back->e2e.count() == 2 &&
             back->e2e.max() == 2'000'000 && back->room_counts.size() == 2 &&
             back->room_counts[1].first == 9 && back->room_counts[1].second == 4,
         "worker message round-trips");
  expect(!back->deserialize("Q|1 2"), "unknown kind is rejected");
}

void check_report() {
  auto r = std::make_unique<RunReport>();
  r->config.connections = 10;
  r->totals[Counter::ConnJoined] = 10;
  r->totals[Counter::Received] = 90;
  r->expected_deliveries = 100;
  r->is_complete = true;
  r->e2e.record(5'000'000);
  const std::string j = json_line(*r);
  expect(j.front() == '{' && j.back() == '}', "json line is an object");
  expect(j.find("\"lost\":10") != std::string::npos, "json reports loss");
  expect(j.find("\"p99_ms\":5.000") != std::string::npos, "json reports p99 in ms");
  expect(j.find('\n') == std::string::npos, "json is one line");
  r->is_complete = false;
  expect(json_line(*r).find("\"lost\":null") != std::string::npos, "an unfinished run has no loss");
}

}  // namespace

int run_self_checks() {
  g_failures = 0;
  check_histogram();
  check_body();
  check_jwt();
  check_link_message();
  check_report();
  if (g_failures == 0) std::printf("self-check ok\n");
  return g_failures == 0 ? 0 : 1;
}

}  // namespace rtchat::loadtest
