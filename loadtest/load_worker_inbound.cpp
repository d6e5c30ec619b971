// The receive half of LoadWorker: bytes -> upgrade response -> WebSocket frames -> chat messages,
// and the checks on every delivery (count, per-room order, duplicates, end-to-end latency).
#include <algorithm>
#include <charconv>
#include <string>

#include "loadtest/load_worker.h"
#include "loadtest/message_body.h"

namespace rtchat::loadtest {

namespace {

int64_t seconds_ns(double s) { return static_cast<int64_t>(s * 1e9); }

// `[join_ref,ref,"topic","presence_state"|"presence_diff",...`: the event is the 4th element, so
// it starts within the head (refs and a room topic are short; 200 bytes cover them).
bool is_json_presence(std::string_view payload) {
  const std::string_view head = payload.substr(0, 200);
  return head.find(",\"presence_state\",") != std::string_view::npos ||
         head.find(",\"presence_diff\",") != std::string_view::npos;
}
// The reader's skim test (FrameReader::set_skim): a large presence frame is counted from its head.
bool is_presence_text(uint8_t opcode, std::string_view head) {
  return opcode == client::kOpText && is_json_presence(head);
}
}  // namespace

void LoadWorker::on_bytes(LoadConnection& c, const char* data, size_t len, int64_t now) {
  counters_[Counter::BytesIn] += len;
  if (c.state == ConnState::Upgrading) {
    c.handshake.append(data, len);
    int status = 0;
    const int head = client::parse_upgrade_response(c.handshake, c.ws_key, status);
    if (head == 0) {
      if (c.handshake.size() > 16384)
        fail(c, Counter::ConnUpgradeFailed, "upgrade response too big");
      return;
    }
    if (head < 0) {
      fail(c, Counter::ConnUpgradeFailed,
           "upgrade refused: HTTP " + std::to_string(status) +
               (status == 403 || status == 401 ? " (check --jwt-secret)" : ""));
      return;
    }
    connect_.record(static_cast<uint64_t>(now - c.started_ns));
    if (config_.format == client::Format::Json) c.reader.set_skim(&is_presence_text);
    c.reader.feed(std::string_view(c.handshake).substr(static_cast<size_t>(head)));
    c.handshake.clear();
    c.handshake.shrink_to_fit();
    proto::ClientMessage join;
    join.join_ref = std::string(kJoinRef);
    join.ref = std::string(kJoinRef);
    join.topic = topic_for(c.room);
    join.event = proto::ClientEvent::Join;
    join.event_name = "phx_join";
    queue_message(c, join);
    c.join_sent_ns = now;
    c.state = ConnState::Joining;
  } else {
    c.reader.feed(std::string_view(data, len));
  }
  on_frames(c, now);
}

void LoadWorker::on_frames(LoadConnection& c, int64_t now) {
  for (;;) {
    const auto st = c.reader.next(frame_);
    if (st == client::FrameReader::Status::NeedMore) return;
    if (st == client::FrameReader::Status::Error) {
      ++counters_[Counter::ProtocolErrors];
      fail(c, Counter::ConnUpgradeFailed,
           "bad frame from server: " + std::string(c.reader.error()));
      return;
    }
    switch (frame_.opcode) {
      case client::kOpPing:
        queue_frame(c, client::kOpPong, frame_.payload);
        break;
      case client::kOpClose: {
        std::string why = "server closed the WebSocket";
        if (frame_.payload.size() >= 2) {
          const int code = (static_cast<unsigned char>(frame_.payload[0]) << 8) |
                           static_cast<unsigned char>(frame_.payload[1]);
          why += " with " + std::to_string(code) + " " + frame_.payload.substr(2);
        }
        fail(c, Counter::ConnTcpFailed, why);
        return;
      }
      case client::kOpText:
        if (frame_.skimmed) {  // a large presence frame, seen by its head (is_presence_text)
          ++counters_[Counter::PresenceFrames];
          break;
        }
        // Presence frames are only counted: a mass rejoin of a 10,000-member room delivers
        // ~1 MB states and diffs to every socket, and decoding them all would make the generator,
        // not the server, the bottleneck. Phoenix v2 JSON names the event within the head.
        if (is_json_presence(frame_.payload)) {
          ++counters_[Counter::PresenceFrames];
          break;
        }
        [[fallthrough]];
      case client::kOpBinary:
        if (!client::decode_message(config_.format, frame_.payload, message_)) {
          ++counters_[Counter::ProtocolErrors];
          note_error("undecodable server message");
          break;
        }
        on_message(c, message_, now);
        if (c.state == ConnState::Dead) return;
        break;
      default:
        break;
    }
  }
}

void LoadWorker::on_message(LoadConnection& c, const proto::ServerMessage& msg, int64_t now) {
  switch (msg.event) {
    case proto::ServerEvent::Reply:
      on_reply(c, msg, now);
      break;
    case proto::ServerEvent::NewMsg:
      on_new_msg(c, msg.message, now);
      break;
    case proto::ServerEvent::PresenceState:
    case proto::ServerEvent::PresenceDiff:
      ++counters_[Counter::PresenceFrames];
      break;
    case proto::ServerEvent::Close:
    case proto::ServerEvent::Error:
      fail(c, Counter::ConnJoinFailed, "server closed the channel (" + msg.event_name + ")");
      break;
    default:
      ++counters_[Counter::OtherFrames];
      break;
  }
}

void LoadWorker::on_reply(LoadConnection& c, const proto::ServerMessage& msg, int64_t now) {
  const std::string_view ref = msg.ref ? std::string_view(*msg.ref) : std::string_view{};
  const bool ok = msg.reply.status == proto::ReplyStatus::Ok;
  if (ref == kJoinRef) {
    if (c.state != ConnState::Joining) return;
    if (!ok) {
      fail(c, Counter::ConnJoinFailed, "join refused: " + msg.reply.body.reason);
      return;
    }
    join_.record(static_cast<uint64_t>(now - c.join_sent_ns));
    c.state = ConnState::Joined;
    ++counters_[Counter::ConnJoined];
    // Stagger heartbeats so a big run does not send them all in the same second.
    c.next_heartbeat_ns = now + seconds_ns(config_.heartbeat_s) * (100 + c.index % 100) / 200;
    return;
  }
  if (ref.empty() || ref[0] == 'h' || ref[0] == 'r') return;  // heartbeat and mark_read replies
  uint64_t seq = 0;
  std::from_chars(ref.data(), ref.data() + ref.size(), seq);
  if (ok) {
    ++counters_[Counter::Acked];
    ++room_acked_[c.room];
    if (c.is_publisher) {
      const AckSlot& slot = ack_slots_[c.publisher_slot][seq % kAckSlots];
      if (slot.seq == seq && slot.sent_ns >= t_measure_ns_ && slot.sent_ns < t_end_ns_) {
        ack_.record(static_cast<uint64_t>(now - slot.sent_ns));
      }
    }
  } else {
    ++counters_[Counter::PublishErrors];
    if (msg.reply.body.reason == "rate_limited") ++counters_[Counter::RateLimited];
    note_error("publish refused: " + msg.reply.body.reason);
  }
}

void LoadWorker::on_new_msg(LoadConnection& c, const proto::ChatMessage& msg, int64_t now) {
  BodyStamp stamp;
  if (!parse_body(msg.body, stamp)) {
    ++counters_[Counter::ForeignMessages];
    return;
  }
  last_rx_ns_ = now;
  ++counters_[Counter::Received];
  if (msg.id > c.last_id) {
    c.last_id = msg.id;
  } else if (msg.id == c.last_id) {
    ++counters_[Counter::Duplicates];
  } else {
    ++counters_[Counter::OrderViolations];
  }
  if (config_.mark_read || config_.heartbeat_per_delivery) send_mark_read(c, msg.id);
  const auto latency = static_cast<uint64_t>(std::max<int64_t>(0, now - stamp.send_ns));
  interval_e2e_.record(latency);
  if (stamp.send_ns >= t_measure_ns_ && stamp.send_ns < t_end_ns_) {
    ++counters_[Counter::ReceivedMeasured];
    e2e_.record(latency);
  }
}

void LoadWorker::send_mark_read(LoadConnection& c, int64_t id) {
  proto::ClientMessage m;
  m.join_ref = std::string(kJoinRef);
  m.ref = "r" + std::to_string(id);
  m.topic = topic_for(c.room);
  m.event = proto::ClientEvent::MarkRead;
  m.event_name = "mark_read";
  m.read_id = id;
  if (config_.heartbeat_per_delivery) {
    m.join_ref.reset();
    m.topic = "phoenix";
    m.event = proto::ClientEvent::Heartbeat;
    m.event_name = "heartbeat";
  }
  queue_message(c, m);
}

}  // namespace rtchat::loadtest
