// Wake-up of a sleeping consumer thread, rung at most once per sleep (eventcount pattern).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/unique_fd.h"

namespace rtchat::core {

// Owned by one consumer thread (a shard, the storage thread); rung by any producer after it has
// pushed into one of the consumer's mailboxes. Waking a sleeping thread costs ~7-9 us on this VM
// (performance-notes L12), so a producer writes the eventfd only when the consumer said it sleeps,
// and only the first producer to see that does (exchange).
class Doorbell {
 public:
  Doorbell();
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  Doorbell(Doorbell&&) = delete;
  Doorbell& operator=(Doorbell&&) = delete;
  ~Doorbell() = default;

  // The eventfd a consumer reads (through its ring or poll) to learn it was woken.
  [[nodiscard]] int fd() const { return fd_.get(); }

  // Consumer, before blocking: after this call it must look at its mailboxes once more and only
  // block if they are all empty. The fence pairs with the one in ring() (Dekker: either the
  // producer sees sleeping_ or the consumer sees the pushed item).
  void prepare_sleep() {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // Consumer, after waking or deciding not to sleep.
  void awake() { sleeping_.store(false, std::memory_order_relaxed); }

  // Consumer: the whole sleep protocol, written once for every worker loop (shards, storage,
  // cluster link). Announces the sleep, looks at its inputs once more (nothing_pending(): the
  // mailboxes, without popping), blocks in block() only if they are still empty, then marks itself
  // awake. Returns whether it blocked.
  template <typename NothingPending, typename Block>
  bool sleep_unless_pending(NothingPending&& nothing_pending, Block&& block) {
    prepare_sleep();
    const bool sleep = nothing_pending();
    if (sleep) block();
    awake();
    return sleep;
  }

  // Producer, after a push.
  void ring() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed) &&
        sleeping_.exchange(false, std::memory_order_acq_rel)) {
      signal();
    }
  }
  // Always writes the eventfd (shutdown, signals).
  void signal();
  // Consumer: blocks until rung or timeout_ms passes (threads without a ring, e.g. storage).
  void wait(int timeout_ms);
  // Consumer: clears a pending signal without blocking.
  void drain();

 private:
  UniqueFd fd_;
  // Own cache line: written by the consumer every sleep, read by producers on every push.
  alignas(64) std::atomic<bool> sleeping_{false};
};

}  // namespace rtchat::core
