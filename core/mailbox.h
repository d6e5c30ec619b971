// Bounded lock-free SPSC mailboxes between threads, and the producer-side backlog policy.
#pragma once

#include <readerwriterqueue/readerwriterqueue.h>

#include <concepts>
#include <cstddef>
#include <deque>
#include <utility>

#include "core/doorbell.h"

namespace rtchat::core {

// One producer thread, one consumer thread. The queue is moodycamel::ReaderWriterQueue from
// Debian's libreaderwriterqueue-dev (preallocated; try_enqueue never allocates, so it is truly
// bounded). It takes move-only values, which boost::lockfree::spsc_queue 1.74 does not; see
// bench/spsc_queue_bench.cpp for the comparison.
template <std::movable T>
class Mailbox {
 public:
  Mailbox(size_t capacity, Doorbell& consumer) : q_(capacity), consumer_(consumer) {}

  // Producer. False when full: the caller keeps the value (see Outbox).
  [[nodiscard]] bool try_push(T&& v) { return q_.try_enqueue(std::move(v)); }
  // Producer: after a batch of pushes, wake the consumer if it sleeps.
  void notify() { consumer_.ring(); }
  // Consumer.
  [[nodiscard]] bool try_pop(T& out) { return q_.try_dequeue(out); }
  [[nodiscard]] size_t size_approx() const { return q_.size_approx(); }

 private:
  moodycamel::ReaderWriterQueue<T> q_;
  Doorbell& consumer_;
};

// Producer-side end of a mailbox. A full mailbox is backpressure, never a silent drop and never
// a blocked producer: values that do not fit wait, in order, in a local backlog that is retried
// every loop turn (flush). The backlog length is exported as a metric, and callers that can
// refuse work (a publish) check overloaded() first and answer with an error instead.
template <std::movable T>
class Outbox {
 public:
  explicit Outbox(Mailbox<T>& mailbox) : mailbox_(&mailbox) {}

  void send(T&& v) {
    if (backlog_.empty() && mailbox_->try_push(std::move(v))) {
      pushed_ = true;
      return;
    }
    backlog_.push_back(std::move(v));
  }
  // Once per loop turn: moves what fits from the backlog and rings the doorbell once.
  void flush() {
    while (!backlog_.empty() && mailbox_->try_push(std::move(backlog_.front()))) {
      backlog_.pop_front();
      pushed_ = true;
    }
    if (pushed_) {
      mailbox_->notify();
      pushed_ = false;
    }
  }
  [[nodiscard]] size_t backlog() const { return backlog_.size(); }
  [[nodiscard]] size_t depth() const { return mailbox_->size_approx() + backlog_.size(); }
  [[nodiscard]] bool overloaded(size_t limit) const { return backlog_.size() > limit; }

 private:
  Mailbox<T>* mailbox_;
  std::deque<T> backlog_;
  bool pushed_ = false;
};

}  // namespace rtchat::core
