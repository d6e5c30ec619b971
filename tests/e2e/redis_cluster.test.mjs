// End-to-end: two rtchat-server nodes on a real Redis Cluster (3 masters + 3 replicas, started by
// lib/redis_cluster.mjs) with the official phoenix.js client: one order per room, presence,
// history and recovery across nodes; rooms spread over every master; a killed node leaves
// presence; a master killed with SIGKILL or a room's slot moved under load: every acknowledged
// message is in history once, in order, ids keep increasing, and publishes during the gap get
// errors, never a false ok; FLUSHALL: ids are not reused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Presence, Socket } from 'phoenix';
import WebSocket from 'ws';
import { cli, keySlot, nodeCommand, startRedisCluster } from './lib/redis_cluster.mjs';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';

let rc;
const nodes = [];
const sockets = new Set();

async function startNode(id) {
  const n = await startServer({ args: ['--shards', '2', '--cluster', rc.url, '--node-id', id] });
  n.id = id;
  nodes.push(n);
  return n;
}

before(async () => {
  rc = await startRedisCluster();
  await startNode('A');
  await startNode('B');
});

after(async () => {
  for (const n of nodes) {
    for (const l of n.output().split('\n')) {
      if (/cluster_(link_down|link_up|master_down|map_refreshed|pipeline_failed|gap_skipped|bad_payload|publish_failed|not_replicated|id_regressed|data_lost|floors_restored|liveness_lapsed|node_down|command_failed)/.test(l)) {
        console.log(`# ${n.id}: ${l}`);
      }
    }
  }
  for (const s of sockets) s.disconnect();
  for (const n of nodes) await n.stop();
  if (rc) await rc.stop();
});

function connect(node, user) {
  const s = new Socket(node.wsUrl, { transport: WebSocket, params: { token: mintToken(user, { name: user }) } });
  s.connect();
  sockets.add(s);
  return s;
}

function joinChannel(channel, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    channel.join(timeoutMs)
      .receive('ok', resolve)
      .receive('error', (e) => reject(new Error(`join error ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

// Resolves {ok: true, reply} or {ok: false, error}; a timeout is neither (it rejects).
function push(channel, event, payload, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload, timeoutMs)
      .receive('ok', (reply) => resolve({ ok: true, reply }))
      .receive('error', (error) => resolve({ ok: false, error }))
      .receive('timeout', () => reject(new Error(`push ${event} timeout`)));
  });
}

async function member(node, user, topic, params = {}) {
  const socket = connect(node, user);
  const channel = socket.channel(topic, params);
  const got = [];
  channel.on('new_msg', (m) => got.push(m));
  const presence = new Presence(channel);
  let synced = 0;
  presence.onSync(() => { synced++; });
  const reply = await joinChannel(channel);
  await waitFor(() => synced > 0, `${user} presence_state`);
  const users = () => presence.list((key) => key).sort();
  return { socket, channel, got, users, reply, node };
}

async function history(node, room, query = '') {
  const r = await fetch(`${node.url}/api/rooms/${encodeURIComponent(room)}/messages${query}`,
    { headers: { authorization: `Bearer ${mintToken('reader')}` } });
  assert.equal(r.status, 200, `history from node ${node.id}`);
  return r.json();
}

// Every page of a room's history, oldest first.
async function fullHistory(node, room) {
  const all = [];
  let before;
  for (let i = 0; i < 100; i++) {
    const page = await history(node, room, `?limit=100${before ? `&before=${before}` : ''}`);
    all.unshift(...page.messages);
    if (!page.has_more || page.messages.length === 0) break;
    before = page.messages[0].id;
  }
  return all;
}

function assertIncreasing(ids, label) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${label}: ${ids[i - 1]} then ${ids[i]}`);
}

test('two nodes on a Redis Cluster: one order, presence, history, recovery', async () => {
  const [a, b] = nodes;
  const room = 'rc-order';
  const ana = await member(a, 'ana', `room:${room}`);
  const ben = await member(b, 'ben', `room:${room}`);
  await waitFor(() => ana.users().includes('ben') && ben.users().includes('ana'), 'presence across nodes', 10000);
  const per = 20;
  const acks = await Promise.all([ana, ben].flatMap((m, i) => Array.from({ length: per },
    (_, k) => push(m.channel, 'new_msg', { body: `m${i}-${k}` }))));
  assert.ok(acks.every((r) => r.ok), `every publish acknowledged: ${JSON.stringify(acks.filter((r) => !r.ok))}`);
  for (const m of [ana, ben]) await waitFor(() => m.got.length >= 2 * per, `${m.node.id} got all`, 10000);
  await sleep(200);
  const order = ana.got.map((m) => m.id);
  assert.deepEqual(ben.got.map((m) => m.id), order, 'same order on both nodes');
  assert.equal(order.length, 2 * per, 'each message once');
  assertIncreasing(order, 'ids');
  assert.deepEqual(acks.map((r) => r.reply.id).sort((x, y) => x - y), [...order].sort((x, y) => x - y));
  const ha = await history(a, room, '?limit=100');
  const hb = await history(b, room, '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), ana.got.map((m) => [m.id, m.body]));
  assert.deepEqual(hb, ha, 'history identical on both nodes');
  // Recovery on the other node: exactly the messages after last_seen_id.
  const seen = order[9];
  const late = await member(b, 'cid', `room:${room}`, { last_seen_id: seen });
  assert.equal(late.reply.recovered, true);
  await waitFor(() => late.got.length >= order.length - 10, 'recovered messages', 10000);
  assert.deepEqual(late.got.map((m) => m.id), order.slice(10));
  // The room's keys share one slot (hash tag): its sequence is on the master of that slot.
  const owner = await rc.masterOfSlot(keySlot(room));
  assert.equal((await nodeCommand(owner.port, 'GET', `rtchat:seq:{${room}}`)).trim(), String(order.at(-1)));
  // A leave on one node reaches the other.
  await new Promise((r) => ben.channel.leave().receive('ok', r));
  await waitFor(() => !ana.users().includes('ben'), 'leave across nodes', 10000);
});

test('rooms spread over all three masters', async () => {
  const [a, b] = nodes;
  const rooms = Array.from({ length: 90 }, (_, i) => `rc-spread-${i}`);
  const before = {};
  for (const m of await rc.masters()) before[m.port] = await evalshaCalls(m.port);
  // Nine sockets, ten rooms each (under the per-connection push budget), on both nodes.
  await Promise.all(Array.from({ length: 9 }, async (_, s) => {
    const socket = connect(s % 2 ? b : a, `spread${s}`);
    for (const room of rooms.slice(s * 10, s * 10 + 10)) {
      const ch = socket.channel(`room:${room}`, {});
      await joinChannel(ch);
      const r = await push(ch, 'new_msg', { body: room });
      assert.ok(r.ok, `publish in ${room}: ${JSON.stringify(r.error)}`);
      assert.equal(r.reply.id, 1);
    }
  }));
  const masters = await rc.masters();
  assert.equal(masters.length, 3);
  const perMaster = {};
  for (const m of masters) {
    perMaster[m.port] = (await evalshaCalls(m.port)) - (before[m.port] ?? 0);
    const mine = rooms.filter((r) => m.slots.some(([lo, hi]) => keySlot(r) >= lo && keySlot(r) <= hi));
    assert.equal(perMaster[m.port], mine.length, `master ${m.port} ran the script once per room it owns`);
    assert.ok(mine.length >= 10, `master ${m.port} owns ${mine.length} of 90 rooms`);
  }
  console.log(`# publish scripts per master for 90 rooms: ${JSON.stringify(perMaster)}`);
});

// Leaving a room and joining it again at once sends SUNSUBSCRIBE then SSUBSCRIBE in one
// pipeline: the confirmation of our own SUNSUBSCRIBE must not be taken for Redis dropping the
// subscription (a moved slot), which threw away the new subscription and read the map again.
test('leave and rejoin in one round trip: our own unsubscribe is not a moved slot', async () => {
  const [a] = nodes;
  const room = 'rc-flip';
  const kRounds = 10;
  // One socket per round (a socket's join budget per topic is 5 at once), all open up front so
  // that each join follows the previous round's leave at once.
  const sockets = Array.from({ length: kRounds }, (_, i) => connect(a, `flipper${i}`));
  await waitFor(() => sockets.every((s) => s.isConnected()), 'flip sockets open');
  const refreshes = () => (a.output().match(/cluster_map_refreshed/g) ?? []).length;
  const before = refreshes();
  const errors = [];
  const started = Date.now();
  for (let i = 0; i < kRounds; i++) {
    const ch = sockets[i].channel(`room:${room}`, {});
    await joinChannel(ch, 5000);
    const r = await push(ch, 'new_msg', { body: `flip ${i}` });
    if (!r.ok) errors.push(r.error);
    ch.leave();  // the next round's join follows at once, before Redis confirms the unsubscribe
  }
  assert.deepEqual(errors, []);
  assert.equal(refreshes(), before, 'no slot map read: nothing moved');
  const bodies = (await fullHistory(a, room)).map((m) => m.body);
  assert.deepEqual(bodies, Array.from({ length: kRounds }, (_, i) => `flip ${i}`));
  console.log(`# ${kRounds} leave+rejoin+publish rounds in ${Date.now() - started} ms`);
});

test('a node killed with SIGKILL: its users leave on the others within 5 s (liveness keys on the cluster)', async () => {
  const [a] = nodes;
  const c = await startNode('C');
  const topic = 'room:rc-death';
  const watcher = await member(a, 'wendy', topic);
  const victim = await member(c, 'vic', topic);
  await waitFor(() => watcher.users().includes('vic'), 'vic present on A', 10000);
  sockets.delete(victim.socket);
  const killedAt = Date.now();
  await c.kill9();
  nodes.splice(nodes.indexOf(c), 1);
  rmSync(c.dataDir, { recursive: true, force: true });
  await waitFor(() => !watcher.users().includes('vic'), 'vic leaves on A', 5000);
  console.log(`# node death announced as leave after ${Date.now() - killedAt} ms`);
  victim.socket.disconnect();
});

test('a node stopped gracefully leaves no key of its own on any master', async () => {
  const d = await startNode('D');
  const keysOfD = async () => {
    const found = [];
    for (const m of await rc.masters()) {
      const out = await cli(['-h', '127.0.0.1', '-p', String(m.port), '--scan', '--pattern', 'rtchat:*']);
      found.push(...out.split('\n').filter((k) => k === 'rtchat:node:D' || /^rtchat:canary:.*:D$/.test(k)));
    }
    return found;
  };
  await waitFor(async () => (await keysOfD()).length === 4, 'liveness key and one canary per master', 5000);
  nodes.splice(nodes.indexOf(d), 1);
  await d.stop();
  assert.deepEqual(await keysOfD(), []);
});

async function evalshaCalls(port) {
  const info = await nodeCommand(port, 'INFO', 'commandstats');
  const m = info.match(/cmdstat_evalsha:calls=(\d+)/);
  return m ? Number(m[1]) : 0;
}

// Two publishers (one per node) and a watcher per node in `room` while `disrupt(results)` runs;
// then every acknowledged message must be in history once, in order, on both nodes, deliveries
// the same on both, ids increasing, recovery exact on both. Returns {results, acked, refused}.
async function underLoad(room, tag, disrupt) {
  const [a, b] = nodes;
  const topic = `room:${room}`;
  const watchA = await member(a, `${tag}wa`, topic);
  const watchB = await member(b, `${tag}wb`, topic);
  const pubs = [await member(a, `${tag}pa`, topic), await member(b, `${tag}pb`, topic)];
  const results = [];  // {ok, id, body, error, at}
  let stopAt = Infinity;
  const publisher = async (m, p) => {
    // Bounded: at most 600 pushes per publisher, ~12/s (under the per-connection budget).
    for (let k = 0; k < 600 && Date.now() < stopAt; k++) {
      const body = `p${p}-${k}`;
      const r = await push(m.channel, 'new_msg', { body });
      results.push({ ok: r.ok, id: r.reply?.id, body, error: r.error, at: Date.now() });
      await sleep(80);
    }
  };
  const running = pubs.map((m, p) => publisher(m, p));
  await waitFor(() => results.filter((r) => r.ok).length >= 20, 'publishing before the disruption', 20000);
  await disrupt(results);
  stopAt = Date.now() + 1500;
  await Promise.all(running);
  const acked = results.filter((r) => r.ok);
  const refused = results.filter((r) => !r.ok);
  for (const r of refused) assert.equal(r.error?.reason, 'cluster unavailable', `error reply: ${JSON.stringify(r.error)}`);
  const ackIds = acked.map((r) => r.id);
  assert.equal(new Set(ackIds).size, ackIds.length, 'no id acknowledged twice');
  for (const p of [0, 1]) assertIncreasing(acked.filter((r) => r.body.startsWith(`p${p}-`)).map((r) => r.id), `publisher ${p}`);
  await sleep(500);
  const ha = await fullHistory(a, room);
  const hb = await fullHistory(b, room);
  assert.deepEqual(hb.map((m) => [m.id, m.body]), ha.map((m) => [m.id, m.body]), 'same history on both nodes');
  assertIncreasing(ha.map((m) => m.id), 'history ids');
  const byBody = new Map(ha.map((m) => [m.body, m.id]));
  for (const r of acked) assert.equal(byBody.get(r.body), r.id, `acknowledged ${r.body} (id ${r.id}) in history under its id`);
  for (const w of [watchA, watchB]) {
    await waitFor(() => acked.every((r) => w.got.some((m) => m.id === r.id)), `${w.node.id} got every acknowledged message`, 10000);
    assertIncreasing(w.got.map((m) => m.id), `deliveries on ${w.node.id}`);
  }
  assert.deepEqual(watchB.got.map((m) => [m.id, m.body]), watchA.got.map((m) => [m.id, m.body]), 'same deliveries on both nodes');
  const hist = new Map(ha.map((m) => [m.id, m.body]));
  for (const m of watchA.got) assert.equal(hist.get(m.id), m.body, `delivered ${m.id} is in history`);
  const seen = acked[5].id;
  for (const node of [a, b]) {
    const late = await member(node, `${tag}late${node.id}`, topic, { last_seen_id: seen });
    assert.equal(late.reply.recovered, true);
    const want = ha.filter((m) => m.id > seen).map((m) => m.id);
    await waitFor(() => late.got.length >= want.length, `recovery on ${node.id}`, 10000);
    assert.deepEqual(late.got.map((m) => m.id), want);
  }
  return { results, acked, refused };
}

// A publisher (node A) and a watcher (node B) in `room` until stop(); then: refusals are
// "cluster unavailable", acknowledged ids unique and increasing, each in history under its id,
// and the watcher got them all. Returns {results, stop: async () => results}.
async function steadyPublisher(room, tag) {
  const [a, b] = nodes;
  const topic = `room:${room}`;
  const pub = await member(a, `${tag}p`, topic);
  const watch = await member(b, `${tag}w`, topic);
  const results = [];
  let stopped = false;
  const loop = (async () => {
    for (let k = 0; k < 1500 && !stopped; k++) {
      const body = `s-${k}`;
      const r = await push(pub.channel, 'new_msg', { body });
      results.push({ ok: r.ok, id: r.reply?.id, body, error: r.error, at: Date.now() });
      await sleep(80);
    }
  })();
  const stop = async () => {
    stopped = true;
    await loop;
    const acked = results.filter((r) => r.ok);
    for (const r of results.filter((x) => !x.ok)) assert.equal(r.error?.reason, 'cluster unavailable');
    assertIncreasing(acked.map((r) => r.id), `${room}: acknowledged ids`);
    const byBody = new Map((await fullHistory(a, room)).map((m) => [m.body, m.id]));
    for (const r of acked) assert.equal(byBody.get(r.body), r.id, `${room}: ${r.body} in history under its id`);
    await waitFor(() => acked.every((r) => watch.got.some((m) => m.id === r.id)), `${room}: B got every acknowledged message`, 10000);
    assertIncreasing(watch.got.map((m) => m.id), `${room}: deliveries on B`);
    return results;
  };
  return { results, stop };
}

test('a master killed under load: acknowledged messages survive once, in order; errors, never false oks; the other masters\' rooms keep publishing', { timeout: 120000 }, async () => {
  const room = 'rc-failover';
  const victim = await rc.masterOfSlot(keySlot(room));
  // A room on another master: its publishes must not stop while the victim fails over.
  let other = '';
  for (let i = 0; !other; i++) {
    if ((await rc.masterOfSlot(keySlot(`rc-steady-${i}`))).port !== victim.port) other = `rc-steady-${i}`;
  }
  const steady = await steadyPublisher(other, 'fs');
  let killedAt = 0;
  let promotedAt = 0;
  const { results, acked, refused } = await underLoad(room, 'f', async (res) => {
    killedAt = Date.now();
    await rc.kill9(victim.port);
    // A replica takes over; the killed node comes back as its replica (WAIT needs one again).
    await waitFor(async () => (await rc.masterOfSlot(keySlot(room)))?.port !== victim.port, 'failover', 30000);
    promotedAt = Date.now();
    await rc.restart(victim.port);
    await rc.waitOk();
    await waitFor(() => res.some((r) => r.ok && r.at > promotedAt), 'acknowledged again after the failover', 30000);
  });
  const steadyResults = await steady.stop();
  const backAt = acked.find((r) => r.at > killedAt)?.at;
  const lastOkBefore = acked.filter((r) => r.at < killedAt).at(-1);
  const during = steadyResults.filter((r) => r.at > killedAt && r.at < backAt);
  const duringOk = during.filter((r) => r.ok);
  // Before the replica is promoted (the whole link used to be down until then).
  const beforePromotion = duringOk.filter((r) => r.at < promotedAt);
  let longest = 0;
  let prev = killedAt;
  for (const r of duringOk.concat([{ at: backAt }])) { longest = Math.max(longest, r.at - prev); prev = r.at; }
  console.log(`# failover: ${results.length} publishes, ${acked.length} ok, ${refused.length} errors; ` +
    `replica promoted after ${promotedAt - killedAt} ms; first ok after the kill ${backAt - killedAt} ms`);
  console.log(`# failover, room on another master: ${duringOk.length} ok (${beforePromotion.length} before the ` +
    `promotion) and ${during.length - duringOk.length} refused during that gap; longest stretch without an ok ${longest} ms`);
  assert.ok(acked.find((r) => r.at > killedAt).id > lastOkBefore.id, 'ids continue upward across the failover');
  assert.ok(beforePromotion.length > 0, 'the other master\'s room kept publishing while the killed master\'s rooms were refused');
});

test('a busy room\'s slot moved to another master under load: nothing acknowledged lost, order holds', { timeout: 120000 }, async () => {
  const room = 'rc-reshard';
  const slot = keySlot(room);
  const { results, acked, refused } = await underLoad(room, 'r', async (res) => {
    const masters = await rc.masters();
    const from = masters.find((m) => m.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
    const to = masters.find((m) => m !== from);
    await nodeCommand(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
    await nodeCommand(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
    await sleep(300);  // publishes meet the migrating slot (ASK / TRYAGAIN)
    const keys = (await nodeCommand(from.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).trim().split('\n').filter(Boolean);
    if (keys.length) await nodeCommand(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
    for (const m of masters) await nodeCommand(m.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
    const movedAt = Date.now();
    await waitFor(async () => (await rc.masterOfSlot(slot))?.port === to.port, 'slot moved', 10000);
    await waitFor(() => res.some((r) => r.ok && r.at > movedAt + 500), 'acknowledged on the new master', 20000);
    console.log(`# reshard: slot ${slot} from ${from.port} to ${to.port} (${keys.length} keys)`);
    // The room's sequence now lives on the new master.
    assert.ok(Number((await nodeCommand(to.port, 'GET', `rtchat:seq:{${room}}`)).trim()) > 0);
  });
  console.log(`# reshard: ${results.length} publishes, ${acked.length} ok, ${refused.length} errors`);
});

// Redis serves a multi-key command (the publish script's sequence and stream) on a migrating
// slot only where all its keys are: on the source before MIGRATE, on the target (after ASK and
// ASKING) once MIGRATE moved them. This is the second case, the one a reshard passes through.
test('a publish that meets ASK (its room\'s keys already migrated) runs on the target: an ok, not an error', { timeout: 60000 }, async () => {
  const [a, b] = nodes;
  const room = 'rc-ask';
  const slot = keySlot(room);
  const masters = await rc.masters();
  const from = masters.find((m) => m.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
  const to = masters.find((m) => m !== from);
  const wa = await member(a, 'askwa', `room:${room}`);
  const wb = await member(b, 'askwb', `room:${room}`);
  assert.equal((await push(wa.channel, 'new_msg', { body: 'asked-1' })).reply.id, 1);
  await nodeCommand(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
  await nodeCommand(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
  try {
    const keys = (await nodeCommand(from.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).trim().split('\n').filter(Boolean);
    await nodeCommand(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
    // The slot is still the source's: the publish meets ASK there and runs on the target.
    const r = await push(wa.channel, 'new_msg', { body: 'asked-2' });
    assert.ok(r.ok, `publish during the migration: ${JSON.stringify(r.error)}`);
    assert.equal(r.reply.id, 2);
  } finally {
    for (const m of masters) await nodeCommand(m.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
  }
  assert.equal((await nodeCommand(to.port, 'XLEN', `rtchat:log:{${room}}`)).trim(), '2', 'both messages in the target\'s stream');
  let next;
  await waitFor(async () => { next = await push(wb.channel, 'new_msg', { body: 'asked-3' }); return next.ok; }, 'publishing after the move', 10000);
  assert.equal(next.reply.id, 3);
  const expected = [[1, 'asked-1'], [2, 'asked-2'], [3, 'asked-3']];
  for (const w of [wa, wb]) {
    await waitFor(() => w.got.length >= 3, `${w.node.id} got all three`, 10000);
    assert.deepEqual(w.got.map((m) => [m.id, m.body]), expected);
  }
  const hb = await history(b, room, '?limit=100');
  assert.deepEqual(hb.messages.map((m) => [m.id, m.body]), expected);
});

test('a replica that misses writes: no ok without it, and its promotion takes back nothing anybody saw', { timeout: 120000 }, async () => {
  const [a, b] = nodes;
  const room = 'rc-unreplicated';
  const topic = `room:${room}`;
  const slot = keySlot(room);
  const wa = await member(a, 'uwa', topic);
  const wb = await member(b, 'uwb', topic);
  for (let k = 1; k <= 3; k++) assert.ok((await push(wa.channel, 'new_msg', { body: `kept-${k}` })).ok);
  const master = await rc.masterOfSlot(slot);
  const replica = (await rc.view()).find((n) => n.role === 'slave' && n.masterId === master.id);
  const replicaProc = rc.nodes.get(replica.port).proc;
  // Frozen, and its replication connection cut (a frozen process would still receive the
  // master's stream into its socket buffer): the master takes writes that no replica gets.
  replicaProc.kill('SIGSTOP');
  try {
    await nodeCommand(master.port, 'CLIENT', 'KILL', 'TYPE', 'replica');
    const t0 = Date.now();
    const refused = await Promise.all([push(wa.channel, 'new_msg', { body: 'unconfirmed-1' }),
      push(wb.channel, 'new_msg', { body: 'unconfirmed-2' })]);
    for (const r of refused) assert.deepEqual(r, { ok: false, error: { reason: 'cluster unavailable' } });
    console.log(`# without a replica: refused after ${Date.now() - t0} ms`);
    // Then refused at once for a while: a master without a replica does not stall the link.
    const t1 = Date.now();
    const fast = await push(wa.channel, 'new_msg', { body: 'unconfirmed-3' });
    assert.deepEqual(fast, { ok: false, error: { reason: 'cluster unavailable' } });
    assert.ok(Date.now() - t1 < 300, `refused at once (${Date.now() - t1} ms)`);
    await sleep(300);
    for (const w of [wa, wb]) assert.deepEqual(w.got.map((m) => m.body), ['kept-1', 'kept-2', 'kept-3'], 'nothing unconfirmed fanned out');
    await rc.kill9(master.port);
  } finally {
    replicaProc.kill('SIGCONT');
  }
  // The replica, which never got the unconfirmed writes, takes over; the old master rejoins as its replica.
  await waitFor(async () => (await rc.masterOfSlot(slot))?.port === replica.port, 'replica promoted', 30000);
  await rc.restart(master.port);
  await rc.waitOk();
  let after;
  await waitFor(async () => { after = await push(wb.channel, 'new_msg', { body: 'after' }); return after.ok; }, 'publishing again', 30000);
  assert.ok(after.reply.id > 3, `id ${after.reply.id} above every delivered id`);
  for (const w of [wa, wb]) {
    await waitFor(() => w.got.some((m) => m.body === 'after'), `${w.node.id} gets the new message`, 10000);
    assert.deepEqual(w.got.map((m) => m.body).filter((x) => x !== 'after'), ['kept-1', 'kept-2', 'kept-3']);
  }
  assert.deepEqual(wb.got.map((m) => [m.id, m.body]), wa.got.map((m) => [m.id, m.body]));
  const ha = await history(a, room, '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), wa.got.map((m) => [m.id, m.body]), 'history = what was delivered');
});

// Flushes `flush()` right after node A's heartbeat refreshed its canary on `port` (its PTTL is
// back near the full hour), so that A's next check is about a second away: a node new to the room
// that publishes at once lands in the window that A's heartbeat alone leaves open.
async function flushAfterBeat(port, canary, flush) {
  await waitFor(async () => Number((await nodeCommand(port, 'PTTL', canary)).trim()) > 3600000 - 150,
    'a fresh heartbeat of node A', 5000);
  await flush();
}

// Publishes on `m` until `want` oks (each ok timed: never late); every refusal is "cluster
// unavailable". Returns {oks: [{id, body}], refused: [body]}.
async function publishUntilOk(m, prefix, want = 3) {
  const oks = [];
  const refused = [];
  for (let k = 0; oks.length < want && k < 200; k++) {
    const body = `${prefix}-${k}`;
    const t0 = Date.now();
    const r = await push(m.channel, 'new_msg', { body });
    assert.ok(Date.now() - t0 < 2000, `the reply to ${body} is not late (${Date.now() - t0} ms)`);
    if (r.ok) {
      oks.push({ id: r.reply.id, body });
      continue;
    }
    assert.equal(r.error?.reason, 'cluster unavailable', JSON.stringify(r.error));
    refused.push(body);
    await sleep(50);
  }
  return { oks, refused };
}

test('FLUSHALL, then at once a node new to the room publishes: no id given twice, one (id, body) list everywhere', async () => {
  const [a, b] = nodes;
  const room = 'rc-flush';
  const topic = `room:${room}`;
  const alice = await member(a, 'alice', topic);
  for (let k = 1; k <= 5; k++) {
    const r = await push(alice.channel, 'new_msg', { body: `pre-flush-${k}` });
    assert.ok(r.ok);
    assert.equal(r.reply.id, k);
  }
  const noticed = () => (a.output().match(/cluster_floors_restored/g) || []).length;
  const before = noticed();
  const masters = await rc.masters();
  const owner = await rc.masterOfSlot(keySlot(room));
  const canary = (await cli(['-h', '127.0.0.1', '-p', String(owner.port), '--scan', '--pattern', 'rtchat:canary:*:A'])).trim();
  let flushedAt = 0;
  await flushAfterBeat(owner.port, canary, async () => {
    flushedAt = Date.now();
    await Promise.all(masters.map((m) => nodeCommand(m.port, 'FLUSHALL')));
  });
  // Bob's node never had the room (its floor is 0): it joins and publishes at once.
  const bob = await member(b, 'bob', topic);
  const joinedMs = Date.now() - flushedAt;
  const { oks, refused } = await publishUntilOk(bob, 'after-flush');
  console.log(`# FLUSHALL: B joined ${joinedMs} ms after it, ${refused.length} publishes refused, ` +
    `first ok ${oks[0] ? 'id ' + oks[0].id : '-'} ${Date.now() - flushedAt} ms after it`);
  for (const o of oks) assert.ok(o.id > 5, `${o.body} got id ${o.id}, an id A delivered before the loss`);
  // Node A handled the loss on every master (told by B, or at its own heartbeat).
  await waitFor(() => noticed() >= before + masters.length, 'node A notices the loss on every master', 5000);
  const expected = [1, 2, 3, 4, 5].map((k) => [k, `pre-flush-${k}`]).concat(oks.map((o) => [o.id, o.body]));
  await waitFor(() => alice.got.length >= expected.length && bob.got.length >= oks.length, 'deliveries', 5000);
  await sleep(200);
  assert.deepEqual(alice.got.map((m) => [m.id, m.body]), expected, 'A: each id once, never reused, nothing refused');
  assert.deepEqual(bob.got.map((m) => [m.id, m.body]), expected.slice(5), 'B: the same (id, body) list');
  // History on A: its local copy below the (new) stream, then the stream.
  const ha = await history(a, room, '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), expected);
  // A client recovering on A from id 5 gets exactly the new messages.
  const late = await member(a, 'dora', topic, { last_seen_id: 5 });
  assert.equal(late.reply.recovered, true);
  await waitFor(() => late.got.length >= oks.length, 'recovery after the loss', 5000);
  assert.deepEqual(late.got.map((m) => m.id), oks.map((o) => o.id));
  // On B, which has no copy of 4 and 5 (the room came to it after the loss), a recovery from 3
  // cannot be served: recovered: false, never a true with a gap.
  const gap = await member(b, 'eve', topic, { last_seen_id: 3 });
  assert.equal(gap.reply.recovered, false);
});

// docs/cluster.md "Data loss": a room nobody has members in when the masters lose their data is
// raised from the nodes' local stores (every node keeps what it delivered).
test('FLUSHALL while a room has no member on any node: a node new to it continues above the ids stored before', async () => {
  const [a, b] = nodes;
  const room = 'rc-floor';
  const topic = `room:${room}`;
  const alice = await member(a, 'alice2', topic);
  for (let k = 1; k <= 5; k++) {
    const r = await push(alice.channel, 'new_msg', { body: `before-${k}` });
    assert.ok(r.ok);
    assert.equal(r.reply.id, k);
  }
  alice.socket.disconnect();
  // The room's last member left: A's link sends SUNSUBSCRIBE and forgets the room (its live floor).
  const owner = await rc.masterOfSlot(keySlot(room));
  const shardSubscribers = async () =>
    Number((await nodeCommand(owner.port, 'PUBSUB', 'SHARDNUMSUB', `rtchat:chan:{${room}}`)).trim().split('\n').pop());
  await waitFor(async () => (await shardSubscribers()) === 0, 'node A dropped the room', 5000);
  const masters = await rc.masters();
  const flushedAt = Date.now();
  await Promise.all(masters.map((m) => nodeCommand(m.port, 'FLUSHALL')));
  const bob = await member(b, 'bob2', topic);
  const { oks, refused } = await publishUntilOk(bob, 'after');
  console.log(`# FLUSHALL, room without members: ${refused.length} refused, ` +
    `first ok ${oks[0] ? 'id ' + oks[0].id : '-'} ${Date.now() - flushedAt} ms after it`);
  assert.equal(oks.length, 3, 'bob publishes once the hold is over');
  for (const o of oks) assert.ok(o.id > 5, `${o.body} got id ${o.id}, an id node A stored for "before-${o.id}"`);
  const expected = [1, 2, 3, 4, 5].map((k) => [k, `before-${k}`]).concat(oks.map((o) => [o.id, o.body]));
  const bodyOf = new Map(expected);
  const ha = await history(a, room, '?limit=100');
  assert.deepEqual(ha.messages.map((m) => [m.id, m.body]), expected, 'history on A');
  const hb = await history(b, room, '?limit=100');
  for (const m of hb.messages) assert.equal(m.body, bodyOf.get(m.id), `B's history, id ${m.id}`);
  // Alice's client holds 1-5: recovering on B from 5 gives exactly bob's messages.
  const back = await member(b, 'alice2', topic, { last_seen_id: 5 });
  assert.equal(back.reply.recovered, true, 'ids 6.. are all in the stream');
  await waitFor(() => back.got.length >= 3, 'the catch-up from 5', 5000);
  await sleep(100);
  assert.deepEqual(back.got.map((m) => [m.id, m.body]), oks.map((o) => [o.id, o.body]));
  bob.socket.disconnect();
  back.socket.disconnect();
});
