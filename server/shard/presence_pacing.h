// When a room's presence_diff may go out. Every diff is one frame, hence one send, to every
// member of the room: with one diff per loop turn, a storm of joins into rooms of 100 costs about
// 50 sends per join (profiled: half of the server's CPU in sendmsg of presence diffs). Pacing a
// room's diffs by its size keeps the sends per join roughly constant: a room of N members sends
// at most one diff per min(max_delay, N x per_member). A quiet room's first change still goes out
// at the end of the turn; only a busy room's further changes wait, coalesced into one diff.
// Phoenix itself batches presence deltas (its tracker broadcasts every 1.5 s by default). During a
// join storm every room waits the longest (storm_joins_per_s).
#pragma once

#include <algorithm>
#include <cstdint>

namespace rtchat::server {

struct PresencePacing {
  // Microseconds of delay per member between two diffs of a room. 0 = one diff per loop turn.
  // 5 ms: a room of 100 sends at most 2 diffs/s (200 member frames/s), a room of 10 at most
  // 20/s, a two-person room's diffs are at most 10 ms apart (not noticeable in a chat).
  int64_t per_member_us = 5000;
  // The longest a change waits, whatever the room's size: Phoenix's default delta period.
  int64_t max_delay_ms = 1500;
  // A join storm (thousands reconnecting at once after a deploy or a network blip): while the
  // shard records more than this many joins a second, every room's diffs wait max_delay_ms. A
  // room's diff rate is otherwise fixed by its size, so a storm that lasts longer sends more
  // frames per join: 39,000 sockets into rooms of 100 on two shards sent ~20 diffs to every
  // socket (~770,000 frames, most of the server's and the generator's CPU) while they joined.
  // 0 = off.
  int64_t storm_joins_per_s = 1000;

  // The earliest time the next diff may go out, the previous one having gone out at last_ms.
  [[nodiscard]] int64_t due_ms(int64_t last_ms, int64_t now_ms, uint64_t members,
                               bool storm = false) const {
    if (per_member_us <= 0 || last_ms == 0) return now_ms;
    const int64_t gap_ms =
        storm
            ? max_delay_ms
            : std::min<int64_t>(max_delay_ms, static_cast<int64_t>(members) * per_member_us / 1000);
    return std::max(now_ms, last_ms + gap_ms);
  }
};

// A shard's join rate against PresencePacing::storm_joins_per_s, in one-second windows; a storm
// lasts one window past the last one over the rate.
class JoinStormMeter {
 public:
  explicit JoinStormMeter(int64_t joins_per_s = 0) : joins_per_s_(joins_per_s) {}
  void note_join(int64_t now_ms) {
    if (joins_per_s_ <= 0) return;
    if (now_ms - window_start_ms_ >= 1000) {
      window_start_ms_ = now_ms;
      joins_in_window_ = 0;
    }
    if (++joins_in_window_ > joins_per_s_) storm_until_ms_ = now_ms + 1000;
  }
  [[nodiscard]] bool storming(int64_t now_ms) const { return now_ms < storm_until_ms_; }

 private:
  int64_t joins_per_s_;
  int64_t window_start_ms_ = 0;
  int64_t joins_in_window_ = 0;
  int64_t storm_until_ms_ = 0;
};

}  // namespace rtchat::server
