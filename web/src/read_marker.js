// Read state of the open room (protocol-16): while the room is on screen and the tab is
// visible, tell the server the newest message the user has seen (`mark_read {id}`), at most once
// a second: it counts against the socket's push rate like any frame. The server keeps the
// maximum, so a late or repeated mark is harmless. Off when the join reply has no
// `last_read_id` (a server without read state would answer "unknown event").
const kMarkEveryMs = 1000;

export class ReadMarker {
  // push(event, payload) -> a phoenix Push; newestVisibleId() -> id or null;
  // isJoined() -> bool; onRead(lastReadId): the server's answer (or another tab's read_state).
  constructor({ push, newestVisibleId, isJoined, onRead }) {
    Object.assign(this, { push_: push, newestVisibleId_: newestVisibleId, isJoined_: isJoined, onRead_: onRead });
    this.isEnabled_ = false;
    this.lastReadId_ = 0;   // the server's value, as far as we know
    this.inFlight_ = false;
    this.timer_ = null;
    this.lastSentAt_ = 0;
    this.lastSentId_ = 0;  // never the same id twice: the server may answer with less (clamped)
    this.abort_ = new AbortController();
    document.addEventListener('visibilitychange', () => this.poke(), { signal: this.abort_.signal });
    window.addEventListener('focus', () => this.poke(), { signal: this.abort_.signal });
  }

  get lastReadId() { return this.lastReadId_; }

  enable(lastReadId) {
    this.isEnabled_ = true;
    this.noteRead(lastReadId);
    this.poke();
  }

  // The server's read mark moved (our reply or a read_state push from another tab).
  noteRead(lastReadId) {
    if (!Number.isSafeInteger(lastReadId) || lastReadId <= this.lastReadId_) return;
    this.lastReadId_ = lastReadId;
    this.onRead_(lastReadId);
  }

  // Something may have come into view: a message, a scroll, the tab shown again.
  poke() {
    if (!this.isEnabled_ || this.timer_ !== null) return;
    const wait = Math.max(50, this.lastSentAt_ + kMarkEveryMs - Date.now());
    this.timer_ = setTimeout(() => {
      this.timer_ = null;
      this.markNow_();
    }, wait);
  }

  stop() {
    this.isEnabled_ = false;
    clearTimeout(this.timer_);
    this.abort_.abort();
  }

  markNow_() {
    if (!this.isEnabled_ || this.inFlight_ || document.visibilityState !== 'visible' || !this.isJoined_()) return;
    const id = this.newestVisibleId_();
    if (id === null || id <= this.lastReadId_ || id <= this.lastSentId_) return;
    this.lastSentId_ = id;
    this.inFlight_ = true;
    this.lastSentAt_ = Date.now();
    const done = () => { this.inFlight_ = false; };
    this.push_('mark_read', { id })
      .receive('ok', (resp) => { done(); this.noteRead(resp?.last_read_id); this.poke(); })
      .receive('error', (resp) => {
        done();
        if (resp?.reason === 'unknown event') this.isEnabled_ = false;  // an older server after all
        else { this.lastSentId_ = 0; this.poke(); }
      })
      .receive('timeout', () => { done(); this.lastSentId_ = 0; });
  }
}
