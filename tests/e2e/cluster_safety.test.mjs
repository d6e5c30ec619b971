// End-to-end, cluster mode against a real redis-server (issue 12, item 10):
// - Redis drops while a publish is stored but not yet delivered on this node: the sender gets an
//   error, never an ok ahead of its message; the message appears after the resync.
// - History and recovery past the Redis stream's trim come from the node's local copy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRaw } from './lib/raw_ws.mjs';
import { freePort, redisCommand, startRedis as startRedisAt } from './lib/redis.mjs';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';

let redis;
let redisPort;
let redisDir;
let node;

const startRedis = () => startRedisAt(redisPort, redisDir);
// One Redis command whose reply is a single line (+OK, :n, -ERR); resolves with that line.
const redisLine = async (...args) => (await redisCommand(redisPort, args)).trim();

before(async () => {
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'rtchat-redis-'));
  redis = await startRedis();
  node = await startServer({ args: ['--shards', '2', '--cluster', `redis://127.0.0.1:${redisPort}`,
    '--node-id', 'safety', '--rate', '1000', '--rate-burst', '1000'] });
});

after(async () => {
  if (node) await node.stop();
  if (redis) await redis.stop();
  rmSync(redisDir, { recursive: true, force: true });
});

async function joinOk(client, topic, payload = {}) {
  const r = await client.join(topic, payload);
  assert.equal(r.status, 'ok', `join ${topic}: ${JSON.stringify(r)}`);
  return r;
}

async function publish(client, topic, body) {
  const r = await client.reply(client.push(topic, 'new_msg', { body }));
  assert.equal(r.status, 'ok', `publish on ${topic}: ${JSON.stringify(r)}`);
  return r.response.id;
}

const newMsgIds = (client, topic, from = 0) => client.frames.slice(from)
  .filter((f) => f[2] === topic && f[3] === 'new_msg').map((f) => f[4].id);

// Every ok to a new_msg push came after that message's own delivery on this socket.
function assertNoOkBeforeItsMessage(client, topic) {
  const seen = new Set();
  for (const f of client.frames) {
    if (f[2] !== topic) continue;
    if (f[3] === 'new_msg') seen.add(f[4].id);
    if (f[3] === 'phx_reply' && f[4].status === 'ok' && f[4].response?.id !== undefined) {
      assert.ok(seen.has(f[4].response.id), `ok for id ${f[4].response.id} before its message`);
    }
  }
}

test('Redis drops while a publish waits for its delivery: error, never an ok before the message', async () => {
  const room = 'safety-ack';
  const topic = `room:${room}`;
  const c = await openRaw(node, 'ana');
  await joinOk(c, topic);
  assert.equal(await publish(c, topic, 'one'), 1);
  assert.equal(await publish(c, topic, 'two'), 2);
  // Hold the next publish between "stored" and "delivered": a hole in the ids (id 3 is taken
  // but never written) makes the link wait to fill it from the stream, and XRANGE is denied, so
  // the wait lasts until Redis goes away. ACL rules are not persisted: the restart lifts it.
  assert.equal(await redisLine('INCR', `rtchat:seq:${room}`), ':3');
  assert.equal(await redisLine('ACL', 'SETUSER', 'default', '-xrange'), '+OK');
  const from = c.frames.length;
  const ref = c.push(topic, 'new_msg', { body: 'held' });
  await sleep(300);
  assert.equal(c.frames.slice(from).filter((f) => f[1] === ref).length, 0, 'held: no reply yet');
  assert.deepEqual(newMsgIds(c, topic, from), [], 'held: not delivered yet');

  await redis.stop();
  const reply = await c.reply(ref, 10000);
  assert.deepEqual(reply, { status: 'error', response: { reason: 'cluster unavailable' } },
    'stored but not delivered here when Redis dropped: an error, not an ok');
  assertNoOkBeforeItsMessage(c, topic);

  redis = await startRedis();
  // The message was stored: it is delivered after the resync (the error was not a loss).
  await waitFor(() => newMsgIds(c, topic).includes(4), 'the held message after the resync', 15000);
  let id = 0;
  await waitFor(async () => {
    const r = await c.reply(c.push(topic, 'new_msg', { body: 'after' }), 5000);
    if (r.status === 'ok') id = r.response.id;
    return r.status === 'ok';
  }, 'publish works again', 15000);
  assert.equal(id, 5);
  await waitFor(() => newMsgIds(c, topic).includes(5), 'delivered');
  assert.deepEqual(newMsgIds(c, topic), [1, 2, 4, 5], 'each id once, in order');
  assertNoOkBeforeItsMessage(c, topic);
  c.ws.close();
  await c.waitClosed();
});

async function httpHistory(query) {
  const r = await fetch(`${node.url}/api/rooms/safety-trim/messages${query}`,
    { headers: { authorization: `Bearer ${mintToken('reader')}` } });
  assert.equal(r.status, 200);
  const body = await r.json();
  return { ids: body.messages.map((m) => m.id), has_more: body.has_more };
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('history and recovery older than the stream\'s trim come from the node\'s local copy', async () => {
  const topic = 'room:safety-trim';
  const c = await openRaw(node, 'ben');
  await joinOk(c, topic);
  for (let k = 1; k <= 30; k++) assert.equal(await publish(c, topic, `t${k}`), k);
  // The stream keeps only the newest entries (MAXLEN ~ 100000 in production; 10 here).
  assert.equal(await redisLine('XTRIM', 'rtchat:log:safety-trim', 'MAXLEN', '10'), ':20');
  // The node's copy is appended as messages are delivered: wait until it answers in full.
  await waitFor(async () => (await httpHistory('?limit=100')).ids.length === 30,
    'history reaches past the trim', 5000).catch(() => {});
  assert.deepEqual(await httpHistory('?limit=100'), { ids: range(1, 30), has_more: false });
  assert.deepEqual(await httpHistory('?limit=10'), { ids: range(21, 30), has_more: true },
    'the stream alone, and the local copy has older ones');
  assert.deepEqual(await httpHistory('?limit=10&before=21'), { ids: range(11, 20), has_more: true });
  assert.deepEqual(await httpHistory('?limit=15&before=26'), { ids: range(11, 25), has_more: true },
    'a page across the trim: local copy, then stream');
  assert.deepEqual(await httpHistory('?limit=10&before=3'), { ids: [1, 2], has_more: false });

  // The history push over the socket.
  const r = await c.reply(c.push(topic, 'history', { before_id: 25, limit: 20 }));
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.response.messages.map((m) => m.id), range(5, 24));
  assert.equal(r.response.has_more, true);

  // Recovery from before the trim: every missed message, none lost.
  const late = await openRaw(node, 'cid');
  const from = late.frames.length;
  const j = await joinOk(late, topic, { last_seen_id: 5 });
  assert.equal(j.response.recovered, true);
  await waitFor(() => newMsgIds(late, topic, from).length >= 25, 'catch-up across the trim');
  assert.deepEqual(newMsgIds(late, topic, from), range(6, 30));
  for (const x of [c, late]) x.ws.close();
  await Promise.all([c.waitClosed(), late.waitClosed()]);
});
