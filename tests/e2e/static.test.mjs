// The static web UI handler over raw TCP (node:net), so request paths reach the server exactly as
// written: traversal and hidden files give 404/400 and no file content; index.html and hashed
// assets carry the right content types and caching.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { startServer } from './lib/server.mjs';

const kTimeoutMs = 5000;
const distDir = webDistDir;
// Planted next to and inside the served root: if any of these bytes come back, a path escaped.
const kOutsideSecret = 'OUTSIDE-WEB-ROOT-SECRET-7f3a';
const kGitSecret = '[core]\n\trepositoryformatversion = 0 ; GIT-SECRET-91c2\n';

let server;
let scratch;
let webRoot;

// One HTTP/1.1 request, written byte for byte; resolves {status, headers, body} once the
// response is complete (Content-Length or close), rejects after kTimeoutMs.
function rawGet(path) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`no complete response to GET ${path}`)), kTimeoutMs);
    const tryParse = (isClosed) => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) {
        if (isClosed) finish(new Error(`truncated response to GET ${path}: ${data}`));
        return;
      }
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(statusLine.split(' ')[1]);
      const body = data.subarray(end + 4);
      const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
      if (length !== null && body.length >= length) {
        finish(null, { status, headers, body: body.subarray(0, length).toString('latin1') });
      } else if (isClosed) {
        finish(null, { status, headers, body: body.toString('latin1') });
      }
    };
    socket.on('connect', () => socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`, 'latin1'));
    socket.on('data', (d) => { data = Buffer.concat([data, d]); tryParse(false); });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (e) => finish(e));
  });
}

before(async () => {
  ensureWebBuilt();
  // Serve a copy of web/dist with a secret beside it and a .git directory inside it.
  scratch = mkdtempSync(join(tmpdir(), 'rtchat-static-'));
  webRoot = join(scratch, 'webroot');
  cpSync(distDir, webRoot, { recursive: true });
  writeFileSync(join(scratch, 'secret.txt'), kOutsideSecret);
  mkdirSync(join(webRoot, '.git'));
  writeFileSync(join(webRoot, '.git', 'config'), kGitSecret);
  server = await startServer({ args: ['--web-root', webRoot] });
});

after(async () => {
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const kTraversals = [
  '/../etc/passwd',
  '/%2e%2e/etc/passwd',
  '/assets/..%2f..%2fetc/passwd',
  '/%2e%2e%2f',
  '//etc/passwd',
  '/.git/config',
  '/../secret.txt',
  '/%2e%2e/secret.txt',
  '/assets/../../secret.txt',
  '/assets/%2e%2e/%2e%2e/secret.txt',
  '/assets/..%5c..%5csecret.txt',
  '/%2E%2E%2Fsecret.txt',
  '/.git/',
  '/%2egit/config',
  '/index.html%00.css',
];

// The server may answer unknown extension-less paths with index.html (client-side routes), so
// for these only the content matters: the page, or a refusal, never the file.
const kMaybeSpaFallback = ['/etc/passwd', '/assets/..%2f..%2fetc/passwd/', '/.%2e/.%2e/etc/passwd'];

for (const path of kTraversals) {
  test(`GET ${path} is refused without file content`, async () => {
    const res = await rawGet(path);
    assert.ok(res.status === 404 || res.status === 400, `status ${res.status} for ${path}`);
    assert.doesNotMatch(res.body, /root:.*:0:0:/, 'no /etc/passwd content');
    assert.ok(!res.body.includes(kOutsideSecret), 'no file from outside the web root');
    assert.ok(!res.body.includes('GIT-SECRET'), 'no hidden file from inside the web root');
  });
}

for (const path of kMaybeSpaFallback) {
  test(`GET ${path} gives the page or a refusal, never the file`, async () => {
    const res = await rawGet(path);
    if (res.status === 200) assert.match(res.body, /<!doctype html>/i, `a 200 for ${path} must be index.html`);
    else assert.ok(res.status === 404 || res.status === 400, `status ${res.status} for ${path}`);
    assert.doesNotMatch(res.body, /root:.*:0:0:/, 'no /etc/passwd content');
  });
}

let indexHtml;

test('GET / is index.html, text/html, revalidated on every load', async () => {
  const res = await rawGet('/');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^text\/html\b/);
  assert.match(res.headers['cache-control'] ?? '', /no-cache/);
  assert.match(res.body, /<!doctype html>/i);
  indexHtml = res.body;
});

test('GET /index.html is not cached for long either', async () => {
  const res = await rawGet('/index.html');
  if (res.status === 404) return;  // serving the page only at / is fine
  assert.equal(res.status, 200);
  assert.match(res.headers['cache-control'] ?? '', /no-cache/);
});

test('hashed assets are served immutable with their content types', async () => {
  assert.ok(indexHtml, 'index.html was fetched');
  const assets = [...indexHtml.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  const js = assets.find((a) => a.endsWith('.js'));
  const css = assets.find((a) => a.endsWith('.css'));
  assert.ok(js && css, `index.html names a .js and a .css asset (${assets})`);
  for (const [path, type] of [[js, /^(text|application)\/javascript\b/], [css, /^text\/css\b/]]) {
    const res = await rawGet(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers['content-type'] ?? '', type, path);
    assert.match(res.headers['cache-control'] ?? '', /immutable/, path);
    assert.match(res.headers['cache-control'] ?? '', /max-age=\d{6,}/, path);
    assert.ok(res.body.length > 100, `${path} has content`);
  }
});

test('an unknown asset is 404', async () => {
  const res = await rawGet('/assets/app-0000000000.js');
  assert.equal(res.status, 404);
});
