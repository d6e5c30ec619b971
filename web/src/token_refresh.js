// Token refresh without reconnecting (protocol-16): the server pushes `token_expiring {exp}` on
// topic "phoenix" a while before the socket's token expires; we get a fresh token and answer
// `refresh {token}` on the same topic. On an ok the caller stores the token, so a later
// reconnect offers it too (the socket's authToken reads it). On an error the old deadline stays
// and the socket is closed at expiry (4001); the reconnect then uses whatever token we have.
const kReplyTimeoutMs = 10_000;
const kFetchRetryMs = 5_000;
const kMaxFetchAttempts = 3;

export class TokenRefresher {
  // fetchToken(): Promise<string | null> (null: no way to get one); onRefreshed(token);
  // onFailed(text): tell the user (the socket will drop at expiry).
  constructor({ socket, fetchToken, onRefreshed, onFailed }) {
    Object.assign(this, { socket_: socket, fetchToken_: fetchToken, onRefreshed_: onRefreshed, onFailed_: onFailed });
    this.isBusy_ = false;
    this.pending_ = null;  // {ref, token, timer}
    this.retryTimer_ = null;
    this.isStopped_ = false;
    this.messageRef_ = socket.onMessage((msg) => this.onMessage_(msg));
  }

  stop() {
    this.isStopped_ = true;
    clearTimeout(this.retryTimer_);
    clearTimeout(this.pending_?.timer);
    this.socket_.off([this.messageRef_]);
  }

  onMessage_({ topic, event, payload, ref }) {
    if (topic !== 'phoenix') return;
    if (event === 'token_expiring') return void this.refresh_(1);
    if (event === 'phx_reply' && this.pending_ && ref === this.pending_.ref) this.onReply_(payload);
  }

  async refresh_(attempt) {
    if (this.isStopped_ || (this.isBusy_ && attempt === 1)) return;
    this.isBusy_ = true;
    let token = null;
    try {
      token = await this.fetchToken_();
    } catch {
      token = undefined;  // a failure worth retrying
    }
    if (this.isStopped_) return;
    if (token === null) return this.fail_('Your session will end soon: sign in again to keep chatting.');
    if (typeof token !== 'string') {
      if (attempt < kMaxFetchAttempts) {
        this.retryTimer_ = setTimeout(() => this.refresh_(attempt + 1), kFetchRetryMs);
        return;
      }
      return this.fail_('Could not renew your session; you may be disconnected soon.');
    }
    const ref = this.socket_.makeRef();
    const timer = setTimeout(() => this.onReply_({ status: 'error', response: { reason: 'timeout' } }), kReplyTimeoutMs);
    this.pending_ = { ref, token, timer };
    this.socket_.push({ topic: 'phoenix', event: 'refresh', payload: { token }, ref });
  }

  onReply_(payload) {
    const { token, timer } = this.pending_;
    clearTimeout(timer);
    this.pending_ = null;
    this.isBusy_ = false;
    if (payload?.status === 'ok') return this.onRefreshed_(token);
    const reason = payload?.response?.reason;
    this.fail_(`Could not renew your session (${typeof reason === 'string' ? reason : 'error'}); you may be disconnected soon.`);
  }

  fail_(text) {
    this.isBusy_ = false;
    this.onFailed_(text);
  }
}
