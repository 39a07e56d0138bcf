/**
 * pbx-gateway/client (src/client) driving the README's "For API clients" flow against the gateway serving the
 * embedded demo (config/demo.yaml: in-process simulators) on a real port. The calls are type-checked against the
 * generated src/client/api.ts by `npm run typecheck`: the @ts-expect-error lines prove that wrong paths, bodies
 * and parameters do not compile.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { registry } from '../../adapters';
import { parseConfig } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';
import { createGatewayClient, type GatewayClient, type Problem } from '../../src/client';

const root = path.resolve(__dirname, '../..');
const KEY = 'pbxgw_demo_key_0123456789';
let gateway: RunningGateway;
let gw: GatewayClient;

beforeAll(async () => {
  const config = parseConfig(fs.readFileSync(path.join(root, 'config/demo.yaml'), 'utf8'), { registry, env: {} });
  gateway = await startGateway({ ...config, logging: { level: 'silent' } }, registry, { PORT: '0' });
  gw = createGatewayClient({ baseUrl: gateway.url, apiKey: KEY });
}, 60_000);
afterAll(() => gateway?.close(0));

const tenant = 'demo-issabel';

it('lists tenants', async () => {
  const { data, error, response } = await gw.GET('/v1/tenants');
  expect(error).toBeUndefined();
  expect(response.status).toBe(200);
  expect(data!.items.map((t) => t.name)).toEqual(expect.arrayContaining(['demo-voipbin', 'demo-vitalpbx', 'demo-issabel']));
});

it('lists a page', async () => {
  const { data } = await gw.GET('/v1/tenants/{tenant}/extensions', { params: { path: { tenant }, query: { page_size: 2 } } });
  expect(data!.items).toHaveLength(2);
  expect(data!.next_page_token).toEqual(expect.any(String));
});

it('creates with an Idempotency-Key (a retry is replayed), patches, reads the password', async () => {
  const create = () =>
    gw.POST('/v1/tenants/{tenant}/extensions', {
      params: { path: { tenant }, header: { 'Idempotency-Key': 'client-create-1' } },
      body: { name: 'Front Desk' },
    });
  const first = await create();
  expect(first.response.status).toBe(201);
  const id = first.data!.id;
  const again = await create();
  expect(again.response.headers.get('Idempotency-Replayed')).toBe('true');
  expect(again.data!.id).toBe(id);

  const patched = await gw.PATCH('/v1/tenants/{tenant}/extensions/{id}', { params: { path: { tenant, id } }, body: { name: 'Lobby' } });
  expect(patched.data!.name).toBe('Lobby');

  const got = await gw.GET('/v1/tenants/{tenant}/extensions/{id}', { params: { path: { tenant, id }, query: { include: 'password' } } });
  expect(got.data!.password).toEqual(expect.any(String));
});

it('deletes a batch, one result per id', async () => {
  const { data } = await gw.DELETE('/v1/tenants/{tenant}/extensions', { params: { path: { tenant }, query: { ids: '1004,1005,9999' } } });
  expect(data!.results.map((r) => [r.id, r.status])).toEqual([
    ['1004', 'deleted'],
    ['1005', 'deleted'],
    ['9999', 'not_found'],
  ]);
});

it("plans a migration from the README's body {from, to} (dry_run and the rest default)", async () => {
  const { data, response } = await gw.POST('/v1/migrations', { body: { from: 'demo-vitalpbx', to: 'demo-issabel' } });
  expect(response.status).toBe(200);
  expect(data).toMatchObject({ dry_run: true, from: 'demo-vitalpbx', to: 'demo-issabel' });
  expect(data!.items.length).toBeGreaterThan(0);
});

it('answers an error typed as the Problem', async () => {
  const { data, error, response } = await gw.GET('/v1/tenants/{tenant}/extensions/{id}', { params: { path: { tenant, id: '99999' } } });
  expect(response.status).toBe(404);
  expect(data).toBeUndefined();
  const problem: Problem = error!;
  expect(problem).toMatchObject({ status: 404, type: expect.stringMatching(/^\/problems\//) });

  const bad = createGatewayClient({ baseUrl: gateway.url, apiKey: 'not-a-key-0123456789' });
  const denied = await bad.GET('/v1/tenants');
  expect(denied.response.status).toBe(401);
  expect(denied.error!.type).toMatch(/^\/problems\//);
});

it('rejects wrong paths, bodies and parameters at compile time', () => {
  // Never called: only compiled.
  const never = () => {
    // @ts-expect-error: no such path
    void gw.GET('/v1/tenant');
    // @ts-expect-error: a migration needs `to`
    void gw.POST('/v1/migrations', { body: { from: 'demo-vitalpbx' } });
    // @ts-expect-error: a name is a string
    void gw.PATCH('/v1/tenants/{tenant}/extensions/{id}', { params: { path: { tenant, id: '1' } }, body: { name: 42 } });
    // @ts-expect-error: the tenant path parameter is required
    void gw.GET('/v1/tenants/{tenant}/extensions', { params: { path: {} } });
  };
  expect(typeof never).toBe('function');
});

describe('as the package export pbx-gateway/client', () => {
  // A consumer project with this one installed (a symlink, as `npm install <path>` makes), using the built dist/
  // (the tests' global setup builds it) and, for types, moduleResolution node16 (which reads package.json exports).
  let consumer: string;
  beforeAll(() => {
    consumer = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-client-'));
    fs.mkdirSync(path.join(consumer, 'node_modules'));
    fs.symlinkSync(root, path.join(consumer, 'node_modules/pbx-gateway'), 'dir');
  });
  afterAll(() => fs.rmSync(consumer, { recursive: true, force: true }));

  it('is required from dist by Node.js (CommonJS) and calls the gateway', async () => {
    const script = `require('pbx-gateway/client').createGatewayClient({ baseUrl: process.argv[1], apiKey: '${KEY}' })
      .GET('/v1/tenants').then(({ data }) => console.log(data.items.length))`;
    // Not execFileSync: the gateway answering it runs in this process.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['-e', script, gateway.url], { cwd: consumer, encoding: 'utf8' });
    expect(Number(out.trim())).toBeGreaterThanOrEqual(3);
    expect(require.resolve('pbx-gateway/client', { paths: [consumer] })).toBe(path.join(root, 'dist/src/client/index.js'));
  });

  it('type-checks a consumer with its types, and fails one with a wrong body', () => {
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const check = (body: string) => {
      fs.writeFileSync(
        path.join(consumer, 'use.ts'),
        `import { createGatewayClient, type Problem } from 'pbx-gateway/client';
const gw = createGatewayClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'k' });
export async function plan(): Promise<Problem | number> {
  const { data, error } = await gw.POST('/v1/migrations', { body: ${body} });
  return error ?? data.items.length;
}
`,
      );
      const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types'), 'use.ts'];
      try {
        execFileSync(process.execPath, args, { cwd: consumer, encoding: 'utf8' });
        return '';
      } catch (err) {
        return String((err as { stdout?: string }).stdout);
      }
    };
    expect(check(`{ from: 'demo-vitalpbx', to: 'demo-issabel' }`)).toBe('');
    expect(check(`{ from: 'demo-vitalpbx', too: 'demo-issabel' }`)).toMatch(/use\.ts\(4,/);
  }, 60_000);

  it("runs the README's example as written (an ES module) and type-checks it", async () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### For API clients'), readme.indexOf('### For operators'));
    const example = /```ts\n([\s\S]*?)```/.exec(section)![1];
    expect(example.split('\n').filter(Boolean)).toHaveLength(5);
    fs.writeFileSync(path.join(consumer, 'readme.mjs'), example.replace('http://127.0.0.1:8080', gateway.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['readme.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(stdout).toMatch(/^\[ '.+', '.+' \] undefined\n$/);
    fs.writeFileSync(path.join(consumer, 'readme.mts'), example);
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types'), 'readme.mts'];
    const r = await promisify(execFile)(process.execPath, args, { cwd: consumer, encoding: 'utf8' }).catch((err: { stdout: string }) => ({ stdout: err.stdout || 'failed' }));
    expect(r.stdout).toBe('');
  }, 60_000);
});
