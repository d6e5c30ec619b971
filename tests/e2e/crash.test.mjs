// End-to-end: durability under kill -9. A publisher streams messages with a few in flight; the
// server is killed mid-stream and restarted on the same data dir. Every message that got an ok
// reply must be in history with the id it was acknowledged with, in order and once; messages
// without a reply may be there or not, but never twice; new ids continue after the highest.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { mintToken, startServer, waitFor } from './lib/server.mjs';

const kWait = 5000;
const kArgs = ['--shards', '2', '--rate', '100000', '--rate-burst', '100000'];
const dataDir = mkdtempSync(join(tmpdir(), 'rtchat-crash-'));
const servers = [];
const sockets = [];

after(async () => {
  for (const s of sockets) s.disconnect();
  for (const srv of servers) await srv.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function connect(srv, user) {
  const socket = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user, { name: user }) },
    reconnectAfterMs: () => 60000,  // the killed server's port is gone: don't spin on it
  });
  socket.connect();
  sockets.push(socket);
  return socket;
}

function join_(socket, topic) {
  const channel = socket.channel(topic, {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`join ${topic}: no reply`)), kWait + 1000);
    channel.join(kWait)
      .receive('ok', () => { clearTimeout(timer); resolve(channel); })
      .receive('error', (e) => { clearTimeout(timer); reject(new Error(`join: ${JSON.stringify(e)}`)); })
      .receive('timeout', () => { clearTimeout(timer); reject(new Error('join timeout')); });
  });
}

// Resolves {ok}, {error} or {lost} (no reply: the push timed out or the socket died).
function push(channel, event, payload, timeoutMs = kWait) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ lost: true }), timeoutMs + 1000);
    channel.push(event, payload, timeoutMs)
      .receive('ok', (r) => { clearTimeout(timer); resolve({ ok: r }); })
      .receive('error', (r) => { clearTimeout(timer); resolve({ error: r }); })
      .receive('timeout', () => { clearTimeout(timer); resolve({ lost: true }); });
  });
}

async function allHistory(channel) {
  const pages = [];
  let before = null;
  for (let i = 0; i < 1000; i++) {
    const r = await push(channel, 'history', { before_id: before, limit: 200 });
    assert.ok(r.ok, `history: ${JSON.stringify(r)}`);
    pages.unshift(r.ok.messages);
    if (!r.ok.has_more) break;
    before = r.ok.messages[0].id;
  }
  return pages.flat();
}

for (const [label, extra, inFlight] of [
  ['one at a time', [], 1],
  ['8 in flight', [], 8],
  ['8 in flight, --sync-full', ['--sync-full'], 8],
]) {
  test(`kill -9 mid-stream (${label}): every acked message survives once, ids continue`, async () => {
    const room = `crash-${label.replace(/[^a-z0-9]+/g, '-')}`;
    let srv = await startServer({ args: [...kArgs, ...extra], dataDir });
    servers.push(srv);
    const channel = await join_(connect(srv, 'streamer'), `room:${room}`);

    const acked = new Map();  // body -> id
    const sent = [];
    let killed = false;
    let next = 0;
    const lane = async () => {
      // Bounded: the kill comes after ~200 acks; stop sending once the server is gone.
      while (!killed && next < 5000) {
        const body = `${room} #${next++}`;
        sent.push(body);
        const r = await push(channel, 'new_msg', { body }, 2000);
        if (r.ok) {
          acked.set(body, r.ok.id);
        } else if (!killed && !r.lost) {
          assert.fail(`${body}: ${JSON.stringify(r)}`);
        }
      }
    };
    const lanes = Array.from({ length: inFlight }, lane);
    await waitFor(() => acked.size >= 200, '200 acks', 20000);
    await srv.kill9();
    killed = true;
    await Promise.all(lanes);
    assert.ok(acked.size >= 200);

    srv = await startServer({ args: [...kArgs, ...extra], dataDir });
    servers.push(srv);
    const reader = await join_(connect(srv, 'reader'), `room:${room}`);
    const stored = await allHistory(reader);
    const ids = stored.map((m) => m.id);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids not increasing at ${i}`);
    const bodies = stored.map((m) => m.body);
    assert.equal(new Set(bodies).size, bodies.length, 'a body stored twice');
    const sentSet = new Set(sent);
    for (const b of bodies) assert.ok(sentSet.has(b), `stored body never sent: ${b}`);
    const byBody = new Map(stored.map((m) => [m.body, m.id]));
    for (const [body, id] of acked) {
      assert.equal(byBody.get(body), id, `acked ${body} (id ${id}) missing or moved after the crash`);
    }
    // One publisher, one at a time: ack order = id order and no unacked message before an acked one.
    if (inFlight === 1) {
      const ackedIds = [...acked.values()];
      assert.deepEqual(ids.slice(0, ackedIds.length), ackedIds);
      assert.ok(ids.length <= ackedIds.length + 1, `${ids.length - ackedIds.length} unacked stored`);
    }
    const highest = ids[ids.length - 1];
    const r = await push(reader, 'new_msg', { body: 'after the crash' });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.ok.id, highest + 1, 'ids continue right after the highest stored');
    console.log(`# ${label}: acked ${acked.size}, sent ${sent.length}, stored ${ids.length}`);
    await srv.stop();
  });
}
