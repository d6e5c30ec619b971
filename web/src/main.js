// Entry point: sign-in, the signed-in shell (connection, rooms), and routing #/room/<id>.
import { DevTokenUnavailable, fetchDevToken, fetchPageToken, isJwtShaped, serverIsUp, tokenClaims } from './auth.js';
import { ChatRoom } from './chat_room.js';
import { Connection } from './connection.js';
import { $, show } from './dom.js';
import { isValidRoomId } from './room_id.js';
import { RoomsPanel } from './rooms_panel.js';
import {
  loadDevName, loadRecentRooms, loadToken, rememberRoom, saveDevName, saveToken, signOutStorage,
} from './storage.js';
import { TokenRefresher } from './token_refresh.js';
import { UnreadWatcher } from './unread.js';

const kRenewBeforeExpiryMs = 60_000;  // renew a dev token a minute early: clocks drift
const kDirectoryAfterJoinMs = 1000;   // a join is answered in milliseconds; a second is plenty

const session = {
  token: null,
  claims: {},
  userId: null,
  connection: null,
  room: null,
  rooms: null,      // RoomsPanel
  unread: null,     // UnreadWatcher
  refresher: null,  // TokenRefresher
  renewTimer: null,
  hasRetriedWithFreshToken: false,
};

// ---- Sign-in ---------------------------------------------------------------------------------

let isProductionSignIn = false;

function showSignIn(message) {
  show($('app-view'), false);
  show($('signin-view'), true);
  show($('signin-name-row'), !isProductionSignIn);
  show($('signin-token-row'), isProductionSignIn);
  setSignInError(message ?? null);
  (isProductionSignIn ? $('signin-token') : $('signin-name')).focus();
}

function setSignInError(text) {
  $('signin-error').textContent = text ?? '';
  show($('signin-error'), Boolean(text));
}

async function onSignInSubmit(event) {
  event.preventDefault();
  const button = $('signin-submit');
  if (isProductionSignIn) {
    const token = $('signin-token').value.trim();
    if (!token) return setSignInError('Paste your token.');
    if (!isJwtShaped(token)) return setSignInError('That is not a token (three parts separated by dots).');
    saveToken(token);
    saveDevName(null);
    return startSession();
  }
  const name = $('signin-name').value.trim();
  if (!name) return setSignInError('Enter a name.');
  if (name.length > 64) return setSignInError('Names are at most 64 characters.');
  button.disabled = true;
  setSignInError(null);
  try {
    const token = await fetchDevToken(name);
    saveToken(token);
    saveDevName(name);
    startSession();
  } catch (e) {
    if (e instanceof DevTokenUnavailable) {
      isProductionSignIn = true;
      showSignIn('Sign-in by name is off on this server. Paste an access token instead.');
    } else {
      setSignInError(e.message);
    }
  } finally {
    button.disabled = false;
  }
}

// ---- Session ---------------------------------------------------------------------------------

function startSession() {
  const token = loadToken();
  if (!isJwtShaped(token)) return showSignIn();
  session.token = token;
  const claims = tokenClaims(token);
  session.claims = claims;
  session.userId = typeof claims.sub === 'string' ? claims.sub : null;
  $('me-name').textContent = typeof claims.name === 'string' && claims.name ? claims.name
    : session.userId ?? 'unknown';
  show($('signin-view'), false);
  show($('app-view'), true);
  setConnectionError(null);
  scheduleDevTokenRenewal(claims);

  session.connection = new Connection({
    getToken: () => session.token,
    onState: renderConnectionState,
    onNeverOpened: onNeverOpened,
    onDisconnectedByServer: (reason) => setConnectionError(
      `The server disconnected you${reason ? ` (${reason})` : ''}. Reload the page to connect again.`,
      true),
  });
  const socket = session.connection.socket;
  session.unread = new UnreadWatcher({ socket, myUserId: session.userId, onChange: () => session.rooms?.render() });
  session.rooms = new RoomsPanel({
    getToken: () => session.token,
    unreadOf: (id) => session.unread.unreadOf(id),
    onOpen: openRoom,
  });
  session.refresher = new TokenRefresher({
    socket, fetchToken: fetchFreshToken, onRefreshed: adoptToken,
    onFailed: (text) => setConnectionError(text, false),
  });
  renderConnectionState(session.connection.state);
  session.connection.connect();
  session.rooms.render();
  session.rooms.loadDirectory();
  route();
}

function stopSession() {
  closeRoom();
  clearTimeout(session.renewTimer);
  session.renewTimer = null;  // a renewal already under way sees this and drops its token
  session.refresher?.stop();
  session.unread?.stop();
  session.rooms?.stop();
  session.connection?.stop();
  Object.assign(session, { connection: null, refresher: null, unread: null, rooms: null });
}

// A fresh token for a `refresh` (token_refresh.js): dev mode mints one by name; production asks
// the URL the page names in <meta name="rtchat-token-url">; null when there is neither.
async function fetchFreshToken() {
  const devName = loadDevName();
  if (devName) return fetchDevToken(devName);
  const url = document.querySelector('meta[name="rtchat-token-url"]')?.content;
  return url ? fetchPageToken(url) : null;
}

// The server accepted a refreshed token: keep it for reconnects and future refreshes.
function adoptToken(token) {
  if (!isJwtShaped(token)) return;
  saveToken(token);
  session.token = token;  // the socket's authToken reads it: a reconnect offers this one
  session.claims = tokenClaims(token);
  if (session.room) session.room.claims = session.claims;
  scheduleDevTokenRenewal(session.claims);
}

function signOut() {
  stopSession();
  signOutStorage();
  session.token = null;
  session.hasRetriedWithFreshToken = false;
  isProductionSignIn = false;
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  showSignIn();
}

// Dev tokens are free to mint, so renew them before they expire instead of failing later.
function scheduleDevTokenRenewal(claims) {
  clearTimeout(session.renewTimer);
  const devName = loadDevName();
  if (!devName || typeof claims.exp !== 'number') return;
  const delay = Math.max(0, claims.exp * 1000 - Date.now() - kRenewBeforeExpiryMs);
  const timer = setTimeout(async () => {
    try {
      const token = await fetchDevToken(devName);
      // Signed out (or renewed by a newer timer) while the request was out: keep nothing.
      if (session.renewTimer !== timer) return;
      saveToken(token);
      session.token = token;  // used from the next (re)connect on
      scheduleDevTokenRenewal(tokenClaims(token));
    } catch {
      // Keep the old one; a rejected reconnect will surface as a connection error.
    }
  }, Math.min(delay, 2 ** 31 - 1));
  session.renewTimer = timer;
}

// The socket failed before it ever opened. Browsers hide the HTTP status of a refused upgrade,
// so ask the server over HTTP: if it answers, the token was refused; otherwise it is down.
async function onNeverOpened() {
  const connection = session.connection;
  const isUp = await serverIsUp();
  if (connection !== session.connection || connection.hasOpened) return;
  if (!isUp) {
    setConnectionError('Could not connect: the server is unreachable. Retrying…', false);
    return;
  }
  const devName = loadDevName();
  if (devName && !session.hasRetriedWithFreshToken) {
    // Probably a dev server restarted with another secret: get a new token once, silently.
    session.hasRetriedWithFreshToken = true;
    try {
      saveToken(await fetchDevToken(devName));
      stopSession();
      startSession();
      return;
    } catch {
      // fall through to the error
    }
  }
  connection.stop();
  setConnectionError('Could not connect: the token was rejected.', true);
}

function setConnectionError(text, offerSignIn = false) {
  $('connection-error-text').textContent = text ?? '';
  show($('connection-error-signout'), offerSignIn);
  show($('connection-error'), Boolean(text));
}

const kStateLook = {
  connecting: { text: 'connecting', dot: 'bg-amber-400' },
  connected: { text: 'connected', dot: 'bg-emerald-500' },
  reconnecting: { text: 'reconnecting', dot: 'bg-amber-400' },
  offline: { text: 'offline', dot: 'bg-red-500' },
};

function renderConnectionState(state) {
  const look = kStateLook[state] ?? kStateLook.offline;
  $('connection-status').dataset.state = state;
  $('connection-text').textContent = look.text;
  $('connection-dot').className = `h-2 w-2 rounded-full ${look.dot}`;
  if (state === 'connected') {
    session.hasRetriedWithFreshToken = false;
    setConnectionError(null);
  }
}

// ---- Rooms and routing -------------------------------------------------------------------------

function openRoom(id) {
  if (location.hash === `#/room/${id}`) route();
  else location.hash = `#/room/${id}`;
}

function roomFromHash() {
  const m = /^#\/room\/(.+)$/.exec(location.hash);
  if (!m) return null;
  let id;
  try {
    id = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  return isValidRoomId(id) ? id : null;
}

function route() {
  if (!session.connection) return;
  const id = roomFromHash();
  if (id === null) {
    closeRoom();
    session.unread.setRooms(loadRecentRooms(), null);
    session.rooms.setActive(null);
    setRoomLayout(false);
    return;
  }
  if (session.room?.roomId === id) return setRoomLayout(true);
  closeRoom();
  // Before the room's own join: the watcher gives up its background channel of this topic.
  session.unread.setRooms(rememberRoom(id), id);
  session.room = new ChatRoom({
    socket: session.connection.socket, roomId: id, myUserId: session.userId, claims: session.claims,
    onReadSupport: (isSupported) => session.unread?.noteSupport(isSupported),
  });
  setRoomLayout(true);
  session.room.open();
  session.rooms.setActive(id);
  setTimeout(() => session.rooms?.loadDirectory(), kDirectoryAfterJoinMs);  // counts with us in it
  $('composer').focus();
}

function closeRoom() {
  session.room?.close();
  session.room = null;
  setPresencePanelOpen(false);
}

// Phone: rooms list and chat are separate screens. md and up: rooms stay beside the chat.
function setRoomLayout(isRoomOpen) {
  const rooms = $('rooms-panel');
  rooms.classList.toggle('hidden', isRoomOpen);
  rooms.classList.toggle('md:flex', isRoomOpen);
  show($('chat-view'), isRoomOpen);
  show($('no-room'), !isRoomOpen);
  show($('back-to-rooms'), isRoomOpen);
  if (!isRoomOpen) session.rooms?.loadDirectory();  // member counts change: fresh ones on the list
}

// Below lg the presence panel is a strip above the messages (not over them), opened by the
// "Online" button and closed by it, its own close button, or Escape.
function setPresencePanelOpen(isOpen) {
  const panel = $('presence-panel');
  panel.classList.toggle('hidden', !isOpen);
  panel.classList.toggle('flex', isOpen);
  $('presence-toggle').setAttribute('aria-expanded', String(isOpen));
}

// ---- Wiring ----------------------------------------------------------------------------------

function main() {
  $('signin-form').addEventListener('submit', onSignInSubmit);
  $('signout').addEventListener('click', signOut);
  $('connection-error-signout').addEventListener('click', signOut);
  $('back-to-rooms').addEventListener('click', () => { location.hash = ''; });
  $('presence-toggle').addEventListener('click', () => {
    setPresencePanelOpen($('presence-toggle').getAttribute('aria-expanded') !== 'true');
  });
  $('presence-close').addEventListener('click', () => {
    setPresencePanelOpen(false);
    $('presence-toggle').focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('presence-toggle').getAttribute('aria-expanded') === 'true') {
      setPresencePanelOpen(false);
      $('presence-toggle').focus();
    }
  });
  window.addEventListener('hashchange', route);
  if (loadToken()) startSession();
  else showSignIn();
}

main();
