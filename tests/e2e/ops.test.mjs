// Operations and hardening end-to-end (issue 9): each limit over a real socket against a real server.
// Flood -> rate_limited replies then 1008; a client that stops reading while its room is busy -> 4008
// with RSS bounded and every other member served in order; Origin policy at the upgrade; /metrics as
// Prometheus text with moving counters; typing relayed and not stored; max rooms per socket;
// heartbeat and handshake timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer, mintToken, waitFor, sleep, withServer, SERVER_BIN } from './lib/server.mjs';
import {
  openRaw, rawUpgrade, metricsText, parsePrometheus, metricSum, metric, rssKiB,
} from './lib/raw_ws.mjs';

const kWait = 5000;

function phx(srv, user, name) {
  const s = new Socket(srv.wsUrl, {
    transport: WebSocket, params: { token: mintToken(user, { name }) }, reconnectAfterMs: () => 60000,
  });
  s.connect();
  return s;
}
function phxJoin(channel) {
  return new Promise((resolve, reject) => {
    channel.join(kWait).receive('ok', resolve).receive('error', (e) => reject(new Error(`join: ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error('join timeout')));
  });
}
// Resolves {ok} or {error}; rejects on timeout.
function phxPush(channel, event, payload) {
  return new Promise((resolve, reject) => {
    channel.push(event, payload, kWait).receive('ok', (ok) => resolve({ ok })).receive('error', (error) => resolve({ error }))
      .receive('timeout', () => reject(new Error(`${event} push timeout`)));
  });
}

test('flood: rate_limited replies, then close 1008 with a reason; other clients unaffected', async () => {
  await withServer(['--shards', '2', '--rate', '5', '--rate-burst', '5', '--flood-strikes', '10'], async (srv, opened) => {
    const flooder = await openRaw(srv, 'flooder');
    const calm = await openRaw(srv, 'calm');
    opened.push(flooder, calm);
    assert.equal((await flooder.join('room:flood')).status, 'ok');
    assert.equal((await calm.join('room:flood')).status, 'ok');

    // ~300 pushes/s against a 5/s limit. (A burst written in one go is the todo test below.)
    const refs = [];
    for (let i = 0; i < 60 && flooder.ws.readyState === WebSocket.OPEN && !flooder.closeInfo; i++) {
      refs.push(flooder.push('room:flood', 'new_msg', { body: `flood ${i}` }));
      await sleep(3);
    }
    const close = await flooder.waitClosed(kWait);
    const replies = flooder.frames.filter((f) => f[3] === 'phx_reply' && f[2] === 'room:flood' && refs.includes(f[1]));
    const ok = replies.filter((f) => f[4].status === 'ok');
    const limited = replies.filter((f) => f[4].status === 'error' && f[4].response?.reason === 'rate_limited');
    console.log(`flood: ${refs.length} pushes sent, ${ok.length} ok, ${limited.length} rate_limited, ` +
      `close ${close.code} "${close.reason}"`);
    assert.ok(ok.length >= 1 && ok.length <= 6, `the burst is served (${ok.length} ok)`);
    assert.ok(limited.length >= 5 && limited.length <= 10, `strikes before the close (${limited.length})`);
    assert.ok(limited.length >= 1, 'rate_limited error replies before the close');
    assert.equal(ok.length + limited.length, replies.length, 'only ok and rate_limited replies');
    // Replies come in push order: every ok before the run of rate_limited strikes that ends in the close.
    const lastOk = replies.findLastIndex((f) => f[4].status === 'ok');
    assert.ok(replies.slice(lastOk + 1).length >= 1);
    assert.equal(close.code, 1008);
    assert.match(close.reason, /rate/);

    // The other client is still open, can publish, and saw exactly the flooder's accepted messages.
    assert.equal(calm.closeInfo, undefined, 'the calm client stays connected');
    const r = await calm.reply(calm.push('room:flood', 'new_msg', { body: 'still here' }));
    assert.equal(r.status, 'ok');
    const seen = () => calm.frames.filter((f) => f[3] === 'new_msg').map((f) => f[4].body);
    await waitFor(() => seen().includes('still here'), 'calm sees its own message', kWait);
    assert.deepEqual(seen(), [...ok.map((f) => `flood ${refs.indexOf(f[1])}`), 'still here']);

    const m = parsePrometheus(await metricsText(srv));
    assert.ok(metricSum(m, 'rtchat_rate_limited_total') >= limited.length + 1);
    assert.equal(metricSum(m, 'rtchat_closes_total', { code: '1008' }), 1);
  });
});

// A flooder that writes all its pushes in one go still receives its replies and the 1008 close:
// the server shuts down writing and drains input before closing (no reset eats the frames).
test('flood written in one burst: rate_limited replies and close 1008 still reach the client', async () => {
  await withServer(['--rate', '5', '--rate-burst', '5', '--flood-strikes', '10'], async (srv, opened) => {
    const c = await openRaw(srv, 'burst');
    opened.push(c);
    await c.join('room:burst');
    for (let i = 0; i < 60; i++) c.push('room:burst', 'new_msg', { body: `b${i}` });
    const close = await c.waitClosed(kWait);
    const limited = c.frames.filter((f) => f[3] === 'phx_reply' && f[4].response?.reason === 'rate_limited');
    assert.equal(limited.length, 9, 'the rate_limited replies arrive');
    assert.equal(close.code, 1008, `close ${close.code} "${close.reason}"`);
  });
});

test('slow consumer: closed with 4008, others get every message in order, RSS bounded', async () => {
  const cap = 65536;
  await withServer(['--shards', '2', '--outbound-cap-bytes', String(cap), '--rate', '1000000', '--rate-burst', '1000000'],
    async (srv, opened) => {
      const topic = 'room:busy';
      const slow = await openRaw(srv, 'slow');
      const readers = [await openRaw(srv, 'reader1'), await openRaw(srv, 'reader2')];
      const pub = await openRaw(srv, 'publisher');
      opened.push(slow, ...readers, pub);
      for (const c of [slow, ...readers, pub]) assert.equal((await c.join(topic)).status, 'ok');
      // Stop reading: the kernel buffers fill, then the server's queue for this socket grows.
      slow.ws._socket.pause();

      const body = 'x'.repeat(1024);
      const acked = [];
      const rss = [rssKiB(srv.proc.pid)];
      const t0 = Date.now();
      const slowClosed = async () => metricSum(parsePrometheus(await metricsText(srv)), 'rtchat_slow_consumer_closes_total');
      let sent = 0;
      // At least 2000 messages; more (bounded) if the loopback buffers absorbed them all before the cap.
      // Then 500 more, so the slow client has missed part of the stream when it is closed.
      let closedAt = 0;
      for (;;) {
        if (!closedAt && (await slowClosed()) > 0) closedAt = sent;
        if (closedAt ? sent >= Math.max(2000, closedAt + 500) : sent >= 20000) break;
        // 20 in flight: a burst of 100 x 1 KiB in one server turn already passes a 64 KiB cap for a
        // member that reads (see the todo test below).
        const refs = [];
        for (let i = 0; i < 20; i++) refs.push(pub.push(topic, 'new_msg', { body: `${sent + i} ${body}` }));
        sent += 20;
        const replies = await Promise.all(refs.map((r) => pub.reply(r, 15000)));
        for (const r of replies) {
          assert.equal(r.status, 'ok', `publish: ${JSON.stringify(r)}`);
          acked.push(r.response.id);
        }
        if (sent % 200 === 0) rss.push(rssKiB(srv.proc.pid));
        // The publisher reads its own broadcasts; drop them so the frame list stays small.
        pub.frames = pub.frames.filter((f) => f[3] !== 'new_msg');
      }
      const publishMs = Date.now() - t0;
      await waitFor(async () => (await slowClosed()) === 1, 'rtchat_slow_consumer_closes_total = 1', kWait);

      const ids = (c) => c.frames.filter((f) => f[3] === 'new_msg' && f[2] === topic).map((f) => f[4].id);
      await waitFor(() => readers.every((c) => ids(c).length >= acked.length), 'readers got every message', 15000);
      const deliverMs = Date.now() - t0;
      for (const c of readers) {
        assert.deepEqual(ids(c), acked, 'a reader gets every acknowledged message once, in order');
        assert.equal(c.closeInfo, undefined, 'readers stay connected');
      }
      const m = parsePrometheus(await metricsText(srv));
      assert.equal(metricSum(m, 'rtchat_closes_total', { code: '4008' }), 1, 'one 4008 close (the slow client)');
      rss.push(rssKiB(srv.proc.pid));

      // Resume the slow client: it reads what the kernel held, then the close (if the server got it out).
      slow.ws._socket.resume();
      const close = await slow.waitClosed(10000);
      const got = ids(slow);
      console.log(`slow consumer: cap ${cap} B, 4008 close counted after ${closedAt} msgs; ` +
        `${sent} msgs of 1 KiB published in ${publishMs} ms, readers ` +
        `complete at ${deliverMs} ms; slow client read ${got.length} msgs before its close ${close.code} ` +
        `"${close.reason}"; server RSS KiB start ${rss[0]} max ${Math.max(...rss)} end ${rss.at(-1)}`);
      // What the slow client got is a gap-free prefix of the stream: nothing skipped mid-stream.
      assert.deepEqual(got, acked.slice(0, got.length), 'the slow client saw a prefix with no gap');
      assert.ok(got.length < acked.length, 'the slow client was cut off before the end');
      if (close.code !== 1006) {
        assert.equal(close.code, 4008);
        assert.equal(close.reason, 'too slow: reconnect and recover');
      }
      // Growth, not an absolute figure: an ASan/UBSan server (scripts/sanitize-e2e.sh) starts near
      // 145 MB (shadow memory) and keeps freed blocks in quarantine.
      const growth = Math.max(...rss) - rss[0];
      assert.ok(growth < 100 * 1024, `server RSS grows by under 100 MB (grew ${growth} KiB from ${rss[0]})`);
    });
});

// The cap bounds what one connection can make the server hold at any instant, counted when a
// frame is queued (issue 12): a member that reads is never closed by bursts that stay under it.
test('a burst of 100 x 1 KiB does not close members that read (--outbound-cap-bytes 262144)', async () => {
  await withServer(['--outbound-cap-bytes', '262144', '--rate', '1000000', '--rate-burst', '1000000'], async (srv, opened) => {
    const pub = await openRaw(srv, 'bursty'), reader = await openRaw(srv, 'reader');
    opened.push(pub, reader);
    await pub.join('room:bursty');
    await reader.join('room:bursty');
    const refs = [];
    for (let i = 0; i < 100; i++) refs.push(pub.push('room:bursty', 'new_msg', { body: `${i} ${'y'.repeat(1024)}` }));
    for (const r of refs) assert.equal((await pub.reply(r, 10000)).status, 'ok');
    await waitFor(() => reader.frames.filter((f) => f[3] === 'new_msg').length === 100, 'reader got 100', kWait);
    assert.equal(await metric(srv, 'rtchat_slow_consumer_closes_total'), 0);
  });
});

test('Origin policy: other origin -> 403, same origin and no Origin -> 101, --allowed-origins -> 101', async () => {
  const path = `/socket/websocket?vsn=2.0.0&token=${mintToken('o')}`;
  await withServer([], async (srv) => {
    const host = `127.0.0.1:${srv.port}`;
    assert.equal(await rawUpgrade(srv.port, path, { Host: host, Origin: 'http://evil.example' }), 403);
    assert.equal(await rawUpgrade(srv.port, path, { Host: host, Origin: `http://${host}` }), 101);
    assert.equal(await rawUpgrade(srv.port, path, { Host: host }), 101);
    assert.equal(await rawUpgrade(srv.port, path, { Host: host, Origin: 'http://app.example' }), 403);
    // Through the ws client too (it sets Origin from the option).
    await assert.rejects(openRaw(srv, 'x', { headers: { Origin: 'http://evil.example' } }), { status: 403 });
    assert.ok(metricSum(parsePrometheus(await metricsText(srv)), 'rtchat_upgrades_rejected_total') >= 3);
  });
  await withServer(['--allowed-origins', 'http://app.example'], async (srv) => {
    const host = `127.0.0.1:${srv.port}`;
    assert.equal(await rawUpgrade(srv.port, path, { Host: host, Origin: 'http://app.example' }), 101);
    assert.equal(await rawUpgrade(srv.port, path, { Host: host, Origin: 'http://evil.example' }), 403);
    assert.equal(await rawUpgrade(srv.port, path, { Host: host }), 101);
  });
});

test('/metrics parses as Prometheus text and its counters move with traffic', async () => {
  await withServer(['--shards', '2'], async (srv, opened) => {
    const before = parsePrometheus(await metricsText(srv));
    // Every sample belongs to a family with a # TYPE (histogram samples: _bucket, _sum, _count).
    const family = (name) => [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => before.types.has(n));
    for (const s of before.samples) assert.ok(family(s.name), `${s.name} has a # TYPE`);
    for (const [name, type] of before.types) {
      if (type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
    }
    for (const name of ['rtchat_connections', 'rtchat_websockets', 'rtchat_joins_total', 'rtchat_messages_in_total',
      'rtchat_messages_published_total', 'rtchat_deliveries_total', 'rtchat_bytes_in_total',
      'rtchat_bytes_out_total', 'rtchat_rate_limited_total', 'rtchat_slow_consumer_closes_total',
      'rtchat_closes_total', 'rtchat_storage_commit_seconds', 'rtchat_publish_to_deliver_seconds']) {
      assert.ok(before.types.has(name), `metric ${name} is exported`);
    }
    // Histogram buckets are cumulative and end with +Inf == _count.
    for (const [name, type] of before.types) {
      if (type !== 'histogram') continue;
      const buckets = before.samples.filter((s) => s.name === `${name}_bucket`);
      assert.ok(buckets.some((b) => b.labels.le === '+Inf'), `${name} has a +Inf bucket`);
    }

    const a = await openRaw(srv, 'm-alice'), b = await openRaw(srv, 'm-bob');
    opened.push(a, b);
    await a.join('room:metrics');
    await b.join('room:metrics');
    for (let i = 0; i < 5; i++) assert.equal((await a.reply(a.push('room:metrics', 'new_msg', { body: `m${i}` }))).status, 'ok');
    await waitFor(() => b.frames.filter((f) => f[3] === 'new_msg').length === 5, 'bob got 5', kWait);

    const d = async () => {
      const after = parsePrometheus(await metricsText(srv));
      const delta = (n) => metricSum(after, n) - metricSum(before, n);
      return { after, delta };
    };
    // Counters are summed on scrape; give the shards a moment to publish theirs.
    let r;
    await waitFor(async () => { r = await d(); return r.delta('rtchat_deliveries_total') >= 10; }, 'deliveries counted', kWait);
    const { after, delta } = r;
    console.log(`metrics deltas: joins ${delta('rtchat_joins_total')} in ${delta('rtchat_messages_in_total')} ` +
      `published ${delta('rtchat_messages_published_total')} deliveries ${delta('rtchat_deliveries_total')} ` +
      `bytes_in ${delta('rtchat_bytes_in_total')} bytes_out ${delta('rtchat_bytes_out_total')}`);
    assert.equal(delta('rtchat_joins_total'), 2);
    assert.equal(delta('rtchat_messages_published_total'), 5);
    // 5 messages x 2 members, plus the presence_diff frames of the two joins (1 + 2).
    assert.ok(delta('rtchat_deliveries_total') >= 10, 'deliveries: 5 messages x 2 members at least');
    assert.ok(delta('rtchat_messages_in_total') >= 7, 'two joins + five pushes decoded');
    assert.ok(delta('rtchat_bytes_in_total') > 5 * 20);
    assert.ok(delta('rtchat_bytes_out_total') > 10 * 50);
    assert.ok(metricSum(after, 'rtchat_websockets') >= 2);
    assert.ok(metricSum(after, 'rtchat_publish_to_deliver_seconds_count') >= 5);
    for (const [name, type] of after.types) {
      if (type === 'counter') assert.ok(metricSum(after, name) >= metricSum(before, name), `${name} never goes down`);
    }
  });
});

test('typing reaches the other members with user_id/user, is not echoed, and is not in history', async () => {
  await withServer([], async (srv, opened) => {
    const sa = phx(srv, 'alice', 'Alice'), sb = phx(srv, 'bob', 'Bob'), sc = phx(srv, 'carol', 'Carol');
    opened.push(sa, sb, sc);
    const ca = sa.channel('room:typing', {}), cb = sb.channel('room:typing', {}), cc = sc.channel('room:typing', {});
    const typing = { a: [], b: [], c: [] };
    ca.on('typing', (p) => typing.a.push(p));
    cb.on('typing', (p) => typing.b.push(p));
    cc.on('typing', (p) => typing.c.push(p));
    await phxJoin(ca); await phxJoin(cb); await phxJoin(cc);

    assert.ok((await phxPush(ca, 'new_msg', { body: 'before typing' })).ok);
    const r = await phxPush(ca, 'typing', {});
    assert.ok(r.ok, `typing push: ${JSON.stringify(r)}`);
    await waitFor(() => typing.b.length === 1 && typing.c.length === 1, 'typing at bob and carol', kWait);
    assert.deepEqual(typing.b[0], { user_id: 'alice', user: 'Alice' });
    assert.deepEqual(typing.c[0], { user_id: 'alice', user: 'Alice' });
    // A second one within the second is refused (1/s per socket), and nothing reaches the others.
    const again = await phxPush(ca, 'typing', {});
    assert.deepEqual(again, { error: { reason: 'rate_limited' } });
    assert.ok((await phxPush(ca, 'new_msg', { body: 'after typing' })).ok);
    await sleep(300);
    assert.equal(typing.a.length, 0, 'not echoed to the sender');
    assert.equal(typing.b.length, 1);

    const h = await phxPush(cb, 'history', { before_id: null, limit: 200 });
    assert.ok(h.ok, JSON.stringify(h));
    assert.deepEqual(h.ok.messages.map((m) => m.body), ['before typing', 'after typing'], 'typing is not stored');
  });
});

test('rtchat_typing_total counts relayed typing events', async () => {
  await withServer([], async (srv, opened) => {
    const a = await openRaw(srv, 'ta'), b = await openRaw(srv, 'tb');
    opened.push(a, b);
    await a.join('room:tcount');
    await b.join('room:tcount');
    assert.equal((await a.reply(a.push('room:tcount', 'typing', {}))).status, 'ok');
    await b.waitFrame((f) => f[3] === 'typing', 'typing at b');
    await waitFor(async () => (await metric(srv, 'rtchat_typing_total')) === 1, 'rtchat_typing_total = 1', kWait);
  });
});

test('--max-rooms-per-conn 3: the 4th join gets "too many channels joined"', async () => {
  await withServer(['--max-rooms-per-conn', '3'], async (srv, opened) => {
    const c = await openRaw(srv, 'joiner');
    opened.push(c);
    for (const t of ['room:r1', 'room:r2', 'room:r3']) assert.equal((await c.join(t)).status, 'ok', t);
    assert.deepEqual(await c.join('room:r4'), { status: 'error', response: { reason: 'too many channels joined' } });
    // Rejoining a joined topic replaces it and is not a 4th room; after a leave a new room fits.
    assert.equal((await c.join('room:r3')).status, 'ok', 'rejoin of a joined topic');
    assert.equal((await c.reply(c.push('room:r1', 'phx_leave', {}))).status, 'ok');
    assert.equal((await c.join('room:r4')).status, 'ok', 'after a leave');
    assert.equal(c.closeInfo, undefined, 'the socket stays open');
  });
});

test('--heartbeat-timeout 2: a silent socket is closed within ~4-5 s; a heartbeating one is not', async () => {
  await withServer(['--heartbeat-timeout', '2'], async (srv, opened) => {
    const silent = await openRaw(srv, 'silent');
    const alive = await openRaw(srv, 'alive');
    opened.push(silent, alive);
    const t0 = Date.now();
    const beat = setInterval(() => alive.send('phoenix', 'heartbeat', {}), 500);
    try {
      const close = await silent.waitClosed(7000);
      const ms = close.at - t0;
      console.log(`heartbeat timeout: silent socket closed after ${ms} ms with ${close.code} "${close.reason}"`);
      assert.ok(ms >= 1500 && ms <= 5000, `closed after ${ms} ms`);
      assert.equal(close.code, 1008);
      await sleep(Math.max(0, 5000 - (Date.now() - t0)));
      assert.equal(alive.closeInfo, undefined, 'the heartbeating socket stays open');
    } finally {
      clearInterval(beat);
    }
  });
});

test('--handshake-timeout 1: a connection that sends half a request is closed', async () => {
  await withServer(['--handshake-timeout', '1'], async (srv) => {
    const t0 = Date.now();
    const result = await new Promise((resolve, reject) => {
      const sock = net.connect(srv.port, '127.0.0.1');
      let data = '';
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('half request not closed in 5 s')); }, 5000);
      sock.on('connect', () => sock.write(`GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n`));
      sock.on('data', (d) => { data += d; });
      sock.on('error', () => {});
      sock.on('close', () => { clearTimeout(timer); resolve({ ms: Date.now() - t0, data }); });
    });
    console.log(`handshake timeout: half request closed after ${result.ms} ms (answer: ${JSON.stringify(result.data.split('\r\n')[0])})`);
    assert.ok(result.ms >= 800 && result.ms <= 3000, `closed after ${result.ms} ms`);
    // A complete, prompt request still works on that server.
    assert.equal((await fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(kWait) })).status, 200);
  });
});

test('connections per user id are capped: the one over --max-conns-per-user gets 429', async () => {
  await withServer(['--max-conns-per-user', '2'], async (srv, opened) => {
    const token = mintToken('greedy');
    const path = `/socket/websocket?vsn=2.0.0&token=${token}`;
    const keep = [];
    for (let i = 0; i < 2; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${path}`);
      await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
      keep.push(ws);
    }
    assert.equal(await rawUpgrade(srv.port, path, { Host: `127.0.0.1:${srv.port}` }), 429);
    // Another user is not affected, and a freed slot can be used again.
    assert.equal(await rawUpgrade(srv.port, `/socket/websocket?vsn=2.0.0&token=${mintToken('other')}`,
      { Host: `127.0.0.1:${srv.port}` }), 101);
    keep[0].close();
    await waitFor(async () => (await rawUpgrade(srv.port, path, { Host: `127.0.0.1:${srv.port}` })) === 101,
      'slot released after close', 5000);
    keep.forEach((ws) => ws.terminate());
  });
});

test('a handshake storm beyond --max-pending-handshakes is answered 503 at once', async () => {
  await withServer(['--shards', '1', '--max-pending-handshakes', '2'], async (srv) => {
    const idle = [];
    for (let i = 0; i < 3; i++) {
      const s = net.connect(srv.port, '127.0.0.1');
      await new Promise((r) => s.on('connect', r));
      idle.push(s);
    }
    await sleep(100);
    const answer = await new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1');
      let buf = '';
      s.on('data', (d) => { buf += d; });
      s.on('close', () => resolve(buf));
      s.on('error', () => resolve(buf));
    });
    assert.match(answer, /^HTTP\/1.1 503/);
    assert.match(answer, /Retry-After: 1/);
    idle.forEach((s) => s.destroy());
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  });
});

// The shard keeps several accepts in flight, each with its own address buffer: a burst from one
// address, larger than that, is counted exactly (each client once, by its own address), and
// every count is given back when the sockets close.
test('a burst from one address over --max-conns-per-ip: exactly the excess is refused, all counted down after', async () => {
  const limit = 24;
  const burst = 40;
  await withServer(['--max-conns-per-ip', String(limit)], async (srv) => {
    const connect = (localAddress) => new Promise((resolve) => {
      const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress });
      let buf = '';
      s.on('data', (d) => { buf += d; });
      s.on('close', () => resolve({ s, refused: /^HTTP\/1.1 429/.test(buf), closed: true }));
      s.on('error', () => {});
      // Held connections get no answer: they wait for a request that never comes.
      setTimeout(() => resolve({ s, refused: false, closed: false }), 1000);
    });
    // Interleaved with another address's clients, so a completion read with another's address
    // buffer would show as a wrong count on both.
    const addresses = Array.from({ length: burst + 10 }, (_, i) => (i % 5 === 4 ? '127.0.0.5' : '127.0.0.4'));
    const results = await Promise.all(addresses.map((a) => connect(a)));
    const of = (a) => results.filter((_, i) => addresses[i] === a);
    assert.equal(of('127.0.0.4').length, burst);
    assert.equal(of('127.0.0.4').filter((r) => r.refused).length, burst - limit);
    assert.equal(of('127.0.0.4').filter((r) => !r.closed).length, limit);
    assert.equal(of('127.0.0.5').filter((r) => !r.closed).length, 10);
    results.forEach((r) => r.s.destroy());
    await waitFor(async () => {
      const again = await Promise.all(Array.from({ length: limit }, () => connect('127.0.0.4')));
      again.forEach((r) => r.s.destroy());
      return again.every((r) => !r.closed);
    }, 'every count given back after the sockets closed', 8000);
  });
});

// Sockets live only in the ring's registered-file table (no process fd), which is as large as
// RLIMIT_NOFILE: run with a hard limit of 128, one shard. The kernel picks the slot for each
// accept; past the last one the accept fails (ENFILE, the kernel closes that socket): counted,
// and accepting resumes (the sweep re-arms) once sockets close.
test('a full socket table (RLIMIT_NOFILE 128): the excess is closed and counted, accepting resumes after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtchat-nofile-'));
  const wrapper = join(dir, 'server.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec prlimit --nofile=128:128 -- ${resolve(SERVER_BIN)} "$@"\n`, { mode: 0o755 });
  const srv = await startServer({ bin: wrapper, args: ['--shards', '1', '--handshake-timeout', '60'] });
  const sockets = [];
  try {
    let closed = 0;
    for (let i = 0; i < 150; i++) {
      const s = net.connect({ port: srv.port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.on('close', () => { closed++; });
      sockets.push(s);
    }
    // 128 fill the table; the 22 others are closed by the kernel, some only after a re-arm.
    await waitFor(async () => closed === 22, '22 connections past the table closed', 8000);
    await sleep(1500);
    assert.equal(closed, 22, 'no more than the excess is closed');
    sockets.slice(0, 10).forEach((s) => s.destroy());
    await waitFor(async () => {
      try {
        return metricSum(parsePrometheus(await metricsText(srv)), 'rtchat_accept_errors_total') >= 22;
      } catch {
        return false;  // not accepted yet: the table is still full
      }
    }, 'served again after sockets closed, accept errors counted', 8000);
  } finally {
    sockets.forEach((s) => s.destroy());
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connections per source address are capped with --max-conns-per-ip: 429, other addresses unaffected', async () => {
  await withServer(['--max-conns-per-ip', '3'], async (srv) => {
    const held = [];
    for (let i = 0; i < 3; i++) {
      const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      await new Promise((r, j) => { s.on('connect', r); s.on('error', j); });
      held.push(s);
    }
    await sleep(100);
    const answer = await new Promise((resolve) => {
      const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      let buf = '';
      s.on('data', (d) => { buf += d; });
      s.on('close', () => resolve(buf));
      s.on('error', () => resolve(buf));
    });
    assert.match(answer, /^HTTP\/1.1 429/);
    assert.match(answer, /too many connections from this address/);
    // 127.0.0.1 is another address: still served.
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
    held.forEach((s) => s.destroy());
    // Freed slots count again.
    await waitFor(async () => {
      const s = net.connect({ port: srv.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      const got = await new Promise((resolve) => {
        let buf = '';
        s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'));
        s.on('data', (d) => { buf += d; });
        s.on('close', () => resolve(buf));
        s.on('error', () => resolve(buf));
      });
      return /^HTTP\/1.1 200/.test(got);
    }, 'address counted down after its connections closed', 5000);
  });
});
