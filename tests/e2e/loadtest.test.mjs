// End-to-end: rtchat-loadtest against a real rtchat-server at a small scale. The counts must agree
// exactly (every acknowledged message reaches every member of its room once, in order), the
// latency fields must be sane, and a dead port must fail fast with a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { startServer, TEST_SECRET } from './lib/server.mjs';

const LOADTEST_BIN = process.env.RTCHAT_LOADTEST_BIN;

// Runs the tool; resolves {code, stdout, stderr, json, ms}. Kills it after timeoutMs (a hang is a
// failure, reported through code === null).
function runLoadtest(args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    const started = Date.now();
    const proc = spawn(LOADTEST_BIN, [...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() || '';
      let json = null;
      try { json = JSON.parse(last); } catch { /* left null: the assertion says so */ }
      resolve({ code, stdout, stderr, json, ms: Date.now() - started });
    });
  });
}

// A port that nothing listens on: bind an ephemeral port, then release it.
async function deadPort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function assertCountsAgree(j, { connections, publishers }) {
  assert.equal(j.ok, true, `run failed: ${j.fatal} ${j.first_error}`);
  assert.equal(j.connections_established, connections);
  assert.equal(j.connections_failed, 0);
  assert.ok(j.published > 0, 'something was published');
  assert.ok(j.published >= publishers, 'every publisher sent');
  assert.equal(j.acked, j.published, 'every publish acknowledged');
  assert.ok(j.expected_deliveries > 0);
  assert.equal(j.delivered, j.expected_deliveries, 'published x room size == delivered');
  assert.equal(j.lost, 0);
  assert.equal(j.order_violations, 0);
  assert.equal(j.duplicates, 0);
  assert.equal(j.counters.protocol_errors, 0);
}

function assertLatencySane(lat) {
  assert.ok(lat.count > 0, 'latency samples');
  assert.ok(lat.p50_ms > 0, 'p50 > 0');
  assert.ok(lat.p50_ms <= lat.p90_ms && lat.p90_ms <= lat.p99_ms, 'p50 <= p90 <= p99');
  assert.ok(lat.p99_ms <= lat.p999_ms && lat.p999_ms <= lat.max_ms, 'p99 <= p99.9 <= max');
  assert.ok(lat.max_ms < 10000, 'max below 10 s on loopback');
}

const SMALL = ['--connections', '200', '--rooms', '10', '--publishers', '10', '--rate', '10',
  '--msg-size', '120', '--warmup', '0.5', '--duration', '3', '--quiet', '--strict'];

test('loadtest binary is available', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const r = await runLoadtest(['--self-check']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /self-check ok/);
});

test('json run: counts agree and latency is sane', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const server = await startServer();
  try {
    const r = await runLoadtest(['--port', String(server.port), '--jwt-secret', TEST_SECRET,
      '--server-pid', String(server.proc.pid), ...SMALL]);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.ok(r.json, `no JSON line:\n${r.stdout}`);
    assertCountsAgree(r.json, { connections: 200, publishers: 10 });
    assertLatencySane(r.json.latency);
    assertLatencySane(r.json.ack_latency);
    assert.ok(r.json.delivered_per_s > 0);
    assert.ok(r.json.cpu.wall_s > 0);
    // The join storm's CPU on both sides, read from /proc (-1: not measured). 200 joins cost
    // each side ~10-20 ms, about one clock tick, so only "measured and sane" is asserted.
    const setup = r.json.setup_cpu;
    assert.ok(setup.server_s >= 0 && setup.generator_s >= 0, JSON.stringify(setup));
    assert.ok(setup.server_s < 2 * r.json.cpu.wall_s && setup.generator_s < 2 * r.json.cpu.wall_s);
    assert.ok(r.json.server_rss_kib.before > 0 && r.json.server_rss_kib.joined > 0);
    assert.match(r.stdout, /setup cpu: generator [0-9.]+ s \([0-9]+ us per join\)  server/);
    assert.match(r.stdout, /end-to-end/, 'human table printed');
  } finally {
    await server.stop();
  }
});

test('binary run (rtchat.v1): counts agree', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async (t) => {
  const server = await startServer();
  try {
    const r = await runLoadtest(['--port', String(server.port), '--jwt-secret', TEST_SECRET,
      '--format', 'binary', ...SMALL]);
    if (r.json && r.json.connections_established === 0 && /upgrade|subprotocol|HTTP/.test(r.json.first_error)) {
      t.skip(`server does not speak rtchat.v1 yet: ${r.json.first_error}`);
      return;
    }
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assertCountsAgree(r.json, { connections: 200, publishers: 10 });
    assertLatencySane(r.json.latency);
  } finally {
    await server.stop();
  }
});

test('several processes and source addresses: counts agree', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const server = await startServer();
  try {
    const r = await runLoadtest(['--port', String(server.port), '--jwt-secret', TEST_SECRET,
      '--procs', '2', '--threads', '2', '--source-addrs', '3', ...SMALL]);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assertCountsAgree(r.json, { connections: 200, publishers: 10 });
  } finally {
    await server.stop();
  }
});

test('a dead port fails fast with a non-zero exit', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const port = await deadPort();
  const r = await runLoadtest(['--port', String(port), '--jwt-secret', TEST_SECRET, ...SMALL], 20000);
  assert.notEqual(r.code, null, 'the tool hung and was killed');
  assert.notEqual(r.code, 0);
  assert.ok(r.ms < 10000, `took ${r.ms} ms`);
  assert.match(r.stderr, /refused|could not|FAILED/i);
  assert.equal(r.json?.ok, false);
});

test('a server that dies mid-run ends the run with a non-zero exit', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const server = await startServer();
  const run = runLoadtest(['--port', String(server.port), '--jwt-secret', TEST_SECRET,
    '--connections', '100', '--rooms', '5', '--publishers', '5', '--rate', '5', '--warmup', '0',
    '--duration', '20', '--quiet'], 30000);
  await new Promise((r) => setTimeout(r, 2500));
  await server.kill9();
  const r = await run;
  assert.notEqual(r.code, null, 'the tool hung and was killed');
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.ms < 15000, `took ${r.ms} ms`);
  assert.match(r.stderr, /lost|closed/i);
});

test('a wrong secret is reported as a refused upgrade, not a hang', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const server = await startServer();
  try {
    const r = await runLoadtest(['--port', String(server.port), '--jwt-secret', 'not-the-secret',
      '--connections', '20', '--publishers', '2', '--duration', '1', '--quiet'], 30000);
    assert.notEqual(r.code, null, 'the tool hung and was killed');
    assert.notEqual(r.code, 0);
    assert.equal(r.json?.connections_established, 0);
  } finally {
    await server.stop();
  }
});

test('a non-loopback target is refused', { skip: !LOADTEST_BIN && 'RTCHAT_LOADTEST_BIN not set' }, async () => {
  const r = await runLoadtest(['--host', '192.0.2.1', '--jwt-secret', TEST_SECRET], 10000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /only 127\.0\.0\.0\/8/);
});
