// End-to-end: the server API for backends (docs/protocol.md "Server API") on --shards 2. Every
// status code of POST /api/rooms/<id>/messages, GET /api/rooms/<id>/presence, GET /api/rooms and
// POST /api/users/<id>/disconnect; an API publish seen by phoenix.js subscribers on both shards
// (JSON) and by a binary rtchat.v1 subscriber; Idempotency-Key retries; 4010 closes on every shard.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { BUILD_DIR, mintToken, startServer, waitFor, withServer } from './lib/server.mjs';
import { openRaw } from './lib/raw_ws.mjs';

const CLI = process.env.RTCHAT_CLI_BIN || join(BUILD_DIR, 'loadtest', 'rtchat-cli');
const KEY = 'api-key-one-0123456789';
const KEY2 = 'api-key-two-9876543210';  // a second key: rotation
const kArgs = ['--shards', '2', '--api-key', KEY, '--api-key', KEY2, '--rate', '100000',
  '--rate-burst', '100000'];

let srv;
const opened = [];
before(async () => { srv = await startServer({ args: kArgs }); });
after(async () => {
  for (const c of opened) c.terminate?.() ?? c.disconnect?.();
  await srv?.stop();
});

async function api(method, path, { key = KEY, body, headers = {}, server = srv } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

function connect(user, opts = {}) {
  const socket = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user, { name: user, ...opts }) },
    reconnectAfterMs: () => 60000,
  });
  socket.connect();
  opened.push(socket);
  return socket;
}

function joinRoom(socket, room) {
  const channel = socket.channel(`room:${room}`, {});
  const received = [];
  channel.on('new_msg', (m) => received.push(m));
  return new Promise((resolve, reject) => {
    channel.join().receive('ok', () => resolve({ channel, received }))
      .receive('error', (e) => reject(new Error(`join ${room}: ${JSON.stringify(e)}`)));
  });
}

test('without --api-key the key-only routes answer 404', async () => {
  await withServer(['--shards', '2'], async (plain) => {
    for (const [method, path, body] of [['POST', '/api/rooms/lobby/messages', { body: 'x' }],
      ['GET', '/api/rooms/lobby/presence'], ['POST', '/api/users/u1/disconnect', {}]]) {
      const r = await api(method, path, { body, server: plain });
      assert.equal(r.status, 404, `${method} ${path}`);
    }
    // The room directory still serves a user's token (the UI lists rooms in dev mode).
    const r = await api('GET', '/api/rooms', { key: mintToken('alice'), server: plain });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { rooms: [], has_more: false });
  });
});

test('a missing or wrong key is 401 on every key-only route', async () => {
  for (const [method, path, body] of [['POST', '/api/rooms/lobby/messages', { body: 'x' }],
    ['GET', '/api/rooms/lobby/presence'], ['POST', '/api/users/u1/disconnect', {}], ['GET', '/api/rooms']]) {
    assert.equal((await api(method, path, { key: null, body })).status, 401, `${path} no key`);
    assert.equal((await api(method, path, { key: 'api-key-one-012345678', body })).status, 401, `${path} wrong key`);
  }
  // A user's token is no API key for publishing.
  assert.equal((await api('POST', '/api/rooms/lobby/messages', { key: mintToken('alice'), body: { body: 'x' } })).status, 401);
});

test('publish: bad bodies are 400, too long 413, a bad room id 400', async () => {
  const p = (body, room = 'limits') => api('POST', `/api/rooms/${room}/messages`, { body });
  assert.equal((await p('not json')).status, 400);
  assert.equal((await p({ text: 'no body' })).status, 400);
  assert.equal((await p({ body: 42 })).status, 400);
  assert.equal((await p({ body: '' })).status, 400);
  assert.equal((await p({ body: 'x', user_id: 7 })).status, 400);
  assert.equal((await p({ body: 'x', user_id: 'u'.repeat(129) })).status, 400);
  assert.equal((await p({ body: 'x'.repeat(4001) })).status, 413);
  assert.equal((await p({ body: 'x'.repeat(20000) })).status, 413);  // over the request size
  assert.equal((await p({ body: 'x' }, 'bad%20room')).status, 400);
  assert.equal((await api('GET', '/api/rooms/limits/messages', { key: KEY })).status, 403);  // history wants a user token
  const ok = await p({ body: 'é'.repeat(4000) });  // the limit counts characters, not bytes
  assert.equal(ok.status, 201, ok.text);
  assert.ok(ok.json.id >= 1);
  assert.equal((await api('PUT', '/api/rooms/limits/messages', { body: { body: 'x' } })).status, 405);
});

test('an API publish reaches phoenix.js subscribers on both shards and a binary subscriber', async () => {
  const room = 'api-fanout';
  const subs = [];
  for (let i = 0; i < 6; i++) subs.push(await joinRoom(connect(`sub${i}`), room));
  const cli = spawn(CLI, ['--port', String(srv.port), '--token', mintToken('binsub'), '--room', room,
    '--format', 'binary', '--expect', '1', '--timeout', '15000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  cli.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => cli.on('exit', resolve));
  await waitFor(() => out.includes(`joined room:${room}`), 'binary subscriber joined', 10000);

  const r = await api('POST', `/api/rooms/${room}/messages`,
    { key: KEY2, body: { body: 'deploy finished', user_id: 'ci-bot', name: 'CI\u202e Bot' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const id = r.json.id;
  for (const s of subs) {
    await waitFor(() => s.received.length === 1, 'subscriber got the message');
    assert.deepEqual({ ...s.received[0], ts: 0 },
      { id, room, user_id: 'ci-bot', user: 'CI Bot', body: 'deploy finished', ts: 0 });
  }
  assert.equal(await exited, 0);
  assert.match(out, new RegExp(`msg ${id} ci-bot deploy finished`));

  // Defaults: the "api" identity. History has both, in order.
  const d = await api('POST', `/api/rooms/${room}/messages`, { body: { body: 'second' } });
  assert.equal(d.status, 201);
  assert.equal(d.json.id, id + 1);
  const h = await api('GET', `/api/rooms/${room}/messages`, { key: mintToken('reader') });
  assert.deepEqual(h.json.messages.map((m) => [m.id, m.user_id, m.body]),
    [[id, 'ci-bot', 'deploy finished'], [id + 1, 'api', 'second']]);
});

test('a publish to a room nobody is in is stored (the room exists from then on)', async () => {
  const r = await api('POST', '/api/rooms/api-only-room/messages', { body: { body: 'hello' } });
  assert.equal(r.status, 201, r.text);
  const h = await api('GET', '/api/rooms/api-only-room/messages', { key: mintToken('reader') });
  assert.equal(h.status, 200);
  assert.deepEqual(h.json.messages.map((m) => m.body), ['hello']);
  const again = await api('POST', '/api/rooms/api-only-room/messages', { body: { body: 'again' } });
  assert.equal(again.json.id, r.json.id + 1);
});

test('Idempotency-Key: a retry gets the first id and stores nothing new', async () => {
  const room = 'idem';
  const post = (key, body) => api('POST', `/api/rooms/${room}/messages`,
    { body: { body }, headers: { 'idempotency-key': key } });
  const first = await post('order-1234', 'paid');
  assert.equal(first.status, 201);
  const retry = await post('order-1234', 'paid');
  assert.equal(retry.status, 200);
  assert.equal(retry.json.id, first.json.id);
  const other = await post('order-1235', 'paid');
  assert.equal(other.status, 201);
  assert.notEqual(other.json.id, first.json.id);
  // Per room: the same key in another room is another message.
  const elsewhere = await api('POST', '/api/rooms/idem-2/messages',
    { body: { body: 'paid' }, headers: { 'idempotency-key': 'order-1234' } });
  assert.equal(elsewhere.status, 201);
  assert.equal((await post('k'.repeat(201), 'x')).status, 400);
  const h = await api('GET', `/api/rooms/${room}/messages`, { key: mintToken('reader') });
  assert.equal(h.json.messages.length, 2);
});

test('Idempotency-Key: a retry while the first is still committing gets 409, then the first id', async () => {
  // Commits take 3 s: the retry, sent 0.5 s after the first, finds it committing even on a loaded
  // machine where the first request takes a while to reach the server.
  await withServer(['--shards', '2', '--api-key', KEY, '--fault-storage-delay-ms', '3000'], async (slow) => {
    const post = () => api('POST', '/api/rooms/slow/messages',
      { server: slow, body: { body: 'once' }, headers: { 'idempotency-key': 'k-1' } });
    const first = post();
    await new Promise((r) => setTimeout(r, 500));  // the first is waiting for its commit
    const during = await post();
    assert.equal(during.status, 409, during.text);
    assert.deepEqual(during.json, { error: 'in progress' });
    const done = await first;
    assert.equal(done.status, 201);
    const after = await post();
    assert.equal(after.status, 200);
    assert.equal(after.json.id, done.json.id);
  });
});

test('presence lists users with their devices; rooms lists active rooms', async () => {
  const a1 = await joinRoom(connect('alice', { rooms: ['team-*'] }), 'team-red');
  await joinRoom(connect('alice'), 'team-red');
  await joinRoom(connect('bob'), 'team-red');
  await joinRoom(connect('carol'), 'team-blue');
  await joinRoom(connect('dave'), 'ops');
  const p = await api('GET', '/api/rooms/team-red/presence');
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.users, 2);
  assert.equal(p.json.devices, 3);
  assert.deepEqual(Object.keys(p.json.presence).sort(), ['alice', 'bob']);
  assert.equal(p.json.presence.alice.metas.length, 2);
  const empty = await api('GET', '/api/rooms/nobody-here/presence');
  assert.deepEqual(empty.json, { presence: {}, users: 0, devices: 0 });
  assert.equal((await api('GET', '/api/rooms/bad%20id/presence')).status, 400);

  const all = await api('GET', '/api/rooms?prefix=team-');
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json, { rooms: [{ id: 'team-blue', members: 1 }, { id: 'team-red', members: 2 }], has_more: false });
  const first = await api('GET', '/api/rooms?prefix=team-&limit=1');
  assert.deepEqual(first.json, { rooms: [{ id: 'team-blue', members: 1 }], has_more: true });
  assert.equal((await api('GET', '/api/rooms?limit=0')).status, 400);
  assert.equal((await api('GET', '/api/rooms?limit=x')).status, 400);
  // A user's token lists only the rooms its rooms claim allows.
  const mine = await api('GET', '/api/rooms', { key: mintToken('erin', { rooms: ['team-*'] }) });
  assert.deepEqual(mine.json.rooms.map((r) => r.id), ['team-blue', 'team-red']);
  assert.equal((await api('GET', '/api/rooms', { key: 'not-a-jwt' })).status, 401);
  a1.channel.leave();
  await waitFor(async () => (await api('GET', '/api/rooms/team-red/presence')).json.devices === 2, 'leave seen');
});

test('GET /api/rooms with a user token is rate limited per user (429 + Retry-After); the API key is not', async () => {
  const flood = mintToken('flooder');
  const statuses = [];
  let limited;
  for (let i = 0; i < 60 && !limited; i++) {
    const r = await api('GET', '/api/rooms', { key: flood });
    statuses.push(r.status);
    if (r.status === 429) limited = r;
  }
  assert.ok(limited, `no 429 in ${statuses.length} requests: ${statuses.join(',')}`);
  assert.equal(limited.headers.get('retry-after'), '1');
  assert.deepEqual(limited.json, { error: 'rate_limited' });
  assert.ok(statuses.filter((s) => s === 200).length >= 10, 'the burst was served first');
  assert.equal((await api('GET', '/api/rooms', { key: mintToken('someone-else') })).status, 200, 'another user is not limited');
  for (let i = 0; i < 60; i++) assert.equal((await api('GET', '/api/rooms')).status, 200, 'the API key is not limited');
});

test('disconnect closes every socket of the user on both shards with 4010', async () => {
  const victims = [];
  for (let i = 0; i < 8; i++) victims.push(await openRaw(srv, 'mallory'));
  const bystander = await openRaw(srv, 'trent');
  opened.push(...victims, bystander);
  assert.equal((await api('POST', '/api/users/mallory/disconnect', { body: 'nope' })).status, 400);
  const r = await api('POST', '/api/users/mallory/disconnect', { body: { reason: 'spam' } });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.closed, 8);
  for (const v of victims) {
    const info = await v.waitClosed();
    assert.equal(info.code, 4010);
    assert.equal(info.reason, 'disconnected by server: spam');
  }
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(bystander.closeInfo, undefined, 'another user stays connected');
  const none = await api('POST', '/api/users/mallory/disconnect');
  assert.equal(none.status, 202);
  assert.equal(none.json.closed, 0);
  const noReason = await openRaw(srv, 'oscar');
  opened.push(noReason);
  await api('POST', '/api/users/oscar/disconnect', { body: {} });
  assert.equal((await noReason.waitClosed()).reason, 'disconnected by server');
  // A user id is percent-encoded in the path, '/' included.
  const slashed = await openRaw(srv, 'team/ann');
  opened.push(slashed);
  const r2 = await api('POST', `/api/users/${encodeURIComponent('team/ann')}/disconnect`);
  assert.equal(r2.json.closed, 1);
  assert.equal((await slashed.waitClosed()).code, 4010);
});

test('cluster mode: API publish, moderation and disconnect reach every node', async () => {
  const { freePort, startRedis } = await import('./lib/redis.mjs');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const redisPort = await freePort();
  const redisDir = mkdtempSync(join(tmpdir(), 'rtchat-redis-api-'));
  const redis = await startRedis(redisPort, redisDir);
  const nodes = [];
  const mine = [];
  try {
    for (const id of ['A', 'B']) {
      nodes.push(await startServer({ args: ['--shards', '2', '--api-key', KEY,
        '--cluster', `redis://127.0.0.1:${redisPort}`, '--node-id', id] }));
    }
    const [a, b] = nodes;
    const join = async (node, user, claims = {}) => {
      const s = new Socket(node.wsUrl, { transport: WebSocket, params: { token: mintToken(user, claims) } });
      s.connect();
      mine.push(s);
      const ch = s.channel('room:crowd', {});
      const events = [];
      ch.on('new_msg', (m) => events.push(['new_msg', m]));
      ch.on('msg_deleted', (m) => events.push(['msg_deleted', m]));
      await new Promise((res, rej) => ch.join().receive('ok', res).receive('error', rej));
      return { ch, events };
    };
    const onA = await join(a, 'alice');
    const onB = await join(b, 'mod', { role: 'moderator' });
    const r = await api('POST', '/api/rooms/crowd/messages', { server: a, body: { body: 'from the backend' } });
    assert.equal(r.status, 201, r.text);
    for (const m of [onA, onB]) {
      await waitFor(() => m.events.some(([, p]) => p.id === r.json.id), 'delivered on both nodes');
    }
    // Moderation across nodes: the moderator on B deletes the API message; A sees msg_deleted.
    const del = await new Promise((res) => onB.ch.push('delete_msg', { id: r.json.id })
      .receive('ok', (p) => res({ ok: p })).receive('error', (e) => res({ error: e })));
    assert.deepEqual(del, { ok: { id: r.json.id } });
    await waitFor(() => onA.events.some(([e, p]) => e === 'msg_deleted' && p.id === r.json.id), 'msg_deleted on A');
    const h = await api('GET', '/api/rooms/crowd/messages', { server: a, key: mintToken('reader') });
    assert.deepEqual(h.json.messages.map((m) => [m.id, m.body, m.deleted ?? false]), [[r.json.id, '', true]]);
    // Disconnect asked on A closes the user's sockets on B too.
    const victim = await openRaw(b, 'eve');
    mine.push(victim);
    const d = await api('POST', '/api/users/eve/disconnect', { server: a, body: { reason: 'ban' } });
    assert.equal(d.status, 202);
    const info = await victim.waitClosed();
    assert.equal(info.code, 4010);
    assert.equal(info.reason, 'disconnected by server: ban');
  } finally {
    for (const s of mine) s.terminate?.() ?? s.disconnect?.();
    for (const n of nodes) await n.stop();
    await redis.stop();
    rmSync(redisDir, { recursive: true, force: true });
  }
});
