// Builds the chat UI into web/dist: Tailwind v4 CSS and an esbuild bundle, both with content
// hashes in their names under dist/assets/, and dist/index.html pointing at them.
// Offline by design: everything comes from node_modules; the page links no CDN.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = dirname(fileURLToPath(import.meta.url));
const rootDir = join(webDir, '..');
const srcDir = join(webDir, 'src');
const finalDistDir = join(webDir, 'dist');
// Build beside dist and swap it in at the end, so a server or test reading web/dist (ctest -j
// runs e2e files in parallel, each may build) never sees a half-written tree.
const distDir = join(webDir, `.dist-build-${process.pid}`);
const assetsDir = join(distDir, 'assets');
process.on('exit', () => rmSync(distDir, { recursive: true, force: true }));  // after a failure

// 10 hex digits (40 bits) is plenty to tell builds apart and keeps URLs short.
const contentHash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 10);

rmSync(distDir, { recursive: true, force: true });
mkdirSync(assetsDir, { recursive: true });

// CSS: the Tailwind CLI scans the @source globs named in app.css and writes minified CSS to stdout.
const tailwindCli = join(rootDir, 'node_modules', '@tailwindcss', 'cli', 'dist', 'index.mjs');
const css = execFileSync(process.execPath, [tailwindCli, '-i', join(srcDir, 'app.css'), '-o', '-',
  '--minify'], { cwd: webDir, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
const cssName = `app-${contentHash(css)}.css`;
writeFileSync(join(assetsDir, cssName), css);

// JS: one ES2020 bundle; esbuild puts the content hash in the name ([hash] is over the output).
const result = await build({
  entryPoints: { app: join(srcDir, 'main.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outdir: assetsDir,
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  absWorkingDir: rootDir,  // metafile paths are relative to this
  logLevel: 'warning',
});
const jsOut = Object.keys(result.metafile.outputs).find((p) => p.endsWith('.js'));
const jsName = relative(assetsDir, join(rootDir, jsOut)).replace(/\\/g, '/');
if (jsName.startsWith('..')) throw new Error(`unexpected esbuild output path ${jsOut}`);

const html = readFileSync(join(srcDir, 'index.html'), 'utf8')
  .replace('%APP_CSS%', `/assets/${cssName}`)
  .replace('%APP_JS%', `/assets/${jsName}`);
writeFileSync(join(distDir, 'index.html'), html);

const oldDir = join(webDir, `.dist-old-${process.pid}`);
if (existsSync(finalDistDir)) renameSync(finalDistDir, oldDir);
renameSync(distDir, finalDistDir);
rmSync(oldDir, { recursive: true, force: true });

console.log(`web/dist: index.html, assets/${cssName} (${css.length} B), assets/${jsName}`);
