#include "server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>

#include "core/clock.h"
#include "core/unique_fd.h"
#include "server/cluster/cluster_link.h"
#include "server/cluster/cluster_store.h"
#include "server/log.h"
#include "server/service_notify.h"
#include "server/shard/shard.h"
#include "server/storage/memory_store.h"
#include "server/storage/sqlite_store.h"
#include "server/storage/storage_thread.h"
#include "server/web_root.h"

namespace rtchat::server {
namespace {

constexpr size_t kShardMailboxCapacity = 16384;
constexpr size_t kStorageReplyCapacity = 8192;

core::UniqueFd make_listener(const std::string& host, uint16_t port) {
  core::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // One listener per shard on the same port: the kernel spreads new connections across them
  // by 4-tuple hash, and no shard's accept queue is a single point of contention.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Inherited by accepted sockets: direct descriptors cannot take setsockopt() later.
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("bad --host (IPv4 address expected): " + host);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("bind " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  if (::listen(fd.get(), 4096) != 0) throw std::runtime_error("listen failed");
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// One line that says who can get a token and which Host names are answered, so an operator
// never has to infer it from the flags.
void log_auth_mode(const ServerConfig& config) {
  std::string hosts = config.production ? "" : "localhost";
  for (const auto& h : config.allowed_hosts) hosts += (hosts.empty() ? "" : ",") + h;
  if (hosts.empty()) hosts = "any";
  if (config.production) {
    LOG_INFO("auth", "mode=production secret=custom dev_tokens=off allowed_hosts=%s",
             hosts.c_str());
  } else if (config.jwt_secret == kDevJwtSecret) {
    LOG_WARN("auth",
             "mode=dev secret=builtin dev_tokens=on allowed_hosts=%s reason=\"anyone who "
             "reaches this server can sign in as anyone\"",
             hosts.c_str());
  } else {
    LOG_INFO("auth", "mode=dev secret=custom dev_tokens=%s allowed_hosts=%s",
             config.dev_tokens ? "on" : "off", hosts.c_str());
  }
}

// Dev mode without a secret takes the built-in one; production refuses to start without one.
bool resolve_secret(ServerConfig& config) {
  if (!config.jwt_secret.empty()) return true;
  if (config.production) {
    LOG_ERROR("config", "reason=\"--production needs --jwt-secret or RTCHAT_JWT_SECRET\"");
    return false;
  }
  config.jwt_secret = kDevJwtSecret;
  LOG_WARN("config", "reason=\"dev mode: using the built-in development JWT secret\"");
  return true;
}

std::unique_ptr<Store> open_store(const ServerConfig& config) {
  if (config.storage == "memory") return open_memory_store();
  std::filesystem::create_directories(config.data_dir);
  return open_sqlite_store(SqliteOptions{
      (std::filesystem::path(config.data_dir) / "rtchat.db").string(), config.sync_full});
}

// --cluster: the node gets an id (random unless given), its store keeps history in Redis, and
// one thread talks to Redis for every shard.
std::unique_ptr<ClusterLink> start_cluster_mode(ServerConfig& config, std::unique_ptr<Store>& store,
                                                ClusterStatus& status) {
  if (config.cluster_url.empty()) return nullptr;
  if (config.node_id.empty()) {
    std::random_device rd;
    char id[24];
    std::snprintf(id, sizeof id, "n%08x%08x", rd(), rd());
    config.node_id = id;
  }
  store = make_cluster_store(std::move(store), config);
  return std::make_unique<ClusterLink>(config, config.effective_shards(), status);
}

// Every mailbox between the threads: shard i -> shard j (one SPSC queue per ordered pair),
// storage -> shard i, and the cluster link <-> shard i (one more peer in each shard's lists,
// index = shards).
struct Mailboxes {
  std::vector<std::vector<std::unique_ptr<core::Mailbox<ShardMessage>>>> mail;
  std::vector<std::unique_ptr<core::Mailbox<StorageReply>>> storage_replies;
  std::vector<std::unique_ptr<core::Mailbox<ShardMessage>>> from_link;
};

Mailboxes make_mailboxes(std::vector<std::unique_ptr<Shard>>& shards, StorageThread& storage,
                         ClusterLink* link) {
  const auto n = static_cast<unsigned>(shards.size());
  Mailboxes m;
  m.mail.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    m.mail[i].resize(n);
    for (unsigned j = 0; j < n; ++j) {
      if (i == j) continue;
      m.mail[i][j] = std::make_unique<core::Mailbox<ShardMessage>>(kShardMailboxCapacity,
                                                                   shards[j]->doorbell());
    }
    m.storage_replies.push_back(std::make_unique<core::Mailbox<StorageReply>>(
        kStorageReplyCapacity, shards[i]->doorbell()));
    storage.set_reply_mailbox(i, *m.storage_replies[i]);
    if (!link) continue;
    m.from_link.push_back(std::make_unique<core::Mailbox<ShardMessage>>(kShardMailboxCapacity,
                                                                        shards[i]->doorbell()));
    link->set_shard_mailbox(i, *m.from_link[i]);
  }
  return m;
}

void wire_shards(std::vector<std::unique_ptr<Shard>>& shards, Mailboxes& m, StorageThread& storage,
                 ClusterLink* link) {
  const auto n = static_cast<unsigned>(shards.size());
  for (unsigned i = 0; i < n; ++i) {
    ShardWiring w;
    for (unsigned j = 0; j < n; ++j) {
      w.inbox_from.push_back(m.mail[j][i].get());
      w.outbox_to.push_back(m.mail[i][j].get());
    }
    if (link) {
      w.inbox_from.push_back(m.from_link[i].get());
      w.outbox_to.push_back(&link->inbox(i));
    }
    w.to_storage = &storage.inbox(i);
    w.from_storage = m.storage_replies[i].get();
    shards[i]->wire(w);
  }
}

// Signals are taken by the main thread alone (sigwait); every other thread inherits the mask.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

void log_started(const ServerConfig& config, uint16_t port, const std::string& web_root,
                 size_t static_files) {
  LOG_INFO("config",
           "host=%s port=%u shards=%u storage=%s data_dir=%s web_root=%s static_files=%zu mode=%s "
           "max_message_bytes=%zu heartbeat_timeout_s=%d outbound_cap_bytes=%zu rate=%g/%g",
           config.host.c_str(), port, config.effective_shards(), config.storage.c_str(),
           config.data_dir.c_str(), web_root.c_str(), static_files,
           config.production ? "production" : "dev", config.max_message_bytes,
           config.heartbeat_timeout_s, config.outbound_cap_bytes, config.rate_per_s,
           config.rate_burst);
  if (!config.cluster_url.empty()) {
    LOG_INFO("cluster", "redis=%s node=%s history=redis-stream local_copy=%s",
             config.cluster_url.c_str(), config.node_id.c_str(), config.storage.c_str());
  }
  std::printf("rtchat-server listening on %s:%u\n", config.host.c_str(), port);
  std::fflush(stdout);
}

// Blocks until SIGTERM or SIGINT, then drains: shards first, then the link publishes the shards'
// last presence leaves and removes this node's liveness key, then storage answers what is queued
// (nothing acknowledged is lost) and stops.
void wait_and_drain(const ServerConfig& config, sigset_t& signals, SharedState& shared,
                    std::vector<std::unique_ptr<Shard>>& shards, std::vector<std::jthread>& threads,
                    ClusterLink* link, StorageThread& storage) {
  int sig = 0;
  sigwait(&signals, &sig);
  LOG_INFO("drain", "signal=%s timeout_s=%d", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           config.drain_timeout_s);
  notify_stopping();
  shared.stopping.store(true);
  for (auto& s : shards) s->doorbell().signal();
  for (auto& t : threads) t.join();
  if (link) link->stop();
  storage.stop();
  LOG_INFO("stopped", "reason=\"drain complete\"");
}

std::vector<core::UniqueFd> make_listeners(const ServerConfig& config, uint16_t& port) {
  std::vector<core::UniqueFd> listeners;
  listeners.push_back(make_listener(config.host, config.port));
  port = bound_port(listeners[0].get());
  for (unsigned i = 1; i < config.effective_shards(); ++i) {
    listeners.push_back(make_listener(config.host, port));
  }
  return listeners;
}

}  // namespace

int run_server(ServerConfig config) {
  set_log_level(config.log_level);
  if (!resolve_secret(config)) return 2;
  log_auth_mode(config);
  const unsigned shards = config.effective_shards();
  // No per-room state is read at startup: an owner shard asks the storage thread for a room's
  // last id when the room's record is created (StoreLoadRoom), so memory follows the rooms in use,
  // not the rooms in the database.
  std::unique_ptr<Store> store = open_store(config);
  ClusterStatus cluster_status;  // Off unless the link runs
  std::unique_ptr<ClusterLink> link = start_cluster_mode(config, store, cluster_status);
  auto web_root = find_web_root(config.web_root, current_executable());
  auto static_files = std::make_unique<StaticFiles>(StaticFiles::load(web_root));
  uint16_t port = 0;
  std::vector<core::UniqueFd> listeners = make_listeners(config, port);

  SharedState shared;
  shared.config = &config;
  shared.static_files = static_files.get();
  StorageThread storage(std::move(store), config, shards);
  shared.storage_metrics = &storage.metrics();
  shared.cluster_status = &cluster_status;
  std::vector<std::unique_ptr<Shard>> shard_list;
  for (unsigned i = 0; i < shards; ++i) {
    shard_list.push_back(std::make_unique<Shard>(i, shared, listeners[i].get()));
    shared.shard_metrics.push_back(&shard_list.back()->metrics());
  }
  Mailboxes mailboxes = make_mailboxes(shard_list, storage, link.get());
  wire_shards(shard_list, mailboxes, storage, link.get());
  if (link) {  // the link asks the store for room floors after a Redis data loss
    link->set_storage_floors(storage.floors_inbox());
    storage.set_floors_reply_mailbox(link->floors_replies());
  }

  sigset_t signals = block_signals();
  storage.start();
  if (link) link->start();
  std::vector<std::jthread> threads;
  for (auto& s : shard_list) threads.emplace_back([&s] { s->run(); });
  while (shared.shards_running.load() < shards) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log_started(config, port, web_root, static_files->size());
  // Listeners are bound, the store is open and every shard is running: ready for traffic.
  notify_ready();
  wait_and_drain(config, signals, shared, shard_list, threads, link.get(), storage);
  return 0;
}

}  // namespace rtchat::server
