// Ack and delivery latency of one rtchat node on one Redis vs on a Redis Cluster (3 masters + 3
// replicas, WAIT 1 before every ok), and the per-master command counts of the cluster run.
// Both Redis setups run with `appendonly no`, so the difference is the cluster path (WAIT round
// trip, SPUBLISH after it), not disk. Loopback only; every process started here is stopped here.
//
//   node bench/redis_cluster_bench.mjs [loadtest flags...]
// (from the source dir, after building rtchat-server and rtchat-loadtest in build/)
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../tests/e2e/lib/redis.mjs';
import { nodeCommand, startRedisCluster } from '../tests/e2e/lib/redis_cluster.mjs';
import { startServer, TEST_SECRET } from '../tests/e2e/lib/server.mjs';

const LOADTEST = process.env.RTCHAT_LOADTEST_BIN || 'build/loadtest/rtchat-loadtest';
const flags = process.argv.slice(2).length ? process.argv.slice(2) : ['--connections', '1000',
  '--rooms', '100', '--publishers', '1000', '--rate', '0.2', '--msg-size', '120', '--warmup', '3',
  '--duration', '15'];

function loadtest(port) {
  return new Promise((resolve, reject) => {
    execFile(LOADTEST, ['--port', String(port), '--jwt-secret', TEST_SECRET, '--quiet', '--json',
      '--strict', ...flags], { timeout: 120000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`loadtest: ${err.message}\n${stdout}${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

async function single() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rtchat-bench-redis-'));
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const node = await startServer({ args: ['--shards', '2', '--cluster', `redis://127.0.0.1:${port}`] });
  try {
    return await loadtest(node.port);
  } finally {
    await node.stop();
    redis.kill('SIGTERM');
    await new Promise((r) => redis.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function commandCounts(rc) {
  const out = {};
  for (const m of await rc.masters()) {
    const info = await nodeCommand(m.port, 'INFO', 'commandstats');
    const calls = (name) => Number(info.match(new RegExp(`cmdstat_${name}:calls=(\\d+)`))?.[1] ?? 0);
    out[m.port] = { evalsha: calls('evalsha'), wait: calls('wait'), spublish: calls('spublish') };
  }
  return out;
}

async function cluster() {
  const rc = await startRedisCluster({ persist: false });
  const node = await startServer({ args: ['--shards', '2', '--cluster', rc.url] });
  try {
    const result = await loadtest(node.port);
    return { result, counts: await commandCounts(rc) };
  } finally {
    await node.stop();
    await rc.stop();
  }
}

const one = await single();
console.log('single Redis:', JSON.stringify(one));
const many = await cluster();
console.log('Redis Cluster:', JSON.stringify(many.result));
console.log('per master (evalsha, wait, spublish):', JSON.stringify(many.counts));
