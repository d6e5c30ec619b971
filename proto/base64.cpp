#include "proto/base64.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>

namespace rtchat::proto {
namespace {

constexpr uint8_t kBad = 0xFF;
using B64Table = std::array<uint8_t, 256>;

constexpr B64Table make_table(bool url, bool standard) {
  B64Table t{};
  for (auto& v : t) v = kBad;
  const char* alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (uint8_t i = 0; i < 62; ++i) t[static_cast<unsigned char>(alnum[i])] = i;
  if (url) t['-'] = 62, t['_'] = 63;
  if (standard) t['+'] = 62, t['/'] = 63;
  return t;
}
constexpr B64Table kUrlTable = make_table(true, false);
constexpr B64Table kAnyTable = make_table(true, true);
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Decoded size of unpadded base64 of `chars` characters; nullopt when no input has that length.
}  // namespace

std::optional<size_t> base64_decoded_size(size_t chars) {
  if (chars % 4 == 1) return std::nullopt;
  return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

// Decodes unpadded base64 into out[0, decoded_size(in.size())). Rejects non-zero trailing bits so
// that every byte string has exactly one accepted encoding (no signature malleability).
namespace {

bool decode_unpadded(std::string_view in, const B64Table& table, unsigned char* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  for (; n >= 4; n -= 4, p += 4, out += 3) {
    const uint32_t a = table[p[0]], b = table[p[1]], c = table[p[2]], d = table[p[3]];
    if ((a | b | c | d) & 0xC0) return false;
    const uint32_t v = a << 18 | b << 12 | c << 6 | d;
    out[0] = static_cast<unsigned char>(v >> 16);
    out[1] = static_cast<unsigned char>(v >> 8);
    out[2] = static_cast<unsigned char>(v);
  }
  if (n == 2) {
    const uint32_t a = table[p[0]], b = table[p[1]];
    if ((a | b) & 0xC0 || (b & 0x0F) != 0) return false;
    out[0] = static_cast<unsigned char>(a << 2 | b >> 4);
  } else if (n == 3) {
    const uint32_t a = table[p[0]], b = table[p[1]], c = table[p[2]];
    if ((a | b | c) & 0xC0 || (c & 0x03) != 0) return false;
    const uint32_t v = a << 10 | b << 4 | c >> 2;
    out[0] = static_cast<unsigned char>(v >> 8);
    out[1] = static_cast<unsigned char>(v);
  }
  return n != 1;
}

}  // namespace

bool base64url_decode_unpadded(std::string_view in, unsigned char* out) {
  return decode_unpadded(in, kUrlTable, out);
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  for (; n >= 3; n -= 3, p += 3) {
    const uint32_t v = uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
    out += kUrlAlphabet[v >> 18];
    out += kUrlAlphabet[(v >> 12) & 63];
    out += kUrlAlphabet[(v >> 6) & 63];
    out += kUrlAlphabet[v & 63];
  }
  if (n == 1) {
    out += kUrlAlphabet[p[0] >> 2];
    out += kUrlAlphabet[(p[0] & 3) << 4];
  } else if (n == 2) {
    const uint32_t v = uint32_t{p[0]} << 8 | p[1];
    out += kUrlAlphabet[v >> 10];
    out += kUrlAlphabet[(v >> 4) & 63];
    out += kUrlAlphabet[(v & 15) << 2];
  }
  return out;
}

bool base64_decode_any(std::string_view in, std::string& out) {
  if (!in.empty() && in.back() == '=') {
    // Padding, when present, must complete the last quantum: "QQ==" or "QUI=", never "QQ=".
    if (in.size() % 4 != 0) return false;
    in.remove_suffix(1);
    if (!in.empty() && in.back() == '=') in.remove_suffix(1);
    if (in.size() % 4 == 0) return false;  // "====" or a full quantum followed by "="
  }
  const auto size = base64_decoded_size(in.size());
  if (!size) return false;
  out.resize(*size);
  return decode_unpadded(in, kAnyTable, reinterpret_cast<unsigned char*>(out.data()));
}

}  // namespace rtchat::proto
