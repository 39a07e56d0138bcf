/**
 * The desired-state CLI against a running gateway on the demo: export, commit, edit, plan (exit 0/2/1), apply
 * (--yes, or refusing without a terminal), drift, `${NAME}` passwords from the environment, and direct mode.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import YAML from 'yaml';
import { registry } from '../../adapters';
import { runCli } from '../../src/cli';
import { parseConfig } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';
import type { DesiredState } from '../../schemas/types';

const root = path.resolve(__dirname, '../..');
const demo = path.join(root, 'config/demo.yaml');
const DEMO_KEY = 'pbxgw_demo_key_0123456789';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-ds-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}, stdin?: NodeJS.ReadableStream & { isTTY?: boolean }) {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (chunk, _enc, cb) => (add(chunk.toString()), cb()) });
  const code = await runCli(argv, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env, ...(stdin ? { stdin } : {}) });
  return { code, stdout, stderr };
}

describe('against a gateway', () => {
  let gateway: RunningGateway;
  const g = (argv: string[], env: NodeJS.ProcessEnv = {}, stdin?: NodeJS.ReadableStream & { isTTY?: boolean }) => cli([...argv, '--url', gateway.url, '--key', DEMO_KEY], env, stdin);
  const write = (name: string, file: DesiredState | string) => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, typeof file === 'string' ? file : YAML.stringify(file));
    return p;
  };

  beforeAll(async () => {
    const config = parseConfig(fs.readFileSync(demo, 'utf8'), { registry, env: {} });
    gateway = await startGateway({ ...config, logging: { level: 'silent' } }, registry, { PORT: '0' });
  });
  afterAll(() => gateway.close());

  it('exports a tenant that plans to no changes (exit 0), then plans an edit (exit 2) and applies it', async () => {
    const exported = await g(['export', '--desired-state', '--tenant', 'demo-issabel,demo-voipbin']);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('# Passwords are left out');
    const file = YAML.parse(exported.stdout) as DesiredState;
    expect(Object.keys(file.tenants)).toEqual(['demo-issabel', 'demo-voipbin']);
    const hq = write('hq.yaml', exported.stdout);
    const unchanged = await g(['plan', '-f', hq]);
    expect(unchanged).toMatchObject({ code: 0, stdout: expect.stringContaining('demo-issabel (issabel): 0 to create, 0 to update, 0 to delete') });

    // Edit: a new extension with its password from the environment, a rename.
    file.tenants['demo-voipbin']!.extensions!.push({ extension: '110', name: 'Night Desk', password: '${NIGHT_PW}' });
    file.tenants['demo-issabel']!.extensions![0].name = 'Front Desk';
    const edited = write('hq-edited.yaml', file);
    const missingEnv = await g(['plan', '-f', edited]);
    expect(missingEnv.code).toBe(1);
    expect(missingEnv.stderr).toContain('/tenants/demo-voipbin/extensions/6/password: ${NIGHT_PW} is not set');
    const env = { NIGHT_PW: 'Night-Desk-Secret-110' };
    const planned = await g(['plan', '-f', edited], env);
    expect(planned.code).toBe(2);
    expect(planned.stdout).toMatch(/demo-voipbin\s+extension\s+110\s+create/);
    expect(planned.stdout).toMatch(/demo-issabel\s+extension\s+1000\s+update\s+name: Reception -> Front Desk/);
    expect(planned.stdout + planned.stderr).not.toContain('Night-Desk-Secret');
    // Without a terminal to ask on, and without --yes, nothing is applied.
    const noTty = await g(['apply', '-f', edited], env, Readable.from([]) as NodeJS.ReadableStream & { isTTY?: boolean });
    expect(noTty).toMatchObject({ code: 1, stderr: expect.stringContaining('--yes') });
    // Asked on a terminal, anything but "yes" declines.
    const declined = await g(['apply', '-f', edited], env, Object.assign(Readable.from(['no\n']), { isTTY: true }));
    expect(declined).toMatchObject({ code: 1, stderr: expect.stringContaining('declined') });
    expect((await g(['plan', '-f', edited], env)).code).toBe(2);
    const applied = await g(['apply', '-f', edited, '--yes'], env);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/demo-voipbin: job \S+ done: 1 done, 0 failed, 0 not done of 1/);
    expect((await g(['plan', '-f', edited], env)).code).toBe(0);
    expect((await g(['drift', '-f', edited], env)).code).toBe(0);
    const got = await g(['extensions', 'list', 'demo-voipbin', '--json']);
    expect(JSON.parse(got.stdout).items.map((e: { extension: string }) => e.extension)).toContain('110');

    // Changed outside the file: drift exits 2 and names it.
    const id = JSON.parse(got.stdout).items.find((e: { extension: string }) => e.extension === '110').id as string;
    await fetch(`${gateway.url}/v1/tenants/demo-voipbin/extensions/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Renamed' }) });
    const drift = await g(['drift', '-f', edited], env);
    expect(drift.code).toBe(2);
    expect(drift.stdout).toMatch(/demo-voipbin\s+extension\s+110\s+changed\s+name/);
  });

  it('exits 1 on an invalid item, a bad file and a usage error; 2 stays "something would change"', async () => {
    const invalid = write('invalid.yaml', { tenants: { 'demo-vitalpbx': { extensions: [{ extension: '999', name: 'Cannot' }] } } });
    const plan = await g(['plan', '-f', invalid]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/demo-vitalpbx\s+extension\s+999\s+invalid\s+backend 'vitalpbx' cannot create extensions/);
    const schemaFault = await g(['plan', '-f', write('bad.yaml', { tenants: { 'demo-issabel': { extensions: [{ extension: '1' } as never] } } })]);
    expect(schemaFault.code).toBe(1);
    expect(schemaFault.stderr).toContain('/tenants/demo-issabel/extensions/0');
    expect((await g(['plan', '-f', write('notyaml.yaml', 'tenants: [unclosed')])).code).toBe(1);
    expect((await g(['plan', '-f', path.join(tmp, 'absent.yaml')])).code).toBe(1);
    expect(await g(['plan', '-f', write('empty.yaml', '')])).toMatchObject({ code: 1, stderr: expect.stringContaining('is not a desired-state file') });
    expect((await g(['plan'])).code).toBe(1);
    expect((await cli(['plan', '-f', invalid, '--url', 'http://127.0.0.1:9', '--key', DEMO_KEY])).code).toBe(1);
  });
});

it('plans in direct mode from a config file, without a gateway', async () => {
  const file = path.join(tmp, 'direct.yaml');
  fs.writeFileSync(file, YAML.stringify({ tenants: { 'demo-voipbin': { extensions: [{ extension: '100', name: 'Reception', description: 'Reception desk phone' }, { extension: '120', name: 'New' }] } } }));
  const res = await cli(['plan', '-f', file, '--config', demo]);
  expect(res.code).toBe(2);
  expect(res.stdout).toMatch(/demo-voipbin\s+extension\s+120\s+create/);
});
