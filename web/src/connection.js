// The one Phoenix socket of a signed-in page, and its connection state for the header.
import { Socket } from 'phoenix';

// phoenix.js's own schedule (ms by attempt), each step jittered by x0.5..x1.5 so that a server
// restart does not bring every client back in the same millisecond.
const kReconnectBaseMs = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const kReconnectCapMs = 5000;
const kRejoinBaseMs = [1000, 2000, 5000];
const kRejoinCapMs = 10000;

const jitter = (ms) => Math.round(ms * (0.5 + Math.random()));
export const reconnectAfterMs = (tries) => jitter(kReconnectBaseMs[tries - 1] ?? kReconnectCapMs);
export const rejoinAfterMs = (tries) => jitter(kRejoinBaseMs[tries - 1] ?? kRejoinCapMs);

// After this many failed attempts in a row, "reconnecting" becomes "offline": with the schedule
// above that is about 4 s of trying, long enough to ride out a server restart.
const kFailuresBeforeOffline = 9;

// The server's "disconnected by server" close (POST /api/users/<id>/disconnect, e.g. a ban):
// docs/protocol.md says not to reconnect blindly, and phoenix.js would, within milliseconds.
export const kDisconnectedByServer = 4010;

// States: 'connecting' (first attempt), 'connected', 'reconnecting', 'offline'.
// onState(state) is called on every change. onNeverOpened() is called once, on the first error
// before any successful open: the caller decides between "token rejected" and "server down".
// onDisconnectedByServer(reason) is called when the server closed with 4010: the connection has
// stopped for good by then (no reconnect).
export class Connection {
  constructor({ getToken, onState, onNeverOpened, onDisconnectedByServer = () => {} }) {
    this.state_ = 'connecting';
    this.hasOpened_ = false;
    this.failures_ = 0;
    this.reportedNeverOpened_ = false;
    this.isStopped_ = false;
    this.onState_ = onState;
    this.socket = new Socket('/socket', {
      // The token travels in the Sec-WebSocket-Protocol header (phoenix.js authToken), never in
      // the URL, which proxies and load balancers log. A function, so every reconnect sends the
      // current (possibly renewed) token.
      // phoenix.js offers it as `base64url.bearer.phx.` + btoa(token) without padding; for a
      // JWT (base64url text, see isJwtShaped in auth.js) that never holds '+' or '/', so it is a
      // valid subprotocol name.
      authToken: () => getToken(),
      reconnectAfterMs,
      rejoinAfterMs,
    });
    this.socket.onOpen(() => {
      this.hasOpened_ = true;
      this.failures_ = 0;
      this.set_('connected');
    });
    const onDown = () => {
      this.failures_ += 1;
      if (!this.hasOpened_ && !this.reportedNeverOpened_) {
        this.reportedNeverOpened_ = true;
        onNeverOpened();
      }
      if (!navigator.onLine || this.failures_ >= kFailuresBeforeOffline) this.set_('offline');
      else this.set_(this.hasOpened_ ? 'reconnecting' : 'connecting');
    };
    this.socket.onError(onDown);
    this.socket.onClose((event) => {
      if (event?.code === kDisconnectedByServer && !this.isStopped_) {
        this.stop();  // before phoenix.js's reconnect timer fires
        onDisconnectedByServer(String(event.reason ?? ''));
        return;
      }
      // onError already counted a failed attempt; a close after a good connection is a drop.
      if (this.state_ === 'connected') this.set_(navigator.onLine ? 'reconnecting' : 'offline');
    });
    this.offlineListener_ = () => this.set_('offline');
    window.addEventListener('offline', this.offlineListener_);
  }

  get state() { return this.state_; }
  get hasOpened() { return this.hasOpened_; }

  connect() { this.socket.connect(); }

  // Stops for good: no more reconnect attempts (sign-out, token rejected).
  stop() {
    window.removeEventListener('offline', this.offlineListener_);
    this.isStopped_ = true;
    this.socket.disconnect();
    this.set_('offline');
  }

  set_(state) {
    if (state === this.state_ || (this.isStopped_ && state !== 'offline')) return;
    this.state_ = state;
    this.onState_(state);
  }
}
