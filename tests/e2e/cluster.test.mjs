// End-to-end: several rtchat-server nodes joined through a real redis-server (--cluster). Clients
// on different nodes share rooms (one order for everybody), presence (one key, metas from every
// node), history (the same ids from every node); a node killed with SIGKILL leaves presence on the
// others within the stated bound; Redis stopped and started again loses no acknowledged message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Presence, Socket } from 'phoenix';
import WebSocket from 'ws';
import { spawnPeer } from './lib/peer.mjs';
import { freePort, redisCommand as redisCommandAt, startRedis as startRedisAt } from './lib/redis.mjs';
import { mintToken, sleep, startServer, TEST_SECRET, waitFor } from './lib/server.mjs';

const LOADTEST_BIN = process.env.RTCHAT_LOADTEST_BIN;
const NODE_DOWN_BOUND_MS = 5000;  // docs/cluster.md: liveness TTL 3 s + check every 1 s

let redis;
let redisPort;
let redisDir;
const nodes = [];
const sockets = new Set();

// Both uses end with an integer reply (PUBSUB NUMSUB, HLEN).
const redisCommand = (...args) => redisCommandAt(redisPort, args, /:-?\d+\r\n$/);
const startRedis = () => startRedisAt(redisPort, redisDir);

// Subscribers of a room's channel (PUBSUB NUMSUB): one per node with members in the room.
async function subscribers(room) {
  const reply = await redisCommand('PUBSUB', 'NUMSUB', `rtchat:chan:${room}`);
  return Number(reply.trim().split('\r\n').pop().replace(':', ''));
}

async function startNode(id) {
  const n = await startServer({ args: ['--shards', '2', '--cluster', `redis://127.0.0.1:${redisPort}`, '--node-id', id] });
  n.id = id;
  nodes.push(n);
  return n;
}

before(async () => {
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'rtchat-redis-'));
  redis = await startRedis();
  await startNode('A');
  await startNode('B');
  await startNode('C');
});

after(async () => {
  // The link's trouble reports, for whoever reads a CI log (Redis stops once on purpose).
  for (const n of nodes) {
    for (const l of n.output().split('\n')) {
      if (/cluster_(link_down|pipeline_failed|gap_skipped|bad_payload|publish_failed)/.test(l)) console.log(`# ${n.id}: ${l}`);
    }
  }
  for (const s of sockets) s.disconnect();
  for (const n of nodes) await n.stop();
  if (redis) await redis.stop();
  rmSync(redisDir, { recursive: true, force: true });
});

function connect(node, user, name) {
  const s = new Socket(node.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name }) } });
  s.connect();
  sockets.add(s);
  return s;
}

function joinChannel(channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    channel.join(timeoutMs)
      .receive('ok', resolve)
      .receive('error', (e) => reject(new Error(`join error ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

function push(channel, event, payload, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload, timeoutMs)
      .receive('ok', resolve)
      .receive('error', (e) => reject(Object.assign(new Error(`push error ${JSON.stringify(e)}`), { reply: e })))
      .receive('timeout', () => reject(new Error(`push ${event} timeout`)));
  });
}

// A joined member with its received messages and a Presence view.
async function member(node, user, topic, { device, params = {}, name } = {}) {
  const socket = connect(node, user, name ?? user);
  const channel = socket.channel(topic, { ...(device ? { device } : {}), ...params });
  const got = [];
  channel.on('new_msg', (m) => got.push(m));
  const presence = new Presence(channel);
  let synced = 0;
  presence.onSync(() => { synced++; });
  const reply = await joinChannel(channel);
  await waitFor(() => synced > 0, `${user} presence_state`);
  const view = () => {
    const out = {};
    presence.list((key, { metas }) => { out[key] = metas.map((m) => m.device ?? '').sort(); });
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
  };
  return { socket, channel, got, view, reply, node };
}

async function expectView(m, expected, label, timeoutMs = 5000) {
  const want = JSON.stringify(expected);
  try {
    await waitFor(() => JSON.stringify(m.view()) === want, label, timeoutMs);
  } catch (e) {
    assert.deepEqual(m.view(), expected, `${label}: ${e.message}`);
  }
}

async function history(node, room, query = '') {
  const r = await fetch(`${node.url}/api/rooms/${room}/messages${query}`,
    { headers: { authorization: `Bearer ${mintToken('reader')}` } });
  assert.equal(r.status, 200, `history from node ${node.id}`);
  return r.json();
}

test('messages published on three nodes reach every member once, in one order', async () => {
  const topic = 'room:cluster-order';
  const [a, b, c] = nodes;
  const members = [await member(a, 'ana', topic), await member(b, 'ben', topic), await member(c, 'cid', topic)];
  const perMember = 20;
  const acks = await Promise.all(members.flatMap((m, i) => Array.from({ length: perMember },
    (_, k) => push(m.channel, 'new_msg', { body: `m${i}-${k}` }))));
  const total = members.length * perMember;
  for (const m of members) await waitFor(() => m.got.length >= total, `${m.node.id} got all`, 10000);
  await sleep(200);  // nothing more may arrive (each message once)
  const order = members[0].got.map((m) => m.id);
  for (const m of members) {
    assert.equal(m.got.length, total, `node ${m.node.id}: each message once`);
    assert.deepEqual(m.got.map((x) => x.id), order, `node ${m.node.id}: same order`);
  }
  for (let i = 1; i < order.length; i++) assert.ok(order[i] > order[i - 1], 'ids increase');
  const ackIds = acks.map((r) => r.id).sort((x, y) => x - y);
  assert.deepEqual(ackIds, [...order].sort((x, y) => x - y), 'every ok id was delivered');
  // Per publisher, its messages keep their push order.
  for (let i = 0; i < members.length; i++) {
    const mine = order.map((id) => members[0].got.find((x) => x.id === id).body).filter((s) => s.startsWith(`m${i}-`));
    assert.deepEqual(mine, Array.from({ length: perMember }, (_, k) => `m${i}-${k}`));
  }
  // History: every node answers with the same messages and ids.
  const ha = await history(a, 'cluster-order', '?limit=100');
  const hb = await history(b, 'cluster-order', '?limit=100');
  const hc = await history(c, 'cluster-order', '?limit=100');
  assert.deepEqual(ha.messages.map((m) => m.id), order);
  assert.deepEqual(hb, ha);
  assert.deepEqual(hc, ha);

  // Recovery on another node: a member that saw up to the 10th id gets exactly the rest.
  const late = await member(b, 'lou', topic, { params: { last_seen_id: order[9] } });
  assert.equal(late.reply.recovered, true);
  await waitFor(() => late.got.length >= total - 10, 'catch-up', 5000);
  assert.deepEqual(late.got.map((m) => m.id), order.slice(10));
  for (const m of [...members, late]) m.socket.disconnect();
});

test('presence lists the users of every node; one user on two nodes is one key with two metas', async () => {
  const topic = 'room:cluster-presence';
  const [a, b, c] = nodes;
  const alice = await member(a, 'alice', topic, { device: 'laptop' });
  const bob = await member(b, 'bob', topic);
  const phone = await member(c, 'alice', topic, { device: 'phone' });
  const all = { alice: ['laptop', 'phone'], bob: [''] };
  for (const m of [alice, bob, phone]) await expectView(m, all, `node ${m.node.id} sees everybody`);
  assert.equal(await subscribers('cluster-presence'), 3, 'each node with members subscribes');
  await new Promise((r) => phone.channel.leave().receive('ok', r));
  for (const m of [alice, bob]) await expectView(m, { alice: ['laptop'], bob: [''] }, `${m.node.id}: phone left`);
  // A member joining later on a third node gets the whole state at once.
  const carl = await member(c, 'carl', topic);
  await expectView(carl, { alice: ['laptop'], bob: [''], carl: [''] }, 'late joiner sees every node');
  for (const m of [alice, bob, phone, carl]) m.socket.disconnect();
  // No member left anywhere: no node stays subscribed, and the presence hash is empty.
  await waitFor(async () => (await subscribers('cluster-presence')) === 0, 'unsubscribed after the last leave');
  await waitFor(async () => (await redisCommand('HLEN', 'rtchat:pres:cluster-presence')).trim() === ':0', 'presence hash empty');
});

test('typing reaches the members on the other nodes, not the sender', async () => {
  const topic = 'room:cluster-typing';
  const [a, b, c] = nodes;
  const ta = await member(a, 'tia', topic);
  const tb = await member(b, 'tib', topic);
  const tc = await member(c, 'tic', topic);
  const seen = { a: [], b: [], c: [] };
  ta.channel.on('typing', (p) => seen.a.push(p));
  tb.channel.on('typing', (p) => seen.b.push(p));
  tc.channel.on('typing', (p) => seen.c.push(p));
  await push(ta.channel, 'typing', {});
  await waitFor(() => seen.b.length === 1 && seen.c.length === 1, 'typing on B and C');
  assert.equal(seen.b[0].user_id, 'tia');
  assert.equal(seen.c[0].user_id, 'tia');
  await sleep(200);
  assert.equal(seen.a.length, 0, 'not echoed to the sender');
  for (const m of [ta, tb, tc]) m.socket.disconnect();
});

test('a node killed with SIGKILL: its users leave on the other nodes within the bound', async () => {
  const topic = 'room:cluster-kill';
  const victim = await startNode('D');
  const [a, b] = nodes;
  const watcherA = await member(a, 'wa', topic);
  const watcherB = await member(b, 'wb', topic);
  const peer = await spawnPeer({ wsUrl: victim.wsUrl, token: mintToken('doomed', { name: 'Doomed' }), topic, device: 'd' });
  await expectView(watcherA, { doomed: ['d'], wa: [''], wb: [''] }, 'A sees the peer on D');
  await expectView(watcherB, { doomed: ['d'], wa: [''], wb: [''] }, 'B sees the peer on D');
  const t0 = Date.now();
  await victim.kill9();
  nodes.splice(nodes.indexOf(victim), 1);
  await expectView(watcherA, { wa: [''], wb: [''] }, 'A: the dead node left', NODE_DOWN_BOUND_MS + 1000);
  await expectView(watcherB, { wa: [''], wb: [''] }, 'B: the dead node left', 1000);
  const took = Date.now() - t0;
  assert.ok(took <= NODE_DOWN_BOUND_MS, `left within ${NODE_DOWN_BOUND_MS} ms (took ${took} ms)`);
  console.log(`# node death announced as leave after ${took} ms`);
  await peer.kill();
  // The room keeps working between the survivors.
  await push(watcherA.channel, 'new_msg', { body: 'still here' });
  await waitFor(() => watcherB.got.some((m) => m.body === 'still here'), 'B gets the message');
  watcherA.socket.disconnect();
  watcherB.socket.disconnect();
});

test('Redis stopped and started again: nodes serve locally, resync, nothing acknowledged is lost', async () => {
  const topic = 'room:cluster-redis';
  const [a, b] = nodes;
  const ma = await member(a, 'ra', topic);
  const mb = await member(b, 'rb', topic);
  const acked = [];
  for (let i = 0; i < 10; i++) acked.push((await push(ma.channel, 'new_msg', { body: `before-${i}` })).id);
  await waitFor(() => mb.got.length === 10, 'B got the first ten');

  const stoppedAt = Date.now();
  await redis.stop();
  // Down: the nodes still answer their clients; a publish is refused, never falsely acknowledged.
  await waitFor(async () => {
    try { await push(ma.channel, 'new_msg', { body: 'while-down' }, 2000); return false; } catch (e) {
      return e.reply?.reason === 'cluster unavailable';
    }
  }, 'publish refused while Redis is down', 10000);
  const health = await fetch(`${a.url}/healthz`);
  assert.equal(health.status, 200, 'the node stays alive');
  assert.match(await health.text(), /degraded: cluster link down/);
  assert.equal((await fetch(`${a.url}/readyz`)).status, 503, 'not ready while the link is down');

  console.log(`# publish refused ${Date.now() - stoppedAt} ms after Redis was stopped`);
  redis = await startRedis();
  const restartedAt = Date.now();
  let afterId = 0;
  await waitFor(async () => {
    try { afterId = (await push(ma.channel, 'new_msg', { body: 'after' }, 2000)).id; return true; } catch { return false; }
  }, 'publish works again', 15000);
  console.log(`# publishing works again ${Date.now() - restartedAt} ms after Redis restarted`);
  acked.push(afterId);
  await waitFor(() => mb.got.some((m) => m.body === 'after'), 'B gets the message after the restart', 10000);
  const healthAfter = await fetch(`${a.url}/healthz`);
  assert.equal((await healthAfter.text()).trim(), 'ok');
  assert.equal((await fetch(`${a.url}/readyz`)).status, 200, 'ready again');
  for (let i = 0; i < 5; i++) acked.push((await push(mb.channel, 'new_msg', { body: `b-after-${i}` })).id);
  await waitFor(() => ma.got.filter((m) => m.body.startsWith('b-after-')).length === 5, 'A gets B\'s messages');

  // Every acknowledged id is in the shared history, the same on both nodes, once, in order.
  const ha = await history(a, 'cluster-redis', '?limit=200');
  const hb = await history(b, 'cluster-redis', '?limit=200');
  assert.deepEqual(hb, ha);
  const ids = ha.messages.map((m) => m.id);
  for (const id of acked) assert.ok(ids.includes(id), `acknowledged id ${id} is in history`);
  assert.deepEqual(ids, [...new Set(ids)].sort((x, y) => x - y));
  // Live delivery after the resync is in id order and without repeats on both nodes.
  for (const m of [ma, mb]) {
    const got = m.got.map((x) => x.id);
    assert.deepEqual(got, [...new Set(got)].sort((x, y) => x - y), `node ${m.node.id}: ordered, once`);
  }
  // Presence survived the outage: nobody was announced as gone (liveness keys expired while Redis
  // was down; the reconnect grace and the republished metas keep the view), checked after the
  // grace and a node check have passed.
  await sleep(4500);
  const both = { ra: [''], rb: [''] };
  assert.deepEqual(ma.view(), both);
  assert.deepEqual(mb.view(), both);
  const late = await member(b, 'rc', topic);
  await expectView(late, { ...both, rc: [''] }, 'a join after the outage sees both nodes');
  late.socket.disconnect();
  ma.socket.disconnect();
  mb.socket.disconnect();
});

test('Redis flushed, then at once a node new to the room publishes: no id given twice, one (id, body) list everywhere', async () => {
  const topic = 'room:cluster-flush';
  const [a, b] = nodes;
  const alice = await member(a, 'fa', topic);
  for (let k = 1; k <= 5; k++) assert.equal((await push(alice.channel, 'new_msg', { body: `pre-flush-${k}` })).id, k);
  // Flushed right after A's heartbeat refreshed its canary (PTTL back near the hour), so that A's
  // own next check is about a second away: B's publishes land in that window.
  await waitFor(async () => Number((await redisCommand('PTTL', 'rtchat:canary:A')).trim().slice(1)) > 3600000 - 150,
    'a fresh heartbeat of node A', 5000);
  const flushedAt = Date.now();
  await redisCommandAt(redisPort, ['FLUSHALL']);
  // Bob's node never had the room (its floor is 0): he joins and publishes at once.
  const bob = await member(b, 'fb', topic);
  const oks = [];
  let refused = 0;
  for (let k = 0; oks.length < 3 && k < 200; k++) {
    const body = `after-flush-${k}`;
    const t0 = Date.now();
    try {
      oks.push({ id: (await push(bob.channel, 'new_msg', { body })).id, body });
    } catch (e) {
      assert.equal(e.reply?.reason, 'cluster unavailable', e.message);
      refused++;
      await sleep(50);
    }
    assert.ok(Date.now() - t0 < 2000, `the reply to ${body} is not late`);
  }
  console.log(`# FLUSHALL (one Redis): ${refused} publishes refused, first ok id ${oks[0]?.id} ${Date.now() - flushedAt} ms after it`);
  for (const o of oks) assert.ok(o.id > 5, `${o.body} got id ${o.id}, an id A delivered before the flush`);
  const expected = [1, 2, 3, 4, 5].map((k) => [k, `pre-flush-${k}`]).concat(oks.map((o) => [o.id, o.body]));
  await waitFor(() => alice.got.length >= expected.length && bob.got.length >= oks.length, 'deliveries');
  await sleep(200);
  assert.deepEqual(alice.got.map((m) => [m.id, m.body]), expected, 'A: each id once, nothing refused delivered');
  assert.deepEqual(bob.got.map((m) => [m.id, m.body]), expected.slice(5), 'B: the same (id, body) list');
  const ha = await history(a, 'cluster-flush', '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), expected);
  alice.socket.disconnect();
  bob.socket.disconnect();
});

// docs/cluster.md "Data loss": a room nobody has members in when Redis loses its data is raised
// from the nodes' local stores (every node keeps what it delivered), not only from their live rooms.
test('Redis flushed while a room has no member anywhere: a node new to it continues above the ids stored before', async () => {
  const room = 'cluster-floor';
  const topic = `room:${room}`;
  const [a, b] = nodes;
  const alice = await member(a, 'la', topic);
  for (let k = 1; k <= 5; k++) assert.equal((await push(alice.channel, 'new_msg', { body: `before-${k}` })).id, k);
  alice.socket.disconnect();
  // The room's last member left: A's link unsubscribes and forgets the room (its live floor).
  await waitFor(async () => (await subscribers(room)) === 0, 'node A dropped the room');
  const flushedAt = Date.now();
  await redisCommandAt(redisPort, ['FLUSHALL']);
  const bob = await member(b, 'lb', topic);
  const oks = [];
  let refused = 0;
  for (let k = 0; oks.length < 3 && k < 200; k++) {
    const body = `after-${k}`;
    try {
      oks.push({ id: (await push(bob.channel, 'new_msg', { body })).id, body });
    } catch (e) {
      assert.equal(e.reply?.reason, 'cluster unavailable', e.message);
      refused++;
      await sleep(50);
    }
  }
  console.log(`# FLUSHALL, room without members (one Redis): ${refused} refused, first ok id ${oks[0]?.id} ${Date.now() - flushedAt} ms after it`);
  assert.equal(oks.length, 3, 'bob publishes once the hold is over');
  for (const o of oks) assert.ok(o.id > 5, `${o.body} got id ${o.id}, an id node A stored for "before-${o.id}"`);
  const expected = [1, 2, 3, 4, 5].map((k) => [k, `before-${k}`]).concat(oks.map((o) => [o.id, o.body]));
  const bodyOf = new Map(expected);
  // History: A has every message once; B (which never had 1-5) has no other body under any id.
  const ha = await history(a, room, '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), expected, 'history on A');
  const hb = await history(b, room, '?limit=100');
  for (const m of hb.messages) assert.equal(m.body, bodyOf.get(m.id), `B's history, id ${m.id}`);
  assert.deepEqual(hb.messages.slice(-3).map((m) => [m.id, m.body]), oks.map((o) => [o.id, o.body]));
  // Alice's client holds 1-5: recovering on B from 5 gives exactly bob's messages.
  const back = await member(b, 'la', topic, { params: { last_seen_id: 5 } });
  assert.equal(back.reply.recovered, true, 'ids 6.. are all in the stream');
  await waitFor(() => back.got.length >= 3, 'the catch-up from 5');
  await sleep(100);
  assert.deepEqual(back.got.map((m) => [m.id, m.body]), oks.map((o) => [o.id, o.body]));
  // From 3 on B: ids 4-5 are neither in the stream nor in B's copy: recovered false, or the truth.
  const gap = await member(b, 'lc', topic, { params: { last_seen_id: 3 } });
  await sleep(200);
  if (gap.reply.recovered) {
    assert.deepEqual(gap.got.map((m) => [m.id, m.body]), expected.slice(3), 'a recovery from 3 is whole');
  } else {
    assert.equal(gap.reply.recovered, false);
  }
  for (const m of [bob, back, gap]) m.socket.disconnect();
});

function runLoadtest(args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    const proc = spawn(LOADTEST_BIN, [...args, '--json', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', () => {});
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(stdout.trim().split('\n').pop() || ''); } catch { /* null: asserted */ }
      resolve({ code, json, stdout });
    });
  });
}

test('load tool against two nodes: publishers on one, members on both, nothing lost or reordered',
  { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
    const [a, b] = nodes;
    const prefix = `lt${Date.now()}`;
    const common = ['--host', '127.0.0.1', '--rooms', '5', '--jwt-secret', TEST_SECRET, '--room-prefix', prefix];
    // Members on B first (they only receive), then publishers and members on A.
    const onB = runLoadtest([...common, '--port', String(b.port), '--connections', '50', '--publishers', '0',
      '--warmup', '0', '--duration', '8']);
    await sleep(1500);
    const onA = await runLoadtest([...common, '--port', String(a.port), '--connections', '50', '--publishers', '10',
      '--rate', '5', '--warmup', '1', '--duration', '3', '--strict']);
    const rb = await onB;
    const ja = onA.json;
    const jb = rb.json;
    assert.ok(ja && jb, `json results: ${onA.stdout}\n${rb.stdout}`);
    assert.equal(onA.code, 0, onA.stdout);
    assert.equal(ja.connections_established, 50);
    assert.equal(jb.connections_established, 50);
    assert.equal(ja.acked, ja.published);
    assert.equal(ja.delivered, ja.expected_deliveries);
    assert.equal(ja.lost, 0);
    assert.equal(ja.order_violations, 0);
    assert.equal(ja.duplicates, 0);
    // Same room sizes on both nodes: B's members got exactly what A's did, in order, once.
    assert.equal(jb.delivered, ja.delivered, 'every message reached the members on the other node');
    assert.equal(jb.order_violations, 0);
    assert.equal(jb.duplicates, 0);
  });
