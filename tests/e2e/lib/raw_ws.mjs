// Raw sockets for the operations tests: a Phoenix v2 JSON client on a bare `ws` WebSocket (no
// heartbeats, no reconnects, every frame recorded), plain HTTP upgrades over net, /metrics parsing
// and process memory. Every wait has a timeout.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { mintToken } from './server.mjs';

// Opens /socket/websocket as user; resolves once open. opts.headers go into the upgrade request.
// Returns a RawClient.
export function openRaw(srv, user, opts = {}) {
  const token = opts.token ?? mintToken(user);
  const ws = new WebSocket(`${srv.wsUrl}/websocket?vsn=2.0.0&token=${token}`,
    { headers: opts.headers ?? {}, perMessageDeflate: false });
  const client = new RawClient(ws);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`open ${user}: timeout`)); },
      opts.timeoutMs ?? 5000);
    ws.once('open', () => { clearTimeout(timer); resolve(client); });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`open ${user}: HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

export class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];  // decoded [join_ref, ref, topic, event, payload] in arrival order
    this.nextRef = 1;
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        resolve(this.closeInfo);
        this.#wake();
      });
    });
    ws.on('error', () => {});  // a reset after a server close is expected in these tests
    ws.on('message', (data) => {
      try { this.frames.push(JSON.parse(data.toString())); } catch { this.frames.push(['?', '?', '?', '?', data]); }
      this.#wake();
    });
  }

  #wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  // Sends one Phoenix v2 frame; returns the ref used.
  send(topic, event, payload, joinRef = null) {
    const ref = String(this.nextRef++);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
    return ref;
  }

  // Resolves with the first frame (from index `from`) matching pred, or rejects after timeoutMs.
  waitFrame(pred, label, timeoutMs = 5000, from = 0) {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${label}`)), timeoutMs);
      const check = () => {
        const f = this.frames.slice(from).find(pred);
        if (f) { clearTimeout(deadline); resolve(f); return; }
        if (this.closeInfo) {
          clearTimeout(deadline);
          reject(new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) waiting for ${label}`));
          return;
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  reply(ref, timeoutMs = 5000) {
    return this.waitFrame((f) => f[1] === ref && f[3] === 'phx_reply', `reply ${ref}`, timeoutMs)
      .then((f) => f[4]);
  }

  // Joins topic (join_ref = the join's own ref); resolves with the reply payload ({status, response}).
  async join(topic, payload = {}) {
    const ref = String(this.nextRef++);
    this.ws.send(JSON.stringify([ref, ref, topic, 'phx_join', payload]));
    const r = await this.reply(ref);
    this.joinRefs ??= {};
    this.joinRefs[topic] = ref;
    return r;
  }

  // Pushes on a joined topic (with the join's join_ref); returns the ref.
  push(topic, event, payload) { return this.send(topic, event, payload, this.joinRefs?.[topic] ?? null); }

  waitClosed(timeoutMs = 5000) {
    return Promise.race([this.closed, new Promise((_, reject) =>
      setTimeout(() => reject(new Error('timed out waiting for the socket to close')), timeoutMs))]);
  }

  terminate() { this.ws.terminate(); }
}

// Sends a bare HTTP/1.1 WebSocket upgrade over net and resolves with the status code of the answer.
export function rawUpgrade(port, path, headers, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('upgrade: no answer')); }, timeoutMs);
    sock.on('connect', () => {
      const lines = [`GET ${path} HTTP/1.1`, 'Upgrade: websocket', 'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      sock.write(lines.join('\r\n') + '\r\n\r\n');
    });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const m = buf.match(/^HTTP\/1\.1 (\d{3})/);
      if (m) { clearTimeout(timer); sock.destroy(); resolve(Number(m[1])); }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => { clearTimeout(timer); reject(new Error(`upgrade: closed without a status: ${buf}`)); });
  });
}

// Fetches /metrics as text.
export async function metricsText(srv) {
  const res = await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`/metrics: HTTP ${res.status}`);
  return res.text();
}

// Parses Prometheus text exposition (0.0.4). Throws on a malformed line. Returns
// {samples: [{name, labels, value}], types: Map(name -> type), help: Set(name)}.
export function parsePrometheus(text) {
  const samples = [];
  const types = new Map();
  const help = new Set();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/);
      if (!m) continue;  // other comments are allowed
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) {
          throw new Error(`line ${i + 1}: bad TYPE ${m[3]}`);
        }
        if (types.has(m[2])) throw new Error(`line ${i + 1}: second TYPE for ${m[2]}`);
        types.set(m[2], m[3]);
      } else {
        help.add(m[2]);
      }
      continue;
    }
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)( -?\d+)?$/);
    if (!m) throw new Error(`line ${i + 1} is not "name{labels} value": ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        if (!l) throw new Error(`line ${i + 1}: bad labels ${m[3]}`);
        labels[l[1]] = l[2];
        pos = re.lastIndex;
      }
    }
    const v = m[4];
    if (!/^(-?\d+(\.\d+)?([eE][-+]?\d+)?|[-+]?Inf|NaN)$/.test(v)) throw new Error(`line ${i + 1}: bad value ${v}`);
    samples.push({ name: m[1], labels, value: Number(v.replace(/^\+?Inf$/, 'Infinity').replace(/^-Inf$/, '-Infinity')) });
  }
  return { samples, types, help };
}

// Sum of a metric's samples whose labels include `match`.
export function metricSum(parsed, name, match = {}) {
  return parsed.samples.filter((s) => s.name === name &&
    Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

export async function metric(srv, name, match = {}) {
  return metricSum(parsePrometheus(await metricsText(srv)), name, match);
}

// Resident set size of a process in KiB (Linux /proc).
export function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m);
  return m ? Number(m[1]) : NaN;
}
