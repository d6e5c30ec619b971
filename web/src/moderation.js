// Who may delete which message (protocol-16): the author their own; a token with
// `"role": "moderator"` any message in any room; a `"moderate"` list of room ids (a trailing `*`
// is a prefix, as in the `rooms` claim) any message in those rooms. The claims are read
// unverified (auth.js), only to decide whether to show the button: the server decides.

export function roomMatches(patterns, roomId) {
  if (!Array.isArray(patterns)) return false;
  return patterns.some((p) => typeof p === 'string' && (p.endsWith('*')
    ? roomId.startsWith(p.slice(0, -1)) : p === roomId));
}

export function canModerate(claims, roomId) {
  return claims?.role === 'moderator' || roomMatches(claims?.moderate, roomId);
}

export function canDelete(claims, roomId, myUserId, message) {
  if (message?.deleted === true) return false;
  return (myUserId !== null && message?.user_id === myUserId) || canModerate(claims, roomId);
}

export function describeDeleteError(reason) {
  switch (reason) {
    case 'not_allowed': return 'you may not delete this message.';
    case 'not_found': return 'it was already deleted.';
    case 'unknown event': return 'this server does not support deleting messages.';
    case 'rate_limited': return 'too many actions at once. Try again in a moment.';
    case 'timeout': return 'the server did not answer. Try again.';
    default: return typeof reason === 'string' ? `${reason}.` : 'unknown error.';
  }
}
