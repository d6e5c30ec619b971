// Graceful drain end-to-end (issue 9): phoenix clients publish continuously and count the ids of
// their acknowledged messages; the server gets SIGTERM (or SIGINT). Every client must see close
// 1001, the process must exit 0 within --drain-timeout + 2 s, and after a restart on the same data
// dir every acknowledged message must be in history with its body: no acknowledged message lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer, mintToken, waitFor, sleep } from './lib/server.mjs';

const kWait = 5000;

function connect(srv, user) {
  // No reconnect during the test: the server is gone, and the restarted one is checked separately.
  const s = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user) }, reconnectAfterMs: () => 600000,
    rejoinAfterMs: () => 600000,
  });
  s.connect();
  return s;
}

function join(channel) {
  return new Promise((resolve, reject) => {
    channel.join(kWait).receive('ok', resolve).receive('error', (e) => reject(new Error(`join: ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}

// Resolves {ok}, {error} or {lost}; never rejects, never hangs past timeoutMs + 1 s.
function push(channel, event, payload, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ lost: true }), timeoutMs + 1000);
    channel.push(event, payload, timeoutMs)
      .receive('ok', (ok) => { clearTimeout(timer); resolve({ ok }); })
      .receive('error', (error) => { clearTimeout(timer); resolve({ error }); })
      .receive('timeout', () => { clearTimeout(timer); resolve({ lost: true }); });
  });
}

async function allHistory(channel) {
  const pages = [];
  let before = null;
  for (let i = 0; i < 1000; i++) {
    const r = await push(channel, 'history', { before_id: before, limit: 200 }, kWait);
    assert.ok(r.ok, `history: ${JSON.stringify(r)}`);
    pages.unshift(r.ok.messages);
    if (!r.ok.has_more) break;
    before = r.ok.messages[0].id;
  }
  return pages.flat();
}

async function drainUnderLoad({ signal, drainTimeout, loadMs, clients = 6, inFlight = 4 }) {
  const dataDir = mkdtempSync(pathJoin(tmpdir(), 'rtchat-drain-'));
  const args = ['--shards', '2', '--drain-timeout', String(drainTimeout), '--rate', '100000', '--rate-burst', '100000'];
  const sockets = [];
  let srv2;
  try {
    const srv = await startServer({ dataDir, args });
    const rooms = ['room:drain-a', 'room:drain-b'];
    const state = [];
    for (let i = 0; i < clients; i++) {
      const user = `pub${i}`;
      const socket = connect(srv, user);
      sockets.push(socket);
      const st = { user, room: rooms[i % rooms.length], socket, closes: [], acked: [], errors: 0, lost: 0 };
      socket.onClose((ev) => st.closes.push({ code: ev?.code, reason: ev?.reason, at: Date.now() }));
      st.channel = socket.channel(st.room, {});
      await join(st.channel);
      state.push(st);
    }

    // Load: every client keeps inFlight pushes outstanding until its socket closes.
    let seq = 0;
    const lane = async (st) => {
      while (st.closes.length === 0) {
        const body = `${st.user} #${seq++}`;
        const r = await push(st.channel, 'new_msg', { body });
        if (r.ok) st.acked.push({ id: r.ok.id, room: st.room, body, user: st.user });
        else if (r.error) st.errors++;
        else st.lost++;
      }
    };
    const lanes = state.flatMap((st) => Array.from({ length: inFlight }, () => lane(st)));
    await sleep(loadMs);
    const ackedBefore = state.reduce((a, st) => a + st.acked.length, 0);
    assert.ok(ackedBefore > 20, `the load is running (${ackedBefore} acknowledged)`);

    const t0 = Date.now();
    srv.proc.kill(signal);
    const bound = (drainTimeout + 2) * 1000;
    const exit = await Promise.race([srv.exited, sleep(bound).then(() => null)]);
    const exitMs = Date.now() - t0;
    if (exit === null) srv.proc.kill('SIGKILL');
    assert.notEqual(exit, null, `the server exits within --drain-timeout + 2 s (${bound} ms)`);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit status after ${signal}`);

    await waitFor(() => state.every((st) => st.closes.length > 0), 'every client saw its socket close', kWait);
    await Promise.race([Promise.all(lanes), sleep(10000)]);  // in-flight pushes end (ok, error or lost)
    const codes = state.map((st) => st.closes[0].code);
    const acked = state.flatMap((st) => st.acked);
    const errors = state.reduce((a, st) => a + st.errors, 0), lost = state.reduce((a, st) => a + st.lost, 0);
    console.log(`${signal}: exit ${JSON.stringify(exit)} after ${exitMs} ms (bound ${bound} ms); close codes ` +
      `${JSON.stringify(codes)} reason "${state[0].closes[0].reason}"; ${acked.length} acknowledged, ` +
      `${errors} error replies, ${lost} without reply`);
    assert.deepEqual(codes, codes.map(() => 1001), 'every client gets close 1001');
    for (const st of state) assert.ok(st.closes[0].at - t0 < bound, 'closed within the drain bound');
    // Ids are per room.
    const key = (room, id) => `${room}/${id}`;
    assert.equal(new Set(acked.map((m) => key(m.room, m.id))).size, acked.length, 'acknowledged ids are unique per room');

    // Restart on the same data dir: every acknowledged message is in history.
    for (const s of sockets) s.disconnect();
    srv2 = await startServer({ dataDir, args });
    const reader = connect(srv2, 'reader');
    sockets.push(reader);
    const stored = new Map();
    for (const room of rooms) {
      const channel = reader.channel(room, {});
      await join(channel);
      const messages = await allHistory(channel);
      const ids = messages.map((m) => m.id);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${room}: history in id order`);
      assert.equal(new Set(ids).size, ids.length, `${room}: no duplicates`);
      for (const m of messages) stored.set(key(room, m.id), m);
    }
    const missing = acked.filter((m) => !stored.has(key(m.room, m.id)));
    assert.deepEqual(missing, [], 'no acknowledged message is lost');
    for (const m of acked) {
      const s = stored.get(key(m.room, m.id));
      assert.equal(s.body, m.body, `message ${m.id} body`);
      assert.equal(s.user_id, m.user, `message ${m.id} user`);
    }
    console.log(`${signal}: after restart history holds ${stored.size} messages, all ${acked.length} acknowledged found`);
  } finally {
    for (const s of sockets) s.disconnect();
    await srv2?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('SIGTERM under load: every client gets 1001, exit 0 in bound, no acknowledged message lost', async () => {
  await drainUnderLoad({ signal: 'SIGTERM', drainTimeout: 5, loadMs: 1500 });
});

test('SIGINT under load: likewise', async () => {
  await drainUnderLoad({ signal: 'SIGINT', drainTimeout: 3, loadMs: 700, clients: 4 });
});
