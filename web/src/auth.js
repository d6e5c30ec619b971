// Getting a token: dev mode mints one from a name; production needs a pasted token.

export class DevTokenUnavailable extends Error {}

// POST /api/dev/token {"user": name} -> {"token"}. A 404 means the server runs in production
// mode (throws DevTokenUnavailable); any other failure throws an Error with a readable message.
export async function fetchDevToken(name) {
  let res;
  try {
    res = await fetch('/api/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: name }),
    });
  } catch {
    throw new Error('Could not reach the server. Is it running?');
  }
  if (res.status === 404) throw new DevTokenUnavailable('production mode');
  if (!res.ok) throw new Error(`The server refused the sign-in (HTTP ${res.status}).`);
  let body;
  try {
    body = await res.json();
  } catch {
    throw new Error('The server sent an unreadable answer.');
  }
  if (!body || typeof body.token !== 'string' || body.token.length === 0) {
    throw new Error('The server sent no token.');
  }
  return body.token;
}

// Three base64url parts. Anything else is refused before it reaches the socket: the token is
// sent base64-encoded in a subprotocol name, where only this alphabet is known to encode safely.
export function isJwtShaped(token) {
  return typeof token === 'string' && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

// Reads a JWT's claims without verifying it: only for display (name) and for ignoring our own
// typing events. The server verifies the token; nothing here grants anything.
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(b64),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : {};
  } catch {
    return {};
  }
}

// Whether the server answers HTTP at all; used to tell "token rejected" from "server down"
// when the WebSocket fails before ever opening (the browser hides the upgrade status).
export async function serverIsUp() {
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    return res.status < 500;
  } catch {
    return false;
  }
}

// Production refresh: POST to the page's configured token URL (same origin: the CSP's
// connect-src is 'self'), with the page's cookies; the answer is {"token": "<jwt>"}.
export async function fetchPageToken(url) {
  const res = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
    cache: 'no-store',
  });
  if (!res.ok) throw new Error(`token URL answered HTTP ${res.status}`);
  const body = await res.json();
  if (!body || typeof body.token !== 'string' || !isJwtShaped(body.token)) throw new Error('no token in the answer');
  return body.token;
}
