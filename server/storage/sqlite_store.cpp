#include "server/storage/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>

#include "server/storage/sqlite_statement.h"

namespace rtchat::server {
namespace {

using sqlite::bind_text;
using sqlite::column_text;
using sqlite::ResetOnExit;
using sqlite::step_done;

// Only another process (a backup, the sqlite3 shell) can hold our database's lock. Wait this long
// for it, then report the failure: the storage thread must not stall all history for longer.
constexpr int kBusyTimeoutMs = 1000;
// A WAL file that grew during a burst is truncated back to this after each checkpoint.
constexpr int64_t kWalSizeLimitBytes = 64 * 1024 * 1024;

struct Migration {
  int version;
  const char* sql;
};

// Forward-only. Each runs once, in the same transaction as its schema_version row.
constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE messages("
     "  room TEXT NOT NULL,"
     "  id INTEGER NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  user_name TEXT NOT NULL,"
     "  body TEXT NOT NULL,"
     "  ts INTEGER NOT NULL"
     ") STRICT;"
     // UNIQUE: a (room, id) stored twice would mean a reused id, which recovery can't survive.
     "CREATE UNIQUE INDEX messages_by_room ON messages(room, id);"},
    // Read state (docs/protocol.md "Read state"): one row per (user, room) that ever marked.
    {2,
     "CREATE TABLE read_state("
     "  user_id TEXT NOT NULL,"
     "  room TEXT NOT NULL,"
     "  last_read_id INTEGER NOT NULL,"
     "  PRIMARY KEY(user_id, room)"
     ") STRICT, WITHOUT ROWID;"},
    // Moderation: a tombstone keeps its row (id, author, time) with the body erased; a delete
    // event is a row of its own, ordered like a message, naming its target.
    {3,
     "ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE messages ADD COLUMN target INTEGER NOT NULL DEFAULT 0;"},
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

void exec_or_throw(sqlite3* db, const char* sql, const char* what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string reason = message != nullptr ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw std::runtime_error(std::string("sqlite store: ") + what + ": " + reason);
  }
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void SqliteStore::DatabaseCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

void SqliteStore::StatementFinalizer::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

std::unique_ptr<Store> open_sqlite_store(const SqliteOptions& options) {
  return std::make_unique<SqliteStore>(options);
}

SqliteStore::SqliteStore(const SqliteOptions& options) {
  sqlite3* db = nullptr;
  // NOMUTEX: one thread owns the connection, so SQLite's per-call mutex is pure cost.
  const int rc =
      sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(db);  // a failed open still allocates a handle that must be closed
  if (rc != SQLITE_OK) {
    throw std::runtime_error("sqlite store: can't open " + options.path + ": " +
                             (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db, 1);
  configure(options);
  migrate();

  begin_ = prepare("BEGIN IMMEDIATE");  // take the write lock up front, not halfway through a batch
  commit_ = prepare("COMMIT");
  rollback_ = prepare("ROLLBACK");
  insert_ = prepare(
      "INSERT INTO messages(room, id, user_id, user_name, body, ts, deleted, target)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  tombstone_ = prepare("UPDATE messages SET body = '', deleted = 1 WHERE room = ?1 AND id = ?2");
  find_ = prepare(
      "SELECT id, user_id, user_name, body, ts, deleted, target FROM messages"
      " WHERE room = ?1 AND id = ?2");
  // One row more than asked tells whether older messages exist.
  page_ = prepare(
      "SELECT id, user_id, user_name, body, ts, deleted, target FROM messages"
      " WHERE room = ?1 AND id < ?2 AND target = 0 ORDER BY id DESC LIMIT ?3");
  range_ = prepare(
      "SELECT id, user_id, user_name, body, ts, deleted, target FROM messages"
      " WHERE room = ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4");
  room_exists_ = prepare("SELECT 1 FROM messages WHERE room = ?1 LIMIT 1");
  // Distinct rooms by hopping through the (room, id) index: one seek per room instead of a scan
  // of every row, so retention cost grows with rooms, not with history.
  static constexpr const char* kRoomsCte =
      "WITH RECURSIVE rooms(room) AS ("
      "  SELECT (SELECT MIN(room) FROM messages)"
      "  UNION ALL"
      "  SELECT (SELECT MIN(room) FROM messages WHERE room > rooms.room) FROM rooms"
      "  WHERE rooms.room IS NOT NULL) ";
  list_rooms_ =
      prepare((std::string(kRoomsCte) + "SELECT room FROM rooms WHERE room IS NOT NULL").c_str());
  count_boundary_ =
      prepare("SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2");
  age_boundary_ =
      prepare("SELECT id FROM messages WHERE room = ?1 AND ts >= ?2 ORDER BY id LIMIT 1");
  newest_id_ = prepare("SELECT MAX(id) FROM messages WHERE room = ?1");
  // The next room after ?1 and its newest id: two seeks in the (room, id) index, whatever the
  // room's history (room_floors calls it once per room of a page).
  room_floor_ = prepare(
      "SELECT room, MAX(id) FROM messages"
      " WHERE room = (SELECT MIN(room) FROM messages WHERE room > ?1)");
  delete_prefix_ = prepare("DELETE FROM messages WHERE room = ?1 AND id < ?2");
  // max(): a position never moves back, whatever order marks arrive in.
  mark_read_ = prepare(
      "INSERT INTO read_state(user_id, room, last_read_id) VALUES(?1, ?2, ?3)"
      " ON CONFLICT(user_id, room) DO UPDATE SET"
      " last_read_id = max(last_read_id, excluded.last_read_id) RETURNING last_read_id");
  read_mark_ = prepare("SELECT last_read_id FROM read_state WHERE user_id = ?1 AND room = ?2");
  // The inner LIMIT stops the walk of the (room, id) index at max_unread rows. Delete events and
  // deleted messages are not something left to read.
  count_unread_ = prepare(
      "SELECT COUNT(*) FROM (SELECT 1 FROM messages"
      " WHERE room = ?1 AND id > ?2 AND id <= ?3 AND target = 0 AND deleted = 0 LIMIT ?4)");
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::configure(const SqliteOptions& options) {
  sqlite3* db = db_.get();
  {
    // journal_mode answers with the mode in effect; a file that can't do WAL (some network file
    // systems) would silently fall back to a rollback journal, so check.
    Statement wal = prepare("PRAGMA journal_mode = WAL");
    std::string mode;
    if (sqlite3_step(wal.get()) == SQLITE_ROW) mode = column_text(wal.get(), 0);
    if (mode != "wal" && !(options.path == ":memory:" && mode == "memory")) {
      throw std::runtime_error("sqlite store: " + options.path + " can't use WAL (mode '" + mode +
                               "')");
    }
  }
  exec_or_throw(
      db, options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
      "synchronous");
  exec_or_throw(db, ("PRAGMA journal_size_limit = " + std::to_string(kWalSizeLimitBytes)).c_str(),
                "journal_size_limit");
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
}

void SqliteStore::migrate() {
  sqlite3* db = db_.get();
  exec_or_throw(db, "BEGIN IMMEDIATE", "begin migration");
  try {
    exec_or_throw(db,
                  "CREATE TABLE IF NOT EXISTS schema_version("
                  "  version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
                  "schema_version");
    int64_t current = 0;
    {
      Statement query = prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
      if (sqlite3_step(query.get()) != SQLITE_ROW) {
        throw std::runtime_error(std::string("sqlite store: read schema_version: ") +
                                 sqlite3_errmsg(db));
      }
      current = sqlite3_column_int64(query.get(), 0);
    }
    if (current > kSchemaVersion) {
      throw std::runtime_error("sqlite store: schema version " + std::to_string(current) +
                               " is newer than this build's " + std::to_string(kSchemaVersion));
    }
    for (const Migration& migration : kMigrations) {
      if (migration.version <= current) continue;
      exec_or_throw(db, migration.sql, "migration");
      const std::string record = "INSERT INTO schema_version(version, applied_at_ms) VALUES(" +
                                 std::to_string(migration.version) + ", " +
                                 std::to_string(wall_clock_ms()) + ")";
      exec_or_throw(db, record.c_str(), "record migration");
    }
    exec_or_throw(db, "COMMIT", "commit migration");
  } catch (...) {
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

SqliteStore::Statement SqliteStore::prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  // PERSISTENT: these live as long as the connection; SQLite then allocates them accordingly.
  const int rc =
      sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(std::string("sqlite store: prepare '") + sql +
                             "': " + sqlite3_errmsg(db_.get()));
  }
  return Statement(statement);
}

std::string SqliteStore::describe(int rc) const {
  if ((rc & 0xff) == SQLITE_FULL) return "disk full";
  return std::string(sqlite3_errstr(rc)) + ": " + sqlite3_errmsg(db_.get());
}

void SqliteStore::roll_back_open_transaction() {
  // After SQLITE_FULL, IOERR, BUSY or NOMEM SQLite may already have rolled back by itself;
  // a ROLLBACK without a transaction would only fail, so ask first.
  if (sqlite3_get_autocommit(db_.get()) == 0) (void)step_done(rollback_.get());
}

int SqliteStore::insert(const proto::ChatMessage& message) {
  sqlite3_stmt* s = insert_.get();
  ResetOnExit reset(s);
  int rc = bind_text(s, 1, message.room);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, message.id);
  if (rc == SQLITE_OK) rc = bind_text(s, 3, message.user_id);
  if (rc == SQLITE_OK) rc = bind_text(s, 4, message.user);
  if (rc == SQLITE_OK) rc = bind_text(s, 5, message.body);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, message.ts);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 7, message.deleted ? 1 : 0);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, message.delete_target);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_step(s);
}

int SqliteStore::tombstone(const proto::ChatMessage& delete_event) {
  sqlite3_stmt* s = tombstone_.get();
  ResetOnExit reset(s);
  int rc = bind_text(s, 1, delete_event.room);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, delete_event.delete_target);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_step(s);  // no row (retention took it): SQLITE_DONE all the same
}

bool SqliteStore::find_message(std::string_view room, int64_t id, proto::ChatMessage& out,
                               bool& found) {
  found = false;
  sqlite3_stmt* s = find_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_bind_int64(s, 2, id) != SQLITE_OK) {
    return false;
  }
  std::vector<proto::ChatMessage> rows;
  if (!read_messages(s, room, rows)) return false;
  if (!rows.empty()) {
    out = std::move(rows.front());
    found = true;
  }
  return true;
}

bool SqliteStore::append(std::span<const proto::ChatMessage> batch, std::string& error) {
  if (batch.empty()) return true;
  // A transaction left open by an earlier failure whose ROLLBACK failed too: end it now, or
  // BEGIN would fail forever.
  roll_back_open_transaction();
  int rc = step_done(begin_.get());
  if (rc != SQLITE_DONE) {
    error = describe(rc);
    roll_back_open_transaction();
    return false;
  }
  for (const proto::ChatMessage& message : batch) {
    rc = insert(message);
    if (rc == SQLITE_DONE && message.delete_target != 0) rc = tombstone(message);
    if (rc != SQLITE_DONE) {
      error = describe(rc);  // before the rollback replaces the connection's error message
      roll_back_open_transaction();
      return false;
    }
  }
  rc = step_done(commit_.get());
  if (rc != SQLITE_DONE) {
    // A failed COMMIT (BUSY, IOERR) can leave the transaction open: roll it back so the batch
    // is all or nothing and the next append starts clean.
    error = describe(rc);
    roll_back_open_transaction();
    return false;
  }
  return true;
}

bool SqliteStore::read_messages(sqlite3_stmt* statement, std::string_view room,
                                std::vector<proto::ChatMessage>& out) {
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    proto::ChatMessage& message = out.emplace_back();
    message.id = sqlite3_column_int64(statement, 0);
    message.room = room;
    message.user_id = column_text(statement, 1);
    message.user = column_text(statement, 2);
    message.body = column_text(statement, 3);
    message.ts = sqlite3_column_int64(statement, 4);
    message.deleted = sqlite3_column_int(statement, 5) != 0;
    message.delete_target = sqlite3_column_int64(statement, 6);
  }
  return rc == SQLITE_DONE;
}

bool SqliteStore::page(std::string_view room, std::optional<int64_t> before_id, int limit,
                       std::vector<proto::ChatMessage>& out, bool& has_more) {
  out.clear();
  has_more = false;
  limit = std::clamp(limit, 1, kMaxPageLimit);
  sqlite3_stmt* s = page_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK ||
      sqlite3_bind_int64(s, 2, before_id.value_or(std::numeric_limits<int64_t>::max())) !=
          SQLITE_OK ||
      sqlite3_bind_int(s, 3, limit + 1) != SQLITE_OK) {
    return false;
  }
  out.reserve(static_cast<size_t>(limit) + 1);
  if (!read_messages(s, room, out)) {
    out.clear();
    return false;
  }
  if (out.size() > static_cast<size_t>(limit)) {
    has_more = true;
    out.pop_back();  // rows come newest first, so the extra one is the oldest
  }
  std::reverse(out.begin(), out.end());
  return true;
}

bool SqliteStore::range(std::string_view room, int64_t after_id, int64_t upto_id, int max_count,
                        std::vector<proto::ChatMessage>& out) {
  out.clear();
  if (max_count <= 0 || upto_id <= after_id) return true;
  sqlite3_stmt* s = range_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_bind_int64(s, 2, after_id) != SQLITE_OK ||
      sqlite3_bind_int64(s, 3, upto_id) != SQLITE_OK ||
      sqlite3_bind_int(s, 4, max_count) != SQLITE_OK) {
    return false;
  }
  if (!read_messages(s, room, out)) {
    out.clear();
    return false;
  }
  return true;
}

bool SqliteStore::last_id(std::string_view room, int64_t& out) {
  out = 0;
  // MAX(id) is one seek at the end of the room's (room, id) index range; NULL (no row) reads as 0.
  sqlite3_stmt* s = newest_id_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) return false;
  out = sqlite3_column_int64(s, 0);
  return true;
}

bool SqliteStore::room_exists(std::string_view room) {
  sqlite3_stmt* s = room_exists_.get();
  ResetOnExit reset(s);
  if (bind_text(s, 1, room) != SQLITE_OK) return false;
  return sqlite3_step(s) == SQLITE_ROW;
}

bool SqliteStore::room_floors(std::string_view after_room, int limit,
                              std::vector<std::pair<std::string, int64_t>>& out) {
  out.clear();
  limit = std::clamp(limit, 1, kMaxFloorPage);
  std::string after(after_room);
  sqlite3_stmt* s = room_floor_.get();
  while (static_cast<int>(out.size()) < limit) {
    {
      ResetOnExit reset(s);  // before `after` (bound without a copy) changes
      if (bind_text(s, 1, after) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) return false;
      if (sqlite3_column_type(s, 0) == SQLITE_NULL) return true;  // no room after `after`
      out.emplace_back(column_text(s, 0), sqlite3_column_int64(s, 1));
    }
    after = out.back().first;
  }
  return true;
}

bool SqliteStore::list_rooms(std::vector<std::string>& out) {
  out.clear();
  sqlite3_stmt* s = list_rooms_.get();
  ResetOnExit reset(s);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(column_text(s, 0));
  return rc == SQLITE_DONE;
}

int64_t SqliteStore::set_max_page_count(int64_t pages) {
  if (pages < 0) return -1;
  const std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return -1;
  Statement statement(raw);
  if (sqlite3_step(raw) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(raw, 0);
}

}  // namespace rtchat::server
