// Issue 16, sections 2-4 and the room directory, in a real Chromium against a real server:
// the room directory (GET /api/rooms), a moderator's delete and tombstones, unread badges and the
// "new messages" divider across two tabs, and token refresh without reconnecting.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { sleep, startServer, TEST_SECRET } from './lib/server.mjs';
import { launchChromium } from './lib/browser.mjs';

const kWait = 10_000;
const kApiKey = 'ui-features-api-key-0123';

let server;
let browser;
const problems = [];
const cleanups = [];

before(async () => {
  ensureWebBuilt();
  // --jwt-leeway 0: a token is refused the second it expires, so the refresh test is short.
  server = await startServer({ args: ['--web-root', webDistDir, '--dev-tokens', '--jwt-leeway', '0',
    '--api-key', kApiKey] });
  browser = await launchChromium();
});

after(async () => {
  for (const c of cleanups) c();
  await browser?.close();
  await server?.stop();
});

// An HS256 JWT with any extra claims (role, moderate) for the test secret.
function mint(sub, extra = {}, ttl = 3600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, name: sub, iat: now, exp: now + ttl, ...extra });
  return head + '.' + crypto.createHmac('sha256', TEST_SECRET).update(head).digest('base64url');
}

// The official phoenix client in Node: {socket, join(room) -> reply, push(channel, event, payload)}.
function nodeClient(token) {
  const socket = new Socket(server.wsUrl, { transport: WebSocket, params: { token } });
  socket.connect();
  cleanups.push(() => socket.disconnect());
  const reply = (push) => new Promise((resolve) => {
    push.receive('ok', (r) => resolve({ ok: r })).receive('error', (r) => resolve({ error: r }))
      .receive('timeout', () => resolve({ error: { reason: 'timeout' } }));
  });
  return {
    socket,
    async join(room, params = {}) {
      const channel = socket.channel(`room:${room}`, params);
      const r = await reply(channel.join());
      return { channel, ...r };
    },
    push: (channel, event, payload) => reply(channel.push(event, payload, kWait)),
    // Sends bodies in order, waiting out rate_limited refusals.
    async post(channel, bodies) {
      for (const body of bodies) {
        for (let attempt = 0; ; attempt++) {
          const r = await reply(channel.push('new_msg', { body }, kWait));
          if (r.ok) break;
          assert.ok(r.error?.reason === 'rate_limited' && attempt < 40, `${body}: ${JSON.stringify(r.error)}`);
          await sleep(200);
        }
      }
    },
  };
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

// A browser context signed in with `token` (and, for dev refresh, the dev name that mints it).
async function newContext(token, { devName = null } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(([t, name]) => {
    if (!localStorage.getItem('rtchat.token')) localStorage.setItem('rtchat.token', t);
    if (name && !localStorage.getItem('rtchat.devName')) localStorage.setItem('rtchat.devName', name);
  }, [token, devName]);
  cleanups.push(() => context.close().catch(() => {}));
  return context;
}

async function newTab(context, hash = '') {
  const page = await context.newPage();
  page.setDefaultTimeout(kWait);
  page.on('pageerror', (e) => problems.push(`pageerror: ${e}`));
  page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('console', (m) => {
    if (/trusted ?type|content security policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${server.url}/${hash}`);
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor();
  if (hash) await historyLoaded(page);
  return page;
}

// The first history page is in (the status then reads "Beginning of the room" or nothing).
const historyLoaded = (page) => page.waitForFunction(
  () => !/Loading/.test(document.querySelector('[data-testid="history-status"]').textContent));
const messageItem = (page, text) => page.locator('[data-testid="message-list"] [data-testid="message-item"]', { hasText: text });
const recentRoom = (page, id) => page.locator(`[data-testid="recent-room"][data-room-id="${id}"]`);

test('room directory: active rooms with member counts, in a browser with no recent rooms', async () => {
  const res = await fetch(`${server.url}/api/rooms`, { headers: { authorization: `Bearer ${mint('probe')}` } });
  const page = await newTab(await newContext(mint('newcomer')));
  await byTestId(page, 'recent-empty').waitFor();
  assert.equal(res.status, 200, 'GET /api/rooms answers a user JWT');
  const bob = nodeClient(mint('bob'));
  const carol = nodeClient(mint('carol'));
  assert.ok((await bob.join('feat.dir-a')).ok);
  assert.ok((await carol.join('feat.dir-a')).ok);
  assert.ok((await bob.join('feat.dir-b')).ok);
  await byTestId(page, 'directory-refresh').click();
  const a = page.locator('[data-testid="directory-room"][data-room-id="feat.dir-a"]');
  await a.waitFor();
  assert.equal(await a.locator('[data-testid="directory-members"]').textContent(), '2 online');
  assert.equal(await page.locator('[data-testid="directory-room"][data-room-id="feat.dir-b"] [data-testid="directory-members"]').textContent(), '1 online');
  await a.click();
  await page.locator('[data-testid="presence-item"][data-user-id="bob"]').waitFor();
  assert.equal(await byTestId(page, 'room-title').textContent(), 'feat.dir-a');
});

test('moderation: a moderator deletes a message and the other user sees a tombstone', async () => {
  const room = 'feat.mod';
  const probe = nodeClient(mint('probe-mod'));
  const joined = await probe.join(room);
  const answer = await probe.push(joined.channel, 'delete_msg', { id: 0 });
  assert.equal(answer.error?.reason, 'invalid_payload', 'delete_msg is a known event (id 0 is invalid)');

  const alice = await newTab(await newContext(mint('alice')), `#/room/${room}`);
  const mod = await newTab(await newContext(mint('mod', { role: 'moderator' })), `#/room/${room}`);
  for (const text of ['alice: keep this', 'alice: remove this']) {
    await byTestId(alice, 'composer').fill(text);
    await byTestId(alice, 'composer').press('Enter');
    await messageItem(mod, text).waitFor();
  }
  await byTestId(mod, 'composer').fill('mod: hello');
  await byTestId(mod, 'composer').press('Enter');
  await messageItem(alice, 'mod: hello').waitFor();
  // alice may delete her own messages only; the moderator any.
  assert.ok(await messageItem(alice, 'alice: keep this').locator('[data-testid="message-delete"]').isVisible());
  assert.equal(await messageItem(alice, 'mod: hello').locator('[data-testid="message-delete"]').count(), 0);

  const button = messageItem(mod, 'alice: remove this').locator('[data-testid="message-delete"]');
  await button.click();
  assert.equal(await button.textContent(), 'Delete?', 'the first click only arms it');
  const id = await messageItem(mod, 'alice: remove this').getAttribute('data-id');
  await button.click();
  const tombstone = (page) => page.locator(`[data-testid="message-item"][data-id="${id}"][data-deleted="true"]`);
  await tombstone(alice).waitFor();
  await tombstone(mod).waitFor();
  assert.equal(await tombstone(alice).locator('[data-testid="message-tombstone"]').textContent(), 'message deleted');
  assert.equal(await messageItem(alice, 'alice: remove this').count(), 0, 'the text is gone');
  // History brings it back as a tombstone too.
  await alice.reload();
  await tombstone(alice).waitFor();
  await messageItem(alice, 'alice: keep this').waitFor();
  assert.equal(await messageItem(alice, 'alice: remove this').count(), 0);
});

test('unread: a badge for a room in the background, cleared when another tab reads it', async () => {
  const [x, y] = ['feat.unread-x', 'feat.unread-y'];
  const bob = nodeClient(mint('bob2'));
  const joined = await bob.join(x);
  assert.ok(Number.isSafeInteger(joined.ok?.unread), 'the join reply carries unread');

  await bob.post(joined.channel, ['read before']);
  const context = await newContext(mint('reader'));
  const tab1 = await newTab(context, `#/room/${x}`);  // reads "read before" (mark_read)
  await messageItem(tab1, 'read before').waitFor();
  // The tab's mark_read is stored once another socket of the same user joins with unread 0.
  for (let i = 0; ; i++) {
    const probe = nodeClient(mint('reader'));
    const r = await probe.join(x);
    probe.socket.disconnect();
    if (r.ok?.unread === 0) break;
    assert.ok(i < 50, `mark_read not stored: ${JSON.stringify(r)}`);
    await sleep(100);
  }
  await tab1.goto(`${server.url}/#/room/${y}`);  // x is now a recent room, watched in the background
  await historyLoaded(tab1);
  await bob.post(joined.channel, ['unread 1', 'unread 2', 'unread 3']);
  const badge = recentRoom(tab1, x).locator('[data-testid="unread-badge"]');
  await badge.waitFor();
  await tab1.waitForFunction(([sel]) => document.querySelector(sel)?.textContent === '3',
    [`[data-testid="recent-room"][data-room-id="${x}"] [data-testid="unread-badge"]`]);
  assert.equal(await recentRoom(tab1, y).locator('[data-testid="unread-badge"]').count(), 0, 'the open room has no badge');

  // A second tab of the same user opens x: a divider above the first unread, and tab1's badge clears.
  const tab2 = await newTab(context, `#/room/${x}`);
  const divider = byTestId(tab2, 'new-messages-divider');
  await divider.waitFor();
  const next = await divider.evaluate((d) => d.nextElementSibling?.textContent ?? '');
  assert.match(next, /unread 1/, 'the divider sits right above the first unread message');
  await badge.waitFor({ state: 'detached', timeout: 15_000 });
});

test('unread: a badge shows 99+ above 99', async () => {
  const [x, y] = ['feat.many-x', 'feat.many-y'];
  const bob = nodeClient(mint('bob3'));
  const joined = await bob.join(x);
  assert.ok(Number.isSafeInteger(joined.ok?.unread), 'the join reply carries unread');
  const context = await newContext(mint('skimmer'));
  const tab = await newTab(context, `#/room/${x}`);
  await tab.goto(`${server.url}/#/room/${y}`);
  await bob.post(joined.channel, Array.from({ length: 101 }, (_, i) => `many ${i + 1}`));
  await tab.reload();  // the join reply brings the count (capped at 100)
  const badge = recentRoom(tab, x).locator('[data-testid="unread-badge"]');
  await badge.waitFor();
  await tab.waitForFunction(([sel]) => document.querySelector(sel)?.textContent === '99+',
    [`[data-testid="recent-room"][data-room-id="${x}"] [data-testid="unread-badge"]`]);
});

test('token refresh: a tab whose token lives 8 s stays on one socket for 20 s', async () => {
  // Probe: a socket with a short token gets token_expiring at once (notice 60 s > its lifetime).
  const probe = nodeClient(mint('probe-exp', {}, 8));
  const expiring = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    probe.socket.onMessage((m) => { if (m.topic === 'phoenix' && m.event === 'token_expiring') { clearTimeout(timer); resolve(true); } });
  });
  probe.socket.disconnect();
  assert.ok(expiring, 'token_expiring arrives at once for a token shorter than the notice');

  const res = await fetch(`${server.url}/api/dev/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'longtab', ttl: 8 }),
  });
  const { token } = await res.json();
  const context = await newContext(token, { devName: 'longtab' });
  const page = await context.newPage();
  page.setDefaultTimeout(kWait);
  const sockets = [];
  const frames = [];
  page.on('websocket', (ws) => {
    sockets.push(ws);
    ws.on('framesent', (f) => frames.push(['out', String(f.payload)]));
    ws.on('framereceived', (f) => frames.push(['in', String(f.payload)]));
    ws.on('close', () => frames.push(['closed', '']));
  });
  await page.goto(`${server.url}/#/room/feat.refresh`);
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor();
  await sleep(20_000);
  const parsed = frames.filter(([d]) => d !== 'closed').map(([d, f]) => [d, JSON.parse(f)]);
  const refresh = parsed.find(([d, f]) => d === 'out' && f[2] === 'phoenix' && f[3] === 'refresh');
  assert.ok(refresh, 'the page sent refresh');
  const reply = parsed.find(([d, f]) => d === 'in' && f[3] === 'phx_reply' && f[1] === refresh[1][1]);
  assert.equal(reply?.[1][4].status, 'ok', `refresh reply ${JSON.stringify(reply)}`);
  assert.equal(sockets.length, 1, 'never reconnected');
  assert.ok(!frames.some(([d]) => d === 'closed'), 'the socket was never closed');
  assert.equal(await byTestId(page, 'connection-status').getAttribute('data-state'), 'connected');
  await byTestId(page, 'composer').fill('still here');
  await byTestId(page, 'composer').press('Enter');
  await messageItem(page, 'still here').waitFor();
  assert.notEqual(await page.evaluate(() => localStorage.getItem('rtchat.token')), token, 'the new token is kept');
});

// WebSockets open on the server now (every shard).
async function openWebSockets() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^rtchat_websockets(?:\{[^}]*\})? (\d+)/gm)) n += Number(m[1]);
  return n;
}

test('a 4010 from the server API stops the tab: it says so and does not reconnect', async () => {
  const page = await newTab(await newContext(mint('ursula')));
  const before = await openWebSockets();
  const r = await fetch(`${server.url}/api/users/ursula/disconnect`, {
    method: 'POST', headers: { authorization: `Bearer ${kApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'ban' }),
  });
  assert.equal(r.status, 202);
  assert.equal((await r.json()).closed, 1);
  await page.locator('[data-testid="connection-status"][data-state="offline"]').waitFor();
  const error = byTestId(page, 'connection-error');
  await error.waitFor();
  assert.match(await error.textContent(), /server disconnected you \(disconnected by server: ban\)/);
  for (let i = 0; i < 100 && await openWebSockets() !== before - 1; i++) await sleep(50);
  assert.equal(await openWebSockets(), before - 1, 'the server closed the tab\'s socket');
  // phoenix.js on its own reconnects 10-15 ms after a close; the page must not, for as long as
  // its reconnect schedule takes to reach its 5 s cap.
  await sleep(3000);
  assert.equal(await openWebSockets(), before - 1, 'no socket opened after the 4010');
  assert.equal(await page.locator('[data-testid="connection-status"]').getAttribute('data-state'), 'offline');
});

test('a long session keeps at most 500 rows; the dropped ones load again on scroll', async () => {
  const room = 'feat.long';
  const page = await newTab(await newContext(mint('longreader')), `#/room/${room}`);
  for (let i = 1; i <= 520; i++) {
    const r = await fetch(`${server.url}/api/rooms/${room}/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${kApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ body: `long ${i}.`, user_id: 'feeder' }),
    });
    assert.equal(r.status, 201, await r.text());
  }
  await messageItem(page, 'long 520.').waitFor();
  const rows = page.locator('[data-testid="message-list"] [data-testid="message-item"]');
  assert.equal(await rows.count(), 500);
  assert.equal(await messageItem(page, 'long 20.').count(), 0, 'the oldest rows went');
  await page.locator('[data-testid="message-list"]').evaluate((list) => {
    const scroller = document.getElementById('message-scroller');
    scroller.scrollTop = 0;
    scroller.dispatchEvent(new Event('scroll'));
  });
  await messageItem(page, 'long 5.').waitFor();
});

test('no script errors, dialogs or CSP / Trusted Types violations', () => {
  assert.deepEqual(problems, []);
});
