// rtchat-cli: a small command-line client on the client library (both wire formats). Joins one
// room, optionally publishes, and prints every chat message it receives, one line each:
//   msg <id> <user_id> <body>
// Used by the end-to-end test that mixes a binary client with phoenix.js clients in one room, and
// handy for poking at a server by hand.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/clock.h"
#include "loadtest/client/client.h"

using rtchat::client::Client;
using rtchat::client::Format;
namespace proto = rtchat::proto;

int main(int argc, char** argv) {
  CLI::App app{"rtchat-cli: join a room, publish, print what arrives"};
  std::string host = "127.0.0.1", token, room = "lobby", format_name = "binary", prefix = "cli";
  uint16_t port = 4000;
  int send_count = 0, expect = 0, timeout_ms = 10000;
  app.add_option("--host", host, "server address (127.0.0.0/8)");
  app.add_option("--port", port, "server port");
  app.add_option("--token", token, "JWT")->required();
  app.add_option("--room", room, "room id");
  app.add_option("--format", format_name, "binary|json")->check(CLI::IsMember({"binary", "json"}));
  app.add_option("--send", send_count, "messages to publish (each waits for its ok reply)");
  app.add_option("--prefix", prefix, "body prefix of published messages");
  app.add_option("--expect", expect, "exit once this many messages were received");
  app.add_option("--timeout", timeout_ms, "overall deadline in ms");
  CLI11_PARSE(app, argc, argv);
  if (host.rfind("127.", 0) != 0) {
    std::fprintf(stderr, "rtchat-cli: only 127.0.0.0/8 targets are allowed\n");
    return 2;
  }
  Format format = format_name == "binary" ? Format::Binary : Format::Json;
  std::string error;
  int status = 0;
  auto client = Client::connect(host, port, "/socket/websocket?vsn=2.0.0&token=" + token, format,
                                {}, timeout_ms, error, &status);
  if (!client) {
    std::fprintf(stderr, "rtchat-cli: connect failed (HTTP %d): %s\n", status, error.c_str());
    return 1;
  }
  const int64_t deadline = rtchat::core::mono_millis() + timeout_ms;
  const std::string topic = "room:" + room;
  int ref = 0, received = 0;
  auto left = [&] {
    return static_cast<int>(std::max<int64_t>(0, deadline - rtchat::core::mono_millis()));
  };
  // Reads until the reply with `want_ref` arrives (printing messages on the way).
  auto pump = [&](const std::string& want_ref) -> bool {
    while (left() > 0) {
      auto m = client->recv(left());
      if (!m) return false;
      if (m->event == proto::ServerEvent::NewMsg) {
        std::printf("msg %lld %s %s\n", static_cast<long long>(m->message.id),
                    m->message.user_id.c_str(), m->message.body.c_str());
        std::fflush(stdout);
        ++received;
      } else if (m->event == proto::ServerEvent::MsgDeleted) {
        std::printf("deleted %lld event %lld by %s\n", static_cast<long long>(m->message.id),
                    static_cast<long long>(m->deleted_event_id), m->user_id.c_str());
        std::fflush(stdout);
      } else if (m->event == proto::ServerEvent::Reply && m->ref == want_ref) {
        if (m->reply.status != proto::ReplyStatus::Ok) {
          std::fprintf(stderr, "rtchat-cli: error reply: %s\n", m->reply.body.reason.c_str());
          return false;
        }
        return true;
      }
      if (want_ref.empty() && expect > 0 && received >= expect) return true;
    }
    return false;
  };
  proto::ClientMessage join;
  join.event = proto::ClientEvent::Join;
  join.event_name = "phx_join";
  join.topic = topic;
  join.join_ref = join.ref = std::to_string(++ref);
  if (!client->send(join) || !pump(*join.ref)) {
    std::fprintf(stderr, "rtchat-cli: join failed\n");
    return 1;
  }
  std::printf("joined %s\n", topic.c_str());
  std::fflush(stdout);
  for (int i = 0; i < send_count; ++i) {
    proto::ClientMessage push;
    push.event = proto::ClientEvent::NewMsg;
    push.event_name = "new_msg";
    push.topic = topic;
    push.join_ref = join.join_ref;
    push.ref = std::to_string(++ref);
    push.body = prefix + "-" + std::to_string(i);
    if (!client->send(push) || !pump(*push.ref)) {
      std::fprintf(stderr, "rtchat-cli: publish %d failed\n", i);
      return 1;
    }
  }
  while (received < expect && left() > 0) {
    if (!pump({})) break;
  }
  client->close(1000, "bye");
  if (received < expect) {
    std::fprintf(stderr, "rtchat-cli: received %d of %d messages\n", received, expect);
    return 1;
  }
  return 0;
}
