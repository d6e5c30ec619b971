// One simulated chat user: a WebSocket connection joined to one room. Worker-local: created,
// used and destroyed on its worker's thread. A slot is never reused within a run (a failed
// connection stays failed), so buffers referenced by in-flight SQEs live until the worker ends.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "loadtest/client/ws_frames.h"

namespace rtchat::loadtest {

enum class ConnState : uint8_t {
  Waiting,     // not started yet (ramp)
  Connecting,  // TCP connect in flight
  Upgrading,   // upgrade request sent, waiting for 101
  Joining,     // phx_join sent, waiting for the reply
  Joined,
  Dead,  // failed or lost; fd closed
};

struct LoadConnection {
  uint32_t index = 0;  // global connection index (user id "lt<index>")
  uint32_t room = 0;
  int fd = -1;
  uint32_t generation = 0;  // bumped on close: CQEs of the old socket are ignored
  ConnState state = ConnState::Waiting;
  bool is_publisher = false;
  uint32_t publisher_slot = 0;  // index into the worker's publisher tables
  bool send_in_flight = false;
  bool recv_armed = false;

  sockaddr_in peer{};    // must outlive the connect SQE
  std::string out;       // frames waiting for the in-flight send to finish
  std::string inflight;  // bytes owned by the in-flight send SQE
  size_t inflight_sent = 0;
  std::string ws_key;
  std::string handshake;  // response bytes until the 101 head is complete
  client::FrameReader reader;

  int64_t started_ns = 0;  // connect issued
  int64_t join_sent_ns = 0;
  int64_t last_id = 0;  // highest new_msg id seen in the room
  int64_t next_heartbeat_ns = 0;
  uint64_t heartbeat_ref = 0;

  // Publisher state.
  uint64_t next_seq = 1;
  int64_t next_send_ns = 0;
};

}  // namespace rtchat::loadtest
