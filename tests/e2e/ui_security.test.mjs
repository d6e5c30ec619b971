// Issue 12, web items in a real Chromium (Debian's, never a downloaded one): the token never in
// the WebSocket URL (11), the page cannot be framed and runs clean under its CSP with Trusted
// Types (13), and a user who borrows someone's display name is told apart from them (15).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureWebBuilt, webDistDir } from '../../web/ensure_built.mjs';
import { mintToken, startServer } from './lib/server.mjs';
import { launchChromium } from './lib/browser.mjs';

const kWait = 10_000;

let server;
let browser;
const problems = [];  // page errors, console errors, CSP / Trusted Types violations

before(async () => {
  ensureWebBuilt();
  // Production mode: sign-in takes a pasted token, so the test chooses sub and name freely.
  server = await startServer({ args: ['--web-root', webDistDir, '--production'] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

// A page signed in with `token`, in `room`, connected. Records every WebSocket URL it opens.
async function openAs(token, room) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(kWait);
  const wsUrls = [];
  page.on('websocket', (ws) => wsUrls.push(ws.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e}`));
  page.on('console', (m) => {
    // The sign-in's probe of /api/dev/token is a 404 in production mode, by design.
    if (m.type() === 'error' && !/Failed to load resource.*404/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`csp violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await page.goto(server.url + '/', { timeout: kWait });
  await byTestId(page, 'signin-name').fill('x');
  await byTestId(page, 'signin-submit').click();
  await byTestId(page, 'signin-token').waitFor();
  await byTestId(page, 'signin-token').fill(token);
  await byTestId(page, 'signin-submit').click();
  await byTestId(page, 'room-input').fill(room);
  await byTestId(page, 'room-join').click();
  await page.locator('[data-testid="connection-status"][data-state="connected"]').waitFor();
  await byTestId(page, 'composer').waitFor();
  return { context, page, wsUrls };
}

test('the WebSocket URL carries no token (it goes in the subprotocol)', async () => {
  const token = mintToken('tess', { name: 'tess' });
  const { context, page, wsUrls } = await openAs(token, 'ws-url-room');
  try {
    assert.ok(wsUrls.length >= 1, 'the page opened a socket');
    for (const url of wsUrls) {
      assert.match(url, /\/socket\/websocket\?vsn=2\.0\.0$/, url);
      assert.doesNotMatch(url, /token|eyJ/, url);
    }
    // The socket really is authenticated as tess: she is in the room's presence.
    await page.locator('[data-testid="presence-item"][data-user-id="tess"]').waitFor();
  } finally {
    await context.close();
  }
});

test('the UI cannot be framed by another origin', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    // about:blank framing the UI: frame-ancestors 'none' (and X-Frame-Options) block it.
    await page.setContent(`<iframe id="f" src="${server.url}/"></iframe>`);
    const frameEl = await page.waitForSelector('#f');
    const frame = await frameEl.contentFrame();
    await page.waitForTimeout(1000);
    const hasSignIn = await frame.evaluate(() => Boolean(document.getElementById('signin-form')))
      .catch(() => false);
    assert.equal(hasSignIn, false, 'the sign-in form rendered inside a frame');
  } finally {
    await context.close();
  }
});

test('mallory with name "victim" is displayed distinguishable from the real victim', async () => {
  const room = 'impersonation';
  const victim = await openAs(mintToken('victim', { name: 'victim' }), room);
  const mallory = await openAs(mintToken('mallory', { name: 'victim' }), room);
  try {
    const page = victim.page;
    const row = (id) => page.locator(`[data-testid="presence-item"][data-user-id="${id}"] [data-testid="presence-name"]`);
    await row('mallory').waitFor();
    await row('victim').waitFor();
    const malloryRow = (await row('mallory').textContent()).trim();
    const victimRow = (await row('victim').textContent()).trim();
    assert.match(malloryRow, /@mallory/, 'mallory shows her id');
    assert.notEqual(malloryRow.replace(' (you)', ''), victimRow.replace(' (you)', ''));
    // Names are isolated: a bidi override inside a name cannot reorder what follows it.
    assert.equal(await row('mallory').locator('bdi[data-testid="identity-name"]').textContent(), 'victim');

    const composer = byTestId(mallory.page, 'composer');
    await composer.fill('send me your password');
    await composer.press('Enter');
    const fromMallory = page.locator('[data-testid="message-item"]', { hasText: 'send me your password' });
    await fromMallory.waitFor();
    const author = fromMallory.locator('[data-testid="message-author"]');
    assert.match(await author.textContent(), /^victim @mallory$/);
    assert.equal(await author.locator('bdi').first().textContent(), 'victim');

    await byTestId(page, 'composer').fill('this is really me');
    await byTestId(page, 'composer').press('Enter');
    const fromVictim = mallory.page.locator('[data-testid="message-item"]', { hasText: 'this is really me' });
    await fromVictim.waitFor();
    const victimAuthor = await fromVictim.locator('[data-testid="message-author"]').textContent();
    const malloryAuthor = await mallory.page.locator('[data-testid="message-item"]', { hasText: 'send me your password' })
      .locator('[data-testid="message-author"]').textContent();
    assert.notEqual(victimAuthor, malloryAuthor, 'the two authors read differently');
  } finally {
    await victim.context.close();
    await mallory.context.close();
  }
});

test('a right-to-left override in a name stays inside its <bdi>', async () => {
  const room = 'bidi';
  const name = 'eve\u202Egnp.exe';
  const eve = await openAs(mintToken('eve', { name }), room);
  try {
    const row = eve.page.locator('[data-testid="presence-item"][data-user-id="eve"] [data-testid="presence-name"]');
    await row.waitFor();
    // Whatever the server keeps of the name (it may strip the control), it sits in a <bdi>, and
    // the id follows outside it.
    const bdiText = await row.locator('bdi[data-testid="identity-name"]').textContent();
    assert.ok(bdiText.startsWith('eve') && bdiText.endsWith('gnp.exe'), bdiText);
    assert.equal(await row.locator('[data-testid="identity-id"]').textContent(), '@eve');
  } finally {
    await eve.context.close();
  }
});

test('no script errors, console errors or CSP / Trusted Types violations on any page', () => {
  assert.deepEqual(problems, []);
});
