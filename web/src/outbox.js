// The outbox of one room: what the user sent that the server has not accepted yet. Messages go
// out one at a time, in the order they were written; a refusal that passes (rate_limited, no
// answer, not connected, server busy) is retried after a growing pause, and the text is never
// dropped: it stays on screen as a pending row, and in localStorage across a reload. A refusal
// that will not pass by itself ("invalid body", "unauthorized") stops the queue at that message
// until the user retries, edits or discards it.
import { el } from './dom.js';
import { loadOutbox, saveOutbox } from './storage.js';

export const kMaxOutboxItems = 100;   // a bound on what one room keeps (and stores) unsent
const kSendTimeoutMs = 10_000;        // phoenix.js's own default push timeout
const kRetryBaseMs = 250;             // the server refills its bucket at --rate/s (20): one token is 50 ms
const kRetryCapMs = 8_000;

const kRetryable = new Set(['rate_limited', 'timeout', 'overloaded', 'storage unavailable',
  'not joined', 'unmatched topic', 'cluster unavailable']);

function describe(reason) {
  switch (reason) {
    case 'rate_limited': return 'you are sending too fast';
    case 'timeout': return 'the server did not answer';
    case 'invalid body': return 'the server refused the text (empty or too long)';
    case 'storage unavailable': return 'the server could not store it';
    case 'overloaded': case 'cluster unavailable': return 'the server is busy';
    case 'not joined': case 'unmatched topic': return 'not in the room';
    default: return typeof reason === 'string' ? reason : 'unknown error';
  }
}

const retryDelayMs = (attempts) =>
  Math.round(Math.min(kRetryCapMs, kRetryBaseMs * 2 ** (attempts - 1)) * (0.75 + Math.random() / 2));

export class Outbox {
  // push(body, timeoutMs) -> a phoenix Push; isJoined() -> bool; highestSeenId() -> id or null;
  // shownMessages() -> the messages on screen; onNotice(text or null): the line under the
  // composer; onEdit(body) -> true when the text went back into the (empty) box.
  constructor({ userId, roomId, listNode, push, isJoined, highestSeenId, shownMessages, onNotice, onEdit }) {
    Object.assign(this, { userId_: userId, roomId_: roomId, list_: listNode, push_: push, isJoined_: isJoined,
      highestSeenId_: highestSeenId, shownMessages_: shownMessages, onNotice_: onNotice, onEdit_: onEdit });
    this.items_ = [];
    this.timer_ = null;
    this.isStopped_ = false;
    this.isReady_ = false;  // set once history is loaded: restored items are checked against it first
    this.isOwner_ = false;  // this tab keeps the room's stored outbox
    this.releaseLock_ = null;
    this.claimStoredItems_();
  }

  // Two tabs of one user in one room must not both send what a closed tab left: the tab holding
  // the room's Web Lock owns the stored items (restores and saves them); another tab's outbox
  // lives in memory only. Without Web Locks (an insecure origin) every tab owns them.
  claimStoredItems_() {
    const adopt = () => {
      if (this.isStopped_) return false;
      this.isOwner_ = true;
      const stored = loadOutbox(this.userId_, this.roomId_).map((i) => this.item_(i));
      this.items_ = [...stored, ...this.items_].slice(0, kMaxOutboxItems);  // older ones first
      this.changed_();
      // The lock may come after the history page: check the restored items against it first.
      this.noteMessages(this.shownMessages_());
      this.pump_();
      return true;
    };
    if (!navigator.locks?.request) return void adopt();
    navigator.locks.request(`rtchat.outbox.${this.userId_}.${this.roomId_}`, { ifAvailable: true }, (lock) => {
      if (!lock || !adopt()) return undefined;
      return new Promise((resolve) => { this.releaseLock_ = resolve; });  // held until stop()
    }).catch(() => {});
  }

  get size() { return this.items_.length; }

  // Queues a message; false when the outbox is full (the caller keeps the text in the box).
  enqueue(body) {
    if (this.items_.length >= kMaxOutboxItems) return false;
    this.items_.push(this.item_({ body, queuedAt: Date.now(), wasSent: false }));
    this.changed_();
    this.pump_();
    return true;
  }

  // The channel is joined (first join or a rejoin): send what waits.
  onReady() {
    this.isReady_ = true;
    this.pump_();
  }

  stop() {
    this.isStopped_ = true;
    this.releaseLock_?.();
    clearTimeout(this.timer_);
    this.list_.replaceChildren();
  }

  // Messages from the server (live, recovered or a history page): our own that match a sent
  // item prove it arrived even if its reply was lost (a drop, a reload), so it is not sent twice.
  // (A reply that only comes after the 10 s timeout, from a stalled server, can still mean a
  // duplicate: the socket protocol has no idempotency key.)
  noteMessages(messages) {
    let isChanged = false;
    for (const m of messages) {
      if (m?.user_id !== this.userId_ || typeof m.body !== 'string') continue;
      const i = this.items_.findIndex((item) => this.proves_(m, item));
      if (i < 0) continue;
      this.items_.splice(i, 1);
      isChanged = true;
    }
    if (isChanged) {
      this.changed_();
      this.pump_();
    }
  }

  // sentAfterId: the newest id this page knew when the item was last sent (kept across reloads);
  // our message with the same text and a higher id is that send having arrived. Never a guess by
  // time: a wrong match would lose the user's text.
  proves_(m, item) {
    return item.wasSent && m.body === item.body && Number.isSafeInteger(m.id) && m.id > item.sentAfterId;
  }

  item_({ body, queuedAt, wasSent, sentAfterId }) {
    return { body, queuedAt, wasSent: Boolean(wasSent) && Number.isSafeInteger(sentAfterId),
      sentAfterId: Number.isSafeInteger(sentAfterId) ? sentAfterId : 0, attempts: 0, state: 'queued', reason: null };
  }

  pump_() {
    if (this.isStopped_ || !this.isReady_ || this.timer_ !== null) return;
    const head = this.items_[0];
    if (!head || head.state === 'sending' || head.state === 'failed') return;
    if (!this.isJoined_()) {
      head.state = 'queued';
      return this.changed_();
    }
    head.state = 'sending';
    head.wasSent = true;
    head.sentAfterId = this.highestSeenId_() ?? 0;  // null: the room had no messages (history is loaded first)
    this.changed_();
    this.push_(head.body, kSendTimeoutMs)
      .receive('ok', () => this.settle_(head, null))
      .receive('error', (resp) => this.settle_(head, typeof resp?.reason === 'string' ? resp.reason : 'error'))
      .receive('timeout', () => this.settle_(head, 'timeout'));
  }

  settle_(item, reason) {
    if (this.isStopped_ || this.items_[0] !== item || item.state !== 'sending') return;  // proven already
    if (reason === null) {
      this.items_.shift();
      this.changed_();
      return this.pump_();
    }
    item.attempts += 1;
    item.reason = reason;
    if (!kRetryable.has(reason)) {
      item.state = 'failed';
      return this.changed_();
    }
    item.state = 'retrying';
    this.changed_();
    this.timer_ = setTimeout(() => {
      this.timer_ = null;
      if (item.state === 'retrying') item.state = 'queued';
      this.pump_();
    }, retryDelayMs(item.attempts));
  }

  retry_(item) {
    item.state = 'queued';
    item.attempts = 0;
    this.changed_();
    this.pump_();
  }

  remove_(item) {
    const i = this.items_.indexOf(item);
    if (i < 0) return;
    this.items_.splice(i, 1);
    this.changed_();
    this.pump_();
  }

  changed_() {
    if (this.isStopped_) return;
    if (this.isOwner_) saveOutbox(this.userId_, this.roomId_,
      this.items_.map(({ body, queuedAt, wasSent, sentAfterId }) => ({ body, queuedAt, wasSent, sentAfterId })));
    this.render_();
  }

  notice_() {
    const head = this.items_[0];
    if (!head || head.reason === null || head.state === 'sending') {
      if (head && !this.isJoined_() && this.isReady_) return 'Not sent yet: waiting for the connection.';
      return null;
    }
    if (head.state === 'failed') return `Not sent: ${describe(head.reason)}. Retry, edit or discard it below.`;
    return `Not sent yet: ${describe(head.reason)}. Retrying…`;
  }

  render_() {
    this.onNotice_(this.notice_());
    this.list_.replaceChildren(...this.items_.map((item) => this.row_(item)));
  }

  row_(item) {
    const status = item.state === 'failed' ? `Not sent: ${describe(item.reason)}`
      : item.state === 'retrying' ? `Not sent yet (${describe(item.reason)}); retrying…`
        : item.state === 'sending' ? 'Sending…' : 'Waiting to send…';
    const button = (label, testid, onClick) => {
      const b = el('button', { type: 'button', dataset: { testid },
        class: 'rounded border border-slate-300 px-1.5 hover:bg-slate-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500' }, label);
      b.addEventListener('click', onClick);
      return b;
    };
    return el('li', {
      class: 'rounded-lg border border-dashed border-slate-300 bg-white/60 px-3 py-2 text-slate-500',
      dataset: { testid: 'pending-item', state: item.state },
    },
    el('p', { class: 'msg-body', dataset: { testid: 'pending-body' } }, item.body),
    el('div', { class: 'mt-1 flex flex-wrap items-center gap-2 text-xs' },
      el('span', { class: item.state === 'failed' ? 'text-red-700' : '', dataset: { testid: 'pending-status' } }, status),
      item.state === 'failed' ? button('Retry', 'pending-retry', () => this.retry_(item)) : null,
      item.state === 'failed' ? button('Edit', 'pending-edit', () => { if (this.onEdit_(item.body)) this.remove_(item); }) : null,
      item.state === 'failed' ? button('Discard', 'pending-discard', () => this.remove_(item)) : null));
  }
}
