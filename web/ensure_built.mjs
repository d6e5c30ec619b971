// For the e2e tests: builds web/dist with build.mjs when it is missing or older than a source.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = dirname(fileURLToPath(import.meta.url));
export const webDistDir = join(webDir, 'dist');

export function ensureWebBuilt() {
  const index = join(webDistDir, 'index.html');
  const srcDir = join(webDir, 'src');
  const newestSource = Math.max(statSync(join(webDir, 'build.mjs')).mtimeMs,
    ...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs));
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource) return;
  execFileSync(process.execPath, [join(webDir, 'build.mjs')],
    { cwd: join(webDir, '..'), stdio: 'inherit', timeout: 120_000 });
}
