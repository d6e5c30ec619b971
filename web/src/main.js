// Entry point: sign-in, the signed-in shell (connection, rooms), and routing #/room/<id>.
import { DevTokenUnavailable, fetchDevToken, isJwtShaped, serverIsUp, tokenClaims } from './auth.js';
import { ChatRoom } from './chat_room.js';
import { Connection } from './connection.js';
import { $, el, show } from './dom.js';
import { isValidRoomId, roomIdError } from './room_id.js';
import {
  loadDevName, loadRecentRooms, loadToken, rememberRoom, saveDevName, saveToken, signOutStorage,
} from './storage.js';

const kRenewBeforeExpiryMs = 60_000;  // renew a dev token a minute early: clocks drift

const session = {
  token: null,
  userId: null,
  connection: null,
  room: null,
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
  });
  renderConnectionState(session.connection.state);
  session.connection.connect();
  renderRecentRooms(loadRecentRooms());
  route();
}

function stopSession() {
  closeRoom();
  clearTimeout(session.renewTimer);
  session.connection?.stop();
  session.connection = null;
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
  session.renewTimer = setTimeout(async () => {
    try {
      const token = await fetchDevToken(devName);
      saveToken(token);
      session.token = token;  // used from the next (re)connect on
      scheduleDevTokenRenewal(tokenClaims(token));
    } catch {
      // Keep the old one; a rejected reconnect will surface as a connection error.
    }
  }, Math.min(delay, 2 ** 31 - 1));
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

function renderRecentRooms(rooms) {
  $('recent-rooms').replaceChildren(...rooms.map((id) => el('li', {},
    el('a', {
      href: `#/room/${id}`,
      class: 'block truncate rounded-md px-2 py-1 text-sm hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500' +
        (session.room?.roomId === id ? ' bg-indigo-50 font-medium text-indigo-800' : ''),
      dataset: { testid: 'recent-room' },
      ...(session.room?.roomId === id ? { 'aria-current': 'page' } : {}),
    }, `# ${id}`))));
  show($('recent-empty'), rooms.length === 0);
}

function onRoomSubmit(event) {
  event.preventDefault();
  const id = $('room-input').value.trim();
  const error = roomIdError(id);
  $('room-error').textContent = error ?? '';
  show($('room-error'), Boolean(error));
  $('room-input').setAttribute('aria-invalid', error ? 'true' : 'false');
  if (error) return;
  $('room-input').value = '';
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
    setRoomLayout(false);
    return;
  }
  if (session.room?.roomId === id) return setRoomLayout(true);
  closeRoom();
  session.room = new ChatRoom({ socket: session.connection.socket, roomId: id, myUserId: session.userId });
  setRoomLayout(true);
  session.room.open();
  renderRecentRooms(rememberRoom(id));
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
  if (!isRoomOpen) renderRecentRooms(loadRecentRooms());
}

// Below lg the presence panel is a drawer over the messages, opened by the "Online" button.
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
  $('room-form').addEventListener('submit', onRoomSubmit);
  $('room-input').addEventListener('input', () => {
    show($('room-error'), false);
    $('room-input').removeAttribute('aria-invalid');
  });
  $('back-to-rooms').addEventListener('click', () => { location.hash = ''; });
  $('presence-toggle').addEventListener('click', () => {
    setPresencePanelOpen($('presence-toggle').getAttribute('aria-expanded') !== 'true');
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
