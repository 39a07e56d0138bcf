/**
 * `npm start`'s prestart (scripts/build-if-stale.js): it builds only when dist/ is missing or older than a source,
 * so `npm ci && npm start` does not build twice. Run on a copy of the script in a scratch tree, with a fake npm
 * (npm_execpath) that records that it was asked to build.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
let tree: string;

function write(rel: string, text = '', mtimeS = 1_000_000) {
  const file = path.join(tree, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  fs.utimesSync(file, mtimeS, mtimeS);
}

function prestart(): { code: number | null; built: boolean; stderr: string } {
  const marker = path.join(tree, 'built');
  fs.rmSync(marker, { force: true });
  const r = spawnSync(process.execPath, [path.join(tree, 'scripts/build-if-stale.js')], {
    cwd: tree,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, npm_execpath: path.join(tree, 'fake-npm.js') },
  });
  return { code: r.status, built: fs.existsSync(marker), stderr: r.stderr };
}

beforeEach(() => {
  tree = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-start-'));
  write('scripts/build-if-stale.js', fs.readFileSync(path.join(root, 'scripts/build-if-stale.js'), 'utf8'));
  write('fake-npm.js', `require('fs').writeFileSync(require('path').join(process.cwd(), 'built'), process.argv.slice(2).join(' '));`);
  for (const src of ['src/main.ts', 'adapters/voipbin/index.ts', 'schemas/types.ts', 'console/app.ts', 'tsconfig.json', 'tsconfig.build.json', 'console/tsconfig.json']) write(src, '', 1_000_000);
});
afterEach(() => fs.rmSync(tree, { recursive: true, force: true }));

const built = (mtimeS: number) => ['dist/src/main.js', 'dist/src/cli.js', 'dist/web/console/app.js'].forEach((f) => write(f, '', mtimeS));

it('builds when dist/ is missing, with npm run build', () => {
  const r = prestart();
  expect(r).toMatchObject({ code: 0, built: true });
  expect(r.stderr).toContain('dist/src/main.js is missing');
  expect(fs.readFileSync(path.join(tree, 'built'), 'utf8')).toBe('run build --silent');
});

it('does not build when dist/ is newer than every source (as right after npm ci)', () => {
  built(2_000_000);
  expect(prestart()).toEqual({ code: 0, built: false, stderr: '' });
});

it('builds when any source (src, adapters, schemas, console, a tsconfig) is newer than dist/', () => {
  built(2_000_000);
  for (const src of ['src/main.ts', 'adapters/voipbin/index.ts', 'schemas/types.ts', 'console/app.ts', 'tsconfig.build.json']) {
    write(src, 'changed', 3_000_000);
    const r = prestart();
    expect(r).toMatchObject({ code: 0, built: true });
    expect(r.stderr).toContain(`${src} is newer than dist/`);
    write(src, 'changed', 1_000_000);
  }
  // A test file is not built: editing one does not rebuild.
  write('src/paging.test.ts', '', 3_000_000);
  expect(prestart().built).toBe(false);
});

it('builds when one output is older than the sources (a build that stopped half-way)', () => {
  built(2_000_000);
  write('dist/web/console/app.js', '', 500_000);
  expect(prestart().built).toBe(true);
});

it('is what npm start runs before starting', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(pkg.scripts.prestart).toBe('node scripts/build-if-stale.js');
  expect(pkg.scripts.start).toBe('node dist/src/main.js');
});
