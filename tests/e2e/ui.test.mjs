// The browser UI in a real Chromium (Debian's, never a downloaded one) against a real server:
// sign-in (dev and production), rooms, presence, live messages, typing, history (reload and paging),
// recovery after a network drop, leave, a rejected token, and safe rendering.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { BUILD_DIR, mintToken, sleep, startServer } from './lib/server.mjs';
import { launchChromium } from './lib/browser.mjs';

const kWait = 10_000;  // per UI wait; generous for a loaded 2-core CI box
const kRoom = 'e2e-ui.room';
const distDir = webDistDir;
const artifactsDir = join(BUILD_DIR, 'artifacts');

let server;
let browser;
const pageErrors = [];
const dialogs = [];

async function newPage({ width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(kWait);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // The page runs under a CSP with Trusted Types (server/net/static_files.cpp): a violation is only a
  // console message, not a page error.
  page.on('console', (m) => {
    if (/trusted ?type|content security policy/i.test(m.text())) pageErrors.push(`console: ${m.text()}`);
  });
  return { context, page };
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);
const presenceItem = (page, name) =>
  page.locator('[data-testid="presence-list"] [data-testid="presence-item"]', { hasText: name });
const messageItem = (page, text) =>
  page.locator('[data-testid="message-list"] [data-testid="message-item"]', { hasText: text });

async function signInAndOpenRoom(page, name, room) {
  await page.goto(server.url + '/', { timeout: kWait });
  await byTestId(page, 'signin-name').fill(name);
  await byTestId(page, 'signin-submit').click();
  await byTestId(page, 'room-input').fill(room);
  await byTestId(page, 'room-join').click();
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: kWait });
  await byTestId(page, 'composer').waitFor({ timeout: kWait });
}

async function sendMessage(page, text) {
  const composer = byTestId(page, 'composer');
  await composer.fill(text);
  await composer.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="composer"]').value === '',
    null, { timeout: kWait });
}

// bob's WebSocket goes through Playwright so the test can cut it like a network drop would:
// first swallow what the server sends (bob misses messages), then close the page's side.
const bobLink = { current: null, clientFrames: [] };
async function routeThroughLink(context) {
  await context.routeWebSocket(/\/socket\/websocket/, (ws) => {
    const upstream = ws.connectToServer();
    const link = { ws, isDropping: false };
    bobLink.current = link;
    ws.onMessage((m) => { bobLink.clientFrames.push(String(m)); upstream.send(m); });
    upstream.onMessage((m) => { if (!link.isDropping) ws.send(m); });
  });
}

before(async () => {
  ensureWebBuilt();
  mkdirSync(artifactsDir, { recursive: true });
  // Sign-in by name (the dev endpoint) with the test secret: --dev-tokens.
  server = await startServer({ args: ['--web-root', distDir, '--dev-tokens'] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

let alice;
let bob;

test('a bad room name is refused with a visible error', async () => {
  alice = await newPage();
  await alice.page.goto(server.url + '/', { timeout: kWait });
  await byTestId(alice.page, 'signin-name').fill('alice');
  await byTestId(alice.page, 'signin-submit').click();
  await byTestId(alice.page, 'room-input').fill('no spaces allowed!');
  await byTestId(alice.page, 'room-join').click();
  await byTestId(alice.page, 'room-error').waitFor({ timeout: kWait });
  assert.match(await byTestId(alice.page, 'room-error').textContent(), /letters, digits/);
  assert.equal(await byTestId(alice.page, 'chat-view').isVisible(), false);
});

test('alice and bob open the same room and see each other online', async () => {
  await byTestId(alice.page, 'room-input').fill(kRoom);
  await byTestId(alice.page, 'room-join').click();
  await alice.page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: kWait });
  await presenceItem(alice.page, 'alice').waitFor({ timeout: kWait });

  bob = await newPage();
  await routeThroughLink(bob.context);
  await signInAndOpenRoom(bob.page, 'bob', kRoom);
  await presenceItem(bob.page, 'alice').waitFor({ timeout: kWait });
  await presenceItem(bob.page, 'bob').waitFor({ timeout: kWait });
  await presenceItem(alice.page, 'bob').waitFor({ timeout: kWait });
  assert.equal(await presenceItem(alice.page, 'bob').locator('[data-testid="presence-devices"]').textContent(), '1');
});

test('a message from alice reaches bob with its author', async () => {
  await sendMessage(alice.page, 'hello bob');
  const item = messageItem(bob.page, 'hello bob');
  await item.waitFor({ timeout: kWait });
  assert.equal(await item.locator('[data-testid="message-author"]').textContent(), 'alice');
  assert.equal(await item.locator('[data-testid="message-body"]').textContent(), 'hello bob');
  await messageItem(alice.page, 'hello bob').waitFor({ timeout: kWait });
  assert.equal(await messageItem(alice.page, 'hello bob').count(), 1, 'no duplicate of own message');
});

test('Shift+Enter adds a line and the counter follows the text', async () => {
  const composer = byTestId(alice.page, 'composer');
  await composer.fill('line one');
  await composer.press('Shift+Enter');
  await composer.type('line two');
  assert.equal(await composer.inputValue(), 'line one\nline two');
  assert.equal(await byTestId(alice.page, 'composer-counter').textContent(), '17 / 4000');
  await composer.press('Enter');
  const body = messageItem(bob.page, 'line two').locator('[data-testid="message-body"]');
  await body.waitFor({ timeout: kWait });
  assert.equal(await body.textContent(), 'line one\nline two');
});

test('bob sees alice typing', async () => {
  // Typing events are throttled on both ends, so type the way people do: a key now and then.
  const isShown = () => bob.page.evaluate(
    () => /alice is typing/.test(document.querySelector('[data-testid="typing-indicator"]').textContent));
  const deadline = Date.now() + kWait;
  while (!(await isShown())) {
    assert.ok(Date.now() < deadline, 'bob saw "alice is typing" in time');
    await byTestId(alice.page, 'composer').press('t');
    await sleep(250);
  }
  await byTestId(alice.page, 'composer').fill('');
});

test('bob reloads and gets the history back', async () => {
  await bob.page.reload({ timeout: kWait });
  await messageItem(bob.page, 'hello bob').waitFor({ timeout: kWait });
  await messageItem(bob.page, 'line two').waitFor({ timeout: kWait });
  const ids = await bob.page.$$eval('[data-testid="message-item"]', (items) => items.map((i) => Number(i.dataset.id)));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'messages are sorted by id');
  assert.equal(new Set(ids).size, ids.length, 'messages are deduplicated');
  await presenceItem(bob.page, 'alice').waitFor({ timeout: kWait });
});

test('after a network drop bob rejoins with last_seen_id and gets what he missed', async () => {
  const link = bobLink.current;
  assert.ok(link, 'bob is connected through the test link');
  link.isDropping = true;
  await sendMessage(alice.page, 'while you were away 1');
  await sendMessage(alice.page, 'while you were away 2');
  await messageItem(alice.page, 'while you were away 2').waitFor({ timeout: kWait });
  assert.equal(await messageItem(bob.page, 'while you were away').count(), 0, 'bob missed them');
  const framesBefore = bobLink.clientFrames.length;
  await link.ws.close({ code: 1001, reason: 'test network drop' });
  await messageItem(bob.page, 'while you were away 1').waitFor({ timeout: kWait });
  await messageItem(bob.page, 'while you were away 2').waitFor({ timeout: kWait });
  await bob.page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: kWait });
  const rejoin = bobLink.clientFrames.slice(framesBefore).map((f) => JSON.parse(f))
    .find((f) => f[2] === `room:${kRoom}` && f[3] === 'phx_join');
  assert.ok(rejoin, 'bob sent a phx_join after the drop');
  assert.equal(rejoin[4].device, 'web');
  assert.ok(Number.isSafeInteger(rejoin[4].last_seen_id), `rejoin params ${JSON.stringify(rejoin[4])}`);
  const ids = await bob.page.$$eval('[data-testid="message-item"]', (items) => items.map((i) => Number(i.dataset.id)));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'messages are sorted by id');
  assert.equal(new Set(ids).size, ids.length, 'no message shown twice');
  await presenceItem(alice.page, 'bob').waitFor({ timeout: kWait });
});

test('a message with markup is shown as text and runs nothing', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  await sendMessage(alice.page, evil);
  for (const { page } of [alice, bob]) {
    const body = messageItem(page, 'onerror').locator('[data-testid="message-body"]');
    await body.waitFor({ timeout: kWait });
    assert.equal(await body.textContent(), evil);
    assert.equal(await page.locator('[data-testid="message-list"] img').count(), 0);
  }
  await new Promise((r) => setTimeout(r, 300));  // an onerror would fire within this
  assert.deepEqual(dialogs, []);
});

test('screenshots of the chat view at desktop and phone widths', async () => {
  await alice.page.screenshot({ path: join(artifactsDir, 'ui-desktop.png'), timeout: kWait });
  await alice.page.setViewportSize({ width: 390, height: 844 });
  // On a phone the presence panel is a drawer behind the "Online" button.
  assert.equal(await byTestId(alice.page, 'presence-panel').isVisible(), false);
  await alice.page.screenshot({ path: join(artifactsDir, 'ui-phone.png'), timeout: kWait });
  await byTestId(alice.page, 'presence-toggle').click();
  await byTestId(alice.page, 'presence-panel').waitFor({ timeout: kWait });
  await byTestId(alice.page, 'presence-toggle').click();
  await alice.page.setViewportSize({ width: 1280, height: 800 });
});

test('alice sees bob leave when he closes his page', async () => {
  await bob.context.close();
  await presenceItem(alice.page, 'bob').waitFor({ state: 'detached', timeout: kWait });
  await presenceItem(alice.page, 'alice').waitFor({ timeout: kWait });
});

test('a rejected token is reported, not retried forever', async () => {
  const mallory = await newPage();
  await mallory.context.addInitScript(() => {
    if (!localStorage.getItem('rtchat.token')) localStorage.setItem('rtchat.token', 'not.a-valid.token');
  });
  await mallory.page.goto(server.url + '/#/room/' + kRoom, { timeout: kWait });
  await byTestId(mallory.page, 'connection-error').waitFor({ timeout: kWait });
  assert.match(await mallory.page.locator('#connection-error-text').textContent(), /token was rejected/);
  assert.equal(await byTestId(mallory.page, 'connection-status').getAttribute('data-state'), 'offline');
  await mallory.context.close();
});

// Fills a room over the official phoenix client in Node, backing off on rate_limited replies.
async function seedRoom(room, count) {
  const socket = new Socket(server.wsUrl, {
    transport: WebSocket, params: { token: mintToken('seeder', { name: 'seeder' }) },
  });
  socket.connect();
  const channel = socket.channel(`room:${room}`, {});
  const push = (event, payload) => new Promise((resolve) => {
    channel.push(event, payload, kWait).receive('ok', (r) => resolve({ ok: r }))
      .receive('error', (r) => resolve({ error: r })).receive('timeout', () => resolve({ error: 'timeout' }));
  });
  try {
    await new Promise((resolve, reject) => {
      channel.join().receive('ok', resolve).receive('error', (r) => reject(new Error(JSON.stringify(r))))
        .receive('timeout', () => reject(new Error('seed join timeout')));
    });
    for (let i = 1; i <= count; i++) {
      for (let attempt = 0; ; attempt++) {
        const r = await push('new_msg', { body: `seed ${i}` });
        if (r.ok) break;
        assert.ok(r.error?.reason === 'rate_limited' && attempt < 20, `seed ${i}: ${JSON.stringify(r.error)}`);
        await sleep(250);
      }
    }
  } finally {
    socket.disconnect();
  }
}

test('older messages load when scrolling up', async () => {
  const room = 'e2e-ui.paging';
  await seedRoom(room, 70);
  const carol = await newPage();
  await signInAndOpenRoom(carol.page, 'carol', room);
  await messageItem(carol.page, 'seed 70').waitFor({ timeout: kWait });
  const count = () => carol.page.locator('[data-testid="message-item"]').count();
  assert.equal(await count(), 50, 'the first page holds 50 messages');
  await carol.page.locator('#message-scroller').evaluate((s) => { s.scrollTop = 0; });
  await carol.page.waitForFunction(() => document.querySelectorAll('[data-testid="message-item"]').length === 70,
    null, { timeout: kWait });
  const bodies = await carol.page.$$eval('[data-testid="message-body"]', (b) => b.map((n) => n.textContent));
  assert.deepEqual(bodies, Array.from({ length: 70 }, (_, i) => `seed ${i + 1}`));
  await carol.context.close();
});

test('in production mode sign-in asks for a token, and a pasted one works', async () => {
  const prod = await startServer({ args: ['--web-root', distDir, '--production'] });
  const dave = await newPage();
  try {
    await dave.page.goto(prod.url + '/', { timeout: kWait });
    await byTestId(dave.page, 'signin-name').fill('dave');
    await byTestId(dave.page, 'signin-submit').click();
    await byTestId(dave.page, 'signin-token').waitFor({ timeout: kWait });
    await byTestId(dave.page, 'signin-token').fill(mintToken('u-dave', { name: 'Dave' }));
    await byTestId(dave.page, 'signin-submit').click();
    await byTestId(dave.page, 'room-input').fill('prod-room');
    await byTestId(dave.page, 'room-join').click();
    await dave.page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor({ timeout: kWait });
    await presenceItem(dave.page, 'Dave').waitFor({ timeout: kWait });
    assert.equal(await byTestId(dave.page, 'me-name').textContent(), 'Dave');
  } finally {
    await dave.context.close();
    await prod.stop();
  }
});

test('no script errors on any page', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(dialogs, []);
});
