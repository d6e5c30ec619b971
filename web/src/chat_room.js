// One open room: its channel, message history, live messages, deletions, read state, presence,
// typing and composer. Created when the user opens a room, closed when they leave it or sign out.
import { Presence } from 'phoenix';
import { Composer } from './composer.js';
import { $, show } from './dom.js';
import { NameDirectory } from './identity.js';
import { MessageList } from './message_list.js';
import { canDelete, describeDeleteError } from './moderation.js';
import { Outbox } from './outbox.js';
import { presenceRows, renderPresence } from './presence_panel.js';
import { ReadMarker } from './read_marker.js';
import { Typing } from './typing.js';

const kHistoryPageSize = 50;       // one screen or two; older pages load on scroll
// Rows kept while the reader follows the live end: older ones are dropped and load again on
// scroll, like any older page.
export const kMaxShownMessages = 500;
const kLoadOlderWhenWithinPx = 60;

// Join refusals that will not go away by retrying: stop the channel's automatic rejoin.
const kFinalJoinErrors = new Set(['unauthorized', 'unmatched topic', 'invalid params']);

export class ChatRoom {
  // claims: the token's claims (moderation rights); onRead(roomId, lastReadId): the room was read
  // up to there; onReadSupport(bool): whether the server keeps read state (join reply `unread`).
  constructor({ socket, roomId, myUserId, claims, onPresenceCount, onRead, onReadSupport }) {
    this.roomId = roomId;
    this.myUserId_ = myUserId;
    this.claims = claims ?? {};
    this.onPresenceCount_ = onPresenceCount;
    this.onReadSupport_ = onReadSupport;
    this.names_ = new NameDirectory();  // shared by messages and presence: see identity.js
    this.messages_ = new MessageList($('message-list'), $('message-scroller'), myUserId, this.names_,
      (m) => (canDelete(this.claims, roomId, myUserId, m) ? (onFailed) => this.delete_(m.id, onFailed) : null));
    this.highestSeenId_ = null;
    this.hasMoreHistory_ = false;
    this.isLoadingOlder_ = false;
    this.hasLoadedHistory_ = false;
    this.hasJoinedOnce_ = false;
    this.isClosed_ = false;
    this.unreadDividerAt_ = null;
    this.abort_ = new AbortController();
    // A function, so every rejoin (after a network drop) asks for what we missed since the
    // newest message or deletion we have; the server then pushes those before live ones.
    this.channel_ = socket.channel(`room:${roomId}`, () => {
      const params = { device: 'web' };
      if (this.highestSeenId_ !== null) params.last_seen_id = this.highestSeenId_;
      return params;
    });
    this.presence_ = new Presence(this.channel_);
    this.typing_ = new Typing(this.channel_, myUserId, this.names_);
    this.composer_ = new Composer();
    const isJoined = () => this.channel_.state === 'joined';
    this.outbox_ = new Outbox({
      userId: myUserId, roomId, listNode: $('pending-list'), isJoined,
      push: (body, timeout) => this.channel_.push('new_msg', { body }, timeout),
      highestSeenId: () => this.highestSeenId_,
      shownMessages: () => this.messages_.messages,
      onNotice: (text) => this.composer_.setNotice(text),
      onEdit: (body) => this.composer_.restore(body),
    });
    this.reads_ = new ReadMarker({
      push: (event, payload) => this.channel_.push(event, payload), isJoined,
      newestVisibleId: () => this.messages_.newestVisibleId(),
      onRead: (lastReadId) => onRead?.(roomId, lastReadId),
    });
  }

  open() {
    $('room-title').textContent = this.roomId;
    this.messages_.clear();
    this.names_.clear();
    delete $('message-list').dataset.deletable;
    this.setError_(null);
    this.setHistoryStatus_('Loading messages…');
    show($('messages-empty'), false);
    this.typing_.clear();
    this.composer_.clear();
    renderPresence($('presence-list'), [], this.myUserId_, this.names_);
    this.updatePresenceCount_(0);

    this.presence_.onSync(() => {
      if (this.isClosed_) return;
      const rows = presenceRows(this.presence_);
      // A member who joined under a name already on screen: label the messages again.
      if (renderPresence($('presence-list'), rows, this.myUserId_, this.names_)) {
        this.messages_.refreshAuthors();
      }
      this.updatePresenceCount_(rows.length);
    });
    const live = (fn) => this.live_(fn);
    this.channel_.on('new_msg', live((msg) => this.onNewMessage_(msg)));
    this.channel_.on('msg_deleted', live((p) => this.onDeleted_(p)));
    this.channel_.on('read_state', live((p) => this.reads_.noteRead(p?.last_read_id)));
    this.channel_.on('typing', live((p) => this.typing_.onTyping(p)));
    this.channel_.join()
      .receive('ok', live((resp) => this.onJoined_(resp || {})))
      .receive('error', live((resp) => this.onJoinError_(resp || {})))
      .receive('timeout', live(() => this.setError_('Joining the room is taking long; still trying…')));

    this.listen_();
  }

  // The page has one message list: a closed room's late events and replies must not reach it.
  live_(fn) {
    return (...args) => { if (!this.isClosed_) fn(...args); };
  }

  listen_() {
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
      this.composer_.refresh();
      if (composer.value.length > 0) this.typing_.maybeSend();
    }, { signal });
    $('composer-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.send_();
    }, { signal });
    $('message-scroller').addEventListener('scroll', () => {
      if ($('message-scroller').scrollTop < kLoadOlderWhenWithinPx) this.loadOlder_();
      this.reads_.poke();
    }, { signal, passive: true });
  }

  close() {
    this.isClosed_ = true;
    this.abort_.abort();
    this.typing_.clear();
    this.outbox_.stop();
    this.reads_.stop();
    this.composer_.setNotice(null);
    this.channel_.leave();
    this.messages_.clear();
    $('presence-list').replaceChildren();
  }

  onJoined_(resp) {
    this.setError_(null);
    if (Number.isSafeInteger(resp.last_read_id)) {
      // First entry: the divider goes after what was read before this visit. Not on a first visit
      // (nothing ever read): everything would be "new", and the view would open at the top.
      if (!this.hasJoinedOnce_ && resp.unread > 0 && resp.last_read_id > 0) this.unreadDividerAt_ = resp.last_read_id;
      this.reads_.enable(resp.last_read_id);
    }
    if (!this.hasJoinedOnce_) {
      this.onReadSupport_?.(Number.isSafeInteger(resp.unread));
      this.probeDelete_();
    }
    this.hasJoinedOnce_ = true;
    if (resp.recovered === true) return this.outbox_.onReady();  // the missed messages arrive as pushes
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

  // Whether this server deletes messages at all: `delete_msg` of id 0 (no such message) is
  // "unknown event" on a server without moderation and another error on one with it. Until the
  // answer, delete buttons stay hidden (CSS: message-list[data-deletable]).
  probeDelete_() {
    this.channel_.push('delete_msg', { id: 0 })
      .receive('ok', this.live_(() => { $('message-list').dataset.deletable = 'true'; }))
      .receive('error', this.live_((resp) => {
        if (resp?.reason !== 'unknown event' && resp?.reason !== 'rate_limited') $('message-list').dataset.deletable = 'true';
      }));
  }

  loadLatest_(reset) {
    this.channel_.push('history', { before_id: null, limit: kHistoryPageSize })
      .receive('ok', this.live_((resp) => {
        if (reset) this.messages_.clear();
        this.addMessages_(resp.messages);
        this.hasMoreHistory_ = resp.has_more === true;
        this.hasLoadedHistory_ = true;
        this.setHistoryStatus_(this.hasMoreHistory_ ? null : this.messages_.size ? 'Beginning of the room' : null);
        this.updateEmpty_();
        this.showUnreadDivider_();
        this.fillScreen_();
        this.outbox_.onReady();
        this.reads_.poke();
      }))
      .receive('error', this.live_((resp) => {
        this.setHistoryStatus_(`Could not load messages: ${resp?.reason ?? 'error'}`);
        this.outbox_.onReady();
      }))
      .receive('timeout', this.live_(() => {
        this.setHistoryStatus_('Could not load messages: no answer from the server.');
        this.outbox_.onReady();
      }));
  }

  // Once, on entering: "New messages" above the first unread one, scrolled into view.
  showUnreadDivider_() {
    const at = this.unreadDividerAt_;
    this.unreadDividerAt_ = null;
    if (at !== null) this.messages_.setUnreadDivider(at);
    const divider = this.messages_.dividerNode;
    if (divider?.isConnected) divider.scrollIntoView({ block: 'start' });
    else this.messages_.scrollToBottom();
  }

  // Pages one step back in time, keeping the message under the user's eyes where it was.
  loadOlder_() {
    if (!this.hasMoreHistory_ || this.isLoadingOlder_ || this.messages_.oldestId === null) return;
    this.isLoadingOlder_ = true;
    this.setHistoryStatus_('Loading older messages…');
    const scroller = $('message-scroller');
    const failed = (text) => {
      this.isLoadingOlder_ = false;
      this.setHistoryStatus_(text);
    };
    this.channel_.push('history', { before_id: this.messages_.oldestId, limit: kHistoryPageSize })
      .receive('ok', this.live_((resp) => {
        const heightBefore = scroller.scrollHeight;
        const topBefore = scroller.scrollTop;
        this.addMessages_(resp.messages);
        scroller.scrollTop = topBefore + (scroller.scrollHeight - heightBefore);
        this.hasMoreHistory_ = resp.has_more === true;
        this.isLoadingOlder_ = false;
        this.setHistoryStatus_(this.hasMoreHistory_ ? null : 'Beginning of the room');
        this.fillScreen_();
      }))
      .receive('error', this.live_((resp) => failed(`Could not load older messages: ${resp?.reason ?? 'error'}`)))
      .receive('timeout', this.live_(() => failed('Could not load older messages: no answer from the server.')));
  }

  // If the first page does not fill the scroller there is nothing to scroll: keep paging.
  fillScreen_() {
    const s = $('message-scroller');
    if (this.hasMoreHistory_ && s.scrollHeight <= s.clientHeight) this.loadOlder_();
  }

  noteSeenId_(id) {
    if (Number.isSafeInteger(id) && (this.highestSeenId_ === null || id > this.highestSeenId_)) this.highestSeenId_ = id;
  }

  addMessages_(messages) {
    if (!Array.isArray(messages)) return 0;
    const added = this.messages_.add(messages);
    for (const m of messages) this.noteSeenId_(m?.id);
    this.outbox_.noteMessages(messages);
    return added;
  }

  onNewMessage_(msg) {
    const wasNearBottom = this.messages_.isNearBottom();
    const isMine = msg?.user_id === this.myUserId_;
    if (this.addMessages_([msg]) === 0) return;
    if (wasNearBottom && this.messages_.dropOldest(kMaxShownMessages) > 0 && !this.hasMoreHistory_) {
      this.hasMoreHistory_ = true;  // what was dropped is older history now
      this.setHistoryStatus_(null);
    }
    if (wasNearBottom || isMine) this.messages_.scrollToBottom();
    this.typing_.onMessageFrom(msg.user_id);
    this.updateEmpty_();
    this.reads_.poke();
  }

  // msg_deleted {id, event_id, deleted_by}: the deletion has its own place in the room's order
  // (event_id), so a rejoin's last_seen_id must count it or it would be replayed.
  onDeleted_(p) {
    if (!Number.isSafeInteger(p?.id)) return;
    this.noteSeenId_(p.event_id);
    this.messages_.markDeleted(p.id);
  }

  delete_(id, onFailed) {
    this.channel_.push('delete_msg', { id })
      .receive('ok', this.live_(() => this.messages_.markDeleted(id)))
      .receive('error', this.live_((resp) => {
        onFailed();
        this.setError_(`Could not delete the message: ${describeDeleteError(resp?.reason)}`);
      }))
      .receive('timeout', this.live_(() => {
        onFailed();
        this.setError_(`Could not delete the message: ${describeDeleteError('timeout')}`);
      }));
  }

  send_() {
    const body = this.composer_.take();
    if (body === null) return;
    if (!this.outbox_.enqueue(body)) {
      this.composer_.setError('Too many messages are waiting to be sent. Wait for them before sending more.');
      return;
    }
    this.composer_.clear();
    this.typing_.onSent();
    this.messages_.scrollToBottom();
  }

  updateEmpty_() {
    show($('messages-empty'), this.hasLoadedHistory_ && this.messages_.size === 0 && this.outbox_.size === 0);
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
