// JWT verification runs once per socket connect and per authenticated HTTP request.
#include <benchmark/benchmark.h>

#include <string>

#include "proto/jwt.h"

namespace {

namespace proto = rtchat::proto;

constexpr std::string_view kSecret = "bench-secret-with-32-bytes-long!";
constexpr int64_t kNow = 1'700'000'000;

// A typical chat token: sub, name, exp, iat, and a short rooms claim (about 250 bytes).
std::string typical_token() {
  proto::JwtClaims c;
  c.sub = "user-8f14e45f";
  c.name = "Ada Lovelace";
  c.exp = kNow + 3600;
  c.iat = kNow;
  c.rooms = std::vector<std::string>{"lobby", "team-7", "ops-*"};
  return rtchat::proto::mint_jwt(kSecret, c);
}

void BM_VerifyJwt(benchmark::State& state) {
  const std::string token = typical_token();
  proto::JwtClaims out;
  for (auto _ : state) {
    const proto::JwtError e = rtchat::proto::verify_jwt(token, kSecret, kNow, 30, out);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(token.size()));
  state.counters["token_bytes"] = static_cast<double>(token.size());
}
BENCHMARK(BM_VerifyJwt);

// The cost of a forged token: rejected after the HMAC, before the payload is parsed.
void BM_VerifyJwtBadSignature(benchmark::State& state) {
  std::string token = typical_token();
  token[token.size() - 2] = token[token.size() - 2] == 'A' ? 'B' : 'A';
  proto::JwtClaims out;
  for (auto _ : state) {
    const proto::JwtError e = rtchat::proto::verify_jwt(token, kSecret, kNow, 30, out);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyJwtBadSignature);

void BM_MintJwt(benchmark::State& state) {
  proto::JwtClaims c;
  c.sub = "user-8f14e45f";
  c.name = "Ada Lovelace";
  c.exp = kNow + 3600;
  c.iat = kNow;
  for (auto _ : state) {
    std::string token = rtchat::proto::mint_jwt(kSecret, c);
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MintJwt);

}  // namespace
