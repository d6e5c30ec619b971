// The room directory: active rooms with member counts from `GET /api/rooms` (protocol-16),
// asked with the user's JWT as Bearer (the server lists the rooms the token may join; dev mode:
// all). A server without the endpoint (404) hides the section; a refused token says so.
import { $, el, show } from './dom.js';
import { isValidRoomId } from './room_id.js';

const kDirectoryLimit = 50;  // a screenful; more is what the room box is for

// -> {rooms: [{id, members}], hasMore} | {unsupported: true} | {error: text}
export async function fetchRoomDirectory(token) {
  let res;
  try {
    res = await fetch(`/api/rooms?limit=${kDirectoryLimit}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      cache: 'no-store',
    });
  } catch {
    return { error: 'Could not load the active rooms: the server is unreachable.' };
  }
  if (res.status === 404) return { unsupported: true };
  if (res.status === 401 || res.status === 403) return { error: 'Your access does not include the room list.' };
  if (!res.ok) return { error: `Could not load the active rooms (HTTP ${res.status}).` };
  let body;
  try {
    body = await res.json();
  } catch {
    return { error: 'Could not load the active rooms: unreadable answer.' };
  }
  const rooms = Array.isArray(body?.rooms) ? body.rooms.filter((r) => isValidRoomId(r?.id)) : [];
  return {
    rooms: rooms.map((r) => ({ id: r.id, members: Number.isSafeInteger(r.members) ? r.members : null })),
    hasMore: body?.has_more === true,
  };
}

export function renderRoomDirectory(result, activeRoomId) {
  const section = $('directory-section');
  if (result.unsupported) return show(section, false);
  show(section, true);
  const status = $('directory-status');
  if (result.error) {
    $('room-directory').replaceChildren();
    status.textContent = result.error;
    return show(status, true);
  }
  $('room-directory').replaceChildren(...result.rooms.map((r) => el('li', {},
    el('a', {
      href: `#/room/${r.id}`,
      class: 'flex items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500' +
        (r.id === activeRoomId ? ' bg-indigo-50 font-medium text-indigo-800' : ''),
      dataset: { testid: 'directory-room', roomId: r.id },
    },
    el('span', { class: 'min-w-0 flex-1 truncate' }, `# ${r.id}`),
    r.members === null ? null : el('span', {
      class: 'shrink-0 text-xs tabular-nums text-slate-500',
      title: `${r.members} ${r.members === 1 ? 'member' : 'members'} online`,
      dataset: { testid: 'directory-members' },
    }, `${r.members} online`)))));
  const text = result.rooms.length === 0 ? 'No active rooms right now.'
    : result.hasMore ? 'More rooms exist: type a name above to join one.' : '';
  status.textContent = text;
  show(status, Boolean(text));
}
