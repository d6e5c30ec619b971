// fuzz_seed_corpus OUT_DIR: writes OUT_DIR/binary/* and OUT_DIR/json/*, one seed per message kind
// in each wire format, produced by the real encoders, and OUT_DIR/ws_frame/*: client frame
// streams (masked, every length form, fragments, control frames, and one broken rule each).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/binary_codec.h"
#include "proto/phoenix_codec.h"

namespace {

using namespace rtchat::proto;

struct Seeds {
  std::filesystem::path dir;
  void write(const std::string& format, const std::string& name, const std::string& bytes) {
    std::filesystem::create_directories(dir / format);
    std::ofstream(dir / format / name, std::ios::binary) << bytes;
  }
};

std::vector<ClientMessage> client_messages() {
  std::vector<ClientMessage> out;
  ClientMessage m;
  m.join_ref = "3";
  m.ref = "3";
  m.topic = "room:lobby";
  m.event = ClientEvent::Join;
  m.last_seen_id = 12;
  m.device = "phone";
  out.push_back(m);
  m = ClientMessage{};
  m.ref = "4";
  m.topic = "phoenix";
  m.event = ClientEvent::Heartbeat;
  out.push_back(m);
  m.join_ref = "3";
  m.topic = "room:lobby";
  for (ClientEvent e : {ClientEvent::Leave, ClientEvent::Typing}) {
    m.event = e;
    out.push_back(m);
  }
  m.event = ClientEvent::NewMsg;
  m.body = "hello \xF0\x9F\x98\x80 \"quoted\"";
  out.push_back(m);
  m.event = ClientEvent::History;
  m.before_id = 100;
  m.limit = 20;
  out.push_back(m);
  m.event = ClientEvent::Other;
  m.event_name = "custom";
  out.push_back(m);
  return out;
}

// A masked client frame (RFC 6455 section 5.2) with `len` announced and `payload` sent.
std::string client_frame(uint8_t b0, std::string_view payload, uint64_t len) {
  std::string f(1, static_cast<char>(b0));
  if (len < 126) {
    f.push_back(static_cast<char>(0x80 | len));
  } else if (len <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(len >> 8));
    f.push_back(static_cast<char>(len & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<char>((len >> (56 - 8 * i)) & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

std::string client_frame(uint8_t b0, std::string_view payload) {
  return client_frame(b0, payload, payload.size());
}

void write_frame_seeds(Seeds& seeds) {
  const std::string hb = R"([null,"1","phoenix","heartbeat",{}])";
  const std::string close_1000 = std::string("\x03\xe8", 2) + "bye";
  const std::pair<const char*, std::string> streams[] = {
      {"text", client_frame(0x81, hb)},
      {"fragments_with_ping", client_frame(0x01, hb.substr(0, 10)) + client_frame(0x89, "p") +
                                  client_frame(0x80, hb.substr(10))},
      {"len16", client_frame(0x82, std::string(300, 'b'))},
      {"len64_header", client_frame(0x82, "", 70000)},
      {"close", client_frame(0x88, close_1000)},
      {"close_bad_code", client_frame(0x88, std::string("\x03\xed", 2))},
      {"ping_pong", client_frame(0x89, "ping") + client_frame(0x8A, "")},
      {"bad_utf8", client_frame(0x81, "\xff\xfe")},
      {"ping_no_fin", client_frame(0x09, "x")},
      {"close_one_byte", client_frame(0x88, "\x03")},
      {"top_bit_length", client_frame(0x82, "", 0x8000000000000000ULL)},
      {"over_limit_header", client_frame(0x81, "", 100000)},
  };
  for (const auto& [name, bytes] : streams) seeds.write("ws_frame", name, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  Seeds seeds{argv[1]};
  write_frame_seeds(seeds);
  int n = 0;
  for (const ClientMessage& m : client_messages()) {
    std::string b, j;
    binary::encode_client(m, b);
    phoenix::encode_client(m, j);
    seeds.write("binary", "client_" + std::to_string(n), b);
    seeds.write("json", "client_" + std::to_string(n), j);
    ++n;
  }
  const ChatMessage chat{124, "lobby", "u42", "Alice", "hi", 1764300000000};
  PresenceEntries entries{{"u42", {PresenceMeta{"F1", 1764300000000, "Alice", "phone"}}},
                          {"u7", {PresenceMeta{"F2", 1764300000001, "Bob", ""}}}};
  Reply history;
  history.join_ref = "3";
  history.ref = "9";
  history.topic = "room:lobby";
  history.body.kind = ReplyBody::Kind::History;
  history.body.messages = {chat, chat};
  history.body.has_more = true;
  Reply join = history;
  join.body = ReplyBody{};
  join.body.kind = ReplyBody::Kind::Join;
  join.body.recovered = true;
  Reply error = join;
  error.status = ReplyStatus::Error;
  error.body.kind = ReplyBody::Kind::Error;
  error.body.reason = "unauthorized";
  Reply publish = join;
  publish.body.kind = ReplyBody::Kind::Publish;
  publish.body.id = 77;

  using Encoder = void (*)(const Reply&, std::string&);
  struct Codec {
    const char* format;
    Encoder reply;
    decltype(&binary::encode_new_msg) new_msg;
    // encode_presence_state is overloaded (entries or a view): the entries form.
    void (*state)(const std::optional<std::string>&, std::string_view, const PresenceEntries&,
                  std::string&);
    decltype(&binary::encode_presence_diff) diff;
    decltype(&binary::encode_close) close;
    decltype(&binary::encode_channel_error) channel_error;
    decltype(&binary::encode_typing) typing;
  };
  for (const Codec& c :
       {Codec{"binary", binary::encode_reply, binary::encode_new_msg, binary::encode_presence_state,
              binary::encode_presence_diff, binary::encode_close, binary::encode_channel_error,
              binary::encode_typing},
        Codec{"json", phoenix::encode_reply, phoenix::encode_new_msg,
              phoenix::encode_presence_state, phoenix::encode_presence_diff, phoenix::encode_close,
              phoenix::encode_channel_error, phoenix::encode_typing}}) {
    std::string s;
    int k = 0;
    for (const Reply* r : {&history, &join, &error, &publish}) {
      s.clear();
      c.reply(*r, s);
      seeds.write(c.format, "reply_" + std::to_string(k++), s);
    }
    s.clear();
    c.new_msg("room:lobby", chat, s);
    seeds.write(c.format, "new_msg", s);
    s.clear();
    c.state(std::string("3"), "room:lobby", entries, s);
    seeds.write(c.format, "presence_state", s);
    s.clear();
    c.diff("room:lobby", PresenceDiff{entries, entries}, s);
    seeds.write(c.format, "presence_diff", s);
    s.clear();
    c.close(std::string("3"), "room:lobby", s);
    seeds.write(c.format, "close", s);
    s.clear();
    c.channel_error(std::string("3"), "room:lobby", "channel_crash", s);
    seeds.write(c.format, "channel_error", s);
    s.clear();
    c.typing("room:lobby", "u42", "Alice", s);
    seeds.write(c.format, "typing", s);
  }
  return 0;
}
