// Protocol conformance through a real server over raw TCP: RFC 6455 section 5 framing rules on
// the inbound side (each broken rule closes with its code and a non-empty reason; an oversized
// header closes 1009 before any payload) and RFC 7230/9110 on the HTTP side (request line, HEAD,
// 405 with Allow, 404 for unknown WebSocket endpoints).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken, sleep, startServer } from './lib/server.mjs';

const kMaxMessageBytes = 4096;  // small, so the oversize cases send little
const kUiMarker = 'UI-SHELL-MARKER-5c1e';
const kTimeoutMs = 5000;

let srv;
let webRoot;

before(async () => {
  webRoot = mkdtempSync(join(tmpdir(), 'rtchat-conformance-web-'));
  writeFileSync(join(webRoot, 'index.html'), `<!doctype html><title>${kUiMarker}</title>\n`);
  writeFileSync(join(webRoot, 'app.js'), 'console.log("app");\n');
  srv = await startServer({ args: ['--web-root', webRoot, '--max-message-bytes', String(kMaxMessageBytes), '--dev-tokens'] });
});

after(async () => {
  await srv?.stop();
  if (webRoot) rmSync(webRoot, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------ WebSocket

// A masked client frame. opts.len announces a length other than the payload's (a BigInt is
// written in the 64-bit form as is); opts.form forces '16' or '64'; opts.masked=false omits the
// mask bit and key.
function clientFrame(b0, payload = Buffer.alloc(0), opts = {}) {
  const masked = opts.masked ?? true;
  const len = opts.len ?? payload.length;
  const form = opts.form ?? (typeof len === 'bigint' || len > 0xffff ? '64' : len > 125 ? '16' : '7');
  const maskBit = masked ? 0x80 : 0;
  let head;
  if (form === '7') {
    head = Buffer.from([b0, maskBit | Number(len)]);
  } else if (form === '16') {
    head = Buffer.from([b0, maskBit | 126, 0, 0]);
    head.writeUInt16BE(Number(len), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

const closePayload = (code, reason = '') => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
};

// Upgrades a raw socket; resolves {sock, data(), headEnd, closedAt()} once the 101 is in.
async function openWs(user = 'conformance') {
  const sock = net.connect(srv.port, '127.0.0.1');
  const conn = { sock, buf: Buffer.alloc(0), headEnd: -1, closed: false };
  sock.on('data', (d) => { conn.buf = Buffer.concat([conn.buf, d]); });
  sock.on('close', () => { conn.closed = true; });
  sock.on('error', () => {});
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.write(`GET /socket/websocket?vsn=2.0.0&token=${mintToken(user)} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n' +
    'Sec-WebSocket-Version: 13\r\n\r\n');
  const deadline = Date.now() + kTimeoutMs;
  while (conn.buf.indexOf('\r\n\r\n') < 0) {
    if (Date.now() > deadline || conn.closed) throw new Error(`no 101: ${conn.buf}`);
    await sleep(5);
  }
  assert.match(conn.buf.toString('latin1'), /^HTTP\/1\.1 101 /);
  conn.headEnd = conn.buf.indexOf('\r\n\r\n') + 4;
  return conn;
}

// The complete server frames received so far (server frames are unmasked).
function serverFrames(conn) {
  const frames = [];
  let p = conn.headEnd;
  const b = conn.buf;
  while (b.length - p >= 2) {
    let len = b[p + 1] & 0x7f;
    let off = p + 2;
    if (len === 126) { if (b.length < off + 2) break; len = b.readUInt16BE(off); off += 2; }
    else if (len === 127) { if (b.length < off + 8) break; len = Number(b.readBigUInt64BE(off)); off += 8; }
    if (b.length < off + len) break;
    frames.push({ opcode: b[p] & 0x0f, fin: (b[p] & 0x80) !== 0, payload: b.subarray(off, off + len) });
    p = off + len;
  }
  return frames;
}

// Resolves {code, reason, frames, ms} once the server's close frame is in (ms: time since
// `since`). A socket that ends without a close frame, or no close within timeoutMs, fails.
async function closeFrom(conn, since = Date.now(), timeoutMs = kTimeoutMs) {
  const deadline = since + timeoutMs;
  for (;;) {
    const frames = serverFrames(conn);
    const close = frames.find((f) => f.opcode === 0x8);
    if (close) {
      conn.sock.destroy();
      return {
        code: close.payload.length >= 2 ? close.payload.readUInt16BE(0) : null,
        reason: close.payload.subarray(2).toString('utf8'),
        frames,
        ms: Date.now() - since,
      };
    }
    if (conn.closed) throw new Error('socket closed without a close frame');
    if (Date.now() > deadline) {
      conn.sock.destroy();
      throw new Error(`no close frame within ${timeoutMs} ms`);
    }
    await sleep(5);
  }
}

// Sends bytes on a fresh socket and asserts the close code and a non-empty reason.
async function expectClose(bytes, code, label) {
  const conn = await openWs();
  const since = Date.now();
  conn.sock.write(bytes);
  const got = await closeFrom(conn, since);
  assert.equal(got.code, code, `${label}: close code (reason "${got.reason}")`);
  assert.ok(got.reason.length > 0, `${label}: close frame carries a reason`);
  return got;
}

async function assertServerServes() {
  const res = await fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(kTimeoutMs) });
  assert.equal(res.status, 200);
}

test('a control frame without FIN closes 1002 with a reason', async () => {
  await expectClose(clientFrame(0x09, Buffer.from('hi')), 1002, 'ping without FIN');
  await expectClose(clientFrame(0x08, closePayload(1000)), 1002, 'close without FIN');
  await assertServerServes();
});

test('a control frame with a payload over 125 bytes closes 1002 with a reason', async () => {
  await expectClose(clientFrame(0x89, Buffer.alloc(126, 0x61)), 1002, 'ping of 126 bytes');
  await expectClose(clientFrame(0x8a, Buffer.alloc(300, 0x61)), 1002, 'pong of 300 bytes');
});

test('a close frame with a 1-byte payload closes 1002 with a reason', async () => {
  await expectClose(clientFrame(0x88, Buffer.from([0x03])), 1002, '1-byte close');
});

test('a 64-bit length with the most significant bit set closes 1002 with a reason', async () => {
  // Header only: no payload could ever follow such a length.
  await expectClose(clientFrame(0x82, Buffer.alloc(0), { len: 1n << 63n }), 1002, 'top bit');
  await expectClose(clientFrame(0x81, Buffer.alloc(0), { len: 0xffffffffffffffffn }), 1002, 'all ones');
});

test('a header announcing more than --max-message-bytes closes 1009 at once, payload unsent', async () => {
  const got = await expectClose(clientFrame(0x81, Buffer.alloc(0), { len: kMaxMessageBytes + 1 }), 1009,
    'oversized header');
  assert.match(got.reason, /too big/);
  assert.ok(got.ms < 2000, `closed after ${got.ms} ms`);
  await expectClose(clientFrame(0x82, Buffer.alloc(0), { len: 1n << 40n }), 1009, '1 TiB header');
});

test('a fragmented message whose running total passes the limit closes 1009 at the header', async () => {
  const first = clientFrame(0x01, Buffer.alloc(3000, 0x61));  // text, FIN=0, within the limit
  const next = clientFrame(0x80, Buffer.alloc(0), { len: 2000 });  // continuation, FIN, header only
  const got = await expectClose(Buffer.concat([first, next]), 1009, 'fragments over the limit');
  assert.match(got.reason, /too big/);
});

test('a client close with an invalid code is answered 1002 with a reason', async () => {
  for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
    await expectClose(clientFrame(0x88, closePayload(code)), 1002, `client close ${code}`);
  }
});

test('every other framing error closes 1002 with a reason', async () => {
  const hb = Buffer.from('[null,"1","phoenix","heartbeat",{}]');
  await expectClose(clientFrame(0x81, hb, { masked: false }), 1002, 'unmasked');
  await expectClose(clientFrame(0xc1, hb), 1002, 'RSV1 without an extension');
  await expectClose(clientFrame(0x83, hb), 1002, 'reserved opcode 3');
  await expectClose(clientFrame(0x8b, Buffer.alloc(0)), 1002, 'reserved opcode 0xB');
  await expectClose(clientFrame(0x80, hb), 1002, 'continuation outside a message');
  await expectClose(Buffer.concat([clientFrame(0x01, hb.subarray(0, 5)), clientFrame(0x81, hb)]), 1002,
    'new message inside a fragmented one');
  await expectClose(clientFrame(0x81, Buffer.from('abc'), { form: '16' }), 1002, 'non-minimal length');
  await assertServerServes();
});

test('frames before a bad header are answered first, then the close follows', async () => {
  const hb = Buffer.from('[null,"7","phoenix","heartbeat",{}]');
  const got = await expectClose(Buffer.concat([clientFrame(0x81, hb), clientFrame(0x09, Buffer.alloc(0))]),
    1002, 'heartbeat then a ping without FIN');
  assert.equal(got.frames[0].opcode, 0x1, 'the heartbeat reply comes before the close');
  assert.deepEqual(JSON.parse(got.frames[0].payload.toString()),
    [null, '7', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
});

test('valid control frames still work: ping gets its pong, a client close its echo', async () => {
  const conn = await openWs();
  conn.sock.write(clientFrame(0x89, Buffer.from('p1')));
  conn.sock.write(clientFrame(0x88, closePayload(1000, 'bye')));
  const got = await closeFrom(conn);
  assert.equal(got.frames[0].opcode, 0xa);
  assert.equal(got.frames[0].payload.toString(), 'p1');
  assert.equal(got.code, 1000);
  assert.equal(got.reason, 'bye');
});

// A connection holds a wslay context only while it is in the middle of a frame or a fragmented
// message; between messages the context goes back to the shard's spares for the next reader. Here
// sockets stop mid-header, mid-payload and mid-message while others read whole messages, round
// after round: every socket must get exactly its own replies, in order.
test('sockets paused mid-frame or mid-message each get only their own replies while others read', async () => {
  const hb = (ref) => Buffer.from(`[null,"${ref}","phoenix","heartbeat",{}]`);
  const replyRefs = (conn) => serverFrames(conn).filter((f) => f.opcode === 0x1)
    .map((f) => JSON.parse(f.payload.toString())).map((m) => `${m[1]}:${m[3]}:${m[4].status}`);
  const conns = await Promise.all(['split-a', 'split-b', 'split-c', 'split-d'].map((u) => openWs(u)));
  const [a, b, c, d] = conns;
  const expected = new Map(conns.map((x) => [x, []]));
  const kRounds = 12;
  for (let r = 0; r < kRounds; r++) {
    const fa = clientFrame(0x81, hb(`a${r}`));
    const cut = 1 + (r % (fa.length - 1));  // mid-header on the first rounds, mid-payload later
    a.sock.write(fa.subarray(0, cut));
    const pb = hb(`b${r}`);
    b.sock.write(clientFrame(0x01, pb.subarray(0, 9)));  // text, FIN clear: a fragmented message
    c.sock.write(Buffer.concat([clientFrame(0x81, hb(`c${r}x`)), clientFrame(0x81, hb(`c${r}y`)),
      clientFrame(0x89, Buffer.from(`ping${r}`))]));
    await sleep(15);  // the server reads those apart
    d.sock.write(clientFrame(0x81, hb(`d${r}`)));
    await sleep(15);
    a.sock.write(fa.subarray(cut));
    b.sock.write(clientFrame(0x80, pb.subarray(9)));  // continuation with FIN
    expected.get(a).push(`a${r}:phx_reply:ok`);
    expected.get(b).push(`b${r}:phx_reply:ok`);
    expected.get(c).push(`c${r}x:phx_reply:ok`, `c${r}y:phx_reply:ok`);
    expected.get(d).push(`d${r}:phx_reply:ok`);
  }
  const deadline = Date.now() + kTimeoutMs;
  while (conns.some((x) => replyRefs(x).length < expected.get(x).length) && Date.now() < deadline) {
    await sleep(10);
  }
  for (const x of conns) assert.deepEqual(replyRefs(x), expected.get(x));
  const pongs = serverFrames(c).filter((f) => f.opcode === 0xa).map((f) => f.payload.toString());
  assert.deepEqual(pongs, Array.from({ length: kRounds }, (_, r) => `ping${r}`));
  for (const x of conns) {
    assert.ok(!serverFrames(x).some((f) => f.opcode === 0x8), 'no socket was closed');
    x.sock.destroy();
  }
});

// ----------------------------------------------------------------------------------------- HTTP

// Writes raw bytes and resolves {status, headers, body (Buffer), raw} when the server closes.
function ask(bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1', () => sock.write(bytes, 'latin1'));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer to ${JSON.stringify(bytes)}`)); },
      kTimeoutMs);
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { reject(new Error(`no response head to ${JSON.stringify(bytes)}: ${buf}`)); return; }
      const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: buf.subarray(end + 4), raw: buf });
    });
  });
}

const request = (method, path, extra = '') =>
  ask(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`);

test('a request line without a version, or with a bad one, gets 400', async () => {
  assert.equal((await ask('GET /healthz\r\n\r\n')).status, 400);
  assert.equal((await ask('GET /healthz\r\nHost: localhost\r\n\r\n')).status, 400);
  assert.equal((await ask('GET /healthz HTXP/1.1\r\nHost: localhost\r\n\r\n')).status, 400);
  assert.equal((await ask('GET /healthz HTTP/1.1x\r\nHost: localhost\r\n\r\n')).status, 400);
  assert.equal((await ask('GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')).status, 400);
  assert.equal((await ask('GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n')).status, 505);
  assert.equal((await ask('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')).status, 200);
  assert.equal((await ask('GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
});

test('a WebSocket upgrade on an unknown path gets 404, never the UI shell', async () => {
  const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n' +
    'Sec-WebSocket-Version: 13\r\n';
  for (const path of ['/socket/nope', '/socket/websocketX', '/socket/websocket/', '/socket', '/chat',
    `/socket/nope?vsn=2.0.0&token=${mintToken('u')}`]) {
    const res = await request('GET', path, upgrade);
    assert.equal(res.status, 404, path);
    assert.ok(!res.body.toString().includes(kUiMarker), `${path}: no UI shell`);
  }
  // Without Upgrade, /socket/... is still no UI route; other extensionless paths are.
  assert.equal((await request('GET', '/socket/nope')).status, 404);
  const route = await request('GET', '/rooms/lobby');
  assert.equal(route.status, 200);
  assert.ok(route.body.toString().includes(kUiMarker));
});

test('HEAD answers never carry a body, on every route', async () => {
  const token = mintToken('header');
  const paths = ['/', '/index.html', '/app.js', '/rooms/lobby', '/nope.js', '/.hidden', '/healthz',
    '/readyz', '/metrics', '/api/nope', '/api/dev/token', '/socket/websocket', '/socket/nope',
    `/api/rooms/lobby/messages?token=${token}`, '/api/rooms/lobby/messages', '/api/rooms/b%21d/messages?token=x'];
  for (const path of paths) {
    const head = await request('HEAD', path);
    const get = await request('GET', path);
    assert.equal(head.body.length, 0, `HEAD ${path}: ${head.status} with ${head.body.length} body bytes`);
    if (path === '/socket/websocket') {
      assert.equal(head.status, 405, 'the handshake needs GET');  // GET without Upgrade: 400
      continue;
    }
    assert.equal(head.status, get.status, `HEAD ${path} answers like GET`);
    if (path !== '/metrics' && get.headers['content-length'] !== undefined) {
      assert.equal(head.headers['content-length'], get.headers['content-length'], `HEAD ${path} Content-Length`);
    }
  }
  // A conditional HEAD on a static file: 304, no body either.
  const etag = (await request('GET', '/app.js')).headers.etag;
  const cond = await request('HEAD', '/app.js', `If-None-Match: ${etag}\r\n`);
  assert.equal(cond.status, 304);
  assert.equal(cond.body.length, 0);
});

test('PUT, DELETE, OPTIONS, PATCH and POST on read-only paths get 405 with Allow', async () => {
  for (const method of ['PUT', 'DELETE', 'OPTIONS', 'PATCH', 'POST']) {
    for (const path of ['/', '/index.html', '/app.js', '/rooms/lobby', '/healthz', '/readyz', '/metrics',
      '/api/rooms/lobby/messages']) {
      // POST on a room's messages is the server API's publish: off here (no --api-key), so 404.
      if (method === 'POST' && path.startsWith('/api/')) continue;
      const res = await request(method, path, 'Content-Length: 0\r\n');
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.allow, 'GET, HEAD', `${method} ${path}: Allow`);
    }
  }
  assert.equal((await request('POST', '/api/rooms/lobby/messages', 'Content-Length: 0\r\n')).status, 404);
  // Paths that do not exist stay 404 whatever the method; the dev endpoint allows POST only.
  assert.equal((await request('PUT', '/nope.js', 'Content-Length: 0\r\n')).status, 404);
  const dev = await request('GET', '/api/dev/token');
  assert.equal(dev.status, 405);
  assert.equal(dev.headers.allow, 'POST');
  await assertServerServes();
});
