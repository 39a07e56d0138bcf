/**
 * The README's "Using it" commands, run as written against the built gateway serving the demo. The only
 * change: the demo's port 8080 becomes the port this test got.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
let child: ChildProcessWithoutNullStreams;
let port: string;

beforeAll(async () => {
  child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], { cwd: root, env: { PATH: process.env.PATH, PORT: '0' } });
  port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /URL: +http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(out)));
  });
}, 120_000);
afterAll(() => child?.kill('SIGTERM'));

function readmeCommands(): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it'), readme.indexOf('## Backends'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((b) => b.split('\n')).filter((l) => l.trim() !== '');
}

it('finds the commands', () => {
  expect(readmeCommands().filter((c) => c.startsWith('curl')).length).toBeGreaterThanOrEqual(10);
  expect(readmeCommands().filter((c) => c.includes('npx pbx-gateway')).length).toBeGreaterThanOrEqual(5);
});

it('runs every command of the README as written, each answering successfully', () => {
  const lines = readmeCommands().map((l) => l.replace(/127\.0\.0\.1:8080/g, `127.0.0.1:${port}`).replace(/npx pbx-gateway /, `node ${path.join(root, 'dist/src/cli.js')} `));
  const script = ['set -e', ...lines.map((l) => (l.startsWith('curl') ? `${l.replace(/^curl -s/, 'curl -sf')} > /dev/null` : l.startsWith('export') ? l : `${l} > /dev/null`))].join('\n');
  // The two conformance runs take most of it (some 35 s on their own, more beside the rest of the suite's workers).
  execFileSync('bash', ['-c', script], { cwd: root, encoding: 'utf8', timeout: 150_000 });
});
