#include "loadtest/load_coordinator.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "loadtest/load_worker.h"
#include "loadtest/message_body.h"
#include "loadtest/process_probe.h"
#include "loadtest/worker_link.h"

namespace rtchat::loadtest {

namespace {

// Set by SIGINT/SIGTERM: the coordinator aborts the workers and still prints what it has.
volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int /*signo*/) { g_interrupted = 1; }

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kSampleGraceNs = 150'000'000;
int64_t seconds_ns(double s) { return static_cast<int64_t>(s * 1e9); }

struct WorkerView {
  LinkFds fds;
  UpReader reader;
  RunCounters latest;
  bool ready = false;
  bool final = false;
  bool gone = false;
};

void run_worker_thread(const ScenarioConfig& config, uint32_t index, int up_fd, int down_fd,
                       int64_t t0_ns) {
  auto worker = std::make_unique<LoadWorker>(config, index, up_fd, down_fd, t0_ns);
  (void)worker->run();
}

// Runs workers [first, first+count) on threads of the calling process and waits for them.
void run_workers(const ScenarioConfig& config, std::vector<WorkerView>& views, uint32_t first,
                 uint32_t count, int64_t t0_ns) {
  std::vector<std::thread> threads;
  for (uint32_t w = first; w < first + count; ++w) {
    threads.emplace_back(run_worker_thread, std::cref(config), w, views[w].fds.up_write,
                         views[w].fds.down_read, t0_ns);
  }
  for (auto& t : threads) t.join();
}

double rusage_s(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

class Coordinator {
 public:
  explicit Coordinator(const ScenarioConfig& config) : config_(config) { report_.config = config; }

  RunReport run();

 private:
  bool start_workers();
  void poll_workers(int timeout_ms);
  void on_message(WorkerView& v, const WorkerMessage& m);
  void broadcast(const char* line);
  void emit_second(int64_t boundary_ns);
  void stop_workers(bool abort);
  int64_t total_cpu_ns() const;
  RunCounters sum_latest() const;
  void sample_rss(int64_t& slot);

  const ScenarioConfig& config_;
  RunReport report_;
  std::vector<WorkerView> views_;
  std::vector<pid_t> children_;
  std::vector<std::thread> threads_;
  std::vector<uint64_t> room_members_;
  std::vector<uint64_t> room_acked_;
  LatencyHistogram interval_;
  int64_t t0_ns_ = 0;
  int64_t next_second_ns_ = 0;
  int64_t last_cpu_ns_ = 0;
  int64_t last_server_cpu_ns_ = -1;
  int64_t go_server_cpu_ns_ = -1;
  int64_t go_ns_ = 0;
  int64_t last_second_ns_ = 0;
  RunCounters last_counters_;
  std::string fatal_;
};

bool Coordinator::start_workers() {
  const uint32_t workers = config_.workers();
  views_.resize(workers);
  for (auto& v : views_) {
    if (!open_link(v.fds)) {
      fatal_ = "cannot create worker pipes";
      return false;
    }
  }
  t0_ns_ = mono_ns() + 20'000'000;
  if (config_.procs <= 1) {
    for (uint32_t w = 0; w < workers; ++w) {
      threads_.emplace_back(run_worker_thread, std::cref(config_), w, views_[w].fds.up_write,
                            views_[w].fds.down_read, t0_ns_);
    }
    return true;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  for (uint32_t p = 0; p < config_.procs; ++p) {
    const pid_t pid = fork();
    if (pid < 0) {
      fatal_ = "fork failed";
      return false;
    }
    if (pid == 0) {
      // Child: keep only its own workers' ends, so EOF reaches the right side when someone dies.
      for (uint32_t w = 0; w < workers; ++w) {
        ::close(views_[w].fds.up_read);
        ::close(views_[w].fds.down_write);
        if (w / config_.threads != p) {
          ::close(views_[w].fds.up_write);
          ::close(views_[w].fds.down_read);
        }
      }
      run_workers(config_, views_, p * config_.threads, config_.threads, t0_ns_);
      _exit(0);
    }
    children_.push_back(pid);
  }
  for (auto& v : views_) {
    ::close(v.fds.up_write);
    ::close(v.fds.down_read);
    v.fds.up_write = v.fds.down_read = -1;
  }
  return true;
}

void Coordinator::on_message(WorkerView& v, const WorkerMessage& m) {
  if (!m.text.empty() && report_.first_error.empty()) report_.first_error = m.text;
  switch (m.kind) {
    case WorkerMessage::Kind::Sample:
      v.latest = m.counters;
      interval_.merge(m.interval_e2e);
      break;
    case WorkerMessage::Kind::Ready:
      v.latest = m.counters;
      v.ready = true;
      for (const auto& [room, n] : m.room_counts) {
        if (room < room_members_.size()) room_members_[room] += n;
      }
      break;
    case WorkerMessage::Kind::Final:
      v.latest = m.counters;
      v.final = true;
      report_.connect.merge(m.connect);
      report_.join.merge(m.join);
      report_.e2e.merge(m.e2e);
      report_.ack.merge(m.ack);
      for (const auto& [room, n] : m.room_counts) {
        if (room < room_acked_.size()) room_acked_[room] += n;
      }
      break;
    case WorkerMessage::Kind::Fatal:
      if (fatal_.empty()) fatal_ = m.text;
      v.gone = true;
      break;
  }
}

void Coordinator::poll_workers(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<size_t> idx;
  for (size_t i = 0; i < views_.size(); ++i) {
    if (views_[i].gone) continue;
    fds.push_back(pollfd{views_[i].fds.up_read, POLLIN, 0});
    idx.push_back(i);
  }
  if (fds.empty()) return;
  ::poll(fds.data(), fds.size(), timeout_ms);
  auto m = std::make_unique<WorkerMessage>();
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    WorkerView& v = views_[idx[k]];
    for (;;) {
      const auto st = v.reader.poll(v.fds.up_read, *m);
      if (st == UpReader::Status::Message) {
        on_message(v, *m);
        continue;
      }
      if (st == UpReader::Status::Closed || st == UpReader::Status::Corrupt) {
        if (!v.final && fatal_.empty()) {
          fatal_ = st == UpReader::Status::Corrupt ? "corrupt message from a worker"
                                                   : "a worker exited before finishing";
        }
        v.gone = true;
      }
      break;
    }
  }
}

void Coordinator::broadcast(const char* line) {
  for (auto& v : views_) {
    if (v.fds.down_write >= 0) (void)send_down(v.fds.down_write, line);
  }
}

RunCounters Coordinator::sum_latest() const {
  RunCounters sum;
  for (const auto& v : views_) sum.add(v.latest);
  return sum;
}

int64_t Coordinator::total_cpu_ns() const {
  int64_t total = std::max<int64_t>(0, read_cpu_ns(getpid()));
  for (pid_t pid : children_) total += std::max<int64_t>(0, read_cpu_ns(pid));
  return total;
}

void Coordinator::sample_rss(int64_t& slot) {
  if (config_.server_pid <= 0) return;
  slot = read_rss_kib(config_.server_pid);
  if (slot > report_.rss_max_kib) report_.rss_max_kib = slot;
}

// boundary_ns is the whole second (t0 + k s) whose worker samples were sent at that instant.
void Coordinator::emit_second(int64_t now) {
  const RunCounters sum = sum_latest();
  const double dt = std::max(1e-3, static_cast<double>(now - last_second_ns_) / 1e9);
  SecondRow row;
  row.t_s = static_cast<double>(now - t0_ns_) / 1e9;
  row.attempted = sum[Counter::ConnAttempted];
  row.open = sum[Counter::ConnJoined] - std::min(sum[Counter::ConnJoined], sum[Counter::ConnLost]);
  row.out_per_s =
      static_cast<double>(sum[Counter::Published] - last_counters_[Counter::Published]) / dt;
  row.in_per_s =
      static_cast<double>(sum[Counter::Received] - last_counters_[Counter::Received]) / dt;
  row.p50_ns = interval_.percentile(0.5);
  row.p99_ns = interval_.percentile(0.99);
  row.max_ns = interval_.max();
  row.errors = sum.failed() + sum[Counter::ConnLost] + sum[Counter::PublishErrors] +
               sum[Counter::ProtocolErrors];
  const int64_t cpu = total_cpu_ns();
  row.cpu_pct = 100.0 * static_cast<double>(cpu - last_cpu_ns_) / 1e9 / dt;
  int64_t rss = -1;
  sample_rss(rss);
  row.server_rss_kib = rss;
  if (config_.server_pid > 0) {
    const int64_t server_cpu = read_cpu_ns(config_.server_pid);
    if (server_cpu >= 0 && last_server_cpu_ns_ >= 0) {
      row.server_cpu_pct = 100.0 * static_cast<double>(server_cpu - last_server_cpu_ns_) / 1e9 / dt;
    }
    last_server_cpu_ns_ = server_cpu;
  }
  report_.series.push_back(row);
  if (!config_.quiet) std::fprintf(stderr, "%s\n", progress_line(row, config_.connections).c_str());
  interval_.reset();
  last_counters_ = sum;
  last_cpu_ns_ = cpu;
  last_second_ns_ = now;
}

void Coordinator::stop_workers(bool abort) {
  broadcast(abort ? "A" : "X");
  for (auto& v : views_) {
    if (v.fds.down_write >= 0) {
      ::close(v.fds.down_write);  // EOF also stops a worker that missed the command
      v.fds.down_write = -1;
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Children get 5 s to close their sockets, then are killed by pid.
  const int64_t deadline = mono_ns() + 5 * kNsPerSec;
  for (pid_t pid : children_) {
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (mono_ns() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      usleep(10000);
    }
  }
  for (auto& v : views_) {
    ::close(v.fds.up_read);
    if (v.fds.up_write >= 0) ::close(v.fds.up_write);
    if (v.fds.down_read >= 0) ::close(v.fds.down_read);
  }
}

RunReport Coordinator::run() {
  room_members_.assign(config_.rooms, 0);
  room_acked_.assign(config_.rooms, 0);
  sample_rss(report_.rss_before_kib);
  const int64_t wall_start = mono_ns();
  last_cpu_ns_ = total_cpu_ns();
  const int64_t setup_generator_cpu0 = last_cpu_ns_;  // worker processes start at 0
  const int64_t setup_server_cpu0 = config_.server_pid > 0 ? read_cpu_ns(config_.server_pid) : -1;
  if (!start_workers()) {
    stop_workers(true);
    report_.fatal = fatal_;
    return report_;
  }
  last_second_ns_ = t0_ns_;
  next_second_ns_ = t0_ns_ + kNsPerSec;
  // Every connection settles (joined or failed) within --connect-timeout of its start, so a
  // setup where nothing settles for that long plus a margin is stuck. A slow but moving setup
  // (a storm the server admits at a few hundred per second) may take as long as it needs, up to
  // a hard cap of 100 connections per second.
  const double ramp_s = config_.ramp > 0 ? config_.connections / config_.ramp : 0.0;
  const int64_t stall_ns = seconds_ns(config_.connect_timeout_s + 5);
  const int64_t setup_cap = t0_ns_ + seconds_ns(ramp_s + 2 * config_.connect_timeout_s + 10 +
                                                config_.connections / 100.0);
  uint64_t settled = 0;
  int64_t last_progress_ns = t0_ns_;
  int64_t run_deadline = 0;
  bool go_sent = false;
  for (;;) {
    poll_workers(50);
    const int64_t now = mono_ns();
    // Workers send their sample at each whole second after t0; reading 150 ms later lets every
    // worker's sample for that second arrive, so the per-second rates line up.
    if (now >= next_second_ns_ + kSampleGraceNs) {
      emit_second(next_second_ns_);
      while (next_second_ns_ + kSampleGraceNs <= now) next_second_ns_ += kNsPerSec;
    }
    if (g_interrupted != 0 && fatal_.empty()) fatal_ = "interrupted";
    if (!fatal_.empty()) break;
    const bool all_ready =
        std::all_of(views_.begin(), views_.end(), [](auto& v) { return v.ready; });
    const bool all_final =
        std::all_of(views_.begin(), views_.end(), [](auto& v) { return v.final; });
    if (!go_sent && all_ready) {
      const RunCounters sum = sum_latest();
      if (sum[Counter::ConnJoined] == 0) {
        fatal_ = "no connection could join " + config_.host + ":" + std::to_string(config_.port);
        break;
      }
      sample_rss(report_.rss_joined_kib);
      if (config_.server_pid > 0) go_server_cpu_ns_ = read_cpu_ns(config_.server_pid);
      if (setup_server_cpu0 >= 0 && go_server_cpu_ns_ >= 0) {
        report_.setup_server_cpu_s =
            static_cast<double>(go_server_cpu_ns_ - setup_server_cpu0) / 1e9;
      }
      report_.setup_generator_cpu_s =
          static_cast<double>(total_cpu_ns() - setup_generator_cpu0) / 1e9;
      go_ns_ = mono_ns();
      report_.setup_s = static_cast<double>(go_ns_ - t0_ns_) / 1e9;
      const int64_t t_start = mono_ns() + 200'000'000;
      broadcast(("G " + std::to_string(t_start)).c_str());
      run_deadline = t_start + seconds_ns(config_.warmup_s + config_.duration_s +
                                          config_.drain_timeout_s + 10);
      go_sent = true;
    }
    if (!go_sent) {
      const uint64_t now_settled = sum_latest().settled();
      if (now_settled != settled) {
        settled = now_settled;
        last_progress_ns = now;
      }
      if (now - last_progress_ns > stall_ns || now > setup_cap) {
        fatal_ = "setup stalled: " + std::to_string(settled) + " of " +
                 std::to_string(config_.connections) +
                 " connections settled (server not answering?)";
        break;
      }
    }
    if (go_sent && all_final) break;
    if (go_sent && now > run_deadline) {
      fatal_ = "workers did not finish the run in time";
      break;
    }
  }
  const bool failed = !fatal_.empty();
  report_.is_complete =
      std::all_of(views_.begin(), views_.end(), [](const WorkerView& v) { return v.final; });
  sample_rss(report_.rss_end_kib);
  if (go_server_cpu_ns_ >= 0) {
    const int64_t end_cpu = read_cpu_ns(config_.server_pid);
    if (end_cpu >= 0) {
      report_.server_cpu_s = static_cast<double>(end_cpu - go_server_cpu_ns_) / 1e9;
      report_.server_cpu_wall_s = static_cast<double>(mono_ns() - go_ns_) / 1e9;
    }
  }
  report_.totals = sum_latest();
  if (!failed && report_.totals[Counter::ConnJoined] > 0 &&
      report_.totals[Counter::ConnLost] == report_.totals[Counter::ConnJoined]) {
    fatal_ = "every connection was lost during the run (server died?)";
  }
  stop_workers(failed);
  for (uint32_t r = 0; r < config_.rooms; ++r) {
    report_.expected_deliveries += room_acked_[r] * room_members_[r];
  }
  report_.wall_s = static_cast<double>(mono_ns() - wall_start) / 1e9;
  rusage self{};
  rusage kids{};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  report_.cpu_user_s = rusage_s(self.ru_utime) + rusage_s(kids.ru_utime);
  report_.cpu_sys_s = rusage_s(self.ru_stime) + rusage_s(kids.ru_stime);
  report_.fatal = fatal_;
  return report_;
}

}  // namespace

RunReport run_scenario(const ScenarioConfig& config) {
  // A worker that died must not kill the coordinator through its pipe: writes then fail (EPIPE)
  // and the run ends with a report. Forked workers inherit the interrupt handler, so one Ctrl-C
  // stops the run through the coordinator instead of killing each process mid-write.
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return Coordinator(config).run();
}

}  // namespace rtchat::loadtest
