#include "core/doorbell.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <stdexcept>

namespace rtchat::core {

Doorbell::Doorbell() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_.valid()) throw std::runtime_error("eventfd failed");
}

void Doorbell::signal() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the consumer will wake anyway.
  [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof one);
}

void Doorbell::wait(int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  ::poll(&p, 1, timeout_ms);
  drain();
}

void Doorbell::drain() {
  uint64_t v;
  [[maybe_unused]] auto n = ::read(fd_.get(), &v, sizeof v);
}

}  // namespace rtchat::core
