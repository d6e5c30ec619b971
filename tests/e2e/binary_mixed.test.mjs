// One room, two wire formats: phoenix.js clients (JSON) and a binary rtchat.v1 client (rtchat-cli,
// on the C++ client library) exchange messages and all see one order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Socket } from 'phoenix';
import WebSocket from 'ws';
import { startServer, mintToken, waitFor, BUILD_DIR } from './lib/server.mjs';

const CLI = process.env.RTCHAT_CLI_BIN || join(BUILD_DIR, 'loadtest', 'rtchat-cli');

test('a binary client and phoenix.js clients share a room and see the same order', async () => {
  const srv = await startServer({ args: ['--shards', '2'] });
  try {
    const sockets = [], seen = [];
    const channels = [];
    for (const user of ['alice', 'carol']) {
      const s = new Socket(srv.wsUrl, { transport: WebSocket, params: { token: mintToken(user) } });
      s.connect();
      sockets.push(s);
      const c = s.channel('room:mixed', {});
      const got = [];
      c.on('new_msg', (m) => got.push(m));
      await new Promise((res, rej) => c.join().receive('ok', res).receive('error', rej));
      channels.push(c);
      seen.push(got);
    }
    const perSender = 10;
    const cli = spawn(CLI, ['--port', String(srv.port), '--token', mintToken('bob'), '--room', 'mixed',
      '--format', 'binary', '--send', String(perSender), '--prefix', 'bin', '--expect', String(3 * perSender),
      '--timeout', '20000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    cli.stdout.on('data', (d) => { out += d; });
    cli.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => cli.on('exit', resolve));
    await waitFor(() => out.includes('joined room:mixed'), 'binary client joined', 10000);
    for (let i = 0; i < perSender; i++) {
      channels[0].push('new_msg', { body: `alice-${i}` });
      channels[1].push('new_msg', { body: `carol-${i}` });
    }
    assert.equal(await exited, 0, `rtchat-cli failed: ${err}`);
    const binSeen = out.split('\n').filter((l) => l.startsWith('msg ')).map((l) => {
      const [, id, user, body] = l.match(/^msg (\d+) (\S+) (.*)$/);
      return { id: Number(id), user_id: user, body };
    });
    await waitFor(() => seen.every((s) => s.length === 3 * perSender), 'JSON clients got everything', 10000);
    assert.equal(binSeen.length, 3 * perSender);
    const order = seen[0].map((m) => [m.id, m.user_id, m.body]);
    assert.deepEqual(seen[1].map((m) => [m.id, m.user_id, m.body]), order);
    assert.deepEqual(binSeen.map((m) => [m.id, m.user_id, m.body]), order, 'binary client: same messages, same order');
    assert.deepEqual(binSeen.filter((m) => m.user_id === 'bob').map((m) => m.body),
      Array.from({ length: perSender }, (_, i) => `bin-${i}`));
    sockets.forEach((s) => s.disconnect());
  } finally {
    await srv.stop();
  }
});
