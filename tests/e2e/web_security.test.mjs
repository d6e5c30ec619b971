// Issue 12, web items through real servers and raw HTTP: dev token minting only with the built-in
// secret or --dev-tokens (9), Host checks against DNS rebinding and the loopback default (12),
// security headers (13), and the small ones (16): a dev-token name cut on a UTF-8 boundary, absurd
// ttls refused, "." and ".." not room ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { openRaw, rawUpgrade } from './lib/raw_ws.mjs';
import { mintToken, SERVER_BIN, startServer } from './lib/server.mjs';

const upgradePath = (token = mintToken('h')) => `/socket/websocket?vsn=2.0.0&token=${token}`;

// One raw HTTP/1.1 request (the server closes after answering); resolves {status, headers, body}.
function rawRequest(port, requestLine, headers = {}, body = '') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`${requestLine}: no answer`)); }, 5000);
    sock.on('connect', () => {
      const lines = [requestLine];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      sock.write(lines.join('\r\n') + '\r\n\r\n' + body);
    });
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = buf.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const m = text.match(/^HTTP\/1\.1 (\d{3})/);
      if (!m || end < 0) return reject(new Error(`${requestLine}: not an HTTP answer: ${text}`));
      const hdrs = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const c = line.indexOf(':');
        hdrs[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      resolve({ status: Number(m[1]), headers: hdrs, body: text.slice(end + 4) });
    });
  });
}

const postToken = (srv, payload, headers = {}) => fetch(`${srv.url}/api/dev/token`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers },
  body: typeof payload === 'string' ? payload : JSON.stringify(payload),
});

// Runs the binary to completion (bad flags, the token subcommand); no RTCHAT_* from outside.
function runBin(args, extraEnv = {}, timeoutMs = 10000) {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTCHAT_'))),
    ...extraEnv };
  return new Promise((resolve) => {
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
  });
}

// Starts the binary with exactly these flags (no --host), reads its listening line, stops it.
async function listeningLine(args) {
  const dataDir = mkdtempSync(join(tmpdir(), 'rtchat-websec-'));
  const proc = spawn(SERVER_BIN, [...args, '--port', '0', '--data-dir', dataDir, '--shards', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stderr.on('data', (d) => { out += d; });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 10000);
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on (\S+):\d+/);
        if (m) { clearTimeout(timer); resolve({ host: m[1], out }); }
      });
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${out}`)); });
    });
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.on('exit', r)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- 9. Dev minting ------------------------------------------------------------------------------

test('a custom --jwt-secret without --dev-tokens: /api/dev/token is 404, and the log says so', async () => {
  const srv = await startServer();  // --jwt-secret TEST_SECRET, dev mode
  try {
    const res = await postToken(srv, { user: 'admin' });
    assert.equal(res.status, 404, 'nobody mints "admin" with the real secret');
    await res.arrayBuffer();
    assert.match(srv.output(), /auth.*mode=dev secret=custom dev_tokens=off/);
  } finally {
    await srv.stop();
  }
});

test('--dev-tokens (or RTCHAT_DEV_TOKENS) turns minting on with a custom secret', async () => {
  const srv = await startServer({ args: ['--dev-tokens'] });
  try {
    const res = await postToken(srv, { user: 'dora' });
    assert.equal(res.status, 200);
    const { token } = await res.json();
    (await openRaw(srv, 'dora', { token })).terminate();
    assert.match(srv.output(), /mode=dev secret=custom dev_tokens=on/);
  } finally {
    await srv.stop();
  }
  process.env.RTCHAT_DEV_TOKENS = 'true';
  let viaEnv;
  try {
    viaEnv = await startServer();
  } finally {
    delete process.env.RTCHAT_DEV_TOKENS;
  }
  try {
    const res = await postToken(viaEnv, { user: 'dora' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await viaEnv.stop();
  }
});

test('the built-in dev secret mints (its tokens are worthless elsewhere), with a warning', async () => {
  const srv = await startServer({ secret: '' });
  try {
    const res = await postToken(srv, { user: 'dora' });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.match(srv.output(), /warn auth mode=dev secret=builtin dev_tokens=on allowed_hosts=localhost/);
  } finally {
    await srv.stop();
  }
});

test('--production with --dev-tokens refuses to start; production says its mode', async () => {
  const r = await runBin(['--production', '--dev-tokens', '--jwt-secret', 'x', '--port', '0']);
  assert.equal(r.signal, null, r.out);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /--dev-tokens .*cannot be used with --production/);
  const prod = await startServer({ args: ['--production'] });
  try {
    assert.match(prod.output(), /mode=production secret=custom dev_tokens=off allowed_hosts=any/);
  } finally {
    await prod.stop();
  }
});

test('a page on another origin cannot mint (403), even on a minting server', async () => {
  const srv = await startServer({ args: ['--dev-tokens'] });
  try {
    const res = await postToken(srv, { user: 'dora' }, { origin: 'http://evil.example' });
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    const same = await postToken(srv, { user: 'dora' }, { origin: srv.url });
    assert.equal(same.status, 200);
    await same.arrayBuffer();
  } finally {
    await srv.stop();
  }
});

// --- 12. DNS rebinding ---------------------------------------------------------------------------

test('dev mode listens on 127.0.0.1 by default; --production on 0.0.0.0', async () => {
  assert.equal((await listeningLine([])).host, '127.0.0.1');
  assert.equal((await listeningLine(['--production', '--jwt-secret', 'x'])).host, '0.0.0.0');
});

test('dev mode: a rebinding Host (evil.example, with a matching Origin) is refused everywhere', async () => {
  ensureWebBuilt();
  const srv = await startServer({ secret: '', args: ['--web-root', webDistDir] });
  try {
    const evil = { Host: 'evil.example', Origin: 'http://evil.example' };
    // The upgrade: 101 on the old code (Origin equals Host).
    assert.equal(await rawUpgrade(srv.port, upgradePath(), evil), 421);
    assert.equal(await rawUpgrade(srv.port, upgradePath(), { Host: `evil.example:${srv.port}` }), 421);
    for (const path of ['/', '/healthz', '/metrics', '/api/rooms/lobby/messages']) {
      const r = await rawRequest(srv.port, `GET ${path} HTTP/1.1`, evil);
      assert.equal(r.status, 421, path);
      assert.match(r.body, /host not allowed: dev mode answers localhost names only/);
    }
    const mint = await rawRequest(srv.port, 'POST /api/dev/token HTTP/1.1', evil, '{"user":"admin"}');
    assert.equal(mint.status, 421);
    assert.doesNotMatch(mint.body, /token/);
    assert.match(srv.output(), /host_rejected.*host="evil.example"/);

    // Localhost names, with and without a port, still work.
    for (const host of [`127.0.0.1:${srv.port}`, `localhost:${srv.port}`, 'localhost', `[::1]:${srv.port}`,
      `app.localhost:${srv.port}`]) {
      assert.equal(await rawUpgrade(srv.port, upgradePath(mintToken('h', { secret: 'rtchat-dev-secret-do-not-use-in-production' })),
        { Host: host, Origin: `http://${host}` }), 101, host);
      assert.equal((await rawRequest(srv.port, 'GET /healthz HTTP/1.1', { Host: host })).status, 200, host);
    }
    const page = await rawRequest(srv.port, 'GET / HTTP/1.1', { Host: `localhost:${srv.port}` });
    assert.equal(page.status, 200);
  } finally {
    await srv.stop();
  }
});

test('dev mode --allowed-hosts adds names; production --allowed-hosts is a strict list', async () => {
  const dev = await startServer({ args: ['--allowed-hosts', 'devbox.lan'] });
  try {
    assert.equal((await rawRequest(dev.port, 'GET /healthz HTTP/1.1', { Host: `devbox.lan:${dev.port}` })).status, 200);
    assert.equal((await rawRequest(dev.port, 'GET /healthz HTTP/1.1', { Host: 'localhost' })).status, 200);
    assert.equal((await rawRequest(dev.port, 'GET /healthz HTTP/1.1', { Host: 'evil.example' })).status, 421);
  } finally {
    await dev.stop();
  }
  // Production without a list: any Host, the Origin rule as before.
  const open = await startServer({ args: ['--production'] });
  try {
    assert.equal(await rawUpgrade(open.port, upgradePath(), { Host: 'chat.example.com' }), 101);
    assert.equal(await rawUpgrade(open.port, upgradePath(), { Host: 'chat.example.com', Origin: 'http://evil.example' }), 403);
  } finally {
    await open.stop();
  }
  const listed = await startServer({ args: ['--production', '--allowed-hosts', 'chat.example.com,*.example.org'] });
  try {
    const ok = { Host: 'chat.example.com', Origin: 'https://chat.example.com' };
    assert.equal(await rawUpgrade(listed.port, upgradePath(), ok), 101);
    assert.equal(await rawUpgrade(listed.port, upgradePath(), { Host: 'eu.example.org:8443' }), 101);
    assert.equal(await rawUpgrade(listed.port, upgradePath(), { Host: 'evil.example', Origin: 'http://evil.example' }), 421);
    assert.equal(await rawUpgrade(listed.port, upgradePath(), { Host: 'chat.example.com', Origin: 'http://evil.example' }), 403);
    const r = await rawRequest(listed.port, 'GET /healthz HTTP/1.1', { Host: `127.0.0.1:${listed.port}` });
    assert.equal(r.status, 421, 'production with a list: localhost is not special');
    assert.match(r.body, /see --allowed-hosts/);
    assert.match(listed.output(), /allowed_hosts=chat.example.com,\*.example.org/);
  } finally {
    await listed.stop();
  }
});

// --- 13. Security headers ------------------------------------------------------------------------

test('HTML carries the CSP header with frame-ancestors; every answer X-Frame-Options and Referrer-Policy', async () => {
  ensureWebBuilt();
  const srv = await startServer({ args: ['--web-root', webDistDir] });
  try {
    const page = await fetch(`${srv.url}/`);
    assert.equal(page.status, 200);
    await page.arrayBuffer();
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /require-trusted-types-for 'script'/);
    for (const path of ['/', '/healthz', '/api/nope', '/no-such.js']) {
      const r = await fetch(`${srv.url}${path}`);
      await r.arrayBuffer();
      assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
    }
    const upgrade = await rawRequest(srv.port, 'GET /socket/websocket HTTP/1.1', { Host: `127.0.0.1:${srv.port}` });
    assert.equal(upgrade.headers['x-frame-options'], 'DENY');
  } finally {
    await srv.stop();
  }
});

// --- 16. Small ones ------------------------------------------------------------------------------

test('a dev-token name is cut on a UTF-8 boundary: the minted token works', async () => {
  const srv = await startServer({ secret: '' });
  try {
    const user = 'xx' + '€'.repeat(40);  // 122 bytes; the 64-byte cut falls inside a "€"
    const res = await postToken(srv, { user });
    assert.equal(res.status, 200);
    const { token } = await res.json();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, user);
    assert.equal(claims.name, 'xx' + '€'.repeat(20), 'cut back to 62 bytes of whole characters');
    // The old code cut inside a character: 403 "token is not json".
    assert.equal(await rawUpgrade(srv.port, upgradePath(token), { Host: `127.0.0.1:${srv.port}` }), 101);
  } finally {
    await srv.stop();
  }
});

test('absurd ttls are refused with a clear error (endpoint and token subcommand)', async () => {
  const srv = await startServer({ secret: '' });
  try {
    for (const ttl of ["9000000000000000000", 0, -1, 604801]) {
      const res = await postToken(srv, `{"user":"dora","ttl":${ttl}}`);
      assert.equal(res.status, 400, `ttl ${ttl}`);
      const body = await res.json();
      assert.ok(/ttl must be 1\.\.604800 seconds|expected/.test(body.error), body.error);
    }
    const week = await postToken(srv, { user: 'dora', ttl: 604800 });
    assert.equal(week.status, 200);
    await week.arrayBuffer();
  } finally {
    await srv.stop();
  }
  const huge = await runBin(['token', '--user', 'u', '--ttl', '9223372036854775807']);
  assert.notEqual(huge.code, 0, `refused (old code printed a token that expired in the past): ${huge.out}`);
  assert.match(huge.out, /--ttl must be 1\.\.\d+ seconds/);
  assert.doesNotMatch(huge.out, /^ey/m);
  const zero = await runBin(['token', '--user', 'u', '--ttl', '0']);
  assert.notEqual(zero.code, 0);
  const ok = await runBin(['token', '--user', 'u', '--ttl', String(5 * 365 * 86400)]);
  assert.equal(ok.code, 0, ok.out);
  const claims = JSON.parse(Buffer.from(ok.out.trim().split('.')[1], 'base64url').toString());
  assert.ok(claims.exp > Date.now() / 1000 + 4 * 365 * 86400, 'five years ahead');
});

test('"." and ".." are not room ids (join and history API)', async () => {
  const srv = await startServer();
  try {
    const c = await openRaw(srv, 'dotty');
    try {
      for (const id of ['.', '..', '...']) {
        const r = await c.join(`room:${id}`);
        assert.equal(r.status, 'error', `room:${id}`);
        assert.equal(r.response.reason, 'unmatched topic');
      }
      assert.equal((await c.join('room:.a')).status, 'ok', 'dots with other characters are fine');
    } finally {
      c.terminate();
    }
    const auth = { Host: `127.0.0.1:${srv.port}`, Authorization: `Bearer ${mintToken('dotty')}` };
    for (const path of ['/api/rooms/../messages', '/api/rooms/%2E%2E/messages', '/api/rooms/./messages']) {
      const r = await rawRequest(srv.port, `GET ${path} HTTP/1.1`, auth);
      assert.equal(r.status, 400, path);
      assert.match(r.body, /invalid room id/);
    }
  } finally {
    await srv.stop();
  }
});
