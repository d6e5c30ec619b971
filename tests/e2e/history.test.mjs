// End-to-end: message history over the official phoenix client and over HTTP. Paging (oldest
// first, exact has_more, no duplicates), parameter errors, join with recovery (exact, in order,
// also while another client publishes during the catch-up), the recovery limit, the HTTP API's
// status codes, persistence across a graceful restart, and retention by count and by age.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';

const kWait = 5000;
// Pushes as fast as the tests want: the rate limiter has its own tests.
const kArgs = ['--shards', '2', '--rate', '100000', '--rate-burst', '100000', '--recovery-limit', '5'];

let srv;
const dataDir = mkdtempSync(join(tmpdir(), 'rtchat-history-'));
const sockets = new Set();

before(async () => { srv = await startServer({ args: kArgs, dataDir }); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function connect(user) {
  const socket = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user, { name: user }) },
    reconnectAfterMs: () => 60000,  // a test reconnects on purpose, never by itself
  });
  socket.connect();
  sockets.add(socket);
  return socket;
}

function disconnect(socket) {
  sockets.delete(socket);
  return new Promise((resolve) => socket.disconnect(resolve));
}

// Pushes and resolves {ok} or {error}; a missing reply rejects.
function push(channel, event, payload) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${event}: no reply`)), kWait + 1000);
    channel.push(event, payload, kWait)
      .receive('ok', (r) => { clearTimeout(timer); resolve({ ok: r }); })
      .receive('error', (r) => { clearTimeout(timer); resolve({ error: r }); })
      .receive('timeout', () => { clearTimeout(timer); reject(new Error(`${event}: timeout`)); });
  });
}

// Joins and records every new_msg the channel receives, from the first frame on.
function joinRoom(socket, room, params = {}) {
  const channel = socket.channel(`room:${room}`, params);
  const received = [];
  channel.on('new_msg', (m) => received.push(m));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`join ${room}: no reply`)), kWait + 1000);
    channel.join(kWait)
      .receive('ok', (reply) => { clearTimeout(timer); resolve({ channel, received, reply }); })
      .receive('error', (e) => { clearTimeout(timer); reject(new Error(`join ${room}: ${JSON.stringify(e)}`)); })
      .receive('timeout', () => { clearTimeout(timer); reject(new Error(`join ${room}: timeout`)); });
  });
}

async function publish(channel, body) {
  const r = await push(channel, 'new_msg', { body });
  assert.ok(r.ok && Number.isSafeInteger(r.ok.id), `publish ${body}: ${JSON.stringify(r)}`);
  return r.ok.id;
}

// Publishes bodies with up to inFlight pushes outstanding; returns the acked ids in body order.
async function publishAll(channel, bodies, inFlight = 8) {
  const ids = new Array(bodies.length);
  let next = 0;
  const lane = async () => {
    while (next < bodies.length) {
      const i = next++;
      ids[i] = await publish(channel, bodies[i]);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ids;
}

async function history(channel, payload) {
  const r = await push(channel, 'history', payload);
  assert.ok(r.ok, `history ${JSON.stringify(payload)}: ${JSON.stringify(r)}`);
  return r.ok;
}

// Every message of the room through history pages of limit, newest page first.
async function allHistory(channel, limit = 200) {
  const pages = [];
  let before = null;
  for (let i = 0; i < 1000; i++) {
    const page = await history(channel, { before_id: before, limit });
    pages.unshift(page.messages);
    if (!page.has_more) break;
    before = page.messages[0].id;
  }
  return pages.flat();
}

function assertStrictlyIncreasing(ids, label) {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i] > ids[i - 1], `${label}: id ${ids[i]} after ${ids[i - 1]} at ${i}`);
  }
}

function httpMessages(room, query, token) {
  const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  return fetch(`${srv.url}/api/rooms/${room}/messages${query}`, { headers, signal: AbortSignal.timeout(kWait) });
}

test('history pages through 120 messages oldest first with exact has_more', async () => {
  const socket = connect('pager');
  const { channel } = await joinRoom(socket, 'h-paging');
  const bodies = Array.from({ length: 120 }, (_, i) => `page ${i + 1}`);
  const ids = [];
  for (const body of bodies) ids.push(await publish(channel, body));  // one at a time: body order = id order
  assertStrictlyIncreasing(ids, 'acked ids');

  const first = await history(channel, { before_id: null, limit: 50 });
  assert.equal(first.messages.length, 50);
  assert.equal(first.has_more, true);
  assert.deepEqual(first.messages.map((m) => m.body), bodies.slice(70));
  const m = first.messages[49];
  assert.equal(m.id, ids[119]);
  assert.equal(m.room, 'h-paging');
  assert.equal(m.user_id, 'pager');
  assert.equal(m.user, 'pager');
  assert.ok(Number.isSafeInteger(m.ts) && Math.abs(m.ts - Date.now()) < 60000, `ts ${m.ts}`);

  const second = await history(channel, { before_id: first.messages[0].id, limit: 50 });
  assert.deepEqual(second.messages.map((x) => x.body), bodies.slice(20, 70));
  assert.equal(second.has_more, true);
  const third = await history(channel, { before_id: second.messages[0].id, limit: 50 });
  assert.deepEqual(third.messages.map((x) => x.body), bodies.slice(0, 20));
  assert.equal(third.has_more, false);

  const all = [...third.messages, ...second.messages, ...first.messages].map((x) => x.id);
  assert.deepEqual(all, ids);
  assert.equal(new Set(all).size, 120);

  // Boundaries: exactly limit older messages means has_more false; before the oldest is empty.
  const exact = await history(channel, { before_id: ids[50], limit: 50 });
  assert.deepEqual(exact.messages.map((x) => x.id), ids.slice(0, 50));
  assert.equal(exact.has_more, false);
  const oneLess = await history(channel, { before_id: ids[50], limit: 49 });
  assert.equal(oneLess.has_more, true);
  const empty = await history(channel, { before_id: ids[0], limit: 10 });
  assert.deepEqual(empty, { messages: [], has_more: false });
  const max = await history(channel, { before_id: null, limit: 200 });
  assert.equal(max.messages.length, 120);
  assert.equal(max.has_more, false);
  // limit omitted: the protocol default (50).
  const dflt = await history(channel, {});
  assert.equal(dflt.messages.length, 50);
  await disconnect(socket);
});

test('bad history params get "invalid params" and the server keeps serving', async () => {
  const socket = connect('badparams');
  const { channel } = await joinRoom(socket, 'h-badparams');
  const id = await publish(channel, 'only');
  for (const payload of [{ limit: 0 }, { limit: 201 }, { limit: -1 }, { before_id: 'x', limit: 10 },
    { before_id: -5, limit: 10 }, { limit: 'ten' }, { limit: 1.5 }]) {
    const r = await push(channel, 'history', payload);
    assert.deepEqual(r, { error: { reason: 'invalid params' } }, `history ${JSON.stringify(payload)}`);
  }
  const ok = await history(channel, { before_id: null, limit: 10 });
  assert.deepEqual(ok.messages.map((m) => m.id), [id]);
  assert.ok(socket.isConnected());
  await disconnect(socket);
});

test('history on a topic not joined is refused with "unmatched topic" (phoenix-channels-protocol 8.7)', async () => {
  const socket = connect('nojoin');
  const channel = socket.channel('room:h-nojoin', {});
  await waitFor(() => socket.isConnected(), 'connected');
  // A push on a channel that never joined is buffered by phoenix.js; send the frame by hand.
  const reply = new Promise((resolve) => {
    const ref = socket.makeRef();
    socket.onMessage((msg) => { if (msg.ref === ref) resolve(msg.payload); });
    socket.push({ topic: 'room:h-nojoin', event: 'history', payload: { limit: 10 }, ref, join_ref: null });
  });
  const payload = await Promise.race([reply, sleep(kWait).then(() => null)]);
  assert.deepEqual(payload, { status: 'error', response: { reason: 'unmatched topic' } });
  void channel;
  await disconnect(socket);
});

test('rejoin with last_seen_id recovers exactly the missed messages in order', async () => {
  const room = 'h-recover';
  const pubSocket = connect('pub');
  const pub = await joinRoom(pubSocket, room);
  const seen = await publishAll(pub.channel, ['r1', 'r2', 'r3']);
  const lastSeen = Math.max(...seen);

  const missed = await publishAll(pub.channel, ['m1', 'm2', 'm3', 'm4'], 1);
  const bob = connect('bob');
  const j = await joinRoom(bob, room, { last_seen_id: lastSeen });
  assert.equal(j.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
  await waitFor(() => j.received.length >= 4, 'the 4 missed messages', kWait);
  const live = await publish(pub.channel, 'after');
  await waitFor(() => j.received.some((m) => m.id === live), 'the live message', kWait);
  await sleep(100);
  assert.deepEqual(j.received.map((m) => m.id), [...missed, live]);
  assert.deepEqual(j.received.map((m) => m.body), ['m1', 'm2', 'm3', 'm4', 'after']);

  // Nothing missed: recovered, nothing replayed.
  const carol = connect('carol');
  const c = await joinRoom(carol, room, { last_seen_id: live });
  assert.equal(c.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
  await sleep(200);
  assert.deepEqual(c.received, []);
  // A plain join replays nothing and replies with the read state only.
  const dave = connect('dave');
  const d = await joinRoom(dave, room);
  assert.deepEqual(d.reply, { last_read_id: 0, unread: 8 });
  await sleep(200);
  assert.deepEqual(d.received, []);
  for (const s of [pubSocket, bob, carol, dave]) await disconnect(s);
});

test('rejoin with last_seen_id while another client publishes a burst: every id once, in order, no gap', async () => {
  // Its own server: the recovery limit must exceed what the burst can add (default 1000).
  const srv2 = await startServer({ args: ['--shards', '2', '--rate', '100000', '--rate-burst', '100000'] });
  const open = [];
  const connect2 = (user) => {
    const s = new Socket(srv2.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name: user }) },
      reconnectAfterMs: () => 60000 });
    s.connect();
    open.push(s);
    return s;
  };
  try {
    const room = 'h-recover-race';
    const pub = await joinRoom(connect2('racer-pub'), room);
    for (let round = 0; round < 8; round++) {
      const lastSeen = await publish(pub.channel, `seen ${round}`);
      const missed = await publishAll(pub.channel, [`miss ${round}.a`, `miss ${round}.b`], 1);
      let acked = 0;
      const bodies = Array.from({ length: 120 }, (_, i) => `race ${round}.${i}`);
      const burst = (async () => {
        const ids = [];
        let next = 0;
        const lane = async () => {
          while (next < bodies.length) {
            const i = next++;
            ids[i] = await publish(pub.channel, bodies[i]);
            acked++;
          }
        };
        await Promise.all([lane(), lane(), lane(), lane()]);
        return ids;
      })();
      // Vary where in the burst the rejoin lands.
      await waitFor(() => acked >= round * 10, `round ${round}: burst at ${round * 10}`, kWait);
      const j = await joinRoom(connect2(`racer${round}`), room, { last_seen_id: lastSeen });
      assert.equal(j.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
      const ids = await burst;
      const lastId = Math.max(...ids);
      await waitFor(() => j.received.some((m) => m.id === lastId), `round ${round}: last id ${lastId}`, kWait);
      await sleep(50);
      const got = j.received.map((m) => m.id);
      const expected = [...missed, ...ids.slice().sort((a, b) => a - b)];
      assert.deepEqual(got, expected, `round ${round}: recovered + live must be every id after ${lastSeen} once, in order`);
    }
  } finally {
    for (const s of open) s.disconnect();
    await srv2.stop();
  }
});

test('more missed messages than --recovery-limit gives recovered: false and no replay', async () => {
  const room = 'h-recover-limit';
  const pubSocket = connect('limpub');
  const pub = await joinRoom(pubSocket, room);
  const lastSeen = await publish(pub.channel, 'seen');
  await publishAll(pub.channel, ['1', '2', '3', '4', '5'], 1);
  // Exactly the limit (5) missing: still recovered.
  const at = await joinRoom(connect('atlimit'), room, { last_seen_id: lastSeen });
  assert.equal(at.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
  await waitFor(() => at.received.length === 5, 'five replayed', kWait);
  await publish(pub.channel, '6');
  const over = await joinRoom(connect('overlimit'), room, { last_seen_id: lastSeen });
  assert.equal(over.reply.recovered, false);  // (+ last_read_id/unread: read_state.test.mjs)
  const live = await publish(pub.channel, 'live');
  await waitFor(() => over.received.length > 0, 'the live message', kWait);
  await sleep(100);
  assert.deepEqual(over.received.map((m) => m.id), [live]);
  // The client then pages with history.
  const page = await history(over.channel, { before_id: live, limit: 200 });
  assert.deepEqual(page.messages.map((m) => m.body), ['seen', '1', '2', '3', '4', '5', '6']);
  await disconnect(pubSocket);
});

test('last_seen_id beyond the newest id and of an unknown room', async () => {
  const pubSocket = connect('future');
  const pub = await joinRoom(pubSocket, 'h-future');
  const id = await publish(pub.channel, 'one');
  const j = await joinRoom(connect('future2'), 'h-future', { last_seen_id: id + 1000 });
  assert.equal(typeof j.reply.recovered, 'boolean', JSON.stringify(j.reply));
  const fresh = await joinRoom(connect('fresh'), 'h-never-used', { last_seen_id: 0 });
  assert.equal(fresh.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
  await sleep(100);
  assert.deepEqual(fresh.received, []);
  const bad = await new Promise((resolve) => {
    pubSocket.channel('room:h-future', { last_seen_id: 'x' }).join(kWait)
      .receive('ok', (r) => resolve({ ok: r })).receive('error', (e) => resolve({ error: e }))
      .receive('timeout', () => resolve({ timeout: true }));
  });
  assert.deepEqual(bad, { error: { reason: 'invalid params' } });
  await disconnect(pubSocket);
});

test('HTTP history equals the push result; 400, 404, 401, 403', async () => {
  const room = 'h-http';
  const socket = connect('httpuser');
  const { channel } = await joinRoom(socket, room);
  const ids = await publishAll(channel, Array.from({ length: 30 }, (_, i) => `http ${i}`), 1);
  const token = mintToken('reader', { name: 'reader' });

  for (const [query, payload] of [
    ['?limit=10', { before_id: null, limit: 10 }],
    [`?before=${ids[10]}&limit=5`, { before_id: ids[10], limit: 5 }],
    [`?before=${ids[3]}&limit=200`, { before_id: ids[3], limit: 200 }],
    ['', {}],
  ]) {
    const res = await httpMessages(room, query, token);
    assert.equal(res.status, 200, query);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = await res.json();
    assert.deepEqual(body, await history(channel, payload), `GET ${query} vs history ${JSON.stringify(payload)}`);
  }
  for (const query of ['?limit=abc', '?limit=0', '?limit=201', '?before=-1', '?before=x&limit=5', '?limit=-3']) {
    const res = await httpMessages(room, query, token);
    assert.equal(res.status, 400, query);
    await res.arrayBuffer();
  }
  const unknown = await httpMessages('h-no-such-room', '?limit=5', token);
  assert.equal(unknown.status, 404);
  await unknown.arrayBuffer();
  const noToken = await httpMessages(room, '?limit=5');
  assert.equal(noToken.status, 401);
  await noToken.arrayBuffer();
  for (const bad of ['garbage', mintToken('mallory', { secret: 'wrong-secret' }), mintToken('old', { exp: 1000 })]) {
    const res = await httpMessages(room, '?limit=5', bad);
    assert.equal(res.status, 403, `token ${bad.slice(0, 20)}`);
    await res.arrayBuffer();
  }
  // The auth scheme is case-insensitive (RFC 9110), as on the server API: same answer.
  const lower = await fetch(`${srv.url}/api/rooms/${room}/messages?limit=10`,
    { headers: { Authorization: `bearer  ${token}` }, signal: AbortSignal.timeout(kWait) });
  assert.equal(lower.status, 200);
  assert.deepEqual(await lower.json(), await history(channel, { before_id: null, limit: 10 }));
  // A rooms claim that excludes the room.
  const restricted = await httpMessages(room, '?limit=5', mintToken('r', { rooms: ['elsewhere'] }));
  assert.equal(restricted.status, 403);
  await restricted.arrayBuffer();
  await disconnect(socket);
});

test('after a graceful restart on the same data dir history is there and ids continue', async () => {
  const room = 'h-restart';
  let socket = connect('restarter');
  let j = await joinRoom(socket, room);
  const ids = await publishAll(j.channel, Array.from({ length: 25 }, (_, i) => `before ${i}`));
  const before = await allHistory(j.channel, 10);
  await disconnect(socket);
  const stopped = await srv.stop();
  assert.deepEqual(stopped, { code: 0, signal: null }, srv.output());

  srv = await startServer({ args: kArgs, dataDir });
  socket = connect('restarter');
  j = await joinRoom(socket, room);
  const after = await allHistory(j.channel, 10);
  assert.deepEqual(after, before);
  assert.deepEqual(after.map((m) => m.id), ids.slice().sort((a, b) => a - b));
  const next = await publish(j.channel, 'after restart');
  assert.equal(next, Math.max(...ids) + 1, 'ids continue right after the highest');
  // The other rooms' history survived too.
  const paging = await joinRoom(socket, 'h-paging');
  const page = await history(paging.channel, { before_id: null, limit: 200 });
  assert.equal(page.messages.length, 120);
  await disconnect(socket);
});

// Retention runs on the storage thread every --retention-sweep-ms (a minute by default); these
// servers sweep every 100 ms so the trimming shows within a second or two.
const kRetentionArgs = ['--shards', '2', '--rate', '100000', '--rate-burst', '100000',
  '--retention-sweep-ms', '100'];

async function retentionDeleted(server) {
  const metrics = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(kWait) })).text();
  const m = metrics.match(/^rtchat_storage_retention_deleted_total(?:\{[^}]*\})? (\d+)/m);
  assert.ok(m, `no retention counter in:\n${metrics}`);
  return Number(m[1]);
}

// Opens one phoenix socket on server as user; the caller disconnects it.
function connectTo(server, user) {
  const s = new Socket(server.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name: user }) },
    reconnectAfterMs: () => 60000 });
  s.connect();
  return s;
}

test('retention by count trims each room to the newest N, on disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtchat-retention-'));
  let server = await startServer({ args: [...kRetentionArgs, '--retention-max-messages', '10'], dataDir: dir });
  let s = connectTo(server, 'ret');
  try {
    const { channel } = await joinRoom(s, 'h-retention');
    const ids = await publishAll(channel, Array.from({ length: 40 }, (_, i) => `ret ${i}`), 1);
    const small = await joinRoom(s, 'h-retention-small');
    const smallIds = await publishAll(small.channel, ['s1', 's2', 's3'], 1);
    await waitFor(async () => (await history(channel, { limit: 200 })).messages.length <= 10,
      'retention to run', 10000);
    const page = await history(channel, { limit: 200 });
    assert.deepEqual(page.messages.map((m) => m.id), ids.slice(30), 'the newest 10 are kept');
    assert.deepEqual(page.messages.map((m) => m.body), Array.from({ length: 10 }, (_, i) => `ret ${30 + i}`));
    assert.equal(page.has_more, false);
    // Pages of 3 walk the same 10 with an exact has_more, and nothing older is reachable.
    assert.deepEqual((await allHistory(channel, 3)).map((m) => m.id), ids.slice(30));
    const older = await history(channel, { before_id: ids[30], limit: 200 });
    assert.deepEqual([older.messages, older.has_more], [[], false]);
    assert.deepEqual((await history(small.channel, { limit: 200 })).messages.map((m) => m.id), smallIds);
    assert.equal(await retentionDeleted(server), 30);
    const next = await publish(channel, 'next');
    assert.equal(next, ids[39] + 1, 'ids continue after a trim');
    // The sweep repeats: the 11th message makes the oldest kept one go.
    await waitFor(async () => (await history(channel, { limit: 200 })).messages.length <= 10,
      'the next sweep', 10000);
    const kept = [...ids.slice(31), next];
    assert.deepEqual((await history(channel, { limit: 200 })).messages.map((m) => m.id), kept);
    assert.equal(await retentionDeleted(server), 31);
    s.disconnect();
    assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.output());

    // The trim is in the SQLite file: a server without retention on the same dir sees the same.
    assert.ok(existsSync(join(dir, 'rtchat.db')), `no SQLite file in ${readdirSync(dir)}`);
    server = await startServer({ args: kArgs, dataDir: dir });
    s = connectTo(server, 'ret');
    const again = await joinRoom(s, 'h-retention');
    assert.deepEqual((await allHistory(again.channel, 4)).map((m) => m.id), kept);
  } finally {
    s.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('retention by age drops what is older than --retention-max-age, keeping a room\'s newest', async () => {
  const server = await startServer({ args: [...kRetentionArgs, '--retention-max-age', '2'] });
  const s = connectTo(server, 'aged');
  try {
    const { channel } = await joinRoom(s, 'h-retention-age');
    const old = await publishAll(channel, ['a0', 'a1', 'a2', 'a3', 'a4'], 1);
    await sleep(1200);
    const young = await publishAll(channel, ['b0', 'b1', 'b2', 'b3', 'b4'], 1);
    const all = (await history(channel, { limit: 200 })).messages;
    assert.equal(all.length, 10, 'nothing is 2 s old yet');
    const oldestTs = all[0].ts;
    const youngTs = all[5].ts;
    assert.ok(youngTs - all[4].ts >= 1000, `${youngTs - all[4].ts} ms between the two groups`);
    // The first five pass 2 s at least 1 s before the last five do: they must be gone (all five:
    // a sweep may land between two of them) before the first young one is 2 s old.
    await waitFor(async () => (await history(channel, { limit: 200 })).messages.length <= 5,
      'the old messages to expire', youngTs + 2000 - Date.now());
    assert.ok(Date.now() - oldestTs >= 2000, `trimmed ${Date.now() - oldestTs} ms after the oldest was sent`);
    assert.deepEqual((await allHistory(channel, 2)).map((m) => m.id), young, 'only the young ones are left');
    assert.ok(old.every((id) => id < young[0]));
    // Once everything is too old the newest stays: it carries the room's last id.
    await waitFor(async () => (await history(channel, { limit: 200 })).messages.length === 1,
      'the young messages to expire', 10000);
    const page = await history(channel, { limit: 200 });
    assert.deepEqual(page.messages.map((m) => [m.id, m.body]), [[young[4], 'b4']]);
    assert.equal(page.has_more, false);
    assert.equal(await retentionDeleted(server), 9);
    assert.equal(await publish(channel, 'c0'), young[4] + 1);
  } finally {
    s.disconnect();
    await server.stop();
  }
});

test('--retention-sweep-ms out of range: the server refuses to start and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtchat-sweep-'));
  try {
    for (const bad of ['0', '99', '86400001', 'soon']) {
      await assert.rejects(startServer({ args: ['--retention-sweep-ms', bad], dataDir: dir }),
        /server exited \d+:[\s\S]*--retention-sweep-ms/, `--retention-sweep-ms ${bad}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--storage memory: the same history and recovery behaviour (nothing survives a restart)', async () => {
  const mem = await startServer({ args: ['--storage', 'memory', '--rate', '100000', '--rate-burst', '100000'] });
  const open = [];
  const connectMem = (user) => {
    const s = new Socket(mem.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name: user }) },
      reconnectAfterMs: () => 60000 });
    s.connect();
    open.push(s);
    return s;
  };
  try {
    const pub = await joinRoom(connectMem('mempub'), 'h-memory');
    const ids = [];
    for (let i = 0; i < 60; i++) ids.push(await publish(pub.channel, `mem ${i}`));
    assertStrictlyIncreasing(ids, 'memory ids');
    const page = await history(pub.channel, { before_id: null, limit: 50 });
    assert.deepEqual(page.messages.map((m) => m.id), ids.slice(10));
    assert.equal(page.has_more, true);
    const older = await history(pub.channel, { before_id: ids[10], limit: 50 });
    assert.equal(older.has_more, false);
    assert.deepEqual(older.messages.map((m) => m.id), ids.slice(0, 10));
    const j = await joinRoom(connectMem('memrecover'), 'h-memory', { last_seen_id: ids[55] });
    assert.equal(j.reply.recovered, true);  // (+ last_read_id/unread: read_state.test.mjs)
    await waitFor(() => j.received.length === 4, 'four recovered', kWait);
    assert.deepEqual(j.received.map((m) => m.id), ids.slice(56));
    const res = await fetch(`${mem.url}/api/rooms/h-memory/messages?limit=5`,
      { headers: { Authorization: `Bearer ${mintToken('r')}` }, signal: AbortSignal.timeout(kWait) });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).messages.map((m) => m.id), ids.slice(55));
  } finally {
    for (const s of open) s.disconnect();
    await mem.stop();
  }
});
