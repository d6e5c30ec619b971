#include "proto/jwt.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <simdjson.h>

#include <array>
#include <chrono>
#include <cstring>
#include <limits>

#include "proto/base64.h"
#include "proto/display_text.h"
#include "proto/phoenix_codec.h"

namespace rtchat::proto {
namespace {

using proto::phoenix::append_json_string;  // one JSON string escaper for the codec and tokens

constexpr size_t kHs256Bytes = 32;
constexpr size_t kHs256B64Chars = 43;  // 32 bytes, unpadded base64url
// Decoded header or payload never exceeds this, because the whole token is capped first.
constexpr size_t kMaxJsonBytes = kMaxJwtBytes / 4 * 3;
// The longest prefix of `s` within max_bytes that does not split a UTF-8 sequence: the display
// name a token without a "name" claim gets from its (up to 128-byte) sub, so names stay within
// kMaxJwtNameBytes however they were made.
// Decodes a JWT part into `buf` (kMaxJsonBytes + SIMDJSON_PADDING bytes) and zeroes the padding
// simdjson reads past the end.
bool decode_json_part(std::string_view part, char* buf, size_t& len) {
  const auto size = base64_decoded_size(part.size());
  if (!size || *size > kMaxJsonBytes) return false;
  if (!base64url_decode_unpadded(part, reinterpret_cast<unsigned char*>(buf))) return false;
  std::memset(buf + *size, 0, simdjson::SIMDJSON_PADDING);
  len = *size;
  return true;
}

// One parser per thread (shard): after the first token its buffers are reused, so verifying
// allocates nothing but the claim strings. Elements it returns live until its next parse().
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// A per-thread HMAC-SHA256 context. The digest is fetched once, and when the key is the same as
// last time (the server has one secret) re-init skips re-hashing the key.
class HmacSha256 {
 public:
  HmacSha256() {
    mac_ = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
    if (mac_ != nullptr) ctx_ = EVP_MAC_CTX_new(mac_);
  }
  ~HmacSha256() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  bool compute(std::string_view key, std::string_view data, unsigned char (&out)[kHs256Bytes]) {
    if (ctx_ == nullptr || key.empty()) return false;
    if (!init(key)) {
      key_.clear();
      is_keyed_ = false;
      return false;
    }
    size_t out_len = 0;
    if (EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
            1 ||
        EVP_MAC_final(ctx_, out, &out_len, kHs256Bytes) != 1 || out_len != kHs256Bytes) {
      is_keyed_ = false;
      return false;
    }
    return true;
  }

 private:
  bool init(std::string_view key) {
    // A null key re-initialises with the previous key and digest (OpenSSL 3 EVP_MAC_init).
    if (is_keyed_ && key == key_) return EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     params) != 1)
      return false;
    key_.assign(key);
    is_keyed_ = true;
    return true;
  }

  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  std::string key_;
  bool is_keyed_ = false;
};

bool hmac_sha256(std::string_view key, std::string_view data, unsigned char (&out)[kHs256Bytes]) {
  thread_local HmacSha256 hmac;
  return hmac.compute(key, data, out);
}

JwtError check_header(const char* json, size_t len) {
  simdjson::dom::element doc;
  simdjson::dom::object header;
  if (thread_parser().parse(json, len, false).get(doc) || doc.get_object().get(header)) {
    return JwtError::BadJson;
  }
  std::string_view alg;
  if (header["alg"].get_string().get(alg) || alg != "HS256") return JwtError::UnsupportedAlg;
  return JwtError::None;
}

// Reads an optional integer claim: absent is fine, present must be a JSON integer in int64 range.
bool read_optional_int(simdjson::dom::object obj, std::string_view key,
                       std::optional<int64_t>& out) {
  auto field = obj[key];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  int64_t v = 0;
  if (field.get_int64().get(v)) return false;
  out = v;
  return true;
}

bool read_room_list(simdjson::dom::object obj, std::string_view key,
                    std::optional<std::vector<std::string>>& out) {
  auto field = obj[key];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  simdjson::dom::array rooms;
  if (field.get_array().get(rooms)) return false;
  std::vector<std::string> list;
  list.reserve(rooms.size());
  for (simdjson::dom::element room : rooms) {
    std::string_view id;
    if (room.get_string().get(id)) return false;
    list.emplace_back(id);
  }
  out = std::move(list);
  return true;
}

bool read_role(simdjson::dom::object obj, std::string& out) {
  auto field = obj["role"];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  std::string_view role;
  if (field.get_string().get(role) || role.size() > kMaxJwtRoleBytes) return false;
  out.assign(role);
  return true;
}

// The rooms and moderate lists match the same way: exact ids, or prefixes ending in '*'.
bool list_admits(const std::vector<std::string>& list, std::string_view room_id) {
  for (const std::string& entry : list) {
    if (!entry.empty() && entry.back() == '*') {
      if (room_id.starts_with(std::string_view(entry).substr(0, entry.size() - 1))) return true;
    } else if (entry == room_id) {
      return true;
    }
  }
  return false;
}

void append_json_list(std::string& payload, std::string_view key,
                      const std::vector<std::string>& list) {
  payload += ",\"";
  payload += key;
  payload += "\":[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i != 0) payload += ',';
    append_json_string(payload, list[i]);
  }
  payload += ']';
}

JwtError read_claims(const char* json, size_t len, JwtClaims& c) {
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (thread_parser().parse(json, len, false).get(doc) || doc.get_object().get(obj)) {
    return JwtError::BadJson;
  }
  auto sub = obj["sub"];
  if (sub.error() == simdjson::NO_SUCH_FIELD) return JwtError::MissingSub;
  std::string_view sub_view;
  if (sub.get_string().get(sub_view) || sub_view.size() > kMaxJwtSubBytes) {
    return JwtError::BadClaims;
  }
  if (sub_view.empty()) return JwtError::MissingSub;

  auto exp = obj["exp"];
  if (exp.error() == simdjson::NO_SUCH_FIELD) return JwtError::MissingExp;
  if (exp.get_int64().get(c.exp)) return JwtError::BadClaims;

  std::string_view name_view = utf8_prefix(sub_view, kMaxJwtNameBytes);
  auto name = obj["name"];
  if (name.error() != simdjson::NO_SUCH_FIELD &&
      (name.get_string().get(name_view) || name_view.size() > kMaxJwtNameBytes)) {
    return JwtError::BadClaims;
  }
  if (!read_optional_int(obj, "nbf", c.nbf) || !read_optional_int(obj, "iat", c.iat) ||
      !read_room_list(obj, "rooms", c.rooms) || !read_room_list(obj, "moderate", c.moderate) ||
      !read_role(obj, c.role)) {
    return JwtError::BadClaims;
  }
  c.sub.assign(sub_view);
  // The name is shown to every member of a room: only its visible characters are kept, so it
  // can neither reorder nor hide text (a right-to-left override, zero-width padding) nor cost
  // six bytes per control character in every presence frame. Nothing visible: the user id.
  c.name = clean_display_text(name_view, kMaxJwtNameBytes);
  // No name claim, or nothing visible in it: the user id's visible characters, and the raw id
  // only when it has none (the identity itself is never rewritten). Each step is a fixed point
  // of the next verify, so a re-minted token reads back the same name.
  if (c.name.empty())
    c.name = clean_display_text(utf8_prefix(c.sub, kMaxJwtNameBytes), kMaxJwtNameBytes);
  if (c.name.empty()) c.name = std::string(utf8_prefix(c.sub, kMaxJwtNameBytes));
  return JwtError::None;
}

// a + b clamped to int64 range: exp and nbf come from the token and may sit at the extremes.
int64_t saturating_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

void append_json_int(std::string& out, std::string_view key, int64_t v) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(v);
}

}  // namespace

std::string_view jwt_error_reason(JwtError error) {
  switch (error) {
    case JwtError::None:
      return "ok";
    case JwtError::Malformed:
      return "malformed token";
    case JwtError::BadBase64:
      return "token is not base64url";
    case JwtError::BadJson:
      return "token is not json";
    case JwtError::UnsupportedAlg:
      return "unsupported token alg";
    case JwtError::BadSignature:
      return "bad token signature";
    case JwtError::Expired:
      return "token expired";
    case JwtError::NotYetValid:
      return "token not yet valid";
    case JwtError::MissingSub:
      return "token has no sub";
    case JwtError::MissingExp:
      return "token has no exp";
    case JwtError::BadClaims:
      return "invalid token claims";
  }
  return "invalid token";
}

JwtError verify_jwt(std::string_view token, std::string_view secret, int64_t now_s,
                    int64_t leeway_s, JwtClaims& out) {
  if (token.size() > kMaxJwtBytes) return JwtError::Malformed;
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return JwtError::Malformed;
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return JwtError::Malformed;
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty()) return JwtError::Malformed;

  // One scratch buffer serves header then payload: alg is checked before the payload is decoded.
  char json[kMaxJsonBytes + simdjson::SIMDJSON_PADDING];
  size_t json_len = 0;
  if (!decode_json_part(header_b64, json, json_len)) return JwtError::BadBase64;
  if (const JwtError e = check_header(json, json_len); e != JwtError::None) return e;

  // The signature is checked before the payload is even decoded: unsigned bytes are never parsed.
  if (sig_b64.size() != kHs256B64Chars) return JwtError::BadSignature;
  unsigned char sig[kHs256Bytes + 1];
  if (!base64url_decode_unpadded(sig_b64, sig)) return JwtError::BadBase64;
  unsigned char mac[kHs256Bytes];
  if (!hmac_sha256(secret, token.substr(0, dot2), mac) ||
      CRYPTO_memcmp(sig, mac, kHs256Bytes) != 0) {
    return JwtError::BadSignature;
  }

  if (!decode_json_part(payload_b64, json, json_len)) return JwtError::BadBase64;
  JwtClaims claims;
  if (const JwtError e = read_claims(json, json_len, claims); e != JwtError::None) return e;
  const int64_t leeway = leeway_s > 0 ? leeway_s : 0;
  if (token_expired(claims, now_s, leeway)) return JwtError::Expired;
  if (claims.nbf && *claims.nbf > saturating_add(now_s, leeway)) return JwtError::NotYetValid;
  // A token issued in the future (beyond the skew we tolerate) comes from a wrong clock or a
  // forger.
  if (claims.iat && *claims.iat > saturating_add(now_s, leeway)) return JwtError::NotYetValid;
  out = std::move(claims);
  return JwtError::None;
}

bool token_expired(int64_t exp, int64_t now_s, int64_t leeway_s) {
  return now_s > saturating_add(exp, leeway_s > 0 ? leeway_s : 0);
}

bool token_expired(const JwtClaims& claims, int64_t now_s, int64_t leeway_s) {
  return token_expired(claims.exp, now_s, leeway_s);
}

std::string mint_jwt(std::string_view secret, const JwtClaims& claims) {
  // base64url of {"alg":"HS256","typ":"JWT"}
  static constexpr std::string_view kHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
  const int64_t iat = claims.iat.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  std::string payload = "{\"sub\":";
  append_json_string(payload, claims.sub);
  payload += ",\"name\":";
  append_json_string(payload,
                     claims.name.empty() ? utf8_prefix(claims.sub, kMaxJwtNameBytes) : claims.name);
  append_json_int(payload, "exp", claims.exp);
  append_json_int(payload, "iat", iat);
  if (claims.nbf) append_json_int(payload, "nbf", *claims.nbf);
  if (claims.rooms) append_json_list(payload, "rooms", *claims.rooms);
  if (!claims.role.empty()) {
    payload += ",\"role\":";
    append_json_string(payload, claims.role);
  }
  if (claims.moderate) append_json_list(payload, "moderate", *claims.moderate);
  payload += '}';

  std::string token(kHeader);
  token += '.';
  token += base64url_encode(payload);
  unsigned char mac[kHs256Bytes];
  if (!hmac_sha256(secret, token, mac)) return {};
  token += '.';
  token += base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), kHs256Bytes));
  return token;
}

bool room_allowed(const JwtClaims& claims, std::string_view room_id) {
  return !claims.rooms || list_admits(*claims.rooms, room_id);
}

bool may_moderate(const JwtClaims& claims, std::string_view room_id) {
  return claims.role == "moderator" || (claims.moderate && list_admits(*claims.moderate, room_id));
}

}  // namespace rtchat::proto
