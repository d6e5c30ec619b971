// RAII owner of one io_uring, created and used by exactly one (shard) thread.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "core/result.h"

namespace rtchat::core {

struct RingConfig {
  unsigned entries = 4096;  // SQ size; CQ is 4x so bursts of multishot CQEs fit
  unsigned direct_files =
      20000;  // sparse registered-file table (per ring, capped by RLIMIT_NOFILE)
};

class Ring {
 public:
  // Must run on the thread that will submit: SINGLE_ISSUER + DEFER_TASKRUN bind the ring to it.
  explicit Ring(const RingConfig& config);
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&&) = delete;
  Ring& operator=(Ring&&) = delete;
  ~Ring();

  io_uring* get() { return &ring_; }
  // Returns a fresh SQE, submitting what is queued first when the SQ is full. Never null.
  io_uring_sqe* sqe();
  // Submits queued SQEs and waits up to timeout_ms for at least one completion.
  int submit_and_wait(int timeout_ms);
  int submit();
  [[nodiscard]] unsigned direct_files() const { return direct_files_; }

 private:
  io_uring ring_{};
  unsigned direct_files_ = 0;
};

// user_data layout: [8 bits op][24 bits generation][32 bits slot]. Slots are reused, so the
// generation tells a CQE of a dead connection from one of its successor (STYLE.md section 3).
struct OpTag {
  uint8_t op = 0;
  uint32_t generation = 0;  // low 24 bits used
  uint32_t slot = 0;

  [[nodiscard]] uint64_t pack() const {
    return (uint64_t{op} << 56) | (uint64_t{generation & 0xFFFFFFu} << 32) | slot;
  }
  static OpTag unpack(uint64_t v) {
    return OpTag{static_cast<uint8_t>(v >> 56), static_cast<uint32_t>((v >> 32) & 0xFFFFFFu),
                 static_cast<uint32_t>(v & 0xFFFFFFFFu)};
  }
};

}  // namespace rtchat::core
