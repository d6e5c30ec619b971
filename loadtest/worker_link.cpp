#include "loadtest/worker_link.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "loadtest/decimal_text.h"

namespace rtchat::loadtest {

namespace {

// Splits off the next '|'-separated section.
std::string_view next_section(std::string_view& s) {
  const size_t bar = s.find('|');
  std::string_view head = s.substr(0, bar);
  s = bar == std::string_view::npos ? std::string_view{} : s.substr(bar + 1);
  return head;
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        usleep(1000);
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void WorkerMessage::serialize(std::string& out) const {
  out += static_cast<char>(kind);
  out += '|';
  for (uint64_t v : counters.values) {
    append_u64(out, v);
    out += ' ';
  }
  for (const LatencyHistogram* h : {&interval_e2e, &connect, &join, &e2e, &ack}) {
    out += '|';
    h->serialize(out);
  }
  out += '|';
  for (const auto& [room, count] : room_counts) {
    append_u64(out, room);
    out += ' ';
    append_u64(out, count);
    out += ' ';
  }
  out += '|';
  for (char c : text) out += c == '|' ? '/' : c;
}

bool WorkerMessage::deserialize(std::string_view in) {
  if (in.size() < 2 || in[1] != '|') return false;
  const char k = in[0];
  if (k != 'S' && k != 'R' && k != 'F' && k != 'E') return false;
  kind = static_cast<Kind>(k);
  in.remove_prefix(2);
  std::string_view counts = next_section(in);
  for (uint64_t& v : counters.values) {
    if (!read_u64(counts, v)) return false;
  }
  for (LatencyHistogram* h : {&interval_e2e, &connect, &join, &e2e, &ack}) {
    if (!h->deserialize(next_section(in))) return false;
  }
  std::string_view rooms = next_section(in);
  room_counts.clear();
  for (;;) {
    while (!rooms.empty() && rooms.front() == ' ') rooms.remove_prefix(1);
    if (rooms.empty()) break;
    uint64_t room = 0;
    uint64_t count = 0;
    if (!read_u64(rooms, room) || !read_u64(rooms, count)) return false;
    room_counts.emplace_back(static_cast<uint32_t>(room), count);
  }
  text = std::string(in);
  return true;
}

bool open_link(LinkFds& fds) {
  int up[2];
  int down[2];
  if (pipe2(up, O_CLOEXEC) != 0) return false;
  if (pipe2(down, O_CLOEXEC) != 0) {
    ::close(up[0]);
    ::close(up[1]);
    return false;
  }
  fds = LinkFds{up[0], up[1], down[0], down[1]};
  // The coordinator polls the up pipe and the worker polls the down pipe once per loop turn.
  fcntl(fds.up_read, F_SETFL, O_NONBLOCK);
  fcntl(fds.down_read, F_SETFL, O_NONBLOCK);
  return true;
}

bool send_up(int fd, const WorkerMessage& msg) {
  std::string body;
  msg.serialize(body);
  const auto len = static_cast<uint32_t>(body.size());
  std::string frame(sizeof len, '\0');
  std::memcpy(frame.data(), &len, sizeof len);  // same machine: native byte order
  frame += body;
  return write_all(fd, frame.data(), frame.size());
}

UpReader::Status UpReader::poll(int fd, WorkerMessage& out) {
  char chunk[65536];
  while (!eof_) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0) {
      buf_.append(chunk, static_cast<size_t>(r));
      continue;
    }
    if (r == 0)
      eof_ = true;
    else if (errno == EINTR)
      continue;
    else if (errno != EAGAIN)
      eof_ = true;
    break;
  }
  if (buf_.size() >= sizeof(uint32_t)) {
    uint32_t len = 0;
    std::memcpy(&len, buf_.data(), sizeof len);
    if (buf_.size() >= sizeof len + len) {
      const bool ok = out.deserialize(std::string_view(buf_).substr(sizeof len, len));
      buf_.erase(0, sizeof len + len);
      return ok ? Status::Message : Status::Corrupt;
    }
  }
  return eof_ ? Status::Closed : Status::Empty;
}

bool send_down(int fd, std::string_view line) {
  std::string l(line);
  l += '\n';
  return write_all(fd, l.data(), l.size());
}

bool read_down(int fd, std::string& pending, std::vector<std::string>& lines) {
  char chunk[256];
  bool open = true;
  for (;;) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0) {
      pending.append(chunk, static_cast<size_t>(r));
      continue;
    }
    if (r == 0)
      open = false;
    else if (errno == EINTR)
      continue;
    else if (errno != EAGAIN)
      open = false;
    break;
  }
  size_t nl;
  while ((nl = pending.find('\n')) != std::string::npos) {
    lines.push_back(pending.substr(0, nl));
    pending.erase(0, nl + 1);
  }
  return open || !lines.empty();
}

}  // namespace rtchat::loadtest
