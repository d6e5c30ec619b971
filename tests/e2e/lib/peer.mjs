// A phoenix.js client in its own process, so a test can kill it abruptly (SIGKILL) and the server
// sees a socket die without a phx_leave or a close frame.
//
// As a script: node peer.mjs <wsUrl> <token> <topic> [device]; prints "joined" once the join is ok
// ("error <json>" otherwise) and then idles. It exits by itself after 120 s so it can never outlive
// a broken test for long.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

// Spawns a peer and resolves once it has joined. Returns {proc, kill(signal)}.
export function spawnPeer({ wsUrl, token, topic, device, timeoutMs = 10000 }) {
  const proc = spawn(process.execPath, [SELF, wsUrl, token, topic, device ?? ''],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`peer did not join: ${out}`)); },
      timeoutMs);
    const onData = (d) => {
      out += d;
      if (out.includes('joined\n')) {
        clearTimeout(timer);
        const exited = new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', () => r())));
        resolve({ proc, exited, kill: (signal = 'SIGKILL') => { proc.kill(signal); return exited; } });
      } else if (out.includes('error')) {
        clearTimeout(timer); proc.kill('SIGKILL'); reject(new Error(`peer join failed: ${out}`));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`peer exited ${code}: ${out}`)); });
  });
}

async function main([wsUrl, token, topic, device]) {
  const { Socket } = await import('phoenix');
  const { default: WebSocket } = await import('ws');
  setTimeout(() => process.exit(3), 120000).unref?.();
  // Keep the process alive (the socket alone would too, but not while reconnecting).
  setInterval(() => {}, 1 << 30);
  const socket = new Socket(wsUrl, { transport: WebSocket, params: { token } });
  socket.connect();
  const channel = socket.channel(topic, device ? { device } : {});
  channel.join()
    .receive('ok', () => process.stdout.write('joined\n'))
    .receive('error', (e) => process.stdout.write(`error ${JSON.stringify(e)}\n`))
    .receive('timeout', () => process.stdout.write('error "timeout"\n'));
}

if (process.argv[1] === SELF) main(process.argv.slice(2));
