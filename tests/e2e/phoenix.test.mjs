// Foundation end-to-end: the official phoenix client against a real server over loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer, mintToken, waitFor, sleep } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--shards', '2'] }); });
after(async () => { await srv?.stop(); });

function connect(user) {
  const s = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken(user) } });
  s.connect();
  return s;
}
function join(channel) {
  return new Promise((resolve, reject) => {
    channel.join().receive('ok', resolve).receive('error', reject).receive('timeout', () => reject(new Error('join timeout')));
  });
}
function push(channel, event, payload) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload).receive('ok', resolve).receive('error', (e) => reject(Object.assign(new Error(e.reason), e)))
      .receive('timeout', () => reject(new Error('push timeout')));
  });
}
async function shardCounts() {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  return [...text.matchAll(/^rtchat_websockets\{shard="(\d+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
}

test('two sockets join a room and get each other\'s messages in order; heartbeat and leave work', async () => {
  const a = connect('alice'), b = connect('bob');
  const ca = a.channel('room:basics', {}), cb = b.channel('room:basics', {});
  const seenA = [], seenB = [];
  ca.on('new_msg', (m) => seenA.push(m));
  cb.on('new_msg', (m) => seenB.push(m));
  await join(ca);
  await join(cb);
  // The sender sees its broadcast before its ok reply.
  const reply = await push(ca, 'new_msg', { body: 'hello from alice' });
  assert.equal(seenA.at(-1)?.id, reply.id, 'broadcast arrives before the reply');
  await push(cb, 'new_msg', { body: 'hi alice' });
  for (let i = 0; i < 10; i++) ca.push('new_msg', { body: `a${i}` });
  await waitFor(() => seenA.length === 12 && seenB.length === 12, 'all 12 messages on both sockets');
  assert.deepEqual(seenA, seenB, 'identical messages in identical order');
  const ids = seenA.map((m) => m.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ids increase');
  assert.deepEqual(seenA.filter((m) => m.user_id === 'alice').slice(1).map((m) => m.body),
    Array.from({ length: 10 }, (_, i) => `a${i}`), 'a publisher\'s messages keep their order');
  const m = seenB[0];
  assert.deepEqual(Object.keys(m), ['id', 'room', 'user_id', 'user', 'body', 'ts']);
  assert.equal(m.room, 'basics');
  assert.ok(Number.isInteger(m.ts) && Math.abs(m.ts - Date.now()) < 60000);

  const rtt = await new Promise((resolve) => a.ping(resolve));
  assert.ok(rtt >= 0, 'heartbeat answered');

  let closed = false;
  cb.onClose(() => { closed = true; });
  await new Promise((resolve, reject) => cb.leave().receive('ok', resolve).receive('timeout', reject));
  await waitFor(() => closed, 'channel closed after leave');
  await push(ca, 'new_msg', { body: 'after bob left' });
  await sleep(100);
  assert.equal(seenB.length, 12, 'no messages after leaving');
  a.disconnect(); b.disconnect();
});

test('members on different shards all receive every message of a room in the same order', async () => {
  const sockets = [];
  // SO_REUSEPORT spreads connections by hash: open sockets until both shards hold some.
  for (let i = 0; i < 40; i++) {
    sockets.push(connect(`user${i}`));
    if (sockets.length >= 6) {
      await waitFor(async () => (await shardCounts()).reduce((x, y) => x + y, 0) >= sockets.length, 'sockets open');
      const counts = await shardCounts();
      if (counts.length === 2 && counts.every((n) => n > 0)) break;
    }
  }
  const counts = await shardCounts();
  assert.ok(counts[0] > 0 && counts[1] > 0, `clients on both shards: ${counts}`);
  const channels = sockets.map((s) => s.channel('room:multi', {}));
  const seen = channels.map(() => []);
  channels.forEach((c, i) => c.on('new_msg', (m) => seen[i].push(m)));
  await Promise.all(channels.map(join));
  const perPublisher = 15;
  const publishers = channels.slice(0, 4);
  await Promise.all(publishers.map(async (c, p) => {
    for (let k = 0; k < perPublisher; k++) c.push('new_msg', { body: `p${p}-${k}` });
  }));
  const total = publishers.length * perPublisher;
  await waitFor(() => seen.every((s) => s.length === total), 'every member got every message', 10000);
  const order = seen[0].map((m) => m.id);
  for (const s of seen) assert.deepEqual(s.map((m) => m.id), order, 'one order for everybody');
  for (let p = 0; p < publishers.length; p++) {
    const mine = seen[0].filter((m) => m.body.startsWith(`p${p}-`)).map((m) => m.body);
    assert.deepEqual(mine, Array.from({ length: perPublisher }, (_, k) => `p${p}-${k}`));
  }
  sockets.forEach((s) => s.disconnect());
});

test('protocol errors get phx_reply errors and the socket stays usable', async () => {
  const a = connect('carol');
  const bad = a.channel('nosuch:topic', {});
  const err = await new Promise((resolve) => bad.join().receive('error', resolve));
  assert.equal(err.reason, 'unmatched topic');
  bad.leave();
  const badId = a.channel('room:has space', {});
  assert.equal((await new Promise((resolve) => badId.join().receive('error', resolve))).reason, 'unmatched topic');
  badId.leave();
  const c = a.channel('room:errors', {});
  await join(c);
  await assert.rejects(push(c, 'new_msg', { body: '' }), /invalid body/);
  await assert.rejects(push(c, 'new_msg', { body: 'x'.repeat(4001) }), /invalid body/);
  await assert.rejects(push(c, 'new_msg', { body: 42 }), /invalid body/);
  await assert.rejects(push(c, 'bogus_event', {}), /unknown event/);
  const ok = await push(c, 'new_msg', { body: 'é'.repeat(4000) });
  assert.ok(ok.id > 0, '4000 characters (not bytes) are allowed');
  a.disconnect();
});

// ---- raw WebSocket helpers (bytes the phoenix client would never send)

function rawSocket(opts = {}) {
  const ws = new WebSocket(`${srv.wsUrl}/websocket?vsn=2.0.0&token=${mintToken('raw')}`, opts);
  const frames = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  return { ws, frames, closed, opened };
}

async function assertServerServes() {
  const res = await fetch(`${srv.url}/healthz`);
  assert.equal(res.status, 200);
  const a = connect('still-here');
  const c = a.channel('room:alive', {});
  await join(c);
  assert.ok((await push(c, 'new_msg', { body: 'alive' })).id > 0);
  a.disconnect();
}

test('push before join and push on a topic not joined get "unmatched topic"', async () => {
  const r = rawSocket();
  await r.opened;
  r.ws.send(JSON.stringify([null, '1', 'room:lobby', 'new_msg', { body: 'x' }]));
  await waitFor(() => r.frames.length === 1, 'reply');
  assert.deepEqual(r.frames[0], [null, '1', 'room:lobby', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }]);
  r.ws.send(JSON.stringify(['9', '9', 'room:x', 'phx_join', {}]));
  await waitFor(() => r.frames.some((f) => f[3] === 'phx_reply' && f[1] === '9'), 'join reply');
  r.ws.send(JSON.stringify(['1', '10', 'room:x', 'new_msg', { body: 'stale join ref' }]));
  r.ws.send(JSON.stringify([null, '11', 'phoenix', 'heartbeat', {}]));
  await waitFor(() => r.frames.some((f) => f[1] === '11'), 'heartbeat reply');
  assert.ok(!r.frames.some((f) => f[1] === '10'), 'a push with a stale join_ref is ignored');
  assert.deepEqual(r.frames.find((f) => f[1] === '11'), [null, '11', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  r.ws.close();
});

const badFrames = [
  ['not JSON', 'hello', 1007],
  ['JSON of the wrong shape (object)', '{"topic":"room:x"}', 1007],
  ['four-element array', '[null,"1","room:x","phx_join"]', 1007],
  ['payload not an object', '[null,"1","room:x","phx_join",[]]', 1007],
  ['numeric ref', '[null,1,"room:x","phx_join",{}]', 1007],
];
for (const [name, text, code] of badFrames) {
  test(`bad input: ${name} closes with ${code}`, async () => {
    const r = rawSocket();
    await r.opened;
    r.ws.send(text);
    const { code: got, reason } = await r.closed;
    assert.equal(got, code);
    assert.ok(reason.length > 0, 'close carries a reason');
    await assertServerServes();
  });
}

test('bad input: invalid UTF-8 in a text frame closes with 1007', async () => {
  const r = rawSocket();
  await r.opened;
  r.ws.send(Buffer.from([0x5b, 0x6e, 0xff, 0xfe, 0x5d]), { binary: false });
  const { code, reason } = await r.closed;
  assert.equal(code, 1007);
  assert.match(reason, /utf-8/);
  await assertServerServes();
});

test('bad input: a message over the limit closes with 1009', async () => {
  const r = rawSocket();
  await r.opened;
  r.ws.send(JSON.stringify([null, '1', 'room:x', 'new_msg', { body: 'x'.repeat(70000) }]));
  const { code, reason } = await r.closed;
  assert.equal(code, 1009);
  assert.match(reason, /too big/);
  await assertServerServes();
});

test('bad input: a binary frame on a JSON socket closes with 1003', async () => {
  const r = rawSocket();
  await r.opened;
  r.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await r.closed).code, 1003);
});

test('bad input: an unmasked client frame closes with 1002', async () => {
  const net = await import('node:net');
  const key = Buffer.from('0123456789abcdef').toString('base64');
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
  sock.write(`GET /socket/websocket?vsn=2.0.0&token=${mintToken('raw')} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await waitFor(() => buf.includes('\r\n\r\n'), '101');
  assert.match(buf.toString(), /^HTTP\/1.1 101/);
  const head = buf.indexOf('\r\n\r\n') + 4;
  const payload = Buffer.from('[null,"1","phoenix","heartbeat",{}]');
  sock.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));  // no mask bit
  await waitFor(() => buf.length > head + 2, 'close frame');
  const frame = buf.subarray(head);
  assert.equal(frame[0], 0x88, 'a close frame');
  assert.equal(frame.readUInt16BE(2), 1002);
  sock.destroy();
  await assertServerServes();
});

test('malformed HTTP gets 400, unknown API paths 404, oversized headers 431', async () => {
  const net = await import('node:net');
  const ask = (bytes) => new Promise((resolve) => {
    const s = net.connect(srv.port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
  assert.match(await ask('\x16\x03\x01garbage that is not HTTP\r\n\r\n'), /^HTTP\/1.1 400/);
  assert.match(await ask('GET /api/nope HTTP/1.1\r\nHost: localhost\r\n\r\n'), /^HTTP\/1.1 404/);
  assert.match(await ask(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(10000)}\r\n\r\n`), /^HTTP\/1.1 431/);
  assert.match(await ask('GET /socket/websocket HTTP/1.1\r\nHost: localhost\r\n\r\n'), /^HTTP\/1.1 400/);
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
});

test('every connection slot is released: clean closes, resets and half-sent requests', async () => {
  const net = await import('node:net');
  const sockets = [];
  for (let i = 0; i < 30; i++) {
    const r = rawSocket();
    await r.opened;
    r.ws.send(JSON.stringify([`${i}`, `${i}`, 'room:slots', 'phx_join', {}]));
    sockets.push(r);
  }
  await sleep(200);
  sockets.forEach((r, i) => (i % 2 ? r.ws.terminate() : r.ws.close()));  // resets and clean closes
  for (let i = 0; i < 10; i++) {
    const s = net.connect(srv.port, '127.0.0.1', () => { s.write('GET /healthz HTTP/1.1\r\nHo'); s.destroy(); });
    s.on('error', () => {});
  }
  const open = async () => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    return [...text.matchAll(/^rtchat_connections\{shard="\d+"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  // Only the /metrics request itself remains.
  await waitFor(async () => (await open()) <= 1, 'all connections released', 8000);
});

test('a join reply echoes the join\'s own ref, even when it differs from join_ref', async () => {
  const r = rawSocket();
  await r.opened;
  r.ws.send(JSON.stringify(['7', '8', 'room:refs', 'phx_join', {}]));
  await waitFor(() => r.frames.some((f) => f[3] === 'phx_reply'), 'join reply');
  assert.deepEqual(r.frames.find((f) => f[3] === 'phx_reply'),
    ['7', '8', 'room:refs', 'phx_reply', { status: 'ok', response: { last_read_id: 0, unread: 0 } }]);
  r.ws.close();
});
