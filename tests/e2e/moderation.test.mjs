// End-to-end: moderation (docs/protocol.md "Moderation") on --shards 2 with phoenix.js. delete_msg
// by the author, refused to others (not_allowed), allowed to moderators (role or moderate claim);
// msg_deleted reaches members on both shards; history over the socket and over HTTP shows the
// tombstone; a recovering client gets the tombstone and msg_deleted in order; errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { BUILD_DIR, mintToken, startServer, waitFor } from './lib/server.mjs';

const CLI = process.env.RTCHAT_CLI_BIN || join(BUILD_DIR, 'loadtest', 'rtchat-cli');

const kWait = 5000;
const kArgs = ['--shards', '2', '--rate', '100000', '--rate-burst', '100000'];

let srv;
const sockets = new Set();
before(async () => { srv = await startServer({ args: kArgs }); });
after(async () => {
  for (const s of sockets) s.disconnect();
  await srv?.stop();
});

function connect(user, claims = {}) {
  const socket = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user, { name: user, ...claims }) },
    reconnectAfterMs: () => 60000,
  });
  socket.connect();
  sockets.add(socket);
  return socket;
}

function push(channel, event, payload) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload, kWait)
      .receive('ok', (r) => resolve({ ok: r }))
      .receive('error', (r) => resolve({ error: r }))
      .receive('timeout', () => reject(new Error(`${event}: timeout`)));
  });
}

// Joins and records every new_msg and msg_deleted, in arrival order.
function joinRoom(socket, room, params = {}) {
  const channel = socket.channel(`room:${room}`, params);
  const events = [];
  channel.on('new_msg', (m) => events.push(['new_msg', m]));
  channel.on('msg_deleted', (m) => events.push(['msg_deleted', m]));
  return new Promise((resolve, reject) => {
    channel.join().receive('ok', (reply) => resolve({ channel, events, reply }))
      .receive('error', (e) => reject(new Error(`join ${room}: ${JSON.stringify(e)}`)));
  });
}

async function publish(channel, body) {
  const r = await push(channel, 'new_msg', { body });
  assert.ok(r.ok, JSON.stringify(r));
  return r.ok.id;
}

test('the author deletes its own message; every member on both shards gets msg_deleted', async () => {
  const room = 'mod-own';
  const alice = await joinRoom(connect('alice'), room);
  const members = [];
  for (let i = 0; i < 6; i++) members.push(await joinRoom(connect(`m${i}`), room));
  const id = await publish(alice.channel, 'oops, wrong room');
  const r = await push(alice.channel, 'delete_msg', { id });
  assert.deepEqual(r, { ok: { id } });
  for (const m of [alice, ...members]) {
    await waitFor(() => m.events.some(([e]) => e === 'msg_deleted'), 'msg_deleted');
    const [, d] = m.events.find(([e]) => e === 'msg_deleted');
    assert.equal(d.id, id);
    assert.equal(d.deleted_by, 'alice');
    assert.ok(d.event_id > id, 'the delete takes the next id of the room order');
  }
  // Once deleted it is gone: a second delete finds nothing.
  assert.deepEqual(await push(alice.channel, 'delete_msg', { id }), { error: { reason: 'not_found' } });
  // The room's order continues after the delete event.
  const next = await publish(alice.channel, 'right room now');
  const [, d] = alice.events.find(([e]) => e === 'msg_deleted');
  assert.equal(next, d.event_id + 1);
});

test('others are refused with not_allowed; moderators may delete', async () => {
  const room = 'general-mod';
  const alice = await joinRoom(connect('alice'), room);
  const bob = await joinRoom(connect('bob'), room);
  const byRole = await joinRoom(connect('mod1', { role: 'moderator' }), room);
  const byList = await joinRoom(connect('mod2', { moderate: ['general-*'] }), room);
  const notHere = await joinRoom(connect('mod3', { moderate: ['other'] }), room);
  const a1 = await publish(alice.channel, 'first');
  const a2 = await publish(alice.channel, 'second');
  assert.deepEqual(await push(bob.channel, 'delete_msg', { id: a1 }), { error: { reason: 'not_allowed' } });
  assert.deepEqual(await push(notHere.channel, 'delete_msg', { id: a1 }), { error: { reason: 'not_allowed' } });
  assert.deepEqual(await push(byRole.channel, 'delete_msg', { id: a1 }), { ok: { id: a1 } });
  assert.deepEqual(await push(byList.channel, 'delete_msg', { id: a2 }), { ok: { id: a2 } });
  await waitFor(() => bob.events.filter(([e]) => e === 'msg_deleted').length === 2, 'both deletes');
  assert.deepEqual(bob.events.filter(([e]) => e === 'msg_deleted').map(([, d]) => [d.id, d.deleted_by]),
    [[a1, 'mod1'], [a2, 'mod2']]);
});

test('unknown ids are not_found, bad payloads invalid_payload', async () => {
  const alice = await joinRoom(connect('alice'), 'mod-errors');
  assert.deepEqual(await push(alice.channel, 'delete_msg', { id: 999999 }), { error: { reason: 'not_found' } });
  assert.deepEqual(await push(alice.channel, 'delete_msg', {}), { error: { reason: 'invalid_payload' } });
  assert.deepEqual(await push(alice.channel, 'delete_msg', { id: 'x' }), { error: { reason: 'invalid_payload' } });
  assert.deepEqual(await push(alice.channel, 'delete_msg', { id: 0 }), { error: { reason: 'invalid_payload' } });
  const id = await publish(alice.channel, 'a');
  const del = await push(alice.channel, 'delete_msg', { id });
  assert.ok(del.ok);
  // A delete event is no message: deleting it finds nothing.
  const [, d] = await waitFor(() => alice.events.find(([e]) => e === 'msg_deleted'), 'msg_deleted');
  assert.deepEqual(await push(alice.channel, 'delete_msg', { id: d.event_id }), { error: { reason: 'not_found' } });
});

test('history over the socket and over HTTP shows the tombstone, not the delete event', async () => {
  const room = 'mod-history';
  const alice = await joinRoom(connect('alice'), room);
  const ids = [];
  for (const body of ['one', 'secret', 'three']) ids.push(await publish(alice.channel, body));
  assert.ok((await push(alice.channel, 'delete_msg', { id: ids[1] })).ok);
  const page = await push(alice.channel, 'history', { before_id: null, limit: 10 });
  assert.deepEqual(page.ok.messages.map((m) => [m.id, m.body, m.deleted ?? false]),
    [[ids[0], 'one', false], [ids[1], '', true], [ids[2], 'three', false]]);
  assert.equal(page.ok.messages[1].user_id, 'alice');
  const res = await fetch(`${srv.url}/api/rooms/${room}/messages`,
    { headers: { authorization: `Bearer ${mintToken('reader')}` } });
  const http = await res.json();
  assert.deepEqual(http.messages.map((m) => [m.id, m.body, m.deleted ?? false]),
    [[ids[0], 'one', false], [ids[1], '', true], [ids[2], 'three', false]]);
  assert.ok(!JSON.stringify(http).includes('secret'));
});

test('a recovering client gets the tombstone and msg_deleted in order', async () => {
  const room = 'mod-recover';
  const alice = await joinRoom(connect('alice'), room);
  const old = await publish(alice.channel, 'old');
  const seen = await publish(alice.channel, 'last seen');
  // While the reader is away: a message, the delete of an older one, the delete of the new one.
  const fresh = await publish(alice.channel, 'fresh');
  const also = await publish(alice.channel, 'also');
  assert.ok((await push(alice.channel, 'delete_msg', { id: old })).ok);
  assert.ok((await push(alice.channel, 'delete_msg', { id: fresh })).ok);
  const reader = await joinRoom(connect('reader'), room, { last_seen_id: seen });
  assert.equal(reader.reply.recovered, true);
  await waitFor(() => reader.events.length === 3, 'catch-up');
  assert.deepEqual(reader.events.map(([e, p]) => (e === 'new_msg' ? [e, p.id, p.body, p.deleted ?? false] : [e, p.id])),
    [['new_msg', fresh, '', true], ['new_msg', also, 'also', false], ['msg_deleted', old]]);
});

test('a binary (rtchat.v1) member gets msg_deleted in order between messages', async () => {
  const room = 'mod-binary';
  const alice = await joinRoom(connect('alice'), room);
  const cli = spawn(CLI, ['--port', String(srv.port), '--token', mintToken('binreader'), '--room', room,
    '--format', 'binary', '--expect', '2', '--timeout', '15000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  cli.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => cli.on('exit', resolve));
  await waitFor(() => out.includes(`joined room:${room}`), 'binary member joined', 10000);
  const first = await publish(alice.channel, 'regret');
  assert.ok((await push(alice.channel, 'delete_msg', { id: first })).ok);
  const second = await publish(alice.channel, 'better');
  assert.equal(await exited, 0);
  const lines = out.trim().split('\n').slice(1);
  assert.equal(lines.length, 3, out);
  assert.match(lines[0], new RegExp(`^msg ${first} alice regret$`));
  assert.match(lines[1], new RegExp(`^deleted ${first} event ${second - 1} by alice$`));
  assert.match(lines[2], new RegExp(`^msg ${second} alice better$`));
});
