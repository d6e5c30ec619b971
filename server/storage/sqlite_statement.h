// Small helpers around one prepared SQLite statement, shared by the SQLite store's files.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtchat::server::sqlite {

// Resets a statement when the scope ends, on every path: a read statement left mid-step holds
// a WAL read snapshot, which keeps checkpoints from ever finishing.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* statement) : statement_(statement) {}
  ~ResetOnExit() { sqlite3_reset(statement_); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ResetOnExit(ResetOnExit&&) = delete;
  ResetOnExit& operator=(ResetOnExit&&) = delete;

 private:
  sqlite3_stmt* statement_;
};

// The text is used only while the statement runs, so SQLite need not copy it (SQLITE_STATIC).
inline int bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}

inline std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  if (text == nullptr) return {};
  return {reinterpret_cast<const char*>(text),
          static_cast<size_t>(sqlite3_column_bytes(statement, column))};
}

// Runs a statement that returns no rows to completion and resets it.
inline int step_done(sqlite3_stmt* statement) {
  ResetOnExit reset(statement);
  return sqlite3_step(statement);
}

// Steps a statement that returns at most one row of one integer: `out` is that integer, or left
// as it was when there is no row. False on an error.
inline bool step_optional_int64(sqlite3_stmt* statement, int64_t& out) {
  const int rc = sqlite3_step(statement);
  if (rc == SQLITE_ROW) out = sqlite3_column_int64(statement, 0);
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

}  // namespace rtchat::server::sqlite
