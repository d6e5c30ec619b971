// Hostile presence and rejoin traffic (issue 12 items 6, 14, 15) against a real server on loopback:
// - a rejoin written in the same TCP write as an earlier join recovers every message for the final
//   join, and the earlier join's late answers (its reply, its catch-up) change nothing;
// - one token's 32 sockets churning join/leave with control-padded name and device reach another
//   member of the room with a bounded number of bytes (measured over 5 s and printed);
// - joins of one topic on one socket are rate limited on their own (burst 5, then 1 per 2 s), and
//   joins of one user in one room too (burst 16, then 1 per s), so reconnecting does not help;
// - one user holds at most 8 sessions (metas) in a room;
// - names and devices lose control, bidi and zero-width characters; a device is cut at 32 bytes
//   on a character boundary.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { mintToken, sleep, startServer, waitFor } from './lib/server.mjs';
import { openRaw } from './lib/raw_ws.mjs';

let srv;
before(async () => { srv = await startServer({ args: ['--shards', '2'] }); });
after(async () => { await srv?.stop(); });

// One masked client text frame (RFC 6455 5.3), so that several frames can go out in one write.
function maskedTextFrame(text) {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len])
    : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// Writes the given Phoenix frames to the client's TCP socket in a single write.
function writeTogether(client, frames) {
  client.ws._socket.write(Buffer.concat(frames.map((f) => maskedTextFrame(JSON.stringify(f)))));
}

async function publish(client, topic, n, label) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const ref = client.push(topic, 'new_msg', { body: `${label} ${i}` });
    const r = await client.reply(ref);
    assert.equal(r.status, 'ok', `publish ${label} ${i}: ${JSON.stringify(r)}`);
    ids.push(r.response.id);
  }
  return ids;
}

const newMsgIds = (client, topic) =>
  client.frames.filter((f) => f[2] === topic && f[3] === 'new_msg').map((f) => f[4].id);

// ---------------------------------------------------------------- item 6: recovery by join

for (const variant of [
  { name: 'distinct join_refs', first: ['1', '1'], second: ['2', '2'] },
  { name: 'the same join_ref', first: ['7', '1'], second: ['7', '2'] },
  { name: 'no join_ref', first: [null, '1'], second: [null, '2'] },
]) {
  test(`a rejoin in the same write as a join recovers every message for the final join (${variant.name})`, async () => {
    const topic = `room:rejoin-race-${variant.second[1]}-${variant.first[0] ?? 'null'}`;
    const writer = await openRaw(srv, 'writer');
    const reader = await openRaw(srv, 'reader');
    try {
      assert.equal((await writer.join(topic)).status, 'ok');
      const ids = await publish(writer, topic, 5, 'before');
      assert.deepEqual(ids, [1, 2, 3, 4, 5]);

      // Join with last_seen_id 4, then at once (same write) re-join with last_seen_id 0.
      writeTogether(reader, [
        [variant.first[0], variant.first[1], topic, 'phx_join', { last_seen_id: 4 }],
        [variant.second[0], variant.second[1], topic, 'phx_join', { last_seen_id: 0 }],
      ]);
      const reply = await reader.waitFrame((f) => f[3] === 'phx_reply' && f[1] === variant.second[1],
        'reply to the final join');
      assert.equal(reply[0], variant.second[0], 'the reply carries the final join_ref');
      assert.deepEqual(reply[4], { status: 'ok', response: { recovered: true, last_read_id: 0, unread: 5 } });
      await waitFor(() => newMsgIds(reader, topic).length >= 5, 'catch-up of ids 1..5');

      // A live message after the catch-up arrives once, after it.
      const [live] = await publish(writer, topic, 1, 'after');
      assert.equal(live, 6);
      await waitFor(() => newMsgIds(reader, topic).includes(6), 'live id 6');
      await sleep(200);  // any late stale catch-up would land now
      assert.deepEqual(newMsgIds(reader, topic), [1, 2, 3, 4, 5, 6], 'each id once, in order');

      // The first join never gets a reply of its own, and the final join is the one that is live.
      const firstReplies = reader.frames.filter((f) => f[3] === 'phx_reply' && f[1] === variant.first[1]);
      assert.equal(firstReplies.length, 0, `no reply for the replaced join: ${JSON.stringify(firstReplies)}`);
      const errors = reader.frames.filter((f) => f[3] === 'phx_error');
      assert.equal(errors.length, 0);
      const states = reader.frames.filter((f) => f[3] === 'presence_state');
      assert.equal(states.length, 1, 'one presence_state, for the final join');
      assert.equal(states[0][0], variant.second[0]);
      // The reply precedes the presence_state, which precedes the catch-up.
      const at = (pred) => reader.frames.findIndex(pred);
      assert.ok(at((f) => f === reply) < at((f) => f[3] === 'presence_state'));
      assert.ok(at((f) => f[3] === 'presence_state') < at((f) => f[3] === 'new_msg'));

      // The channel works: a push with the final join_ref is served.
      const ref = reader.send(topic, 'new_msg', { body: 'from reader' }, variant.second[0]);
      assert.equal((await reader.reply(ref)).status, 'ok');
    } finally {
      writer.terminate();
      reader.terminate();
    }
  });
}

// ---------------------------------------------------------------- item 14: churn amplification

// 64 bytes of name and 32 of device, nearly all control characters (6 bytes each as \u00XX).
const kPaddedName = 'M' + '\u0001'.repeat(63);
const kPaddedDevice = 'd' + '\u0002'.repeat(31);

// Opens a bare ws socket for a token; resolves once open.
function openWs(token) {
  const ws = new WebSocket(`${srv.wsUrl}/websocket?vsn=2.0.0&token=${token}`, { perMessageDeflate: false });
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('open: timeout')); }, 5000);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('unexpected-response', (_q, res) => { clearTimeout(timer); reject(new Error(`HTTP ${res.statusCode}`)); });
  });
}

test('32 sockets of one token churning join/leave send a bounded number of bytes to another member', async () => {
  const topic = 'room:churn-amplification';
  const kSockets = 32;
  const kWindowMs = 5000;
  const kEveryMs = 50;  // 20 frames/s per socket: exactly the general --rate
  const observer = await openRaw(srv, 'observer');
  const attackers = [];
  try {
    assert.equal((await observer.join(topic)).status, 'ok');
    let bytes = 0;
    let counting = false;
    observer.ws.on('message', (data) => { if (counting) bytes += data.length; });

    const token = mintToken('mallory', { name: kPaddedName });
    for (let i = 0; i < kSockets; i++) attackers.push(await openWs(token));
    const replies = { ok: 0, rate_limited: 0, too_many_sessions: 0, other: 0 };
    for (const ws of attackers) {
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        if (f[3] !== 'phx_reply') return;
        const reason = f[4].response?.reason;
        if (f[4].status === 'ok') replies.ok++;
        else if (reason === 'rate_limited') replies.rate_limited++;
        else if (reason === 'too many sessions in room') replies.too_many_sessions++;
        else replies.other++;
      });
    }

    // Each socket alternates join and leave every 50 ms for the whole window (bounded loop).
    counting = true;
    const start = Date.now();
    let ref = 0;
    const loops = attackers.map(async (ws) => {
      let joinRef = null;
      for (let step = 0; Date.now() - start < kWindowMs; step++) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ref++;
        if (joinRef === null) {
          joinRef = String(ref);
          ws.send(JSON.stringify([joinRef, joinRef, topic, 'phx_join', { device: kPaddedDevice }]));
        } else {
          ws.send(JSON.stringify([joinRef, String(ref), topic, 'phx_leave', {}]));
          joinRef = null;
        }
        await sleep(kEveryMs);
      }
    });
    await Promise.all(loops);
    const elapsed = Date.now() - start;
    await sleep(100);  // diffs of the last frames
    counting = false;
    const closed = attackers.filter((ws) => ws.readyState !== WebSocket.OPEN).length;
    console.log(`churn: ${kSockets} sockets x ${elapsed} ms -> observer received ${bytes} bytes; ` +
      `attacker replies ${JSON.stringify(replies)}; attackers closed ${closed}`);
    assert.ok(observer.closeInfo === undefined, 'the observer stays connected');
    // Before the fix: about 2 MB. With the join limit, the per-room session cap and sanitized
    // metas the whole window is a few tens of KB.
    assert.ok(bytes < 150_000, `observer received ${bytes} bytes in ${elapsed} ms`);
    assert.ok(replies.rate_limited > 0, 'joins were rate limited');
  } finally {
    for (const ws of attackers) ws.terminate();
    observer.terminate();
  }
});

test('reconnecting to rejoin brings no fresh budget: one user\'s churn by new sockets stays bounded', async () => {
  const topic = 'room:reconnect-churn';
  const kWindowMs = 5000;
  const observer = await openRaw(srv, 'observer2');
  try {
    assert.equal((await observer.join(topic)).status, 'ok');
    let bytes = 0;
    let counting = true;
    observer.ws.on('message', (data) => { if (counting) bytes += data.length; });
    const token = mintToken('mallory2', { name: kPaddedName });
    const start = Date.now();
    let cycles = 0;
    const replies = {};
    // 32 workers (the per-user socket cap): connect, join, close, again, for 5 s.
    const worker = async () => {
      while (Date.now() - start < kWindowMs) {
        let ws;
        try { ws = await openWs(token); } catch { await sleep(5); continue; }
        ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { device: kPaddedDevice }]));
        const reply = await new Promise((resolve) => {
          ws.once('message', (d) => resolve(JSON.parse(d.toString())));
          setTimeout(() => resolve(null), 1000);
        });
        const key = reply ? (reply[4].response?.reason ?? reply[4].status) : 'none';
        replies[key] = (replies[key] ?? 0) + 1;
        ws.terminate();
        cycles++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    await sleep(200);
    counting = false;
    console.log(`reconnect churn: ${cycles} connect+join+close cycles in ${Date.now() - start} ms -> ` +
      `observer received ${bytes} bytes; join replies ${JSON.stringify(replies)}`);
    // Before the per-user budget: about 0.9 MB (5.6 MB before any of these fixes).
    assert.ok(bytes < 100_000, `observer received ${bytes} bytes`);
    assert.ok((replies.rate_limited ?? 0) > 0);
  } finally {
    observer.terminate();
  }
});

test('joins of one topic are rate limited per socket (burst 5, then 1 per 2 s); other topics and leaves are not', async () => {
  const c = await openRaw(srv, 'rejoiner');
  try {
    const topic = 'room:join-limit';
    for (let i = 0; i < 5; i++) {
      assert.equal((await c.join(topic)).status, 'ok', `join ${i + 1}`);
      const ref = c.send(topic, 'phx_leave', {}, c.joinRefs[topic]);
      assert.equal((await c.reply(ref)).status, 'ok', `leave ${i + 1}`);
    }
    const refused = await c.join(topic);
    assert.deepEqual(refused, { status: 'error', response: { reason: 'rate_limited' } });
    // The refused join created no channel: a push gets "unmatched topic".
    const push = c.send(topic, 'new_msg', { body: 'x' }, null);
    assert.equal((await c.reply(push)).response.reason, 'unmatched topic');
    // Another topic has its own budget.
    assert.equal((await c.join('room:join-limit-other')).status, 'ok');
    // One token comes back every 2 s.
    await sleep(2100);
    assert.equal((await c.join(topic)).status, 'ok', 'join after 2 s');
    const leave = c.send(topic, 'phx_leave', {}, c.joinRefs[topic]);
    assert.equal((await c.reply(leave)).status, 'ok', 'leaves are never refused by the join limit');
    assert.equal(c.closeInfo, undefined);
  } finally {
    c.terminate();
  }
});

test('a user holds at most 8 sessions in a room: the 9th join is refused, a freed slot can be taken', async () => {
  const topic = 'room:session-cap';
  const observer = await openRaw(srv, 'cap-observer');
  const sockets = [];
  try {
    assert.equal((await observer.join(topic)).status, 'ok');
    for (let i = 0; i < 9; i++) sockets.push(await openRaw(srv, 'multi'));
    for (let i = 0; i < 8; i++) {
      assert.equal((await sockets[i].join(topic, { device: `d${i}` })).status, 'ok', `session ${i + 1}`);
    }
    const ninth = await sockets[8].join(topic, { device: 'd8' });
    assert.deepEqual(ninth, { status: 'error', response: { reason: 'too many sessions in room' } });
    // The refused socket has no channel, and other rooms are open to it.
    const push = sockets[8].send(topic, 'new_msg', { body: 'x' }, null);
    assert.equal((await sockets[8].reply(push)).response.reason, 'unmatched topic');
    assert.equal((await sockets[8].join('room:session-cap-other')).status, 'ok');

    // The observer sees exactly 8 metas for the user.
    await sleep(100);
    const metas = new Map();
    for (const f of observer.frames) {
      if (f[3] === 'presence_state') for (const m of f[4].multi?.metas ?? []) metas.set(m.phx_ref, m);
      if (f[3] === 'presence_diff') {
        for (const m of f[4].joins.multi?.metas ?? []) metas.set(m.phx_ref, m);
        for (const m of f[4].leaves.multi?.metas ?? []) metas.delete(m.phx_ref);
      }
    }
    assert.equal(metas.size, 8);

    // One session leaves: the ninth socket can now join.
    sockets[0].terminate();
    await observer.waitFrame((f) => f[3] === 'presence_diff' &&
      (f[4].leaves.multi?.metas ?? []).some((m) => m.device === 'd0'), 'the first session leaves');
    assert.equal((await sockets[8].join(topic, { device: 'd8' })).status, 'ok', 'a freed slot is taken');
  } finally {
    for (const s of sockets) s.terminate();
    observer.terminate();
  }
});

// ---------------------------------------------------------------- items 14 and 15: clean text

test('name and device lose control, bidi and zero-width characters; device is cut at 32 bytes', async () => {
  const topic = 'room:clean-text';
  // "Alice" with a right-to-left override, zero-width space, bell, and a C1 control.
  const dirtyName = 'A\u202Eli\u200Bc\u0007e\u0085\u2066';
  const c = await openRaw(srv, 'spoofer', { token: mintToken('spoofer', { name: dirtyName }) });
  const blank = await openRaw(srv, 'blank', { token: mintToken('blank', { name: '\u200B\u202E\u0001' }) });
  try {
    // 20 x "é" is 20 characters (accepted by the codec) and 40 bytes: cut to 16 x "é" (32 bytes).
    assert.equal((await c.join(topic, { device: 'ph\u0000one\u200F\u061C' })).status, 'ok');
    assert.equal((await blank.join(topic, { device: '\u00e9'.repeat(20) })).status, 'ok');
    const state = await blank.waitFrame((f) => f[3] === 'presence_state', 'presence_state');
    assert.deepEqual(state[4].spoofer.metas.map((m) => [m.name, m.device]), [['Alice', 'phone']]);
    // A name of nothing but invisible characters falls back to the user id.
    assert.deepEqual(state[4].blank.metas.map((m) => [m.name, m.device]), [['blank', '\u00e9'.repeat(16)]]);

    const ref = c.push(topic, 'new_msg', { body: 'hi' });
    assert.equal((await c.reply(ref)).status, 'ok');
    const msg = await blank.waitFrame((f) => f[3] === 'new_msg', 'new_msg');
    assert.equal(msg[4].user, 'Alice');
    assert.equal(msg[4].user_id, 'spoofer');

    // A device of 31 ASCII bytes and one 2-byte character (33 bytes) loses the whole character.
    const d = await openRaw(srv, 'cutter');
    try {
      assert.equal((await d.join(topic, { device: 'x'.repeat(31) + '\u00e9' })).status, 'ok');
      const s = await d.waitFrame((f) => f[3] === 'presence_state', 'presence_state');
      assert.equal(s[4].cutter.metas[0].device, 'x'.repeat(31));
    } finally {
      d.terminate();
    }
  } finally {
    c.terminate();
    blank.terminate();
  }
});

// ---------------------------------------------------------------- item 8: exact connection counts

// libstdc++'s std::hash<std::string_view> on 64-bit Linux (_Hash_bytes, seed 0xc70f6907): the old
// counters used its low 16 bits as the bucket, so two keys equal there shared one count.
const kMask64 = (1n << 64n) - 1n;
const kMul = (0xc6a4a793n << 32n) + 0x5bd1e995n;
const shiftMix = (v) => v ^ (v >> 47n);
function stdHash(text) {
  const buf = Buffer.from(text);
  let hash = 0xc70f6907n ^ ((BigInt(buf.length) * kMul) & kMask64);
  const aligned = buf.length & ~7;
  for (let p = 0; p < aligned; p += 8) {
    hash ^= (shiftMix((buf.readBigUInt64LE(p) * kMul) & kMask64) * kMul) & kMask64;
    hash = (hash * kMul) & kMask64;
  }
  if (buf.length & 7) {
    let data = 0n;
    for (let i = buf.length - 1; i >= aligned; i--) data = (data << 8n) + BigInt(buf[i]);
    hash = ((hash ^ data) * kMul) & kMask64;
  }
  return shiftMix((shiftMix(hash) * kMul) & kMask64);
}
const oldBucket = (key) => Number(stdHash(key) & 0xffffn);

// The first two keys from candidates(i) that fell into one old bucket.
function collidingPair(candidate) {
  const seen = new Map();
  for (let i = 0; i < 1_000_000; i++) {
    const key = candidate(i);
    const b = oldBucket(key);
    if (seen.has(b)) return [seen.get(b), key];
    seen.set(b, key);
  }
  throw new Error('no collision found');
}

function upgradeFrom(port, localAddress, token) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let buf = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('upgrade: no answer')); }, 5000);
    s.on('connect', () => s.write([`GET /socket/websocket?vsn=2.0.0&token=${token} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', ''].join('\r\n')));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const m = buf.match(/^HTTP\/1\.1 (\d{3})/);
      if (m) { clearTimeout(timer); resolve({ status: Number(m[1]), socket: s }); }
    });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

test('users and addresses whose keys shared a bucket of the old counters are counted apart', async () => {
  const [userA, userB] = collidingPair((i) => `user-${i}`);
  // Source addresses on the loopback network 127.0.0.0/8 (all of it answers on Linux), from
  // 127.0.1.1 on (127.0.0.1 is the third address below), last byte 1..254.
  const ip = (i) => { const n = Math.floor(i / 254) + 1; return `127.${(n >> 8) & 255}.${n & 255}.${(i % 254) + 1}`; };
  const [ipA, ipB] = collidingPair(ip);
  assert.equal(oldBucket(userA), oldBucket(userB));
  assert.equal(oldBucket(ipA), oldBucket(ipB));
  // The other addresses used below share no bucket with ipA.
  for (const other of ['127.0.0.1', '127.0.0.3']) assert.notEqual(oldBucket(other), oldBucket(ipA));
  const limited = await startServer({ args: ['--max-conns-per-user', '1', '--max-conns-per-ip', '1'] });
  const held = [];
  const upgrade = async (from, user) => {
    const r = await upgradeFrom(limited.port, from, mintToken(user));
    held.push(r.socket);
    return r.status;
  };
  try {
    assert.equal(await upgrade(ipA, userA), 101);
    // userA holds its one socket (and ipA its one connection): userB is another user.
    assert.equal(await upgrade('127.0.0.1', userB), 101, `${userB} is not counted as ${userA}`);
    // ipB is another address.
    assert.equal(await upgrade(ipB, 'someone-else'), 101, `${ipB} is not counted as ${ipA}`);
    // The limits themselves still hold.
    assert.equal(await upgrade('127.0.0.3', userA), 429, `a second socket of ${userA}`);
    assert.equal(await upgrade(ipA, 'a-third-user'), 429, `a second connection from ${ipA}`);
  } finally {
    for (const s of held) s.destroy();
    await limited.stop();
  }
});
