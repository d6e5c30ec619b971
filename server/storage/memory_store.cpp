#include "server/storage/memory_store.h"

#include <algorithm>
#include <limits>

namespace rtchat::server {
namespace {

using proto::ChatMessage;

bool id_less(const ChatMessage& message, int64_t id) { return message.id < id; }

}  // namespace

std::unique_ptr<Store> open_memory_store() { return std::make_unique<MemoryStore>(); }

const MemoryStore::Log* MemoryStore::find(std::string_view room) const {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : &it->second;
}

bool MemoryStore::all_new(std::span<const ChatMessage> batch) const {
  // The usual batch: every room's ids increase past what is stored. One pass, no allocation
  // beyond a few (room, last id) pairs.
  std::vector<std::pair<std::string_view, int64_t>> last;  // per room seen in the batch
  bool increasing = true;
  for (const ChatMessage& message : batch) {
    auto seen = std::find_if(last.begin(), last.end(),
                             [&](const auto& entry) { return entry.first == message.room; });
    if (seen == last.end()) {
      const Log* log = find(message.room);
      const int64_t stored =
          log == nullptr || log->empty() ? std::numeric_limits<int64_t>::min() : log->back().id;
      last.emplace_back(message.room, stored);
      seen = last.end() - 1;
    }
    if (message.id <= seen->second) {
      increasing = false;
      break;
    }
    seen->second = message.id;
    if (last.size() > 64) {
      increasing = false;  // many rooms: the sorted check below is cheaper than this scan
      break;
    }
  }
  if (increasing) return true;
  // Otherwise: sort the batch's keys, look for a repeat, and look each one up in its log.
  std::vector<std::pair<std::string_view, int64_t>> keys;
  keys.reserve(batch.size());
  for (const ChatMessage& message : batch) keys.emplace_back(message.room, message.id);
  std::sort(keys.begin(), keys.end());
  if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return false;
  for (const auto& [room, id] : keys) {
    const Log* log = find(room);
    if (log == nullptr) continue;
    auto it = std::lower_bound(log->begin(), log->end(), id, id_less);
    if (it != log->end() && it->id == id) return false;
  }
  return true;
}

bool MemoryStore::append(std::span<const ChatMessage> batch, std::string& error) {
  // All or nothing: check the whole batch before changing anything. Inserting cannot fail
  // afterwards except on allocation failure, which ends the process like anywhere else.
  if (!all_new(batch)) {
    error = "duplicate (room, id)";
    return false;
  }
  for (const ChatMessage& message : batch) {
    auto it = rooms_.find(std::string_view(message.room));
    if (it == rooms_.end()) it = rooms_.emplace(message.room, Log{}).first;
    Log& log = it->second;
    if (log.empty() || log.back().id < message.id) {
      log.push_back(message);
    } else {
      // Ids arriving out of order are allowed (SQLite orders by id too); callers don't do it.
      log.insert(std::lower_bound(log.begin(), log.end(), message.id, id_less), message);
    }
    if (message.delete_target != 0) {
      auto target = std::lower_bound(log.begin(), log.end(), message.delete_target, id_less);
      if (target != log.end() && target->id == message.delete_target) {
        target->body.clear();  // erased, not hidden: the text is gone from the store
        target->body.shrink_to_fit();
        target->deleted = true;
      }
    }
  }
  return true;
}

bool MemoryStore::find_message(std::string_view room, int64_t id, ChatMessage& out, bool& found) {
  found = false;
  const Log* log = find(room);
  if (log == nullptr) return true;
  auto it = std::lower_bound(log->begin(), log->end(), id, id_less);
  if (it != log->end() && it->id == id) {
    out = *it;
    found = true;
  }
  return true;
}

bool MemoryStore::page(std::string_view room, std::optional<int64_t> before_id, int limit,
                       std::vector<ChatMessage>& out, bool& has_more) {
  out.clear();
  has_more = false;
  limit = std::clamp(limit, 1, kMaxPageLimit);
  const Log* log = find(room);
  if (log == nullptr) return true;
  auto end =
      before_id ? std::lower_bound(log->begin(), log->end(), *before_id, id_less) : log->end();
  // Newest first, skipping delete events (their targets show as tombstones).
  auto it = end;
  while (it != log->begin() && static_cast<int>(out.size()) < limit) {
    --it;
    if (it->delete_target == 0) out.push_back(*it);
  }
  while (it != log->begin() && !has_more) has_more = (--it)->delete_target == 0;
  std::reverse(out.begin(), out.end());
  return true;
}

bool MemoryStore::range(std::string_view room, int64_t after_id, int64_t upto_id, int max_count,
                        std::vector<ChatMessage>& out) {
  out.clear();
  if (max_count <= 0 || upto_id <= after_id) return true;
  const Log* log = find(room);
  if (log == nullptr) return true;
  // First id > after_id: after_id < INT64_MAX here because upto_id > after_id.
  auto it = std::lower_bound(log->begin(), log->end(), after_id + 1, id_less);
  for (; it != log->end() && it->id <= upto_id && static_cast<int>(out.size()) < max_count; ++it) {
    out.push_back(*it);
  }
  return true;
}

bool MemoryStore::last_id(std::string_view room, int64_t& out) {
  const Log* log = find(room);
  out = log == nullptr || log->empty() ? 0 : log->back().id;
  return true;
}

bool MemoryStore::room_exists(std::string_view room) {
  const Log* log = find(room);
  return log != nullptr && !log->empty();
}

bool MemoryStore::room_floors(std::string_view after_room, int limit,
                              std::vector<std::pair<std::string, int64_t>>& out) {
  out.clear();
  limit = std::clamp(limit, 1, kMaxFloorPage);
  // The rooms are hashed, not sorted: one pass keeps the `limit` smallest names after after_room
  // (a benchmark store; SqliteStore seeks its index instead).
  std::vector<std::pair<std::string, int64_t>> all;
  for (const auto& [room, log] : rooms_) {
    if (!log.empty() && room > after_room) all.emplace_back(room, log.back().id);
  }
  const auto keep = std::min(all.size(), static_cast<size_t>(limit));
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end());
  all.resize(keep);
  out = std::move(all);
  return true;
}

int64_t MemoryStore::retention_boundary(const Log& log, int64_t max_per_room, int64_t max_age_ms,
                                        int64_t now_ms) {
  int64_t boundary = 0;
  if (max_per_room > 0 && log.size() > static_cast<size_t>(max_per_room)) {
    boundary = log[log.size() - static_cast<size_t>(max_per_room)].id;
  }
  if (max_age_ms > 0) {
    // As in SqliteStore: the first young-enough message is the oldest kept (only a prefix goes),
    // and the newest is kept whatever its age, since it carries the room's last id.
    const int64_t cutoff = now_ms - max_age_ms;
    auto young = std::find_if(log.begin(), log.end(),
                              [cutoff](const ChatMessage& m) { return m.ts >= cutoff; });
    const int64_t keep_from = young != log.end() ? young->id : log.back().id;
    boundary = std::max(boundary, keep_from);
  }
  return boundary;
}

int64_t MemoryStore::apply_retention(int64_t max_per_room, int64_t max_age_ms, int64_t now_ms) {
  if (max_per_room <= 0 && max_age_ms <= 0) return 0;
  int64_t deleted = 0;
  for (auto& [room, log] : rooms_) {
    if (log.empty()) continue;
    const int64_t boundary = retention_boundary(log, max_per_room, max_age_ms, now_ms);
    if (boundary == 0) continue;
    auto end = std::lower_bound(log.begin(), log.end(), boundary, id_less);
    deleted += end - log.begin();
    log.erase(log.begin(), end);
  }
  return deleted;
}

bool MemoryStore::mark_read(std::span<ReadMark> marks, std::string&) {
  for (ReadMark& mark : marks) {
    int64_t& stored = read_marks_[{mark.user_id, mark.room}];
    stored = std::max(stored, mark.last_read_id);
    mark.last_read_id = stored;
  }
  return true;
}

bool MemoryStore::read_state(std::string_view user_id, std::string_view room, int64_t upto_id,
                             int max_unread, int64_t& last_read_id, int& unread) {
  last_read_id = 0;
  unread = 0;
  auto it = read_marks_.find(std::pair<std::string_view, std::string_view>(user_id, room));
  if (it != read_marks_.end()) last_read_id = it->second;
  const Log* log = find(room);
  if (log == nullptr) return true;
  auto first = std::upper_bound(log->begin(), log->end(), last_read_id,
                                [](int64_t id, const ChatMessage& m) { return id < m.id; });
  // Delete events and deleted messages are not something left to read.
  for (auto m = first; m != log->end() && m->id <= upto_id && unread < max_unread; ++m) {
    if (m->delete_target == 0 && !m->deleted) ++unread;
  }
  return true;
}

}  // namespace rtchat::server
