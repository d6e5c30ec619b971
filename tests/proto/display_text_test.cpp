#include "proto/display_text.h"

#include <gtest/gtest.h>

#include <string>

namespace rtchat::proto {
namespace {

struct Case {
  const char* what;
  std::string in;
  size_t max_bytes;
  std::string out;
};

TEST(DisplayText, StripsHiddenCharactersAndCutsOnCharacterBoundaries) {
  const Case cases[] = {
      {"plain ASCII", "Alice", 64, "Alice"},
      {"non-Latin text is kept", "\xD0\x90\xD0\xBB\xD0\xB8\xD1\x81\xD0\xB0 \xE6\x9D\x8E", 64,
       "\xD0\x90\xD0\xBB\xD0\xB8\xD1\x81\xD0\xB0 \xE6\x9D\x8E"},
      {"emoji are kept", "hi \xF0\x9F\x91\x8B", 64, "hi \xF0\x9F\x91\x8B"},
      {"C0 controls, tab and newline", std::string("a\x01\tb\nc\x1F", 7) + std::string(1, '\0'), 64,
       "abc"},
      {"DEL",
       "a\x7F"
       "b",
       64, "ab"},
      {"C1 controls U+0080, U+0085, U+009F",
       "a\xC2\x80"
       "b\xC2\x85"
       "c\xC2\x9F",
       64, "abc"},
      {"U+00A0 (first after C1) is kept",
       "a\xC2\xA0"
       "b",
       64,
       "a\xC2\xA0"
       "b"},
      {"right-to-left override U+202E",
       "\xE2\x80\xAE"
       "ecilA",
       64, "ecilA"},
      {"embeddings and pop U+202A-202D, U+202C",
       "\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD"
       "x",
       64, "x"},
      {"isolates U+2066-2069",
       "\xE2\x81\xA6"
       "a\xE2\x81\xA7"
       "b\xE2\x81\xA8"
       "c\xE2\x81\xA9",
       64, "abc"},
      {"marks U+200E, U+200F, U+061C",
       "\xE2\x80\x8E"
       "a\xE2\x80\x8F"
       "b\xD8\x9C"
       "c",
       64, "abc"},
      {"zero-width U+200B-200D, U+2060, U+FEFF",
       "\xE2\x80\x8B"
       "a\xE2\x80\x8C"
       "b\xE2\x80\x8D"
       "c\xE2\x81\xA0"
       "d\xEF\xBB\xBF",
       64, "abcd"},
      {"line and paragraph separators",
       "a\xE2\x80\xA8"
       "b\xE2\x80\xA9"
       "c",
       64, "abc"},
      {"neighbours of the stripped ranges are kept (U+200A, U+2010, U+2027, U+202F, U+2070)",
       "\xE2\x80\x8A\xE2\x80\x90\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xB0", 64,
       "\xE2\x80\x8A\xE2\x80\x90\xE2\x80\xA7\xE2\x80\xAF\xE2\x81\xB0"},
      {"cut at the byte cap", "abcdef", 4, "abcd"},
      {"cut before a 2-byte character that does not fit", "abc\xC3\xA9", 4, "abc"},
      {"cut before a 4-byte character that does not fit", "ab\xF0\x9F\x98\x80", 5, "ab"},
      {"a character that fits exactly", "ab\xF0\x9F\x98\x80", 6, "ab\xF0\x9F\x98\x80"},
      {"the cap counts kept bytes, after stripping", std::string(10, '\x01') + "abcd", 4, "abcd"},
      {"nothing visible", "\xE2\x80\x8B\x01\xE2\x80\xAE", 64, ""},
      {"invalid UTF-8 is dropped (lone continuation, truncated, overlong, surrogate)",
       "a\x80"
       "b\xC3"
       "c\xC0\xAF"
       "d\xED\xA0\x80"
       "e\xF4\x90\x80\x80",
       64, "abcde"},
      {"max_bytes 0", "abc", 0, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(clean_display_text(c.in, c.max_bytes), c.out);
  }
}

TEST(DisplayText, ControlPaddedNameShrinksToItsVisibleCharacters) {
  // The churn attack's name: 64 bytes, 63 of them controls (each 6 bytes once JSON-escaped).
  std::string padded = "M" + std::string(63, '\x01');
  EXPECT_EQ(clean_display_text(padded, 64), "M");
}

}  // namespace
}  // namespace rtchat::proto
