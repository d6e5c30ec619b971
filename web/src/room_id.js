// Room ids as the server accepts them (chat-events.md, "Topics"): 1..64 of [A-Za-z0-9_.-], not
// dots alone ("." and ".." are path segments, not names).
const kRoomIdPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const kOnlyDots = /^\.+$/;

export function isValidRoomId(id) {
  return typeof id === 'string' && kRoomIdPattern.test(id) && !kOnlyDots.test(id);
}

// Returns null when valid, else a sentence to show next to the input.
export function roomIdError(id) {
  if (id.length === 0) return 'Type a room name first (for example: lobby).';
  if (id.length > 64) return 'Room names are at most 64 characters.';
  if (!kRoomIdPattern.test(id)) return 'Use only letters, digits, "_", "." and "-" (no spaces).';
  if (kOnlyDots.test(id)) return 'A room name needs a letter, digit, "_" or "-".';
  return null;
}

// Room ids are case-sensitive ("Lobby" and "lobby" are two rooms): the UI does not fold case,
// since rooms created by other clients, and tokens' `rooms` claims, may use capitals. Instead,
// a name that differs only in case from a room the user knows gets a "did you mean" hint.
export function caseTwin(id, knownIds) {
  const lower = id.toLowerCase();
  return knownIds.find((k) => k !== id && k.toLowerCase() === lower) ?? null;
}
