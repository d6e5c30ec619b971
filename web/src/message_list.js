// The rendered message list of one room: deduplicated by id and kept sorted by id, whatever
// order history pages, recovery pushes and live broadcasts arrive in.
import { el } from './dom.js';

const kTimeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const kDateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// Accepts only the fields we render, with the types the contract promises.
export function isWellFormedMessage(m) {
  return m !== null && typeof m === 'object' && Number.isSafeInteger(m.id) &&
    typeof m.body === 'string' && typeof m.ts === 'number';
}

export class MessageList {
  constructor(listNode, scrollerNode, myUserId) {
    this.list_ = listNode;
    this.scroller_ = scrollerNode;
    this.myUserId_ = myUserId;
    this.ids_ = [];          // ascending
    this.nodes_ = new Map(); // id -> <li>
  }

  get size() { return this.ids_.length; }
  get oldestId() { return this.ids_.length ? this.ids_[0] : null; }
  get newestId() { return this.ids_.length ? this.ids_[this.ids_.length - 1] : null; }

  clear() {
    this.ids_ = [];
    this.nodes_.clear();
    this.list_.replaceChildren();
  }

  // Adds messages not seen yet; returns how many were new.
  add(messages) {
    let added = 0;
    for (const m of messages) {
      if (!isWellFormedMessage(m) || this.nodes_.has(m.id)) continue;
      const at = this.insertionIndex_(m.id);
      const node = this.render_(m);
      const next = at < this.ids_.length ? this.nodes_.get(this.ids_[at]) : null;
      this.list_.insertBefore(node, next);
      this.ids_.splice(at, 0, m.id);
      this.nodes_.set(m.id, node);
      added += 1;
    }
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
    const author = typeof m.user === 'string' && m.user ? m.user : String(m.user_id ?? 'unknown');
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
      el('span', { class: 'font-medium text-slate-900', dataset: { testid: 'message-author' } }, author),
      time),
    el('p', { class: 'msg-body text-slate-800', dataset: { testid: 'message-body' } }, m.body));
  }
}
