// The SQLite store's retention (apply_retention) and read state (mark_read, read_state): what
// runs beside the message log rather than in it.
#include <sqlite3.h>

#include "server/storage/sqlite_statement.h"
#include "server/storage/sqlite_store.h"

namespace rtchat::server {

using sqlite::bind_text;
using sqlite::ResetOnExit;
using sqlite::step_done;
using sqlite::step_optional_int64;

bool SqliteStore::retention_boundary(const std::string& room, int64_t max_per_room,
                                     int64_t max_age_ms, int64_t now_ms, int64_t& boundary) {
  boundary = 0;
  if (max_per_room > 0) {
    // The max_per_room-th newest id is the oldest one kept.
    sqlite3_stmt* s = count_boundary_.get();
    ResetOnExit reset(s);
    if (bind_text(s, 1, room) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, max_per_room - 1) != SQLITE_OK ||
        !step_optional_int64(s, boundary)) {
      return false;
    }
  }
  if (max_age_ms > 0) {
    // The first message young enough is the oldest one kept; older ids all go. Walking forward
    // costs one row per expired message. A later message with an older ts (clocks of different
    // shards) is kept a little longer: retention only ever trims a prefix.
    int64_t keep_from = 0;
    {
      sqlite3_stmt* s = age_boundary_.get();
      ResetOnExit reset(s);
      if (bind_text(s, 1, room) != SQLITE_OK ||
          sqlite3_bind_int64(s, 2, now_ms - max_age_ms) != SQLITE_OK ||
          !step_optional_int64(s, keep_from)) {
        return false;
      }
    }
    if (keep_from == 0) {
      // Everything expired: keep the newest anyway, it carries the room's last id.
      sqlite3_stmt* s = newest_id_.get();
      ResetOnExit reset(s);
      if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) return false;
      keep_from = sqlite3_column_int64(s, 0);
    }
    boundary = std::max(boundary, keep_from);
  }
  return true;
}

int64_t SqliteStore::apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) {
  if (max_per_room <= 0 && max_age_ms <= 0) return 0;
  std::vector<std::string> rooms;
  if (!list_rooms(rooms)) return -1;
  // One implicit transaction per room: a large cleanup never holds the write lock (and the
  // appends queued behind it on the storage thread) for longer than one room's delete.
  int64_t deleted = 0;
  for (const std::string& room : rooms) {
    int64_t boundary = 0;
    if (!retention_boundary(room, max_per_room, max_age_ms, now_ms, boundary)) return -1;
    if (boundary == 0) continue;
    sqlite3_stmt* s = delete_prefix_.get();
    ResetOnExit reset(s);
    if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_bind_int64(s, 2, boundary) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_DONE) {
      return -1;
    }
    deleted += sqlite3_changes64(db_.get());
  }
  return deleted;
}

int SqliteStore::upsert_mark(ReadMark& mark) {
  sqlite3_stmt* s = mark_read_.get();
  ResetOnExit reset(s);
  int rc = bind_text(s, 1, mark.user_id);
  if (rc == SQLITE_OK) rc = bind_text(s, 2, mark.room);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 3, mark.last_read_id);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_step(s);  // every change happens in this first step; the row is the stored value
  if (rc != SQLITE_ROW) return rc;
  mark.last_read_id = sqlite3_column_int64(s, 0);
  return SQLITE_DONE;
}

bool SqliteStore::mark_read(std::span<ReadMark> marks, std::string& error) {
  if (marks.empty()) return true;
  roll_back_open_transaction();
  int rc = step_done(begin_.get());
  for (size_t i = 0; rc == SQLITE_DONE && i < marks.size(); ++i) rc = upsert_mark(marks[i]);
  if (rc == SQLITE_DONE) rc = step_done(commit_.get());
  if (rc != SQLITE_DONE) {
    error = describe(rc);  // before the rollback replaces the connection's error message
    roll_back_open_transaction();
    return false;
  }
  return true;
}

bool SqliteStore::read_state(std::string_view user_id, std::string_view room, int64_t upto_id,
                             int max_unread, int64_t& last_read_id, int& unread) {
  last_read_id = 0;
  unread = 0;
  {
    sqlite3_stmt* s = read_mark_.get();
    ResetOnExit reset(s);
    if (bind_text(s, 1, user_id) != SQLITE_OK || bind_text(s, 2, room) != SQLITE_OK) return false;
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      last_read_id = sqlite3_column_int64(s, 0);
    } else if (rc != SQLITE_DONE) {
      return false;
    }
  }
  if (max_unread <= 0 || upto_id <= last_read_id) return true;
  sqlite3_stmt* s = count_unread_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_bind_int64(s, 2, last_read_id) != SQLITE_OK ||
      sqlite3_bind_int64(s, 3, upto_id) != SQLITE_OK ||
      sqlite3_bind_int(s, 4, max_unread) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
    return false;
  }
  unread = static_cast<int>(sqlite3_column_int64(s, 0));
  return true;
}

}  // namespace rtchat::server
