// Publish-via-API latency (docs/protocol.md "Server API"): starts a server on loopback with an API
// key, keeps SUBSCRIBERS phoenix.js sockets joined to the room, then sends COUNT sequential
// POST /api/rooms/<id>/messages (each a new connection: the server answers one request per
// connection) and reports p50/p90/p99/max of request -> 201 (after the commit and the fan-out);
// then the same COUNT as socket new_msg pushes (push -> ok reply) for comparison.
// Bounded: COUNT requests (default 2000), one at a time, 127.0.0.1 only.
//   node bench/api_publish_latency.mjs [COUNT] [SUBSCRIBERS] [extra server flags...]
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { mintToken, startServer } from '../tests/e2e/lib/server.mjs';

const count = Math.min(Number(process.argv[2] ?? 2000), 20000);
const subscribers = Math.min(Number(process.argv[3] ?? 10), 200);
const extra = process.argv.slice(4);
const key = 'bench-api-key-0123456789';
const srv = await startServer({ args: ['--shards', '2', '--api-key', key, '--rate', '100000', '--rate-burst', '100000', ...extra] });
const sockets = [];
try {
  let delivered = 0;
  for (let i = 0; i < subscribers; i++) {
    const s = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken(`sub${i}`) } });
    s.connect();
    sockets.push(s);
    const ch = s.channel('room:bench-api', {});
    ch.on('new_msg', () => { delivered++; });
    await new Promise((res, rej) => ch.join().receive('ok', res).receive('error', rej));
  }
  const post = async (i) => {
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${srv.url}/api/rooms/bench-api/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ body: `bench message ${i}`, user_id: 'bench-bot' }),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`status ${res.status}`);
    return Number(process.hrtime.bigint() - t0) / 1e3;  // microseconds
  };
  for (let i = 0; i < 100; i++) await post(i);  // warm-up: connections, page cache, JIT
  const report = async (label, one) => {
    const us = [];
    const started = Date.now();
    for (let i = 0; i < count; i++) us.push(await one(i));
    const seconds = (Date.now() - started) / 1000;
    us.sort((a, b) => a - b);
    const q = (p) => us[Math.min(us.length - 1, Math.floor(p * us.length))].toFixed(0);
    console.log(`${label}: requests=${count} subscribers=${subscribers} flags="${extra.join(' ')}" ` +
      `p50_us=${q(0.5)} p90_us=${q(0.9)} p99_us=${q(0.99)} max_us=${us[us.length - 1].toFixed(0)} ` +
      `rate_per_s=${(count / seconds).toFixed(0)}`);
  };
  await report('api', post);
  const pusher = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken('pusher') } });
  pusher.connect();
  sockets.push(pusher);
  const ch = pusher.channel('room:bench-api', {});
  await new Promise((res, rej) => ch.join().receive('ok', res).receive('error', rej));
  await report('socket', (i) => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    ch.push('new_msg', { body: `socket message ${i}` }, 10000)
      .receive('ok', () => resolve(Number(process.hrtime.bigint() - t0) / 1e3))
      .receive('error', (e) => reject(new Error(JSON.stringify(e))))
      .receive('timeout', () => reject(new Error('timeout')));
  }));
  console.log(`delivered=${delivered}`);
} finally {
  for (const s of sockets) s.disconnect();
  await srv.stop();
}
