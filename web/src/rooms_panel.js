// The rooms side of the shell: the join form (validation, the case hint), "Recent rooms" with
// unread badges, and the directory of active rooms.
import { $, el, show } from './dom.js';
import { fetchRoomDirectory, renderRoomDirectory } from './room_directory.js';
import { caseTwin, roomIdError } from './room_id.js';
import { loadRecentRooms } from './storage.js';
import { badgeText } from './unread.js';

// Member counts change while the list is on screen (desktop shows it beside the chat).
const kDirectoryRefreshMs = 30_000;

const kLinkClass = 'flex items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500';

export class RoomsPanel {
  // getToken(): the JWT for the directory; unreadOf(roomId) -> count or null; onOpen(roomId).
  constructor({ getToken, unreadOf, onOpen }) {
    Object.assign(this, { getToken_: getToken, unreadOf_: unreadOf, onOpen_: onOpen });
    this.activeRoomId_ = null;
    this.directory_ = { unsupported: true };
    this.directoryLoad_ = 0;
    this.abort_ = new AbortController();
    const signal = this.abort_.signal;
    $('room-form').addEventListener('submit', (e) => this.onSubmit_(e), { signal });
    $('room-input').addEventListener('input', () => {
      show($('room-error'), false);
      $('room-input').removeAttribute('aria-invalid');
      this.renderCaseHint_();
    }, { signal });
    $('directory-refresh').addEventListener('click', () => this.loadDirectory(), { signal });
    this.refreshTimer_ = setInterval(() => {
      if (!this.directory_.unsupported && document.visibilityState === 'visible') this.loadDirectory();
    }, kDirectoryRefreshMs);
  }

  stop() {
    this.abort_.abort();
    clearInterval(this.refreshTimer_);
    this.directoryLoad_ += 1;  // drop an answer still on its way
    $('recent-rooms').replaceChildren();
    $('room-directory').replaceChildren();
    show($('directory-section'), false);
  }

  setActive(roomId) {
    this.activeRoomId_ = roomId;
    this.render();
  }

  async loadDirectory() {
    const load = ++this.directoryLoad_;
    const result = await fetchRoomDirectory(this.getToken_());
    if (load !== this.directoryLoad_) return;
    this.directory_ = result;
    this.render();
  }

  render() {
    const rooms = loadRecentRooms();
    $('recent-rooms').replaceChildren(...rooms.map((id) => this.recentRow_(id)));
    show($('recent-empty'), rooms.length === 0);
    $('recent-empty').textContent = this.directory_.rooms?.length
      ? 'No rooms yet. Join one above or pick an active room below.' : 'No rooms yet. Join one above.';
    if (!this.directory_.unsupported) renderRoomDirectory(this.directory_, this.activeRoomId_);
  }

  recentRow_(id) {
    const isActive = this.activeRoomId_ === id;
    const unread = isActive ? null : this.unreadOf_(id);
    return el('li', {},
      el('a', {
        href: `#/room/${id}`,
        class: kLinkClass + (isActive ? ' bg-indigo-50 font-medium text-indigo-800' : ''),
        dataset: { testid: 'recent-room', roomId: id },
        ...(isActive ? { 'aria-current': 'page' } : {}),
      },
      el('span', { class: 'min-w-0 flex-1 truncate' }, `# ${id}`),
      unread ? el('span', {
        class: 'shrink-0 rounded-full bg-red-600 px-1.5 text-xs font-semibold tabular-nums text-white',
        'aria-label': `${unread} unread`,
        dataset: { testid: 'unread-badge' },
      }, badgeText(unread)) : null));
  }

  knownRoomIds_() {
    return [...loadRecentRooms(), ...(this.directory_.rooms ?? []).map((r) => r.id)];
  }

  renderCaseHint_() {
    const id = $('room-input').value.trim();
    const twin = id ? caseTwin(id, this.knownRoomIds_()) : null;
    const hint = $('room-case-hint');
    show(hint, twin !== null);
    if (twin === null) return hint.replaceChildren();
    const pick = el('button', {
      type: 'button',
      class: 'font-medium text-indigo-700 underline hover:text-indigo-900 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500',
      dataset: { testid: 'room-case-suggestion' },
    }, twin);
    pick.addEventListener('click', () => {
      $('room-input').value = twin;
      this.renderCaseHint_();
      $('room-input').focus();
    });
    hint.replaceChildren('Names are case-sensitive. Did you mean ', pick, '?');
  }

  onSubmit_(event) {
    event.preventDefault();
    const id = $('room-input').value.trim();
    let error = roomIdError(id);
    if (id === '' && this.knownRoomIds_().length > 0) error += ' Or pick a room below.';
    $('room-error').textContent = error ?? '';
    show($('room-error'), Boolean(error));
    $('room-input').setAttribute('aria-invalid', error ? 'true' : 'false');
    if (error) return $('room-input').focus();
    $('room-input').value = '';
    this.renderCaseHint_();
    this.onOpen_(id);
  }
}
