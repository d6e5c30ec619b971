// End-to-end: room records live only while a room is in use (issue 12, item 4). A client joining
// and leaving new room names must not grow the server's memory: rtchat_rooms_owned returns to its
// baseline once the sockets are gone. A room dropped and created again continues its ids from the
// store (SQLite file, two shards), with its history and recovery intact, also after a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metric, openRaw } from './lib/raw_ws.mjs';
import { mintToken, startServer, waitFor } from './lib/server.mjs';

// Rates high enough that the churn below is never rate limited (that is another item's limit).
const ARGS = ['--shards', '2', '--storage', 'sqlite', '--rate', '1000', '--rate-burst', '1000'];
const CHURN_NAMES = 40;

let srv;
let dataDir;  // kept across the restart below; removed at the end
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rtchat-rooms-'));
  srv = await startServer({ args: ARGS, dataDir });
});
after(async () => {
  if (srv) await srv.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const roomsOwned = (s = srv) => metric(s, 'rtchat_rooms_owned');

async function expectRoomsOwned(expected, label, s = srv) {
  try {
    await waitFor(async () => (await roomsOwned(s)) === expected, label, 3000);
  } catch (e) {
    assert.equal(await roomsOwned(s), expected, `${label}: ${e.message}`);
  }
}

async function joinOk(client, topic, payload = {}) {
  const r = await client.join(topic, payload);
  assert.equal(r.status, 'ok', `join ${topic}: ${JSON.stringify(r)}`);
  return r;
}

async function leave(client, topic) {
  const ref = client.send(topic, 'phx_leave', {}, client.joinRefs[topic]);
  assert.equal((await client.reply(ref)).status, 'ok');
}

async function publish(client, topic, body) {
  const r = await client.reply(client.push(topic, 'new_msg', { body }));
  assert.equal(r.status, 'ok', `publish on ${topic}: ${JSON.stringify(r)}`);
  return r.response.id;
}

async function closeAll(clients) {
  for (const c of clients) c.ws.close();
  await Promise.all(clients.map((c) => c.waitClosed()));
}

async function history(s, room) {
  const r = await fetch(`${s.url}/api/rooms/${room}/messages?limit=200`,
    { headers: { authorization: `Bearer ${mintToken('reader')}` } });
  assert.equal(r.status, 200);
  return (await r.json()).messages;
}

test('join + leave churn of new room names: rooms owned return to the baseline', async () => {
  const baseline = await roomsOwned();
  const prefix = `churn-${Date.now()}`;
  // Three ways a room loses its last member: phx_leave, a publish still being stored when the
  // leave arrives, and the socket closing while joined.
  const leaver = await openRaw(srv, 'mallory');
  const publisher = await openRaw(srv, 'mallory');
  const closer = await openRaw(srv, 'mallory');
  for (let i = 0; i < CHURN_NAMES; i++) {
    const topic = `room:${prefix}-l${i}`;
    await joinOk(leaver, topic);
    await leave(leaver, topic);
  }
  for (let i = 0; i < 10; i++) {
    const topic = `room:${prefix}-p${i}`;
    await joinOk(publisher, topic);
    publisher.push(topic, 'new_msg', { body: `m${i}` });  // no wait: the leave races the append
    await leave(publisher, topic);
  }
  for (let i = 0; i < 10; i++) await joinOk(closer, `room:${prefix}-c${i}`);
  assert.ok(await roomsOwned() >= baseline + 10, 'the joined rooms are owned while in use');
  await closeAll([leaver, publisher, closer]);
  await expectRoomsOwned(baseline, 'every churned room is dropped');
  console.log(`# rooms owned after churning ${CHURN_NAMES + 20} new names: ${await roomsOwned()} ` +
    `(baseline ${baseline})`);
  // The rooms that got a message kept it.
  const kept = await history(srv, `${prefix}-p3`);
  assert.deepEqual(kept.map((m) => m.body), ['m3']);
});

test('a dropped room continues its ids from the store, history and recovery intact (2 shards)', async () => {
  const baseline = await roomsOwned();
  const rooms = Array.from({ length: 4 }, (_, i) => `ids-${Date.now()}-${i}`);  // both shards own some
  const first = await openRaw(srv, 'alice');
  for (const room of rooms) {
    await joinOk(first, `room:${room}`);
    for (let k = 1; k <= 3; k++) assert.equal(await publish(first, `room:${room}`, `${room}/${k}`), k);
  }
  await closeAll([first]);
  await expectRoomsOwned(baseline, 'the rooms are dropped after their last member left');

  const second = await openRaw(srv, 'bob');
  for (const room of rooms) {
    const topic = `room:${room}`;
    const from = second.frames.length;
    // A recovering join after the drop: the record's last id came from the store.
    const r = await joinOk(second, topic, { last_seen_id: 1 });
    assert.equal(r.response.recovered, true, 'recovered after the drop');
    const caught = [];
    await waitFor(() => {
      caught.splice(0, caught.length, ...second.frames.slice(from)
        .filter((f) => f[2] === topic && f[3] === 'new_msg').map((f) => f[4].id));
      return caught.length >= 2;
    }, `${room}: catch-up`);
    assert.deepEqual(caught, [2, 3], `${room}: exactly the missed messages`);
    assert.equal(await publish(second, topic, `${room}/4`), 4, `${room}: the id continues`);
    assert.deepEqual((await history(srv, room)).map((m) => [m.id, m.body]),
      [1, 2, 3, 4].map((k) => [k, `${room}/${k}`]), `${room}: history intact`);
  }
  await closeAll([second]);
  await expectRoomsOwned(baseline, 'dropped again');
});

test('after a restart no room is loaded up front, and ids continue from the file', async () => {
  const room = `restart-${Date.now()}`;
  const c = await openRaw(srv, 'carol');
  await joinOk(c, `room:${room}`);
  for (let k = 1; k <= 5; k++) await publish(c, `room:${room}`, `r${k}`);
  await closeAll([c]);
  await srv.stop();
  srv = await startServer({ args: ARGS, dataDir });
  assert.equal(await roomsOwned(), 0, 'nothing owned before a join (was: one record per stored room)');
  const d = await openRaw(srv, 'dave');
  await joinOk(d, `room:${room}`);
  assert.equal(await roomsOwned(), 1);
  assert.equal(await publish(d, `room:${room}`, 'r6'), 6);
  assert.deepEqual((await history(srv, room)).map((m) => m.id), [1, 2, 3, 4, 5, 6]);
  await closeAll([d]);
});
