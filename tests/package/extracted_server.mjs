// The server from an extracted .deb (RTCHAT_SERVER_BIN=<root>/usr/bin/rtchat-server), run with
// the packaged /etc/rtchat/rtchat.env plus a secret: it serves its own share/ UI, /healthz and a
// phoenix.js round trip. Run by tests/package/package_test.sh with node --test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { SERVER_BIN, startServer, mintToken } from '../e2e/lib/server.mjs';

const installedWeb = join(dirname(dirname(realpathSync(SERVER_BIN))), 'share', 'rtchat', 'web');
let srv;
before(async () => { srv = await startServer({ args: ['--shards', '1', '--drain-timeout', '2'] }); });
after(async () => { await srv?.stop(); });

test('runs in production mode from the packaged env file and serves the installed UI', async () => {
  assert.match(srv.output(), /mode=production/, 'RTCHAT_PRODUCTION=true from rtchat.env');
  assert.ok(srv.output().includes(`web_root=${installedWeb} `),
    `UI from ${installedWeb}:\n${srv.output()}`);
  const health = await fetch(`${srv.url}/healthz`);
  assert.equal(health.status, 200);
  const index = await fetch(`${srv.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /text\/html/);
  assert.match(await index.text(), /<html|<!doctype/i);
});

test('phoenix.js joins, pushes and gets its own broadcast', async () => {
  const socket = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken('pkg') } });
  socket.connect();
  try {
    const channel = socket.channel('room:package', {});
    const seen = new Promise((resolve) => channel.on('new_msg', resolve));
    await new Promise((resolve, reject) => {
      channel.join().receive('ok', resolve).receive('error', reject)
        .receive('timeout', () => reject(new Error('join timeout')));
    });
    const reply = await new Promise((resolve, reject) => {
      channel.push('new_msg', { body: 'from the package' }).receive('ok', resolve)
        .receive('error', reject).receive('timeout', () => reject(new Error('push timeout')));
    });
    const msg = await seen;
    assert.equal(msg.body, 'from the package');
    assert.equal(msg.id, reply.id);
  } finally {
    socket.disconnect();
  }
});
