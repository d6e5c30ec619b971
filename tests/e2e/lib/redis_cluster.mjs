// A real Redis Cluster for the Redis Cluster end-to-end suites: 3 masters + 3 replicas on loopback,
// each node in its own temp dir, stopped by PID.
//
// Ports: lib/redis.mjs takes ephemeral ports (32768-60999 on Linux) from the kernel. A cluster
// node also listens on its bus port (port + 10000), so the client ports here are taken below the
// ephemeral range: a random block of six in 21000-22499 (bus ports 31000-32499), every port and
// bus port checked free first, so two suites (or two runs) do not collide.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_BIN } from './redis.mjs';

export const REDIS_CLI = process.env.RTCHAT_REDIS_CLI || 'redis-cli';
const BASE_LOW = 21000;
const BASE_SPAN = 1500;
const NODES = 6;

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freeBlock() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = BASE_LOW + NODES * Math.floor(Math.random() * (BASE_SPAN / NODES));
    const ports = Array.from({ length: NODES }, (_, i) => base + i);
    let ok = true;
    for (const p of ports) ok = ok && (await portFree(p)) && (await portFree(p + 10000));
    if (ok) return ports;
  }
  throw new Error('no free block of cluster ports');
}

// Runs redis-cli with args; resolves with stdout (rejects on a non-zero exit).
export function cli(args, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

// One command on one node (no redirects followed): the reply as redis-cli prints it.
export const nodeCommand = (port, ...args) => cli(['-h', '127.0.0.1', '-p', String(port), ...args]);

function startNode(port, dir, persist) {
  const proc = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1',
    '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-node-timeout', '1000',
    '--cluster-config-file', 'nodes.conf',
    ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    // Diskless sync starts at once (default: waits 5 s for more replicas), so a replica is in
    // sync, and WAIT answers, right after the cluster is created or a killed master rejoins.
    '--repl-diskless-sync-delay', '0',
    '--save', '', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis ${port} did not start:\n${out}`)), 10000);
    const onData = (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis ${port} exited ${code}:\n${out}`)); });
  });
  const exited = new Promise((r) => proc.once('exit', r));
  return { port, dir, proc, exited, ready, output: () => out };
}

// Parses CLUSTER NODES: [{id, port, role: 'master'|'slave', masterId, slots: [[lo, hi]], failed}].
export function parseClusterNodes(text) {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    const port = Number(f[1].split('@')[0].split(':').pop());
    const flags = f[2].split(',');
    const slots = f.slice(8).filter((s) => !s.startsWith('[')).map((s) => {
      const [lo, hi] = s.split('-').map(Number);
      return [lo, hi ?? lo];
    });
    return { id: f[0], port, role: flags.includes('master') ? 'master' : 'slave', masterId: f[3],
      slots, failed: flags.some((x) => x === 'fail' || x === 'fail?') };
  });
}

// Starts six nodes and creates the cluster; resolves once every node says cluster_state:ok.
// persist: appendonly + fsync always (the tests); false for benchmarks against `appendonly no`.
// Returns {ports, seeds, url, nodes, masters(), masterOfSlot(slot), kill9(port), restart(port), stop()}.
export async function startRedisCluster({ persist = true } = {}) {
  const ports = await freeBlock();
  const root = mkdtempSync(join(tmpdir(), 'rtchat-rcluster-'));
  const nodes = new Map();
  const launch = (port) => {
    const dir = join(root, String(port));
    mkdirSync(dir, { recursive: true });
    const n = startNode(port, dir, persist);
    nodes.set(port, n);
    return n.ready;
  };
  const stop = async () => {
    for (const n of nodes.values()) {
      if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
    }
    for (const n of nodes.values()) await n.exited;
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map(launch));
    await cli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas', '1', '--cluster-yes'], 60000);
    await waitClusterOk(ports);
  } catch (e) {
    await stop();
    throw e;
  }
  const cluster = {
    ports,
    seeds: ports.slice(0, 3).map((p) => `127.0.0.1:${p}`),
    url: `redis-cluster://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`,
    nodes,
    alive: () => ports.filter((p) => { const n = nodes.get(p); return n.proc.exitCode === null && n.proc.signalCode === null; }),
    async view() {
      for (const p of cluster.alive()) {
        try { return parseClusterNodes(await nodeCommand(p, 'CLUSTER', 'NODES')); } catch { /* next */ }
      }
      throw new Error('no live cluster node answers');
    },
    async masters() { return (await cluster.view()).filter((n) => n.role === 'master' && !n.failed && n.slots.length); },
    async masterOfSlot(slot) {
      return (await cluster.masters()).find((m) => m.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
    },
    async kill9(port) { const n = nodes.get(port); n.proc.kill('SIGKILL'); await n.exited; },
    // Starts a killed node again in its own dir: it rejoins (nodes.conf) as a replica of whoever
    // took over its slots.
    async restart(port) { await launch(port); },
    waitOk: () => waitClusterOk(cluster.alive()),
    stop,
  };
  return cluster;
}

// Every live node reports cluster_state:ok (all 16384 slots served), and every master serving
// slots has as many online replicas as `replicas` (the rtchat link's WAIT 1 needs one).
export async function waitClusterOk(ports, timeoutMs = 30000, replicas = 1) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = true;
    for (const p of ports) {
      try {
        const info = await nodeCommand(p, 'CLUSTER', 'INFO');
        ok = ok && /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info);
      } catch { ok = false; }
    }
    if (ok) {
      try {
        const masters = parseClusterNodes(await nodeCommand(ports[0], 'CLUSTER', 'NODES'))
          .filter((n) => n.role === 'master' && !n.failed && n.slots.length);
        for (const m of masters) {
          const repl = await nodeCommand(m.port, 'INFO', 'replication');
          ok = ok && (repl.match(/state=online/g) || []).length >= replicas;
        }
      } catch { ok = false; }
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error('Redis Cluster did not reach cluster_state:ok');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// CRC16 (XMODEM) key slot with hash tags, as Redis computes it (for tests choosing rooms).
export function keySlot(key) {
  let k = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) k = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const b of Buffer.from(k)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
