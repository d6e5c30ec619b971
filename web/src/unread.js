// Unread counts of the recent rooms the user is not looking at (protocol-16 read state). Each
// such room (at most kMaxWatchedRooms) stays joined in the background: its join reply brings
// `unread` and `last_read_id`, each new_msg from someone else adds one, and a `read_state` push
// (the user read it in another tab or device) lowers it. The open room is not watched here: its
// ChatRoom holds that channel (one channel per topic per socket) and its count is 0.
// On a server without read state (a join reply without `unread`) nothing is watched: a
// background join would only make the user look present in rooms they are not in.
const kMaxWatchedRooms = 10;
const kMaxLiveIds = 200;  // ids of live unread messages kept per room, to recount after read_state

export const badgeText = (n) => (n > 99 ? '99+' : String(n));

export class UnreadWatcher {
  // onChange(): counts changed, re-render the room list.
  constructor({ socket, myUserId, onChange }) {
    this.socket_ = socket;
    this.myUserId_ = myUserId;
    this.onChange_ = onChange;
    this.rooms_ = new Map();     // roomId -> {channel, unread, lastReadId, liveIds}
    this.isSupported_ = null;    // null: not known yet (one room is joined to find out)
    this.wanted_ = [];
  }

  // The open room's join told us (it has `unread` or not).
  noteSupport(isSupported) {
    if (this.isSupported_ === isSupported) return;
    this.isSupported_ = isSupported;
    this.sync_();
  }

  // recentRoomIds: newest first; activeRoomId: the open room or null.
  setRooms(recentRoomIds, activeRoomId) {
    this.wanted_ = recentRoomIds.filter((id) => id !== activeRoomId).slice(0, kMaxWatchedRooms);
    this.sync_();
  }

  // null when unknown (not watched, not joined yet, refused).
  unreadOf(roomId) {
    const room = this.rooms_.get(roomId);
    return room && Number.isSafeInteger(room.unread) ? room.unread : null;
  }

  stop() {
    this.wanted_ = [];
    this.sync_();
  }

  sync_() {
    const wanted = this.isSupported_ === false ? []
      : this.isSupported_ === null ? this.wanted_.slice(0, 1) : this.wanted_;
    for (const id of [...this.rooms_.keys()]) if (!wanted.includes(id)) this.unwatch_(id);
    for (const id of wanted) if (!this.rooms_.has(id)) this.watch_(id);
    this.onChange_();
  }

  watch_(roomId) {
    const channel = this.socket_.channel(`room:${roomId}`, { device: 'web' });
    const room = { channel, unread: null, lastReadId: 0, liveIds: [] };
    this.rooms_.set(roomId, room);
    channel.on('new_msg', (m) => this.onMessage_(room, m));
    channel.on('read_state', (p) => this.onReadState_(room, p?.last_read_id));
    channel.join()
      .receive('ok', (resp) => this.onJoined_(room, resp || {}))
      .receive('error', () => {
        // Not allowed (rooms claim) or limited: no badge; do not keep retrying in the background.
        if (this.rooms_.get(roomId) === room) this.unwatch_(roomId);
        this.onChange_();
      });
  }

  unwatch_(roomId) {
    this.rooms_.get(roomId)?.channel.leave();
    this.rooms_.delete(roomId);
  }

  onJoined_(room, resp) {
    if (!Number.isSafeInteger(resp.unread)) return this.noteSupport(false);
    Object.assign(room, { unread: resp.unread, liveIds: [], lastReadId: resp.last_read_id ?? 0 });
    if (this.isSupported_ !== true) this.noteSupport(true);
    else this.onChange_();
  }

  onMessage_(room, m) {
    if (room.unread === null || !Number.isSafeInteger(m?.id) || m.deleted === true) return;
    if (m.user_id === this.myUserId_ || m.id <= room.lastReadId) return;
    room.liveIds.push(m.id);
    if (room.liveIds.length > kMaxLiveIds) room.liveIds.shift();
    room.unread += 1;
    this.onChange_();
  }

  // Read up to lastReadId elsewhere. Live messages are counted by id; the ones the join reply
  // counted have ids we do not know, so a mark past the join's counts them as read (the usual
  // case: the other tab read to the end; a partial read elsewhere shows a lower count).
  onReadState_(room, lastReadId) {
    if (room.unread === null || !Number.isSafeInteger(lastReadId) || lastReadId <= room.lastReadId) return;
    room.lastReadId = lastReadId;
    room.liveIds = room.liveIds.filter((id) => id > lastReadId);
    room.unread = room.liveIds.length;
    this.onChange_();
  }
}
