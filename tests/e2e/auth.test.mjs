// End-to-end: socket authentication against a real server. Every bad JWT is refused with HTTP 403
// at the upgrade; a good one works through the `token` param and through phoenix.js `authToken`;
// identity comes from the token only; an expiring token closes the socket with 4001; the rooms
// claim gates joins; the dev token endpoint and the `token` subcommand mint verifiable tokens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { mintToken, SERVER_BIN, startServer, TEST_SECRET, waitFor } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--shards', '2'] }); });
after(async () => { await srv?.stop(); });

const now = () => Math.floor(Date.now() / 1000);
const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');

// A token from raw header/claims objects (or pre-encoded segments), signed with any HMAC digest.
function rawToken(header, claims, { secret = TEST_SECRET, digest = 'sha256' } = {}) {
  const head = (typeof header === 'string' ? header : b64(header)) + '.' +
    (typeof claims === 'string' ? claims : b64(claims));
  const sig = digest ? crypto.createHmac(digest, secret).update(head).digest('base64url') : '';
  return `${head}.${sig}`;
}

// Opens a raw WebSocket and resolves with the upgrade outcome: {status: 101, ws} or {status, body}.
function upgrade(url, protocols = undefined, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no upgrade answer: ${url}`)); },
      timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, body }); });
      res.on('error', () => { clearTimeout(timer); resolve({ status: res.statusCode, body }); });
    });
    ws.on('open', () => { clearTimeout(timer); resolve({ status: 101, ws }); });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

const socketUrl = (query) => `${srv.wsUrl}/websocket?${query}vsn=2.0.0`;
const tokenUrl = (token) => socketUrl(`token=${encodeURIComponent(token)}&`);

function connect(params, opts = {}) {
  const s = new Socket(opts.wsUrl ?? srv.wsUrl, { transport: WebSocket, params, ...opts });
  s.connect();
  return s;
}

function joinChannel(channel, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'test-timeout' }), timeoutMs);
    channel.join(timeoutMs)
      .receive('ok', (r) => { clearTimeout(timer); resolve({ status: 'ok', response: r }); })
      .receive('error', (r) => { clearTimeout(timer); resolve({ status: 'error', response: r }); })
      .receive('timeout', () => { clearTimeout(timer); resolve({ status: 'timeout' }); });
  });
}

function push(channel, event, payload, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload, timeoutMs).receive('ok', resolve)
      .receive('error', (e) => reject(new Error(`push error: ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error('push timeout')));
  });
}

// Runs the server binary to completion (subcommands, refused starts) with no RTCHAT_* env
// settings leaking in from the caller.
function runServerBin(args, { timeoutMs = 10000 } = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTCHAT_')));
  return new Promise((resolve) => {
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

test('bad tokens are refused with 403 at the upgrade', async () => {
  const valid = mintToken('alice');
  const [h, p] = valid.split('.');
  const vectors = {
    'expired': mintToken('alice', { exp: now() - 3600 }),
    'nbf in the future': mintToken('alice', { nbf: now() + 3600 }),
    'wrong signature': mintToken('alice', { secret: 'not-the-secret' }),
    'alg none, unsigned': rawToken({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: now() + 3600 },
      { digest: null }),
    'alg none, HS256-signed anyway': rawToken({ alg: 'none', typ: 'JWT' },
      { sub: 'alice', exp: now() + 3600 }),
    'alg HS512 with the same secret': rawToken({ alg: 'HS512', typ: 'JWT' },
      { sub: 'alice', exp: now() + 3600 }, { digest: 'sha512' }),
    'HS256 header, HS512 signature': rawToken({ alg: 'HS256', typ: 'JWT' },
      { sub: 'alice', exp: now() + 3600 }, { digest: 'sha512' }),
    'truncated signature': valid.slice(0, -6),
    'truncated to two parts': `${h}.${p}`,
    'truncated mid-payload': valid.slice(0, h.length + 1 + Math.floor(p.length / 2)),
    'bad base64url (signed)': rawToken(h, `${p.slice(0, 8)}*!${p.slice(10)}`),
    'standard-alphabet padding (signed)': rawToken(h, `${p}==`),
    'missing sub': rawToken({ alg: 'HS256', typ: 'JWT' }, { exp: now() + 3600 }),
    'empty sub': rawToken({ alg: 'HS256', typ: 'JWT' }, { sub: '', exp: now() + 3600 }),
    'missing exp': rawToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice' }),
    'exp as a string': rawToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', exp: String(now() + 3600) }),
    'payload not JSON (signed)': rawToken(h, b64('not json')),
    'empty token': '',
    'garbage': 'abc',
  };
  for (const [label, token] of Object.entries(vectors)) {
    const r = await upgrade(tokenUrl(token));
    if (r.ws) r.ws.terminate();
    assert.equal(r.status, 403, `${label}: expected 403, got ${r.status}`);
  }
  const none = await upgrade(socketUrl(''));
  if (none.ws) none.ws.terminate();
  assert.equal(none.status, 403, 'no token at all');
  // The same bad token through the authToken subprotocol is refused the same way.
  const sub = await upgrade(socketUrl(''), ['phoenix',
    `base64url.bearer.phx.${Buffer.from(vectors['wrong signature']).toString('base64').replace(/=+$/, '')}`]);
  if (sub.ws) sub.ws.terminate();
  assert.equal(sub.status, 403, 'bad token via subprotocol');
  // Sanity: the control token is accepted by the same route.
  const ok = await upgrade(tokenUrl(valid));
  assert.equal(ok.status, 101, 'the unmodified token upgrades');
  ok.ws.terminate();
});

test('a valid token works via the token param and via phoenix.js authToken (subprotocol phoenix)', async () => {
  const viaParam = connect({ token: mintToken('alice') });
  const viaAuth = connect({}, { authToken: mintToken('bob') });
  try {
    await waitFor(() => viaParam.isConnected() && viaAuth.isConnected(), 'both sockets open');
    assert.equal(viaAuth.conn.protocol, 'phoenix', 'server selects the phoenix subprotocol');
    for (const s of [viaParam, viaAuth]) {
      const r = await joinChannel(s.channel('room:auth-basic', {}));
      assert.equal(r.status, 'ok');
    }
  } finally {
    viaParam.disconnect(); viaAuth.disconnect();
  }
});

test('identity on broadcasts comes from the token, not from params', async () => {
  const s = connect({ token: mintToken('u-real', { name: 'Real Name' }), user: 'mallory',
    user_id: 'mallory', name: 'Mallory' });
  const observer = connect({ token: mintToken('observer') });
  try {
    const ch = s.channel('room:identity', { user: 'mallory', user_id: 'mallory' });
    const och = observer.channel('room:identity', {});
    const seen = [];
    och.on('new_msg', (m) => seen.push(m));
    let presence = null;
    och.on('presence_diff', (d) => { if (d.joins['u-real']) presence = d.joins['u-real']; });
    assert.equal((await joinChannel(och)).status, 'ok');
    assert.equal((await joinChannel(ch)).status, 'ok');
    await push(ch, 'new_msg', { body: 'who am I', user: 'mallory', user_id: 'mallory' });
    await waitFor(() => seen.length === 1 && presence, 'broadcast and presence seen by the observer');
    assert.equal(seen[0].user_id, 'u-real');
    assert.equal(seen[0].user, 'Real Name');
    assert.equal(presence.metas[0].name, 'Real Name');
    assert.ok(!JSON.stringify(seen[0]).includes('mallory'));
  } finally {
    s.disconnect(); observer.disconnect();
  }
});

test('a token that expires closes the socket with 4001 "token expired" (leeway 0)', async () => {
  const short = await startServer({ args: ['--jwt-leeway', '0'] });
  try {
    const token = mintToken('brief', { exp: now() + 2 });
    const r = await upgrade(`${short.wsUrl}/websocket?token=${token}&vsn=2.0.0`);
    assert.equal(r.status, 101);
    const openedAt = Date.now();
    const closed = new Promise((resolve) => r.ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString(), afterMs: Date.now() - openedAt })));
    r.ws.send(JSON.stringify(['1', '1', 'room:brief', 'phx_join', {}]));
    const result = await Promise.race([closed,
      new Promise((resolve) => setTimeout(() => resolve(null), 8000))]);
    if (!result) r.ws.terminate();
    assert.ok(result, 'socket closed within 8 s');
    assert.equal(result.code, 4001);
    assert.equal(result.reason, 'token expired');
    // Not closed early: exp is whole seconds, so at least ~1 s of the 2 s lifetime remains.
    assert.ok(result.afterMs >= 900, `closed after ${result.afterMs} ms`);
  } finally {
    await short.stop();
  }
});

test('the rooms claim restricts joins (exact and prefix*)', async () => {
  const s = connect({ token: mintToken('scoped', { rooms: ['lobby', 'team-*'] }) });
  try {
    for (const room of ['lobby', 'team-a', 'team-', 'team-42.x']) {
      const ch = s.channel(`room:${room}`, {});
      const r = await joinChannel(ch);
      assert.equal(r.status, 'ok', `join room:${room}`);
    }
    for (const room of ['secret', 'lobby2', 'team', 'xteam-a']) {
      const ch = s.channel(`room:${room}`, {});
      const r = await joinChannel(ch);
      assert.equal(r.status, 'error', `join room:${room} refused`);
      assert.equal(r.response.reason, 'unauthorized');
      ch.leave();  // stop the client's automatic rejoin
    }
  } finally {
    s.disconnect();
  }
});

test('POST /api/dev/token mints a working token in dev mode (--dev-tokens with a real secret)', async () => {
  // A custom secret mints by name only when asked (web_security.test.mjs: 404 otherwise).
  const dev = await startServer({ args: ['--dev-tokens'] });
  try {
    await devTokenMints(dev);
  } finally {
    await dev.stop();
  }
});

async function devTokenMints(srv) {
  const tokenUrl = (token) => `${srv.wsUrl}/websocket?token=${encodeURIComponent(token)}&vsn=2.0.0`;
  const res = await fetch(`${srv.url}/api/dev/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'dora', ttl: 120 }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(typeof body.token, 'string');
  const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString());
  assert.equal(claims.sub, 'dora');
  assert.ok(Math.abs(claims.exp - (now() + 120)) <= 5, 'ttl honoured');
  const r = await upgrade(tokenUrl(body.token));
  assert.equal(r.status, 101);
  r.ws.terminate();

  const bad = await fetch(`${srv.url}/api/dev/token`, { method: 'POST', body: '{"ttl": 5}' });
  assert.equal(bad.status, 400, 'user required');
}

test('--production: no dev endpoint; refuses to start without a secret', async () => {
  const prod = await startServer({ secret: 'x', args: ['--production'] });
  try {
    const res = await fetch(`${prod.url}/api/dev/token`, {
      method: 'POST', body: JSON.stringify({ user: 'dora', ttl: 60 }),
    });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    // Sockets still work with the production secret.
    const r = await upgrade(`${prod.wsUrl}/websocket?token=${mintToken('p', { secret: 'x' })}&vsn=2.0.0`);
    assert.equal(r.status, 101);
    r.ws.terminate();
  } finally {
    await prod.stop();
  }

  const dataDir = mkdtempSync(join(tmpdir(), 'rtchat-auth-'));
  try {
    const r = await runServerBin(['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir,
      '--production']);
    assert.equal(r.signal, null, `exited by itself (output: ${r.stdout}${r.stderr})`);
    assert.notEqual(r.code, 0, 'non-zero exit without a secret');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the token subcommand prints a token the server accepts (same --jwt-secret)', async () => {
  const secret = 'subcommand-secret-42';
  const own = await startServer({ secret });
  try {
    const minted = await runServerBin(['token', '--user', 'cli-user', '--ttl', '60',
      '--rooms', 'alpha,beta*', '--jwt-secret', secret]);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, 'cli-user');
    assert.deepEqual(claims.rooms, ['alpha', 'beta*']);

    const r = await upgrade(`${own.wsUrl}/websocket?token=${token}&vsn=2.0.0`);
    assert.equal(r.status, 101);
    r.ws.terminate();

    const s = connect({ token }, { wsUrl: own.wsUrl });
    try {
      assert.equal((await joinChannel(s.channel('room:beta-1', {}))).status, 'ok');
      const no = s.channel('room:gamma', {});
      const refused = await joinChannel(no);
      no.leave();
      assert.equal(refused.response?.reason, 'unauthorized');
    } finally {
      s.disconnect();
    }

    // Minted with another secret: refused.
    const other = await runServerBin(['token', '--user', 'cli-user', '--jwt-secret', 'other']);
    const bad = await upgrade(`${own.wsUrl}/websocket?token=${other.stdout.trim()}&vsn=2.0.0`);
    assert.equal(bad.status, 403);
  } finally {
    await own.stop();
  }
});
