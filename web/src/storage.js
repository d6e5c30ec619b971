// Everything the page remembers between visits, in localStorage. Reads tolerate missing or
// corrupt values (another tab, an old version, a user editing devtools) by falling back.
const kTokenKey = 'rtchat.token';
const kDevNameKey = 'rtchat.devName';
const kRecentRoomsKey = 'rtchat.recentRooms';
const kMaxRecentRooms = 10;  // enough to be useful, short enough to scan

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;  // storage disabled (privacy mode): behave as a first visit
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Quota or disabled storage: the session still works, it just is not remembered.
  }
}

export const loadToken = () => read(kTokenKey);
export const saveToken = (token) => write(kTokenKey, token);

// The name used to mint a dev token, kept so an expired dev token can be renewed silently.
export const loadDevName = () => read(kDevNameKey);
export const saveDevName = (name) => write(kDevNameKey, name);

export function loadRecentRooms() {
  try {
    const rooms = JSON.parse(read(kRecentRoomsKey) || '[]');
    return Array.isArray(rooms) ? rooms.filter((r) => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export function rememberRoom(id) {
  const rooms = [id, ...loadRecentRooms().filter((r) => r !== id)].slice(0, kMaxRecentRooms);
  write(kRecentRoomsKey, JSON.stringify(rooms));
  return rooms;
}

export function forgetRoom(id) {
  const rooms = loadRecentRooms().filter((r) => r !== id);
  write(kRecentRoomsKey, JSON.stringify(rooms));
  return rooms;
}

export function signOutStorage() {
  write(kTokenKey, null);
  write(kDevNameKey, null);
}

// Messages not yet accepted by the server, per user and room, so a reload or a closed tab does
// not lose them (outbox.js). Bounded by the outbox itself (kMaxOutboxItems there).
const outboxKey = (userId, roomId) => `rtchat.outbox.${userId}.${roomId}`;

export function loadOutbox(userId, roomId) {
  try {
    const items = JSON.parse(read(outboxKey(userId, roomId)) || '[]');
    return Array.isArray(items)
      ? items.filter((i) => i && typeof i.body === 'string' && typeof i.queuedAt === 'number')
      : [];
  } catch {
    return [];
  }
}

export function saveOutbox(userId, roomId, items) {
  write(outboxKey(userId, roomId), items.length ? JSON.stringify(items) : null);
}
