// The rendered message list of one room: deduplicated by id and kept sorted by id, whatever
// order history pages, recovery pushes and live broadcasts arrive in. Between the rows: a
// separator at each new day and, once set, a "new messages" divider after the last read id.
import { dayLabel, dayStarts, messageDate } from './dates.js';
import { identityNodes } from './identity.js';
import { authorName, daySeparator, isWellFormedMessage, messageRow, unreadDivider } from './message_view.js';

export { isWellFormedMessage };

export class MessageList {
  // names: the room's NameDirectory (identity.js), shared with the presence list.
  // deleteAction(message): a function (onFailed) => void when the viewer may delete it, else null.
  constructor(listNode, scrollerNode, myUserId, names, deleteAction = () => null) {
    this.list_ = listNode;
    this.scroller_ = scrollerNode;
    this.myUserId_ = myUserId;
    this.names_ = names;
    this.deleteAction_ = deleteAction;
    this.ids_ = [];           // ascending
    this.rows_ = new Map();   // id -> {message, node, author: {userId, name, node}}
    this.separators_ = new Map();  // id of the first message of a day -> separator <li>
    this.divider_ = null;     // {afterId, node}: the "new messages" divider
  }

  get size() { return this.ids_.length; }
  get oldestId() { return this.ids_.length ? this.ids_[0] : null; }
  get newestId() { return this.ids_.length ? this.ids_[this.ids_.length - 1] : null; }
  get dividerNode() { return this.divider_?.node ?? null; }
  get messages() { return this.ids_.map((id) => this.rows_.get(id).message); }

  clear() {
    this.ids_ = [];
    this.rows_.clear();
    this.separators_.clear();
    this.divider_ = null;
    this.list_.replaceChildren();
  }

  // Re-labels every author (after a name became shared: see identity.js).
  refreshAuthors() {
    for (const { author } of this.rows_.values()) {
      author.node.replaceChildren(...identityNodes(author.userId, author.name,
        this.names_.needsId(author.userId, author.name)));
    }
  }

  // Adds messages not seen yet (a tombstone replaces the row it deletes); returns how many ids
  // were new.
  add(messages) {
    let added = 0;
    let isNameNewlyShared = false;
    for (const m of messages) {
      if (!isWellFormedMessage(m)) continue;
      const existing = this.rows_.get(m.id);
      if (existing) {
        if (m.deleted === true && existing.message.deleted !== true) this.replace_(m);
        continue;
      }
      const userId = String(m.user_id ?? 'unknown');
      if (m.deleted !== true && this.names_.note(userId, authorName(m))) isNameNewlyShared = true;
      const at = this.insertionIndex_(m.id);
      const row = this.render_(m);
      // Decorations (separators, divider) are put right by placeDecorations_ below.
      const next = at < this.ids_.length ? this.rows_.get(this.ids_[at]).node : null;
      this.list_.insertBefore(row.node, next);
      this.ids_.splice(at, 0, m.id);
      this.rows_.set(m.id, row);
      added += 1;
    }
    if (isNameNewlyShared) this.refreshAuthors();
    this.placeDecorations_();
    return added;
  }

  // Drops the oldest rows beyond `keep` (a long session in a busy room must not grow the page
  // forever); returns how many went. Their day separators go with them at the next placement.
  dropOldest(keep) {
    const n = Math.max(0, this.ids_.length - keep);
    for (const id of this.ids_.splice(0, n)) {
      this.rows_.get(id).node.remove();
      this.rows_.delete(id);
    }
    if (n > 0) this.placeDecorations_();
    return n;
  }

  // msg_deleted: the row becomes a tombstone; author and time stay, the text goes.
  markDeleted(id) {
    const row = this.rows_.get(id);
    if (!row || row.message.deleted === true) return false;
    const { body, ...rest } = row.message;
    this.replace_({ ...rest, body: '', deleted: true });
    return true;
  }

  // The "new messages" divider goes before the first message newer than lastReadId.
  setUnreadDivider(lastReadId) {
    this.divider_?.node.remove();
    this.divider_ = Number.isSafeInteger(lastReadId) ? { afterId: lastReadId, node: unreadDivider() } : null;
    this.placeDecorations_();
  }

  isNearBottom() {
    const s = this.scroller_;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller_.scrollTop = this.scroller_.scrollHeight;
  }

  // The id of the newest message whose row has started to show in the scroller (for mark_read).
  newestVisibleId() {
    const bottom = this.scroller_.getBoundingClientRect().bottom;
    for (let i = this.ids_.length - 1; i >= 0; i--) {
      const node = this.rows_.get(this.ids_[i]).node;
      if (node.getBoundingClientRect().top < bottom) return this.ids_[i];
    }
    return null;
  }

  replace_(m) {
    const old = this.rows_.get(m.id);
    const row = this.render_(m);
    old.node.replaceWith(row.node);
    this.rows_.set(m.id, row);
  }

  // The first unread message from someone else: our own messages are not news to us.
  firstIdAfterDivider_() {
    if (!this.divider_) return null;
    for (let i = this.insertionIndex_(this.divider_.afterId + 1); i < this.ids_.length; i++) {
      const m = this.rows_.get(this.ids_[i]).message;
      if (this.myUserId_ === null || m.user_id !== this.myUserId_) return this.ids_[i];
    }
    return null;
  }

  // Day separators and the unread divider, moved to where they belong now: before a row come its
  // day's separator, then the divider ("Today", "New messages", the first unread). Only nodes whose
  // place changed are touched, so scrolling and focus are not disturbed.
  placeDecorations_() {
    const dividerAnchor = this.placeDivider_();
    const dates = this.ids_.map((id) => messageDate(this.rows_.get(id).message));
    const starts = new Set(dayStarts(dates).map((i) => this.ids_[i]));
    for (const [id, node] of this.separators_) {
      if (!starts.has(id) || !this.rows_.has(id)) {
        node.remove();
        this.separators_.delete(id);
      }
    }
    const now = new Date();
    for (const id of starts) {
      const label = dayLabel(messageDate(this.rows_.get(id).message), now);
      let node = this.separators_.get(id);
      if (!node || node.textContent !== label) {
        node?.remove();
        node = daySeparator(label);
        this.separators_.set(id, node);
      }
      const anchor = id === dividerAnchor ? this.divider_.node : this.rows_.get(id).node;
      if (node.nextSibling !== anchor) this.list_.insertBefore(node, anchor);
    }
  }

  // Returns the id of the row the divider now sits on, or null.
  placeDivider_() {
    if (!this.divider_) return null;
    const id = this.firstIdAfterDivider_();
    if (id === null) {
      this.divider_.node.remove();
      return null;
    }
    const row = this.rows_.get(id).node;
    if (this.divider_.node.nextSibling !== row) this.list_.insertBefore(this.divider_.node, row);
    return id;
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
    const authorNode = document.createElement('span');
    authorNode.className = 'font-medium text-slate-900';
    authorNode.dataset.testid = 'message-author';
    authorNode.append(...identityNodes(userId, name, this.names_.needsId(userId, name)));
    const onDelete = m.deleted === true ? null : this.deleteAction_(m);
    const node = messageRow(m, { isMine, authorNode, onDelete });
    return { message: m, node, author: { userId, name, node: authorNode } };
  }
}
