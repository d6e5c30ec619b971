// A real redis-server for the cluster end-to-end suites, on a free loopback port in a temp dir.
import { spawn } from 'node:child_process';
import net from 'node:net';

export const REDIS_BIN = process.env.RTCHAT_REDIS_BIN || 'redis-server';

// A loopback port nothing listens on right now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// appendonly with fsync always in `dir`: a restarted Redis (same port and dir) has every
// acknowledged write. Resolves once Redis accepts connections; returns {proc, exited, stop()}.
export async function startRedis(port, dir) {
  const proc = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--protected-mode', 'no'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis did not start:\n${out}`)), 10000);
    const onData = (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`redis exited ${code}:\n${out}`)); });
  });
  const exited = new Promise((r) => proc.on('exit', r));
  return { proc, exited, async stop() { proc.kill('SIGTERM'); await exited; } };
}

// Sends one command over RESP and resolves with the raw reply text once `complete` matches it
// (a reply may come in pieces).
export function redisCommand(port, args, complete = /\r\n$/) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    sock.on('data', (d) => { out += d; if (complete.test(out)) { sock.end(); resolve(out); } });
    sock.on('error', reject);
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}
