// "x is typing…": sending our own typing events (throttled) and showing others'.
import { $, el } from './dom.js';
import { identityNodes } from './identity.js';

const kTypingSendIntervalMs = 2000;
const kServerTypingIntervalMs = 1000;  // the server answers rate_limited to more
const kTypingShowMs = 3000;

export class Typing {
  // names: the room's NameDirectory (identity.js).
  constructor(channel, myUserId, names) {
    this.channel_ = channel;
    this.myUserId_ = myUserId;
    this.names_ = names;
    this.lastSentAt_ = 0;
    this.typers_ = new Map();  // user_id -> {name, until}
    this.timer_ = null;
  }

  clear() {
    clearTimeout(this.timer_);
    this.typers_.clear();
    $('typing-indicator').textContent = '';
  }

  // Others clear our "is typing" when our message arrives, so say it again sooner than the
  // usual 2 s, but not sooner than the server's own limit (one per second).
  onSent() {
    this.lastSentAt_ -= kTypingSendIntervalMs - kServerTypingIntervalMs;
  }

  maybeSend() {
    const now = Date.now();
    if (now - this.lastSentAt_ < kTypingSendIntervalMs) return;
    if (this.channel_.state !== 'joined') return;  // a buffered "typing" would arrive stale
    this.lastSentAt_ = now;
    this.channel_.push('typing', {}).receive('error', () => {
      // Rate limited (or not joined): let the next keystroke try again once the server allows.
      this.lastSentAt_ = Date.now() - (kTypingSendIntervalMs - kServerTypingIntervalMs);
    });
  }

  onTyping(p) {
    if (!p || typeof p.user_id !== 'string' || p.user_id === this.myUserId_) return;
    const name = typeof p.user === 'string' && p.user ? p.user : p.user_id;
    this.typers_.set(p.user_id, { name, until: Date.now() + kTypingShowMs });
    this.render_();
  }

  // A message from someone ends their typing.
  onMessageFrom(userId) {
    if (this.typers_.delete(userId)) this.render_();
  }

  render_() {
    const now = Date.now();
    for (const [id, t] of this.typers_) if (t.until <= now) this.typers_.delete(id);
    // Names in <bdi>, with the id where it could mislead (identity.js).
    const who = [...this.typers_].map(([id, t]) => el('span', {},
      ...identityNodes(id, t.name, this.names_.needsId(id, t.name))));
    let parts = [];
    if (who.length === 1) parts = [who[0], ' is typing…'];
    else if (who.length === 2) parts = [who[0], ' and ', who[1], ' are typing…'];
    else if (who.length > 2) parts = ['Several people are typing…'];
    $('typing-indicator').replaceChildren(...parts);
    clearTimeout(this.timer_);
    if (this.typers_.size > 0) {
      const next = Math.min(...[...this.typers_.values()].map((t) => t.until));
      this.timer_ = setTimeout(() => this.render_(), Math.max(50, next - now));
    }
  }
}
