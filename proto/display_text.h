// Text that one client shows to others: the token's display name and a join's device label.
// Both reach every member of a room (presence, messages, typing), so the server keeps them to
// visible characters in a bounded number of bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rtchat::proto {

// A join's device label ("phone", "laptop"), kept to this many bytes after cleaning: a label,
// not a text; the JSON codec separately refuses labels over 32 characters (invalid params).
inline constexpr size_t kMaxDeviceBytes = 32;

// Returns `in` without the characters that hide, reorder or restyle what a reader sees:
// - controls: C0 (U+0000-001F), DEL (U+007F), C1 (U+0080-009F);
// - bidirectional controls: U+061C, U+200E, U+200F, U+202A-202E, U+2066-2069 (a right-to-left
//   override makes "ecilA" read as "Alice");
// - zero-width and invisible format characters: U+200B-200D, U+FEFF, and the rest of
//   U+2060-206F (word joiner, invisible operators, deprecated format controls);
// - line and paragraph separators U+2028, U+2029 (a name is one line);
// then keeps at most max_bytes bytes, cut before the first character that does not fit whole
// (never inside a UTF-8 sequence). Bytes that are not valid UTF-8 (overlong, surrogate, beyond
// U+10FFFF, truncated) are dropped, so the result is always valid UTF-8. Pure, allocation of the
// result only; any thread.
std::string clean_display_text(std::string_view in, size_t max_bytes);

// Code points in valid UTF-8 (continuation bytes are not counted).
inline size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The longest prefix of valid UTF-8 `s` of at most max_bytes that ends on a character boundary.
inline std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  // Back off continuation bytes (10xxxxxx): s[end] is then the first byte of the character that
  // does not fit, and everything before it is whole.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace rtchat::proto
