// The rendered message list of one room: deduplicated by id and kept sorted by id, whatever
// order history pages, recovery pushes and live broadcasts arrive in.
import { el } from './dom.js';
import { identityNodes } from './identity.js';

const kTimeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const kDateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// Accepts only the fields we render, with the types the contract promises.
export function isWellFormedMessage(m) {
  return m !== null && typeof m === 'object' && Number.isSafeInteger(m.id) &&
    typeof m.body === 'string' && typeof m.ts === 'number';
}

// The name a message shows: the sender's name claim, else the user id.
const authorName = (m) => (typeof m.user === 'string' && m.user ? m.user : String(m.user_id ?? 'unknown'));

export class MessageList {
  // names: the room's NameDirectory (identity.js), shared with the presence list.
  constructor(listNode, scrollerNode, myUserId, names) {
    this.list_ = listNode;
    this.scroller_ = scrollerNode;
    this.myUserId_ = myUserId;
    this.names_ = names;
    this.ids_ = [];          // ascending
    this.nodes_ = new Map(); // id -> <li>
    this.authors_ = [];      // {userId, name, node}: the author labels, to add ids on a collision
  }

  get size() { return this.ids_.length; }
  get oldestId() { return this.ids_.length ? this.ids_[0] : null; }
  get newestId() { return this.ids_.length ? this.ids_[this.ids_.length - 1] : null; }

  clear() {
    this.ids_ = [];
    this.nodes_.clear();
    this.authors_ = [];
    this.list_.replaceChildren();
  }

  // Re-labels every author (after a name became shared: see identity.js).
  refreshAuthors() {
    for (const a of this.authors_) {
      a.node.replaceChildren(...identityNodes(a.userId, a.name, this.names_.needsId(a.userId, a.name)));
    }
  }

  // Adds messages not seen yet; returns how many were new.
  add(messages) {
    let added = 0;
    let isNameNewlyShared = false;
    for (const m of messages) {
      if (!isWellFormedMessage(m) || this.nodes_.has(m.id)) continue;
      const userId = String(m.user_id ?? 'unknown');
      if (this.names_.note(userId, authorName(m))) isNameNewlyShared = true;
      const at = this.insertionIndex_(m.id);
      const node = this.render_(m);
      const next = at < this.ids_.length ? this.nodes_.get(this.ids_[at]) : null;
      this.list_.insertBefore(node, next);
      this.ids_.splice(at, 0, m.id);
      this.nodes_.set(m.id, node);
      added += 1;
    }
    if (isNameNewlyShared) this.refreshAuthors();
    return added;
  }

  isNearBottom() {
    const s = this.scroller_;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller_.scrollTop = this.scroller_.scrollHeight;
  }

  insertionIndex_(id) {
    let lo = 0;
    let hi = this.ids_.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ids_[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  render_(m) {
    const isMine = this.myUserId_ !== null && m.user_id === this.myUserId_;
    const userId = String(m.user_id ?? 'unknown');
    const name = authorName(m);
    const author = el('span', { class: 'font-medium text-slate-900', dataset: { testid: 'message-author' } },
      ...identityNodes(userId, name, this.names_.needsId(userId, name)));
    this.authors_.push({ userId, name, node: author });
    const when = new Date(m.ts);
    const time = el('time', {
      class: 'text-xs text-slate-500',
      datetime: Number.isNaN(when.getTime()) ? '' : when.toISOString(),
      title: Number.isNaN(when.getTime()) ? '' : kDateTimeFormat.format(when),
      dataset: { testid: 'message-time' },
    }, Number.isNaN(when.getTime()) ? '' : kTimeFormat.format(when));
    return el('li', {
      class: 'rounded-lg px-3 py-2 shadow-sm ' + (isMine ? 'bg-indigo-50' : 'bg-white'),
      dataset: { testid: 'message-item', id: String(m.id) },
    },
    el('div', { class: 'flex items-baseline gap-2' },
      author,
      time),
    el('p', { class: 'msg-body text-slate-800', dataset: { testid: 'message-body' } }, m.body));
  }
}
