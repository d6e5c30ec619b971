// Issue 16, section 5: what a new user trips over in the UI, in a real Chromium (Debian's, never a
// downloaded one) against a real server: an over-long paste is kept and refused with a reason,
// quick sends through the rate limit all arrive in order (the outbox), a message written while
// disconnected (or before a reload) is not lost, whitespace-only sends and empty room names get
// feedback, room names hint at case, day separators and full dates, and the phone presence strip.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { dayLabel, dayStarts } from '../../web/src/dates.js';
import { mintToken, sleep, startServer } from './lib/server.mjs';
import { launchChromium } from './lib/browser.mjs';

const kWait = 10_000;
// A small bucket so that 60 quick sends hit the limit at once (the default is 20/s, burst 50).
const kRate = 10;
const kBurst = 10;

let server;
let browser;
const problems = [];

before(async () => {
  ensureWebBuilt();
  server = await startServer({
    args: ['--web-root', webDistDir, '--dev-tokens', '--rate', String(kRate), '--rate-burst', String(kBurst)],
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);
const bodies = (page) => page.$$eval('[data-testid="message-list"] [data-testid="message-body"]',
  (nodes) => nodes.map((n) => n.textContent));

// A signed-in page; `link` (when given) routes its WebSocket through the test, which can refuse
// connections (link.isBlocked) and cut the current one, like a network outage.
async function newUser(name, { width = 1280, height = 800, link = null } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(kWait);
  page.on('pageerror', (e) => problems.push(`${name} pageerror: ${e}`));
  page.on('dialog', (d) => { problems.push(`${name} dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('console', (m) => {
    if (/trusted ?type|content security policy/i.test(m.text())) problems.push(`${name} console: ${m.text()}`);
  });
  const frames = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => frames.received.push(String(f.payload)));
  });
  if (link) {
    await context.routeWebSocket(/\/socket\/websocket/, (ws) => {
      if (link.isBlocked) return void ws.close({ code: 4000, reason: 'test: network down' });
      link.current = ws;
      const upstream = ws.connectToServer();
      ws.onMessage((m) => {
        link.sent?.push(String(m));
        // dropsPushes: new_msg pushes vanish on the way (no reply ever comes), all else passes.
        if (link.dropsPushes && JSON.parse(String(m))[3] === 'new_msg') return;
        upstream.send(m);
      });
      upstream.onMessage((m) => ws.send(m));
    });
  }
  await page.goto(server.url + '/', { timeout: kWait });
  await byTestId(page, 'signin-name').fill(name);
  await byTestId(page, 'signin-submit').click();
  await byTestId(page, 'room-input').waitFor();
  return { context, page, frames };
}

async function openRoom(page, room) {
  await byTestId(page, 'room-input').fill(room);
  await byTestId(page, 'room-join').click();
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor();
  await byTestId(page, 'composer').waitFor();
  await byTestId(page, 'history-status').waitFor({ state: 'hidden' });
}

const sentEvents = (frames, event) => frames.sent.map((f) => JSON.parse(f)).filter((f) => f[3] === event);

test('a 5000-character paste is kept whole and refused with a visible reason until it fits', async () => {
  const { context, page, frames } = await newUser('paster');
  try {
    await openRoom(page, 'newuser.long');
    const composer = byTestId(page, 'composer');
    await composer.focus();
    await page.keyboard.insertText('x'.repeat(5000));  // what a paste does (maxlength would cut it)
    assert.equal((await composer.inputValue()).length, 5000, 'the whole text stays in the box');
    assert.match(await byTestId(page, 'composer-error').textContent(), /Too long.*5000.*4000.*Remove 1000/);
    assert.equal(await byTestId(page, 'composer-counter').textContent(), '5000 / 4000');
    assert.equal(await composer.getAttribute('aria-invalid'), 'true');
    assert.equal(await byTestId(page, 'send').isDisabled(), true);
    await composer.press('Enter');
    await sleep(300);
    assert.equal((await composer.inputValue()).length, 5000, 'Enter did not clear it');
    assert.equal(sentEvents(frames, 'new_msg').length, 0, 'nothing was sent');
    assert.equal(await page.locator('[data-testid="pending-item"]').count(), 0);

    // Cut it down to the limit (an emoji is one character for the server, two for String.length).
    await composer.fill('y'.repeat(3999) + '😀');
    assert.equal(await byTestId(page, 'composer-error').textContent(), '');
    assert.equal(await byTestId(page, 'composer-counter').textContent(), '4000 / 4000');
    await composer.press('Enter');
    await page.locator('[data-testid="message-item"]').first().waitFor();
    assert.equal((await bodies(page))[0], 'y'.repeat(3999) + '😀');
    assert.equal(sentEvents(frames, 'new_msg').length, 1, 'sent once it fit');
    assert.equal(await composer.inputValue(), '');
  } finally {
    await context.close();
  }
});

test('sending only spaces says why nothing was sent', async () => {
  const { context, page, frames } = await newUser('spacer');
  try {
    await openRoom(page, 'newuser.spaces');
    await byTestId(page, 'composer').fill('   \n  ');
    await byTestId(page, 'composer').press('Enter');
    assert.match(await byTestId(page, 'composer-error').textContent(), /Nothing to send: the message is only spaces/);
    assert.equal(sentEvents(frames, 'new_msg').length, 0);
    await byTestId(page, 'composer').press('a');  // typing again clears the feedback
    assert.equal(await byTestId(page, 'composer-error').textContent(), '');
  } finally {
    await context.close();
  }
});

test('60 quick sends all arrive in order: the rate limit hits and the outbox retries', async () => {
  const room = 'newuser.quick';
  const { context, page, frames } = await newUser('quick');
  try {
    await openRoom(page, room);
    await page.evaluate(() => {
      const node = document.querySelector('[data-testid="composer-error"]');
      window.__notices = [];
      new MutationObserver(() => window.__notices.push(node.textContent))
        .observe(node, { childList: true, characterData: true, subtree: true });
    });
    const composer = byTestId(page, 'composer');
    const expected = Array.from({ length: 60 }, (_, i) => `quick ${i + 1}`);
    for (const text of expected) {
      await composer.fill(text);
      await composer.press('Enter');
    }
    assert.equal(await composer.inputValue(), '', 'each send empties the box at once');
    await page.locator('[data-testid="pending-item"]').first().waitFor({ timeout: 1000 }).catch(() => {});
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="message-list"] [data-testid="message-item"]').length === 60
      && document.querySelectorAll('[data-testid="pending-item"]').length === 0, null, { timeout: 60_000 });
    assert.deepEqual(await bodies(page), expected, 'shown in the order written');

    const refusals = frames.received.map((f) => JSON.parse(f))
      .filter((f) => f[3] === 'phx_reply' && f[4]?.response?.reason === 'rate_limited');
    assert.ok(refusals.length > 0, 'the rate limit was hit');
    const notices = await page.evaluate(() => window.__notices);
    assert.ok(notices.some((n) => /Not sent yet: you are sending too fast/.test(n)), `notices: ${notices.slice(0, 5)}`);
    assert.equal(await byTestId(page, 'composer-error').textContent(), '', 'the notice cleared once all went through');
    assert.equal(await byTestId(page, 'connection-status').getAttribute('data-state'), 'connected');

    // What the server stored: each exactly once, in the order written.
    const res = await fetch(`${server.url}/api/rooms/${room}/messages?limit=100`,
      { headers: { authorization: `Bearer ${mintToken('observer')}` } });
    const stored = (await res.json()).messages.map((m) => m.body);
    assert.deepEqual(stored, expected);
  } finally {
    await context.close();
  }
});

test('a message written while disconnected waits and is sent once when the connection is back', async () => {
  const link = { isBlocked: false, dropsPushes: false, current: null };
  const { context, page } = await newUser('offline', { link });
  try {
    await openRoom(page, 'newuser.offline');
    link.isBlocked = true;
    await link.current.close({ code: 4000, reason: 'test: network drop' });
    await page.locator('[data-testid="connection-status"]:not([data-state="connected"])').waitFor();
    await byTestId(page, 'composer').fill('written offline');
    await byTestId(page, 'composer').press('Enter');
    const pending = page.locator('[data-testid="pending-item"]', { hasText: 'written offline' });
    await pending.waitFor();
    assert.equal(await byTestId(page, 'composer').inputValue(), '');
    assert.match(await byTestId(page, 'composer-error').textContent(), /Not sent yet: waiting for the connection/);
    await sleep(1000);
    assert.equal(await pending.count(), 1, 'still waiting, not dropped');

    link.isBlocked = false;
    const item = page.locator('[data-testid="message-list"] [data-testid="message-item"]', { hasText: 'written offline' });
    await item.waitFor({ timeout: 20_000 });
    await pending.waitFor({ state: 'detached' });
    assert.equal(await byTestId(page, 'composer-error').textContent(), '', 'the notice cleared');
    await sleep(500);
    assert.equal(await item.count(), 1, 'sent once');
  } finally {
    await context.close();
  }
});

test('a message not yet accepted survives a reload of the tab and is sent after it', async () => {
  const link = { isBlocked: false, dropsPushes: false, current: null };
  const { context, page } = await newUser('reloader', { link });
  try {
    await openRoom(page, 'newuser.reload');
    link.dropsPushes = true;  // the push is lost on the way: no reply, the message stays pending
    await byTestId(page, 'composer').fill('kept across a reload');
    await byTestId(page, 'composer').press('Enter');
    const pending = page.locator('[data-testid="pending-item"]', { hasText: 'kept across a reload' });
    await pending.waitFor();
    link.dropsPushes = false;
    await page.reload();
    await page.locator('[data-testid="message-list"] [data-testid="message-item"]', { hasText: 'kept across a reload' })
      .waitFor();
    await pending.waitFor({ state: 'detached' });
    await sleep(500);
    assert.equal(await page.locator('[data-testid="message-item"]', { hasText: 'kept across a reload' }).count(), 1);
  } finally {
    await context.close();
  }
});

test('a second tab of the same room does not send what the first tab still holds', async () => {
  const link = { isBlocked: false, dropsPushes: false, current: null, sent: [] };
  const { context, page: tab1 } = await newUser('twotabs', { link });
  const sends = () => link.sent.filter((f) => f.includes('only once please')).length;
  try {
    await openRoom(tab1, 'newuser.tabs');
    link.dropsPushes = true;
    await byTestId(tab1, 'composer').fill('only once please');
    await byTestId(tab1, 'composer').press('Enter');
    await tab1.locator('[data-testid="pending-item"]', { hasText: 'only once please' }).waitFor();

    const tab2 = await context.newPage();
    tab2.setDefaultTimeout(kWait);
    tab2.on('pageerror', (e) => problems.push(`tab2 pageerror: ${e}`));
    assert.equal(sends(), 1, 'tab1 sent it (and it was dropped on the way)');
    await tab2.goto(`${server.url}/#/room/newuser.tabs`);
    await byTestId(tab2, 'history-status').waitFor({ state: 'hidden' });
    await sleep(1000);
    assert.equal(await tab2.locator('[data-testid="pending-item"]').count(), 0, 'tab1 owns the stored outbox');
    assert.equal(sends(), 1, 'tab2 did not send it');

    // tab1 goes away with the message unsent; the next tab to open the room sends it, once.
    link.dropsPushes = false;
    await tab1.close();
    await tab2.reload();
    const item = tab2.locator('[data-testid="message-list"] [data-testid="message-item"]', { hasText: 'only once please' });
    await item.waitFor();
    await sleep(500);
    assert.equal(await item.count(), 1);
    assert.equal(sends(), 2, 'sent again only by the reloaded tab');
  } finally {
    await context.close();
  }
});

test('a refusal that will not pass by itself stops the queue with Retry, Edit and Discard', async () => {
  // A server with a lower body limit than the UI's 4000: "invalid body" is final, not retried.
  const strict = await startServer({ args: ['--web-root', webDistDir, '--dev-tokens', '--max-body-chars', '10'] });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(kWait);
    page.on('pageerror', (e) => problems.push(`strict pageerror: ${e}`));
    await page.goto(strict.url + '/');
    await byTestId(page, 'signin-name').fill('strict');
    await byTestId(page, 'signin-submit').click();
    await openRoom(page, 'newuser.strict');
    for (const text of ['this one is too long', 'short']) {
      await byTestId(page, 'composer').fill(text);
      await byTestId(page, 'composer').press('Enter');
    }
    const failed = page.locator('[data-testid="pending-item"][data-state="failed"]', { hasText: 'this one is too long' });
    await failed.waitFor();
    assert.match(await byTestId(page, 'composer-error').textContent(), /Not sent: the server refused the text/);
    await sleep(500);
    assert.equal(await page.locator('[data-testid="message-item"]').count(), 0, '"short" waits behind it: order is kept');
    await failed.locator('[data-testid="pending-retry"]').click();  // refused again
    await page.locator('[data-testid="pending-item"][data-state="failed"]').waitFor();
    await failed.locator('[data-testid="pending-edit"]').click();  // back into the box, out of the queue
    assert.equal(await byTestId(page, 'composer').inputValue(), 'this one is too long');
    await page.locator('[data-testid="message-item"]', { hasText: 'short' }).waitFor();
    assert.equal(await page.locator('[data-testid="pending-item"]').count(), 0);
    assert.equal(await byTestId(page, 'composer-error').textContent(), '');
  } finally {
    await context.close();
    await strict.stop();
  }
});

test('switching rooms right after sending: stored once, shown once, nothing strays into the other room', async () => {
  const { context, page, frames } = await newUser('switcher');
  try {
    await openRoom(page, 'newuser.switch-a');
    await openRoom(page, 'newuser.switch-b');
    await page.goto(`${server.url}/#/room/newuser.switch-a`);
    await byTestId(page, 'composer').fill('sent while leaving');
    await byTestId(page, 'composer').press('Enter');
    await page.goto(`${server.url}/#/room/newuser.switch-b`);  // at once, before the reply
    await sleep(500);
    assert.equal(await page.locator('[data-testid="message-item"]').count(), 0, 'room b shows nothing of room a');
    await page.goto(`${server.url}/#/room/newuser.switch-a`);
    await page.locator('[data-testid="message-item"]', { hasText: 'sent while leaving' }).waitFor();
    await sleep(1000);
    // The outbox settles (a rate_limited retry may still be on its way), then the text is shown once.
    await page.waitForFunction(() => !document.querySelector('[data-testid="pending-item"]'));
    assert.equal(await page.locator('[data-testid="message-item"]', { hasText: 'sent while leaving' }).count(), 1);
    // Stored once: exactly one send of it was accepted. (This server's tight rate limit may refuse
    // a send with rate_limited, the UI's joins and probes count against it too; the outbox then
    // sends again, which is not a duplicate.)
    const refs = new Set(sentEvents(frames, 'new_msg').filter((f) => f[4].body === 'sent while leaving').map((f) => f[1]));
    const accepted = frames.received.map((f) => JSON.parse(f))
      .filter((f) => f[3] === 'phx_reply' && refs.has(f[1]) && f[4].status === 'ok');
    assert.equal(accepted.length, 1, 'accepted once');
  } finally {
    await context.close();
  }
});

test('day separators between days, and the full date on hover of each time', async () => {
  // The grouping itself, over three days (the server stamps messages now, so the browser below
  // can only show one day).
  const day = (d, h) => new Date(2026, 11, d, h);
  assert.deepEqual(dayStarts([day(4, 23), day(5, 0), day(5, 12), null, day(7, 9)]), [0, 1, 4]);
  assert.equal(dayLabel(day(6, 1), day(6, 23)), 'Today');
  assert.equal(dayLabel(day(5, 23), day(6, 1)), 'Yesterday');
  assert.match(dayLabel(day(4, 12), day(6, 1)), /2026/);

  const { context, page } = await newUser('dater');
  try {
    await openRoom(page, 'newuser.dates');
    for (const text of ['first of the day', 'second of the day']) {
      await byTestId(page, 'composer').fill(text);
      await byTestId(page, 'composer').press('Enter');
    }
    await page.locator('[data-testid="message-item"]', { hasText: 'second of the day' }).waitFor();
    const separators = page.locator('[data-testid="message-list"] [data-testid="date-separator"]');
    assert.equal(await separators.count(), 1, 'one day, one separator');
    assert.equal(await separators.textContent(), 'Today');
    const firstIsAfterSeparator = await page.$eval('[data-testid="message-list"]',
      (list) => list.firstElementChild?.dataset.testid === 'date-separator'
        && list.children[1]?.dataset.testid === 'message-item');
    assert.ok(firstIsAfterSeparator, 'the separator comes before the day\'s first message');
    const title = await page.locator('[data-testid="message-time"]').first().getAttribute('title');
    assert.match(title, new RegExp(String(new Date().getFullYear())), `title "${title}" has the full date`);
  } finally {
    await context.close();
  }
});

test('on a phone the online list has a close button and does not cover the messages', async () => {
  const { context, page } = await newUser('phone', { width: 390, height: 844 });
  try {
    await openRoom(page, 'newuser.phone');
    await byTestId(page, 'composer').fill('visible under the list');
    await byTestId(page, 'composer').press('Enter');
    await page.locator('[data-testid="message-item"]').first().waitFor();
    assert.equal(await byTestId(page, 'presence-panel').isVisible(), false);
    await byTestId(page, 'presence-toggle').click();
    await byTestId(page, 'presence-panel').waitFor();
    const panel = await byTestId(page, 'presence-panel').boundingBox();
    const scroller = await page.locator('#message-scroller').boundingBox();
    assert.ok(panel.y + panel.height <= scroller.y + 1, `panel ${JSON.stringify(panel)} is above scroller ${JSON.stringify(scroller)}`);
    assert.ok(scroller.height > 200, 'the messages keep most of the screen');
    assert.ok(await page.locator('[data-testid="message-item"]').first().isVisible());
    await byTestId(page, 'presence-close').click();
    await byTestId(page, 'presence-panel').waitFor({ state: 'hidden' });
    assert.equal(await byTestId(page, 'presence-toggle').getAttribute('aria-expanded'), 'false');
  } finally {
    await context.close();
  }
});

test('an empty room name is explained; the placeholder is not a value; case differences are hinted', async () => {
  const { context, page } = await newUser('roomer');
  try {
    const input = byTestId(page, 'room-input');
    assert.match(await input.getAttribute('placeholder'), /^Room name, e\.g\./);
    await byTestId(page, 'room-join').click();
    assert.match(await byTestId(page, 'room-error').textContent(), /Type a room name first/);
    assert.equal(await byTestId(page, 'chat-view').isVisible(), false);
    assert.match(await byTestId(page, 'room-hint').textContent(), /Case matters/);

    await openRoom(page, 'Newuser.Case');
    await page.goto(server.url + '/#/');
    await input.fill('newuser.case');
    await byTestId(page, 'room-case-hint').waitFor();
    assert.match(await byTestId(page, 'room-case-hint').textContent(), /case-sensitive\. Did you mean Newuser\.Case\?/);
    await byTestId(page, 'room-case-suggestion').click();
    assert.equal(await input.inputValue(), 'Newuser.Case');
    assert.equal(await byTestId(page, 'room-case-hint').isVisible(), false);
  } finally {
    await context.close();
  }
});

test('no script errors, dialogs or CSP / Trusted Types violations', () => {
  assert.deepEqual(problems, []);
});
