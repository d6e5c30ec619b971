#include "core/ring.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rtchat::core {

Ring::Ring(const RingConfig& config) {
  io_uring_params p{};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
            IORING_SETUP_SUBMIT_ALL;
  p.cq_entries = config.entries * 4;
  int rc = io_uring_queue_init_params(config.entries, &ring_, &p);
  if (rc < 0) {
    // Older kernels: fall back to cooperative task running.
    std::memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = config.entries * 4;
    rc = io_uring_queue_init_params(config.entries, &ring_, &p);
  }
  if (rc < 0) throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-rc));

  // The registered-file table is capped by RLIMIT_NOFILE, per ring (performance-notes 2.5).
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  unsigned want = std::min<unsigned>(config.direct_files, static_cast<unsigned>(lim.rlim_cur));
  while (want >= 64) {
    if (io_uring_register_files_sparse(&ring_, want) == 0) break;
    want /= 2;
  }
  if (want < 64) {
    io_uring_queue_exit(&ring_);
    throw std::runtime_error("io_uring_register_files_sparse failed");
  }
  direct_files_ = want;
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (s == nullptr) {
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

int Ring::submit() { return io_uring_submit(&ring_); }

int Ring::submit_and_wait(int timeout_ms) {
  if (timeout_ms <= 0) return io_uring_submit_and_get_events(&ring_);
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
  io_uring_cqe* cqe = nullptr;
  return io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

}  // namespace rtchat::core
