// End-to-end: room presence over two shards with the official phoenix.js Presence. One key per
// user, one meta per connection (device label carried); a graceful disconnect, an abrupt process
// death and a leave each remove exactly their own meta; concurrent churn converges everywhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Presence, Socket } from 'phoenix';
import WebSocket from 'ws';
import { spawnPeer } from './lib/peer.mjs';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';

let srv;
const openSockets = new Set();
before(async () => { srv = await startServer({ args: ['--shards', '2'] }); });
after(async () => {
  for (const s of openSockets) s.disconnect();
  await srv?.stop();
});

async function shardCounts() {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const counts = [0, 0];
  for (const m of text.matchAll(/^rtchat_websockets\{shard="(\d+)"\} (\d+)$/gm)) {
    counts[Number(m[1])] = Number(m[2]);
  }
  return counts;
}

function connectRaw(user, name) {
  const s = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name }) } });
  s.connect();
  openSockets.add(s);
  return s;
}

function disconnect(s) {
  openSockets.delete(s);
  return new Promise((resolve) => s.disconnect(resolve));
}

// Opens a socket and learns its shard from the per-shard gauge (connections are opened one at a
// time, so the shard whose gauge grew is this socket's).
async function connectTracked(user, name) {
  const before = await shardCounts();
  const s = connectRaw(user, name);
  await waitFor(() => s.isConnected(), `${user} connected`);
  let shard = -1;
  await waitFor(async () => {
    const now = await shardCounts();
    const grew = now.map((n, i) => n - before[i]);
    if (grew[0] + grew[1] !== 1) return false;
    shard = grew[0] === 1 ? 0 : 1;
    return true;
  }, `${user} counted by a shard`);
  return { socket: s, shard };
}

// A socket that lives on the wanted shard; sockets that land elsewhere are closed again.
async function connectOnShard(user, shard, name) {
  for (let attempt = 0; attempt < 40; attempt++) {
    const t = await connectTracked(user, name);
    if (t.shard === shard) return t.socket;
    await disconnect(t.socket);
    await waitFor(async () => {
      const c = await shardCounts();
      return c[t.shard] < 1000 && c[0] + c[1] === openSockets.size;
    }, 'gauge back down');
  }
  throw new Error(`could not place ${user} on shard ${shard}`);
}

function joinChannel(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`join ${channel.topic}: no reply`)), timeoutMs + 500);
    channel.join(timeoutMs)
      .receive('ok', (r) => { clearTimeout(timer); resolve(r); })
      .receive('error', (e) => { clearTimeout(timer); reject(new Error(`join error ${JSON.stringify(e)}`)); })
      .receive('timeout', () => { clearTimeout(timer); reject(new Error('join timeout')); });
  });
}

function leaveChannel(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    channel.leave(timeoutMs).receive('ok', resolve).receive('timeout', () => reject(new Error('leave timeout')));
  });
}

// A joined channel with a Presence tracker. view() -> {user: [device or '' per meta, sorted]}.
async function member(socket, topic, device) {
  const channel = socket.channel(topic, device ? { device } : {});
  const presence = new Presence(channel);
  let synced = 0;
  presence.onSync(() => { synced++; });
  await joinChannel(channel);
  const view = () => {
    const out = {};
    presence.list((key, { metas }) => {
      out[key] = metas.map((m) => m.device ?? '').sort();
    });
    return out;
  };
  const metas = (key) => {
    let found = [];
    presence.list((k, { metas: m }) => { if (k === key) found = m; });
    return found;
  };
  await waitFor(() => synced > 0, `${topic} presence_state`);
  return { socket, channel, presence, view, metas };
}

const sortKeys = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

async function expectView(m, expected, label, timeoutMs = 5000) {
  const want = JSON.stringify(sortKeys(expected));
  try {
    await waitFor(() => JSON.stringify(sortKeys(m.view())) === want, label, timeoutMs);
  } catch (e) {
    assert.deepEqual(sortKeys(m.view()), sortKeys(expected), `${label}: ${e.message}`);
  }
}

test('presence across shards: devices, graceful disconnect, SIGKILL, last leave', async () => {
  const topic = 'room:presence-main';
  const aliceLaptop = await connectOnShard('alice', 0, 'Alice');
  const bobSocket = await connectOnShard('bob', 1, 'Bob');
  const counts = await shardCounts();
  assert.ok(counts[0] > 0 && counts[1] > 0, `both shards have clients: ${counts}`);

  const alice = await member(aliceLaptop, topic, 'laptop');
  const bob = await member(bobSocket, topic);
  const both = { alice: ['laptop'], bob: [''] };
  await expectView(alice, both, 'alice sees alice and bob');
  await expectView(bob, both, 'bob sees alice and bob');
  assert.equal(bob.metas('alice')[0].name, 'Alice', 'display name from the token');
  assert.equal(typeof bob.metas('alice')[0].phx_ref, 'string');
  assert.ok(Number.isInteger(bob.metas('alice')[0].online_at));

  // Second device on the other shard: one key, two metas.
  const phoneSocket = await connectOnShard('alice', 1, 'Alice');
  const phone = await member(phoneSocket, topic, 'phone');
  const twoDevices = { alice: ['laptop', 'phone'], bob: [''] };
  for (const [who, m] of [['alice', alice], ['bob', bob], ['phone', phone]]) {
    await expectView(m, twoDevices, `${who} sees alice with two metas`);
  }
  const refs = bob.metas('alice').map((x) => x.phx_ref);
  assert.equal(new Set(refs).size, 2, 'distinct phx_refs');

  // Graceful disconnect of the phone: only its meta leaves.
  const laptopRef = bob.metas('alice').find((x) => x.device === 'laptop').phx_ref;
  await disconnect(phoneSocket);
  await expectView(bob, both, 'bob: phone meta gone after disconnect');
  await expectView(alice, both, 'alice: phone meta gone after disconnect');
  assert.equal(bob.metas('alice')[0].phx_ref, laptopRef, 'the laptop meta is untouched');

  // A device in another process, killed abruptly.
  const tablet = await spawnPeer({ wsUrl: srv.wsUrl, token: mintToken('alice', { name: 'Alice' }),
    topic, device: 'tablet' });
  try {
    await expectView(bob, { alice: ['laptop', 'tablet'], bob: [''] }, 'bob sees the tablet');
  } finally {
    await tablet.kill('SIGKILL');
  }
  await expectView(bob, both, 'bob: tablet meta gone after SIGKILL');
  await expectView(alice, both, 'alice: tablet meta gone after SIGKILL');
  assert.equal(bob.metas('alice')[0].phx_ref, laptopRef);

  // The last alice socket leaves the room: alice is gone.
  await leaveChannel(alice.channel);
  await expectView(bob, { bob: [''] }, 'alice gone from bob\'s list');

  // And comes back on the laptop socket: a fresh state for her, a join diff for bob.
  const again = await member(aliceLaptop, topic, 'laptop');
  await expectView(again, both, 'alice rejoined sees both');
  await expectView(bob, both, 'bob sees alice again');
  await disconnect(aliceLaptop);
  await expectView(bob, { bob: [''] }, 'alice gone after her last socket closed');
  await disconnect(bobSocket);
});

test('a duplicate join on one socket replaces its meta instead of adding one', async () => {
  const topic = 'room:presence-dup';
  const observer = await member(connectRaw('obs-dup'), topic);
  const s = connectRaw('dup');
  await member(s, topic, 'first');
  await expectView(observer, { 'obs-dup': [''], dup: ['first'] }, 'first join');
  // A second channel object for the same topic: phoenix.js leaves the old one, the server must
  // end up with exactly one meta for this socket either way.
  await member(s, topic, 'second');
  await expectView(observer, { 'obs-dup': [''], dup: ['second'] }, 'one meta after re-join');
  await disconnect(s);
  await expectView(observer, { 'obs-dup': [''] }, 'gone after disconnect');

  // The same without the client's courtesy leave: two phx_join frames on one raw socket. The
  // server closes the old join (phx_close with its join_ref) and keeps one meta.
  const raw = await rawSocket('dupraw');
  raw.send(['1', '1', topic, 'phx_join', { device: 'one' }]);
  raw.send(['2', '2', topic, 'phx_join', { device: 'two' }]);
  await waitFor(() => raw.frames.some((f) => f[0] === '2' && f[3] === 'presence_state'),
    'presence_state for the second join');
  await waitFor(() => raw.frames.some((f) => f[0] === '1' && f[3] === 'phx_close'), 'old join closed');
  await expectView(observer, { 'obs-dup': [''], dupraw: ['two'] }, 'one meta after a raw double join');
  raw.ws.terminate();
  await expectView(observer, { 'obs-dup': [''] }, 'raw socket gone');
  await disconnect(observer.socket);
});

// A bare ws client speaking Phoenix v2 JSON, for frame orders phoenix.js never produces.
async function rawSocket(user) {
  const ws = new WebSocket(`${srv.wsUrl}/websocket?token=${mintToken(user)}&vsn=2.0.0`);
  const frames = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw socket did not open')), 5000);
    ws.on('open', () => { clearTimeout(timer); resolve(); });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  return { ws, frames, send: (f) => ws.send(JSON.stringify(f)) };
}

// Opens n sockets (users from userOf(i)) and makes sure both shards hold some of them.
async function openSpread(n, userOf) {
  const sockets = [];
  for (let i = 0; i < n; i++) sockets.push(connectRaw(userOf(i), userOf(i).toUpperCase()));
  await waitFor(() => sockets.every((s) => s.isConnected()), `${n} sockets connected`, 10000);
  for (let extra = 0; extra < 40; extra++) {
    const c = await shardCounts();
    if (c[0] > 0 && c[1] > 0) break;
    const s = connectRaw(userOf(n + extra), 'extra');
    sockets.push(s);
    await waitFor(() => s.isConnected(), 'extra socket');
  }
  const c = await shardCounts();
  assert.ok(c[0] > 0 && c[1] > 0, `both shards have clients: ${c}`);
  return sockets;
}

test('concurrent joins and leaves of ~40 sockets across both shards converge', async () => {
  const topic = 'room:presence-churn';
  // 30 users, 10 of them with a second device: 40 sockets.
  const userOf = (i) => `c${String(i % 30).padStart(2, '0')}`;
  const sockets = await openSpread(40, userOf);
  const observers = [];
  for (let i = 0; i < 3; i++) observers.push(await member(connectRaw(`watch${i}`), topic));

  // Everyone joins at once.
  const device = (i) => `d${i}`;
  const members = await Promise.all(sockets.map((s, i) => member(s, topic, device(i))));
  const expected = {};
  const add = (user, dev) => { (expected[user] ??= []).push(dev); };
  for (let i = 0; i < 3; i++) add(`watch${i}`, '');
  members.forEach((_, i) => add(userOf(i), device(i)));
  for (const k of Object.keys(expected)) expected[k].sort();
  for (const [i, o] of observers.entries()) await expectView(o, expected, `observer ${i} after joins`, 10000);

  // Churn: some leave the channel, some close the socket, some leave and rejoin, all at once.
  const leaving = new Set(), closing = new Set(), rejoining = new Set();
  members.forEach((_, i) => {
    if (i % 5 === 0) leaving.add(i);
    else if (i % 5 === 1) closing.add(i);
    else if (i % 5 === 2) rejoining.add(i);
  });
  const actions = members.map(async (m, i) => {
    await sleep((i * 7) % 23);
    if (leaving.has(i)) return leaveChannel(m.channel);
    if (closing.has(i)) return disconnect(m.socket);
    if (rejoining.has(i)) {
      await leaveChannel(m.channel);
      members[i] = await member(m.socket, topic, `${device(i)}b`);
    }
    return undefined;
  });
  await Promise.all(actions);

  const final = {};
  for (let i = 0; i < 3; i++) (final[`watch${i}`] ??= []).push('');
  members.forEach((_, i) => {
    if (leaving.has(i) || closing.has(i)) return;
    (final[userOf(i)] ??= []).push(rejoining.has(i) ? `${device(i)}b` : device(i));
  });
  for (const k of Object.keys(final)) final[k].sort();

  for (const [i, o] of observers.entries()) await expectView(o, final, `observer ${i} converged`, 10000);
  // Members that stayed (including rejoiners, who got a fresh presence_state) agree too.
  for (const [i, m] of members.entries()) {
    if (leaving.has(i) || closing.has(i)) continue;
    await expectView(m, final, `member ${i} converged`, 10000);
  }
  // No duplicate phx_refs anywhere in an observer's view.
  const refs = [];
  observers[0].presence.list((k, { metas }) => metas.forEach((x) => refs.push(x.phx_ref)));
  assert.equal(new Set(refs).size, refs.length);

  await Promise.all([...openSockets].map((s) => disconnect(s)));
});

test('a leave sent before the join reply still removes the meta', async () => {
  const topic = 'room:presence-fast';
  const observer = await member(connectRaw('obs-fast'), topic);
  const sockets = await openSpread(10, (i) => `fast${i}`);
  // join() then leave() in the same tick: phx_join and phx_leave leave back to back.
  await Promise.all(sockets.map((s) => {
    const ch = s.channel(topic, {});
    ch.join();
    return leaveChannel(ch);
  }));
  // The same on raw sockets, both frames in one burst.
  const raws = await Promise.all([0, 1, 2, 3].map((i) => rawSocket(`rawfast${i}`)));
  for (const r of raws) {
    r.send(['1', '1', topic, 'phx_join', {}]);
    r.send(['1', '2', topic, 'phx_leave', {}]);
  }
  await waitFor(() => raws.every((r) => r.frames.some((f) => f[1] === '2' && f[3] === 'phx_reply')),
    'raw leaves answered');
  // Then a join that stays, so we know the server processed everything before it.
  const marker = await member(connectRaw('marker'), topic);
  await sleep(200);
  await expectView(observer, { 'obs-fast': [''], marker: [''] }, 'only observer and marker remain');
  await expectView(marker, { 'obs-fast': [''], marker: [''] }, 'marker sees the same');
  for (const r of raws) r.ws.terminate();
  await Promise.all([...openSockets].map((s) => disconnect(s)));
});
