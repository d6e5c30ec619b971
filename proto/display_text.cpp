#include "proto/display_text.h"

#include <cstdint>

namespace rtchat::proto {
namespace {

bool is_hidden(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return true;  // C0, DEL, C1
  if (cp < 0x061C) return false;                             // fast path: Latin, Greek, ...
  return cp == 0x061C ||                                     // Arabic letter mark
         (cp >= 0x200B && cp <= 0x200F) ||                   // ZWSP, ZWNJ, ZWJ, LRM, RLM
         (cp >= 0x2028 && cp <= 0x202E) ||                   // LS, PS, LRE, RLE, PDF, LRO, RLO
         (cp >= 0x2060 && cp <= 0x206F) ||  // word joiner, invisible operators, isolates
         cp == 0xFEFF;                      // zero-width no-break space (BOM)
}

// Decodes one UTF-8 sequence at the start of s. Returns its length (0 = invalid) and sets cp.
size_t decode_one(std::string_view s, uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::string clean_display_text(std::string_view in, size_t max_bytes) {
  std::string out;
  out.reserve(in.size() < max_bytes ? in.size() : max_bytes);
  while (!in.empty()) {
    uint32_t cp = 0;
    const size_t len = decode_one(in, cp);
    if (len == 0) {  // not UTF-8: drop one byte and resynchronise on the next
      in.remove_prefix(1);
      continue;
    }
    if (!is_hidden(cp)) {
      if (out.size() + len > max_bytes) break;
      out.append(in.substr(0, len));
    }
    in.remove_prefix(len);
  }
  return out;
}

}  // namespace rtchat::proto
