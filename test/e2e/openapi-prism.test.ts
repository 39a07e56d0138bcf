/**
 * The OpenAPI document checked by a tool nobody on the project wrote: Prism (@stoplight/prism-cli, pinned) as a
 * validating proxy with `--errors` in front of the built gateway serving the demo. Every request and every answer
 * that passes through it must match the document, or Prism answers an error in its place: the README's calls, a
 * real migration (202, then its job), CSV and NDJSON imports (a plan, a job), both export formats, a 401.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { version } from '../../package.json';
import { buildOpenApi } from '../../src/openapi';

const root = path.resolve(__dirname, '../..');
const PRISM = path.join(root, 'node_modules/@stoplight/prism-cli/dist/index.js');
const KEY = 'pbxgw_demo_key_0123456789';
let gateway: ChildProcessWithoutNullStreams;
let prism: ChildProcessWithoutNullStreams;
let prismLog = '';
let base: string;
let dir: string;

/** A child's first stdout match of `re`, or its whole output in the error when it exits first. */
function waitFor(child: ChildProcessWithoutNullStreams, re: RegExp, onOut: (s: string) => void = () => {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const read = (d: Buffer) => {
      out += d.toString();
      onOut(d.toString());
      const m = re.exec(out);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', () => reject(new Error(out)));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pbxgw-prism-'));
  const doc = path.join(dir, 'openapi.json');
  writeFileSync(doc, JSON.stringify(buildOpenApi(version)));
  gateway = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], { cwd: root, env: { PATH: process.env.PATH, PORT: '0' } });
  const port = await waitFor(gateway, /URL: +http:\/\/127\.0\.0\.1:(\d+)/);
  // Port 0 is not Prism's to take: try a few ports of a range that nothing else here uses.
  for (let attempt = 0; attempt < 5 && !base; attempt++) {
    const p = String(41000 + Math.floor(Math.random() * 9000));
    prism = spawn(process.execPath, [PRISM, 'proxy', doc, `http://127.0.0.1:${port}`, '--errors', '--host', '127.0.0.1', '--port', p], { cwd: dir, env: { PATH: process.env.PATH, NO_COLOR: '1' } });
    base = await waitFor(prism, /Prism is listening on (http:\/\/127\.0\.0\.1:\d+)/, (s) => (prismLog += s)).catch(() => '');
  }
  expect(base).toMatch(/^http:/);
}, 90_000);
afterAll(() => {
  prism?.kill('SIGTERM');
  gateway?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function readmeCurls(): string[] {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using it'), readme.indexOf('## Backends'));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n')).filter((l) => l.startsWith('curl') || l.startsWith('export'));
}

/** `curl` through Prism: the status, and the body when Prism refused (its problem says which rule). */
function curl(args: string): { status: number; body: string } {
  const out = execFileSync('bash', ['-c', `curl -s -w '\\n%{http_code}' ${args}`], { encoding: 'utf8', timeout: 30_000 });
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

it('passes the README calls, a real migration, imports and exports through Prism --errors', () => {
  const script = readmeCurls()
    .map((l) => l.replace(/http:\/\/127\.0\.0\.1:8080/g, base).replace(/^curl -s /, "curl -sS -o /dev/null -w '%{http_code} ' "))
    .join('\n');
  const statuses = execFileSync('bash', ['-c', `set -e\n${script}`], { cwd: root, encoding: 'utf8', timeout: 60_000 }).trim().split(' ').map(Number);
  expect(statuses.length).toBeGreaterThanOrEqual(10);
  expect({ refused: statuses.filter((s) => s >= 300), prismLog: statuses.every((s) => s < 300) ? '' : prismLog }).toEqual({ refused: [], prismLog: '' });

  const auth = `-H 'Authorization: Bearer ${KEY}'`;
  const migration = curl(`${auth} -H 'Content-Type: application/json' -d '{"from":"demo-vitalpbx","to":"demo-issabel","dry_run":false,"on_conflict":"skip","accept_loss":["description"]}' ${base}/v1/migrations`);
  expect({ status: migration.status, body: migration.status === 202 ? '' : migration.body }).toEqual({ status: 202, body: '' });
  const id = (JSON.parse(migration.body) as { id: string }).id;
  expect(curl(`${auth} ${base}/v1/migrations/${id}`).status).toBe(200);
  expect(curl(`${auth} ${base}/v1/jobs/${id}`).status).toBe(200);

  const csv = `--data-binary $'extension,name\\n4901,Prism One\\n4902,Prism Two\\n'`;
  const plan = curl(`${auth} -H 'Content-Type: text/csv' ${csv} ${base}/v1/tenants/demo-issabel/extensions/import`);
  expect({ status: plan.status, body: plan.status === 200 ? '' : plan.body }).toEqual({ status: 200, body: '' });
  const job = curl(`${auth} -H 'Content-Type: text/csv' -H 'Idempotency-Key: prism-import-1' ${csv} '${base}/v1/tenants/demo-issabel/extensions/import?dry_run=false&async=true'`);
  expect({ status: job.status, body: job.status === 202 ? '' : job.body }).toEqual({ status: 202, body: '' });
  const ndjson = curl(`${auth} -H 'Content-Type: application/x-ndjson' --data-binary '{"extension":"4903","name":"Prism Three"}' '${base}/v1/tenants/demo-issabel/extensions/import?dry_run=false&async=false'`);
  expect({ status: ndjson.status, body: ndjson.status === 200 ? '' : ndjson.body }).toEqual({ status: 200, body: '' });
  for (const format of ['csv', 'ndjson']) {
    const exported = curl(`${auth} '${base}/v1/tenants/demo-voipbin/extensions/export?format=${format}'`);
    expect({ format, status: exported.status }).toEqual({ format, status: 200 });
  }
  // A wrong key reaches the gateway (Prism itself answers a request with no key at all): its 401 is documented.
  const refused = curl(`-H 'Authorization: Bearer not-a-valid-key-00000000' ${base}/v1/tenants`);
  expect({ status: refused.status, type: (JSON.parse(refused.body) as { type: string }).type }).toEqual({ status: 401, type: '/problems/unauthenticated' });
  expect(curl(`${base}/readyz`).status).toBe(200);
}, 90_000);
