// End-to-end: read state across devices (issue 16, section 4; docs/protocol.md "Read state") on
// --shards 2 with phoenix.js. mark_read {id} is stored per (user, room), never moves back, and is
// pushed as read_state to the user's other sockets in the room (not to the sender, not to other
// users); the join reply carries last_read_id and unread (capped at 100); the position survives a
// restart on the same SQLite file; a bad payload is refused with invalid_payload; in cluster mode
// the mark reaches the user's sockets on the other nodes and the unread count follows the
// cluster's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { freePort, startRedis } from './lib/redis.mjs';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';

const ARGS = ['--shards', '2', '--rate', '1000', '--rate-burst', '1000'];

function connect(srv, user) {
  const s = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken(user) } });
  s.connect();
  return s;
}

// Joins topic; resolves with {ch, reply, readStates} (read_state payloads received, in order).
async function join(socket, topic, params = {}) {
  const ch = socket.channel(topic, params);
  const readStates = [];
  ch.on('read_state', (p) => readStates.push(p));
  const reply = await new Promise((resolve, reject) => ch.join().receive('ok', resolve)
    .receive('error', (e) => reject(new Error(JSON.stringify(e))))
    .receive('timeout', () => reject(new Error('join timeout'))));
  return { ch, reply, readStates };
}

// A push's outcome: {ok: payload} or {error: payload}.
function push(ch, event, payload) {
  return new Promise((resolve) => ch.push(event, payload).receive('ok', (r) => resolve({ ok: r }))
    .receive('error', (r) => resolve({ error: r })).receive('timeout', () => resolve({ timeout: true })));
}

async function publish(ch, n) {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const r = await push(ch, 'new_msg', { body: `m${i}` });
    assert.ok(r.ok, JSON.stringify(r));
    last = r.ok.id;
  }
  return last;
}

async function withSockets(srv, fn) {
  const sockets = [];
  try {
    return await fn((user) => { const s = connect(srv, user); sockets.push(s); return s; });
  } finally {
    for (const s of sockets) s.disconnect();
  }
}

test('mark_read reaches the user\'s other sockets as read_state, never moves back, is clamped', async () => {
  const srv = await startServer({ args: ARGS });
  try {
    await withSockets(srv, async (open) => {
      // Four sockets of one user: with --shards 2 they are spread over both shards.
      const devices = [];
      for (let i = 0; i < 4; i++) devices.push(await join(open('uma'), 'room:reads'));
      const other = await join(open('vic'), 'room:reads');
      const last = await publish(devices[0].ch, 5);
      assert.deepEqual(await push(devices[0].ch, 'mark_read', { id: 3 }), { ok: { last_read_id: 3 } });
      for (const d of devices.slice(1)) {
        await waitFor(() => d.readStates.length === 1, 'read_state on another device');
        assert.deepEqual(d.readStates[0], { last_read_id: 3 });
      }
      assert.deepEqual(await push(devices[1].ch, 'mark_read', { id: 2 }), { ok: { last_read_id: 3 } },
        'never moves back');
      assert.deepEqual(await push(devices[2].ch, 'mark_read', { id: 999 }),
        { ok: { last_read_id: last } }, 'clamped to the room\'s last id');
      await waitFor(() => devices[0].readStates.some((p) => p.last_read_id === last), 'clamped read_state');
      await sleep(100);
      assert.deepEqual(devices[0].readStates.map((p) => p.last_read_id), [3, last],
        'the sender of a mark gets no read_state for it');
      assert.deepEqual(other.readStates, [], 'other users get nothing');
      assert.equal(devices[2].readStates.filter((p) => p.last_read_id === last).length, 0);
    });
  } finally {
    await srv.stop();
  }
});

test('the join reply carries last_read_id and unread (capped at 100)', async () => {
  const srv = await startServer({ args: ARGS });
  try {
    await withSockets(srv, async (open) => {
      const writer = await join(open('walt'), 'room:busy');
      assert.equal(writer.reply.last_read_id, 0);
      assert.equal(writer.reply.unread, 0);
      await publish(writer.ch, 120);
      assert.deepEqual(await push(writer.ch, 'mark_read', { id: 15 }), { ok: { last_read_id: 15 } });
      const again = await join(open('walt'), 'room:busy');
      assert.equal(again.reply.last_read_id, 15);
      assert.equal(again.reply.unread, 100, '105 newer messages, capped');
      const fresh = await join(open('xena'), 'room:busy');
      assert.deepEqual([fresh.reply.last_read_id, fresh.reply.unread], [0, 100]);
      assert.deepEqual(await push(writer.ch, 'mark_read', { id: 117 }), { ok: { last_read_id: 117 } });
      const third = await join(open('walt'), 'room:busy');
      assert.deepEqual([third.reply.last_read_id, third.reply.unread], [117, 3]);
      // A recovering join gets its catch-up and the read state in one reply.
      const recovering = await join(open('walt'), 'room:busy', { last_seen_id: 118 });
      assert.deepEqual(recovering.reply, { recovered: true, last_read_id: 117, unread: 3 });
    });
  } finally {
    await srv.stop();
  }
});

test('read state persists across a restart with the same SQLite file', async () => {
  let srv = await startServer({ args: ARGS, keepData: true });
  const dataDir = srv.dataDir;
  try {
    await withSockets(srv, async (open) => {
      const d = await join(open('yuri'), 'room:durable');
      await publish(d.ch, 4);
      assert.deepEqual(await push(d.ch, 'mark_read', { id: 3 }), { ok: { last_read_id: 3 } });
    });
    await srv.stop();
    srv = await startServer({ args: ARGS, dataDir });
    await withSockets(srv, async (open) => {
      const d = await join(open('yuri'), 'room:durable');
      assert.deepEqual([d.reply.last_read_id, d.reply.unread], [3, 1]);
      assert.deepEqual(await push(d.ch, 'mark_read', { id: 1 }), { ok: { last_read_id: 3 } });
    });
  } finally {
    await srv.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a bad mark_read payload is refused with invalid_payload', async () => {
  const srv = await startServer({ args: ARGS });
  try {
    await withSockets(srv, async (open) => {
      const d = await join(open('zed'), 'room:bad');
      for (const payload of [{}, { id: 'x' }, { id: -1 }, { id: 1.5 }, { id: null }]) {
        assert.deepEqual(await push(d.ch, 'mark_read', payload), { error: { reason: 'invalid_payload' } },
          JSON.stringify(payload));
      }
      assert.deepEqual(await push(d.ch, 'mark_read', { id: 0 }), { ok: { last_read_id: 0 } });
    });
  } finally {
    await srv.stop();
  }
});

test('cluster mode: read_state reaches the user\'s sockets on other nodes; unread follows the cluster order', async () => {
  const redisPort = await freePort();
  const redisDir = mkdtempSync(joinPath(tmpdir(), 'rtchat-redis-'));
  const redis = await startRedis(redisPort, redisDir);
  const nodes = [];
  try {
    for (const id of ['A', 'B']) {
      nodes.push(await startServer({
        args: [...ARGS, '--cluster', `redis://127.0.0.1:${redisPort}`, '--node-id', id],
      }));
    }
    const [a, b] = nodes;
    await withSockets(a, async (openA) => withSockets(b, async (openB) => {
      const onA = await join(openA('cleo'), 'room:span');
      const otherA = await join(openA('cleo'), 'room:span');
      const onB = await join(openB('cleo'), 'room:span');
      const writerB = await join(openB('dirk'), 'room:span');
      await publish(onA.ch, 3);
      const last = await publish(writerB.ch, 4);  // ids from one cluster order, whoever posts
      assert.deepEqual(await push(onA.ch, 'mark_read', { id: 5 }), { ok: { last_read_id: 5 } });
      await waitFor(() => otherA.readStates.length === 1, 'read_state on the same node');
      assert.deepEqual(otherA.readStates, [{ last_read_id: 5 }]);
      await waitFor(() => onB.readStates.length === 1, 'read_state on the other node');
      assert.deepEqual(onB.readStates, [{ last_read_id: 5 }]);
      assert.deepEqual(onA.readStates, [], 'not to the sender');
      const againA = await join(openA('cleo'), 'room:span');
      assert.deepEqual([againA.reply.last_read_id, againA.reply.unread], [5, last - 5]);
      // Node B stored the mark it was told about (it had the room in use).
      const againB = await join(openB('cleo'), 'room:span');
      assert.deepEqual([againB.reply.last_read_id, againB.reply.unread], [5, last - 5]);
    }));
  } finally {
    for (const n of nodes) await n.stop();
    await redis.stop();
    rmSync(redisDir, { recursive: true, force: true });
  }
});
