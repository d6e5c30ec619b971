// One open room: its channel, message history, live messages, presence, typing and composer.
// Created when the user opens a room, closed when they leave it or sign out.
import { Presence } from 'phoenix';
import { $, el, show } from './dom.js';
import { identityNodes, NameDirectory } from './identity.js';
import { MessageList } from './message_list.js';
import { presenceRows, renderPresence } from './presence_panel.js';

const kHistoryPageSize = 50;       // one screen or two; older pages load on scroll
const kMaxBodyChars = 4000;        // the server's limit (chat-events.md, new_msg)
const kTypingSendIntervalMs = 2000;
const kServerTypingIntervalMs = 1000;  // the server answers rate_limited to more
const kTypingShowMs = 3000;
const kLoadOlderWhenWithinPx = 60;

// Join refusals that will not go away by retrying: stop the channel's automatic rejoin.
const kFinalJoinErrors = new Set(['unauthorized', 'unmatched topic', 'invalid params']);

export class ChatRoom {
  constructor({ socket, roomId, myUserId, onPresenceCount }) {
    this.roomId = roomId;
    this.myUserId_ = myUserId;
    this.onPresenceCount_ = onPresenceCount;
    this.names_ = new NameDirectory();  // shared by messages and presence: see identity.js
    this.messages_ = new MessageList($('message-list'), $('message-scroller'), myUserId, this.names_);
    this.highestSeenId_ = null;
    this.hasMoreHistory_ = false;
    this.isLoadingOlder_ = false;
    this.hasLoadedHistory_ = false;
    this.lastTypingSentAt_ = 0;
    this.typers_ = new Map();  // user_id -> {name, until}
    this.typingTimer_ = null;
    this.abort_ = new AbortController();
    // A function, so every rejoin (after a network drop) asks for what we missed since the
    // newest message we have; the server then pushes those new_msg before live ones.
    this.channel_ = socket.channel(`room:${roomId}`, () => {
      const params = { device: 'web' };
      if (this.highestSeenId_ !== null) params.last_seen_id = this.highestSeenId_;
      return params;
    });
    this.presence_ = new Presence(this.channel_);
  }

  open() {
    $('room-title').textContent = this.roomId;
    this.messages_.clear();
    this.names_.clear();
    this.setError_(null);
    this.setHistoryStatus_('Loading messages…');
    show($('messages-empty'), false);
    $('typing-indicator').textContent = '';
    $('composer').value = '';
    $('composer-error').textContent = '';
    this.updateCounter_();
    renderPresence($('presence-list'), [], this.myUserId_, this.names_);
    this.updatePresenceCount_(0);

    this.presence_.onSync(() => {
      const rows = presenceRows(this.presence_);
      // A member who joined under a name already on screen: label the messages again.
      if (renderPresence($('presence-list'), rows, this.myUserId_, this.names_)) {
        this.messages_.refreshAuthors();
      }
      this.updatePresenceCount_(rows.length);
    });
    this.channel_.on('new_msg', (msg) => this.onNewMessage_(msg));
    this.channel_.on('typing', (p) => this.onTyping_(p));
    this.channel_.join()
      .receive('ok', (resp) => this.onJoined_(resp || {}))
      .receive('error', (resp) => this.onJoinError_(resp || {}))
      .receive('timeout', () => this.setError_('Joining the room is taking long; still trying…'));

    const signal = this.abort_.signal;
    const composer = $('composer');
    composer.addEventListener('keydown', (e) => {
      // isComposing: Enter that confirms an IME composition must not send.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send_();
      }
    }, { signal });
    composer.addEventListener('input', () => {
      this.updateCounter_();
      if (composer.value.length > 0) this.maybeSendTyping_();
    }, { signal });
    $('composer-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.send_();
    }, { signal });
    $('message-scroller').addEventListener('scroll', () => {
      if ($('message-scroller').scrollTop < kLoadOlderWhenWithinPx) this.loadOlder_();
    }, { signal, passive: true });
  }

  close() {
    this.abort_.abort();
    clearTimeout(this.typingTimer_);
    this.channel_.leave();
    this.messages_.clear();
    $('presence-list').replaceChildren();
    $('typing-indicator').textContent = '';
  }

  onJoined_(resp) {
    this.setError_(null);
    if (resp.recovered === true) return;  // the missed messages arrive as new_msg pushes
    // First join, or the server could not recover the gap: page the newest messages again.
    // With recovered:false the list would have a hole, so start it over.
    this.loadLatest_(resp.recovered === false);
  }

  onJoinError_(resp) {
    const reason = typeof resp.reason === 'string' ? resp.reason : 'unknown error';
    this.setHistoryStatus_(null);
    if (kFinalJoinErrors.has(reason)) {
      this.channel_.leave();
      this.setError_(reason === 'unauthorized'
        ? 'You are not allowed to join this room.'
        : `Could not join this room: ${reason}.`);
    } else {
      this.setError_(`Could not join this room (${reason}); retrying…`);
    }
  }

  loadLatest_(reset) {
    this.channel_.push('history', { before_id: null, limit: kHistoryPageSize })
      .receive('ok', (resp) => {
        if (reset) this.messages_.clear();
        this.addMessages_(resp.messages);
        this.hasMoreHistory_ = resp.has_more === true;
        this.hasLoadedHistory_ = true;
        this.setHistoryStatus_(this.hasMoreHistory_ ? null : this.messages_.size ? 'Beginning of the room' : null);
        this.updateEmpty_();
        this.messages_.scrollToBottom();
        this.fillScreen_();
      })
      .receive('error', (resp) => this.setHistoryStatus_(`Could not load messages: ${resp?.reason ?? 'error'}`))
      .receive('timeout', () => this.setHistoryStatus_('Could not load messages: no answer from the server.'));
  }

  // Pages one step back in time, keeping the message under the user's eyes where it was.
  loadOlder_() {
    if (!this.hasMoreHistory_ || this.isLoadingOlder_ || this.messages_.oldestId === null) return;
    this.isLoadingOlder_ = true;
    this.setHistoryStatus_('Loading older messages…');
    const scroller = $('message-scroller');
    this.channel_.push('history', { before_id: this.messages_.oldestId, limit: kHistoryPageSize })
      .receive('ok', (resp) => {
        const heightBefore = scroller.scrollHeight;
        const topBefore = scroller.scrollTop;
        this.addMessages_(resp.messages);
        scroller.scrollTop = topBefore + (scroller.scrollHeight - heightBefore);
        this.hasMoreHistory_ = resp.has_more === true;
        this.isLoadingOlder_ = false;
        this.setHistoryStatus_(this.hasMoreHistory_ ? null : 'Beginning of the room');
        this.fillScreen_();
      })
      .receive('error', (resp) => {
        this.isLoadingOlder_ = false;
        this.setHistoryStatus_(`Could not load older messages: ${resp?.reason ?? 'error'}`);
      })
      .receive('timeout', () => {
        this.isLoadingOlder_ = false;
        this.setHistoryStatus_('Could not load older messages: no answer from the server.');
      });
  }

  // If the first page does not fill the scroller there is nothing to scroll: keep paging.
  fillScreen_() {
    const s = $('message-scroller');
    if (this.hasMoreHistory_ && s.scrollHeight <= s.clientHeight) this.loadOlder_();
  }

  addMessages_(messages) {
    if (!Array.isArray(messages)) return 0;
    const added = this.messages_.add(messages);
    for (const m of messages) {
      if (Number.isSafeInteger(m?.id) && (this.highestSeenId_ === null || m.id > this.highestSeenId_)) {
        this.highestSeenId_ = m.id;
      }
    }
    return added;
  }

  onNewMessage_(msg) {
    const wasNearBottom = this.messages_.isNearBottom();
    if (this.addMessages_([msg]) === 0) return;
    if (wasNearBottom || msg.user_id === this.myUserId_) this.messages_.scrollToBottom();
    if (this.typers_.delete(msg.user_id)) this.renderTyping_();
    this.updateEmpty_();
  }

  send_() {
    const composer = $('composer');
    const body = composer.value;
    const error = $('composer-error');
    if (body.trim().length === 0) return;
    if (body.length > kMaxBodyChars) {
      error.textContent = `Messages are limited to ${kMaxBodyChars} characters.`;
      return;
    }
    error.textContent = '';
    composer.value = '';
    this.updateCounter_();
    // Others clear our "is typing" when this message arrives, so say it again sooner than the
    // usual 2 s, but not sooner than the server's own limit (one per second).
    this.lastTypingSentAt_ -= kTypingSendIntervalMs - kServerTypingIntervalMs;
    // Put the text back if it did not go through and the user has not started a new one.
    const restore = (why) => {
      error.textContent = why;
      if (composer.value === '') {
        composer.value = body;
        this.updateCounter_();
      }
    };
    this.channel_.push('new_msg', { body })
      .receive('error', (resp) => restore(`Not sent: ${describeSendError(resp?.reason)}`))
      .receive('timeout', () => restore('Not sent: the server did not answer. Try again.'));
  }

  maybeSendTyping_() {
    const now = Date.now();
    if (now - this.lastTypingSentAt_ < kTypingSendIntervalMs) return;
    if (this.channel_.state !== 'joined') return;  // a buffered "typing" would arrive stale
    this.lastTypingSentAt_ = now;
    this.channel_.push('typing', {}).receive('error', () => {
      // Rate limited (or not joined): let the next keystroke try again once the server allows.
      this.lastTypingSentAt_ = Date.now() - (kTypingSendIntervalMs - kServerTypingIntervalMs);
    });
  }

  onTyping_(p) {
    if (!p || typeof p.user_id !== 'string' || p.user_id === this.myUserId_) return;
    const name = typeof p.user === 'string' && p.user ? p.user : p.user_id;
    this.typers_.set(p.user_id, { name, until: Date.now() + kTypingShowMs });
    this.renderTyping_();
  }

  renderTyping_() {
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
    clearTimeout(this.typingTimer_);
    if (this.typers_.size > 0) {
      const next = Math.min(...[...this.typers_.values()].map((t) => t.until));
      this.typingTimer_ = setTimeout(() => this.renderTyping_(), Math.max(50, next - now));
    }
  }

  updateCounter_() {
    const n = $('composer').value.length;
    const counter = $('composer-counter');
    counter.textContent = `${n} / ${kMaxBodyChars}`;
    counter.classList.toggle('text-red-700', n > kMaxBodyChars * 0.95);
    counter.classList.toggle('text-slate-500', n <= kMaxBodyChars * 0.95);
  }

  updateEmpty_() {
    show($('messages-empty'), this.hasLoadedHistory_ && this.messages_.size === 0);
  }

  updatePresenceCount_(n) {
    $('presence-count').textContent = String(n);
    $('presence-count-toggle').textContent = String(n);
    show($('presence-empty'), n === 0);
    this.onPresenceCount_?.(n);
  }

  setHistoryStatus_(text) {
    const node = $('history-status');
    node.textContent = text ?? '';
    show(node, Boolean(text));
  }

  setError_(text) {
    const node = $('chat-error');
    node.textContent = text ?? '';
    show(node, Boolean(text));
  }
}

function describeSendError(reason) {
  switch (reason) {
    case 'rate_limited': return 'you are sending too fast. Wait a moment.';
    case 'invalid body': return 'the message is empty or too long.';
    case 'not joined': return 'not in the room yet. Try again in a moment.';
    case 'storage unavailable': return 'the server could not store it. Try again.';
    default: return typeof reason === 'string' ? reason : 'unknown error';
  }
}
