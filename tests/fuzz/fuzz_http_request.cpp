// Fuzzes the HTTP/1.1 request parser (server/net/http_request.h) with arbitrary bytes. Beyond no
// crash, leak or UB: the outcome does not depend on how the bytes are split across feeds (a
// request arrives in whatever segments TCP gives), Complete accounts for exactly the request's
// bytes, and a parsed request holds what the parser promises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_invariants.h"
#include "server/net/http_request.h"

namespace {

using rtchat::fuzz::require;
using rtchat::server::HttpParseStatus;
using rtchat::server::HttpRequest;
using rtchat::server::HttpRequestParser;

// Small limits so the fuzzer reaches HeadersTooLarge and BodyTooLarge with short inputs.
constexpr size_t kMaxHeaderBytes = 1024;
constexpr size_t kMaxBodyBytes = 256;

struct Outcome {
  HttpParseStatus status = HttpParseStatus::NeedMore;
  size_t consumed = 0;  // total bytes taken, over all feeds
};

// Feeds `bytes` in pieces of `stride` bytes until the parser stops asking for more.
Outcome parse(HttpRequestParser& parser, std::string_view bytes, size_t stride) {
  Outcome out;
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, stride);
    size_t consumed = 0;
    out.status = parser.feed(piece, consumed);
    require(consumed <= piece.size());
    out.consumed += consumed;
    if (out.status != HttpParseStatus::NeedMore) {
      // A stopped parser keeps its answer and takes nothing more.
      size_t again = 1;
      require(parser.feed(piece, again) == out.status && again == 0);
      return out;
    }
    require(consumed == piece.size());
    bytes.remove_prefix(piece.size());
  }
  return out;
}

bool is_lower_ascii(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The segment size of the split run comes from the input itself, so every byte is request
  // stream and the seeds are plain requests (shared with fuzz_handshake).
  const size_t stride = rtchat::fuzz::stride_for(data, size, 64);
  thread_local std::string storage;
  const std::string_view bytes = rtchat::fuzz::misaligned_copy(storage, data, size);

  HttpRequestParser whole(kMaxHeaderBytes, kMaxBodyBytes);
  HttpRequestParser split(kMaxHeaderBytes, kMaxBodyBytes);
  const Outcome a = parse(whole, bytes, bytes.size() + 1);
  const Outcome b = parse(split, bytes, stride);
  require(a.status == b.status);
  if (a.status != HttpParseStatus::Complete) return 0;
  require(a.consumed == b.consumed);
  require(a.consumed <= bytes.size());
  const HttpRequest& r = whole.request();
  const HttpRequest& s = split.request();
  require(r.method == s.method && r.target == s.target && r.path == s.path &&
          r.headers == s.headers && r.body == s.body && r.upgrade == s.upgrade &&
          r.keep_alive == s.keep_alive && r.query == s.query);
  require(!r.method.empty() && !r.target.empty());
  require(r.body.size() <= kMaxBodyBytes);
  for (const auto& [name, value] : r.headers) require(is_lower_ascii(name));

  // keep-alive: the same parser, reset, reads the next request like a fresh one.
  whole.reset();
  HttpRequestParser fresh(kMaxHeaderBytes, kMaxBodyBytes);
  std::string_view rest = bytes.substr(a.consumed);
  require(parse(whole, rest, rest.size() + 1).status == parse(fresh, rest, rest.size() + 1).status);
  return 0;
}
