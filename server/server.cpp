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

}  // namespace

int run_server(ServerConfig config) {
  set_log_level(config.log_level);
  if (config.jwt_secret.empty()) {
    if (config.production) {
      LOG_ERROR("config", "reason=\"--production needs --jwt-secret or RTCHAT_JWT_SECRET\"");
      return 2;
    }
    config.jwt_secret = kDevJwtSecret;
    LOG_WARN("config", "reason=\"dev mode: using the built-in development JWT secret\"");
  }
  log_auth_mode(config);
  const unsigned shards = config.effective_shards();

  std::unique_ptr<Store> store;
  if (config.storage == "memory") {
    store = open_memory_store();
  } else {
    std::filesystem::create_directories(config.data_dir);
    store = open_sqlite_store(SqliteOptions{
        (std::filesystem::path(config.data_dir) / "rtchat.db").string(), config.sync_full});
  }
  ClusterStatus cluster_status;       // Off unless the link below runs
  std::unique_ptr<ClusterLink> link;  // --cluster: the node's one thread that talks to Redis
  if (!config.cluster_url.empty()) {
    if (config.node_id.empty()) {
      std::random_device rd;
      char id[24];
      std::snprintf(id, sizeof id, "n%08x%08x", rd(), rd());
      config.node_id = id;
    }
    store = make_cluster_store(std::move(store), config);
    link = std::make_unique<ClusterLink>(config, shards, cluster_status);
  }
  // No per-room state is read at startup: an owner shard asks the storage thread for a room's
  // last id when the room's record is created (StoreLoadRoom), so memory follows the rooms in use,
  // not the rooms in the database.

  auto web_root = find_web_root(config.web_root, current_executable());
  auto static_files = std::make_unique<StaticFiles>(StaticFiles::load(web_root));

  std::vector<core::UniqueFd> listeners;
  listeners.push_back(make_listener(config.host, config.port));
  uint16_t port = bound_port(listeners[0].get());
  for (unsigned i = 1; i < shards; ++i) listeners.push_back(make_listener(config.host, port));

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
  // mailbox[i][j]: shard i -> shard j (one SPSC queue per ordered pair).
  std::vector<std::vector<std::unique_ptr<core::Mailbox<ShardMessage>>>> mail(shards);
  std::vector<std::unique_ptr<core::Mailbox<StorageReply>>> storage_replies;
  for (unsigned i = 0; i < shards; ++i) {
    mail[i].resize(shards);
    for (unsigned j = 0; j < shards; ++j) {
      if (i != j) {
        mail[i][j] = std::make_unique<core::Mailbox<ShardMessage>>(kShardMailboxCapacity,
                                                                   shard_list[j]->doorbell());
      }
    }
    storage_replies.push_back(std::make_unique<core::Mailbox<StorageReply>>(
        kStorageReplyCapacity, shard_list[i]->doorbell()));
    storage.set_reply_mailbox(i, *storage_replies[i]);
  }
  // Cluster link <-> shard i: one more peer in each shard's mailbox lists (index = shards).
  std::vector<std::unique_ptr<core::Mailbox<ShardMessage>>> from_link;
  for (unsigned i = 0; link && i < shards; ++i) {
    from_link.push_back(std::make_unique<core::Mailbox<ShardMessage>>(kShardMailboxCapacity,
                                                                      shard_list[i]->doorbell()));
    link->set_shard_mailbox(i, *from_link[i]);
  }
  for (unsigned i = 0; i < shards; ++i) {
    ShardWiring w;
    for (unsigned j = 0; j < shards; ++j) {
      w.inbox_from.push_back(mail[j][i].get());
      w.outbox_to.push_back(mail[i][j].get());
    }
    if (link) {
      w.inbox_from.push_back(from_link[i].get());
      w.outbox_to.push_back(&link->inbox(i));
    }
    w.to_storage = &storage.inbox(i);
    w.from_storage = storage_replies[i].get();
    shard_list[i]->wire(w);
  }

  // Signals are taken by this thread alone (sigwait); every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  storage.start();
  if (link) link->start();
  std::vector<std::jthread> threads;
  for (auto& s : shard_list) threads.emplace_back([&s] { s->run(); });
  while (shared.shards_running.load() < shards)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  LOG_INFO("config",
           "host=%s port=%u shards=%u storage=%s data_dir=%s web_root=%s static_files=%zu mode=%s "
           "max_message_bytes=%zu heartbeat_timeout_s=%d outbound_cap_bytes=%zu rate=%g/%g",
           config.host.c_str(), port, shards, config.storage.c_str(), config.data_dir.c_str(),
           web_root.c_str(), static_files->size(), config.production ? "production" : "dev",
           config.max_message_bytes, config.heartbeat_timeout_s, config.outbound_cap_bytes,
           config.rate_per_s, config.rate_burst);
  if (link) {
    LOG_INFO("cluster", "redis=%s node=%s history=redis-stream local_copy=%s",
             config.cluster_url.c_str(), config.node_id.c_str(), config.storage.c_str());
  }
  std::printf("rtchat-server listening on %s:%u\n", config.host.c_str(), port);
  std::fflush(stdout);
  // Listeners are bound, the store is open and every shard is running: ready for traffic.
  notify_ready();

  int sig = 0;
  sigwait(&signals, &sig);
  LOG_INFO("drain", "signal=%s timeout_s=%d", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           config.drain_timeout_s);
  notify_stopping();
  shared.stopping.store(true);
  for (auto& s : shard_list) s->doorbell().signal();
  for (auto& t : threads) t.join();
  // Shards are done: storage answers what is queued (nothing acknowledged is lost), then stops.
  // The link publishes the shards' last presence leaves, then removes this node's liveness key.
  if (link) link->stop();
  storage.stop();
  LOG_INFO("stopped", "reason=\"drain complete\"");
  return 0;
}

}  // namespace rtchat::server
