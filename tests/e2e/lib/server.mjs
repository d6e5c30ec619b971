// Starts a real rtchat-server on an ephemeral loopback port for an end-to-end test.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';

export const SERVER_BIN = process.env.RTCHAT_SERVER_BIN || 'build/server/rtchat-server';
export const SOURCE_DIR = process.env.RTCHAT_SOURCE_DIR || process.cwd();
export const BUILD_DIR = process.env.RTCHAT_BUILD_DIR || join(SOURCE_DIR, 'build');
export const TEST_SECRET = 'e2e-test-secret-0123456789abcdef';
// Opt-in: RTCHAT_E2E_SERVER_LOG=path appends each server's whole output there when it exits
// (for grepping sanitizer reports such as "ERROR: AddressSanitizer" or "runtime error").
const SERVER_LOG = process.env.RTCHAT_E2E_SERVER_LOG || '';

// Starts the server; resolves once it prints its listening line. opts.args are extra flags,
// opts.dataDir reuses a data dir (restart tests). Returns {port, url, wsUrl, proc, dataDir, stop, kill9}.
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir || mkdtempSync(join(tmpdir(), 'rtchat-e2e-'));
  const args = ['--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--data-dir', dataDir,
    '--jwt-secret', opts.secret ?? TEST_SECRET, ...(opts.args || [])];
  const proc = spawn(opts.bin || SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (d) => { output += d.toString(); };
  proc.stdout.on('data', append);
  proc.stderr.on('data', append);
  if (SERVER_LOG) {
    proc.on('close', (code, signal) => {
      appendFileSync(SERVER_LOG, `=== rtchat-server ${args.join(' ')} (pid ${proc.pid}) ` +
        `exit code=${code} signal=${signal}\n${output}\n`);
    });
  }
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');  // never leave a half-started server behind
      reject(new Error(`server did not start:\n${output}`));
    }, 15000);
    const onData = () => {
      const m = output.match(/listening on [\d.]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        proc.stderr.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${output}`)); });
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const server = {
    port, proc, dataDir, exited,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/socket`,
    output: () => output,
    // Graceful stop (SIGTERM) and wait for exit.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => setTimeout(() => res(null), 10000))]);
      if (r === null) { proc.kill('SIGKILL'); await exited; }
      if (!opts.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return r;
    },
    async kill9() { proc.kill('SIGKILL'); return exited; },
  };
  return server;
}

// Mints an HS256 JWT like the server expects (sub, name, exp, optional rooms, role, moderate).
export function mintToken(sub, { name, ttl = 3600, secret = TEST_SECRET, rooms, exp, nbf, alg = 'HS256', role, moderate } = {}) {
  const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, exp: exp ?? now + ttl, iat: now };
  if (name !== undefined) claims.name = name;
  if (rooms !== undefined) claims.rooms = rooms;
  if (nbf !== undefined) claims.nbf = nbf;
  if (role !== undefined) claims.role = role;
  if (moderate !== undefined) claims.moderate = moderate;
  const head = b64({ alg, typ: 'JWT' }) + '.' + b64(claims);
  const sig = crypto.createHmac('sha256', secret).update(head).digest('base64url');
  return head + '.' + sig;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns truthy or the timeout passes (then throws with the label).
export async function waitFor(fn, label = 'condition', timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(20);
  }
}

// Runs fn(srv, opened) against a fresh server started with args; whatever fn pushes onto `opened`
// (raw clients, phoenix sockets) is closed and the server stopped afterwards, pass or fail.
export async function withServer(args, fn) {
  const srv = await startServer({ args });
  const opened = [];
  try {
    return await fn(srv, opened);
  } finally {
    for (const c of opened) c.terminate?.() ?? c.disconnect?.();
    await srv.stop();
  }
}
