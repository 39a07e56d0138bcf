/**
 * The admin CLI (src/cli.ts), run in-process with captured output: check-config, direct mode from a config file
 * (no HTTP server), and gateway mode against an in-process gateway on the demo config.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { registry } from '../../adapters';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { fetchFailure, runCli, safeUrl } from '../../src/cli';
import { parseConfig } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';

const root = path.resolve(__dirname, '../..');
const demo = path.join(root, 'config/demo.yaml');
const DEMO_KEY = 'pbxgw_demo_key_0123456789';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-cli-'));

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (chunk, _enc, cb) => (add(chunk.toString()), cb()) });
  const code = await runCli(argv, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env });
  return { code, stdout, stderr };
}

const rowsOf = (table: string) => table.trimEnd().split('\n').slice(1);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('usage', () => {
  it('prints usage for --help (exit 0) and for an unknown command or option (exit 2)', async () => {
    expect(await cli(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('extensions list <tenant>') });
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: frobnicate');
    expect(unknown.stderr).toContain('Usage: pbx-gateway');
    expect((await cli(['tenants', '--bogus'])).code).toBe(2);
    expect((await cli(['extensions', 'list', 'x', '--page-size', '0'])).stderr).toContain('--page-size must be');
    // Checked before anything starts: no simulator, no request.
    expect((await cli(['extensions', 'get', 'demo-voipbin', '--config', demo])).stderr).toContain('extensions get takes 2 argument(s), not 1');
    expect((await cli(['extensions', 'create', 'demo-voipbin', '--config', demo])).stderr).toContain('extensions create needs --name');
    expect((await cli(['tenants', '--config', demo, '--url', 'http://x'])).code).toBe(2);
  });
});

describe('help', () => {
  it('prints each command\'s own help for <command> --help and help <command>, and refuses help for no such command', async () => {
    const commands = ['serve', 'check-config', 'tenants', 'extensions list', 'extensions get', 'extensions create', 'extensions delete', 'migrate', 'import', 'help'];
    for (const command of commands) {
      const words = command.split(' ');
      const flag = await cli([...words, '--help']);
      expect(flag).toMatchObject({ code: 0, stderr: '' });
      expect(flag.stdout).toMatch(new RegExp(`^Usage: pbx-gateway ${command}\\b`));
      expect(flag.stdout).not.toContain('check-config <file>   '); // not the global list
      expect(await cli(['help', ...words])).toEqual(flag);
    }
    expect((await cli(['extensions', '--help'])).stdout).toMatch(/^Usage: pbx-gateway extensions <list\|get\|create\|delete>/);
    expect((await cli(['migrate', '--help'])).stdout).toContain('--apply');
    expect(await cli(['help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pbx-gateway <command> [options]') });
    const unknown = await cli(['help', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: nope');
  });
});

describe('check-config', () => {
  it('accepts the demo config', async () => {
    const r = await cli(['check-config', demo]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(`ok: ${demo}: 3 tenant(s), 1 API key(s)\n`);
  });

  it('lists every fault with its pointer and exits 2', async () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'api_keys: [{ id: a, key: short, tenants: [x] }]\ntenants:\n  acme: { backend: voipbin, base_url: "${NOPE}", auth: { accesskey: k } }\n');
    const r = await cli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('/api_keys/0/key');
    expect(r.stderr).toContain('/api_keys/0/tenants/0');
    expect(r.stderr).toContain('/tenants/acme/base_url: environment variable NOPE is not set');
  });

  it('refuses what the gateway could not serve, as the gateway would: an Issabel base_url of "http://", exit 2 with its path', async () => {
    const file = path.join(tmp, 'nohost.yaml');
    fs.writeFileSync(file, 'api_keys: [{ id: a, key: check-config-key-0000001, tenants: ["*"] }]\ntenants:\n  pbx: { backend: issabel, base_url: "http://", auth: { user: admin, password: p } }\n');
    const r = await cli(['check-config', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('/tenants/pbx/base_url: is not a usable URL');
    // Direct mode loads it the same way, and fails the same way.
    const direct = await cli(['tenants', '--config', file]);
    expect(direct.code).toBe(2);
    expect(direct.stderr).toContain('/tenants/pbx/base_url');
  });

  it('says why an unreadable file cannot be checked, and exits 2', async () => {
    const r = await cli(['check-config', path.join(tmp, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.yaml: cannot read the file \(ENOENT\)/);
  });
});

describe('direct mode (--config, no server)', () => {
  const d = (...argv: string[]) => cli([...argv, '--config', demo]);

  it('lists tenants with their backends and capabilities', async () => {
    const r = await d('tenants');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+BACKEND\s+EXTENSIONS\s+FEATURES$/);
    expect(r.stdout).toMatch(/demo-voipbin\s+voipbin\s+list,get,create,update,delete,batch_delete\s+direct_uri/);
    expect(r.stdout).toMatch(/demo-vitalpbx\s+vitalpbx\s+list,get\s/);
    expect(r.stdout).toMatch(/demo-issabel\s+issabel\s+\S*auto_number/);
  });

  it('lists one page as an aligned table, and as JSON', async () => {
    const table = await d('extensions', 'list', 'demo-voipbin');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+EXTENSION\s+NAME\s+USERNAME\s+DOMAIN$/);
    const rows = rowsOf(table.stdout);
    expect(rows).toHaveLength(6);
    expect(rows).toContainEqual(expect.stringMatching(/^[0-9a-f-]{36}\s+100\s+Reception\s+100\s+\S+\.voipbin\.net$/));
    // Aligned: every row's second column starts where the header's does.
    const at = table.stdout.indexOf('EXTENSION');
    expect(rows.every((row) => /^\s\S/.test(row.slice(at - 1)))).toBe(true);
    const json = await d('extensions', 'list', 'demo-voipbin', '--json');
    const page = JSON.parse(json.stdout) as { items: { extension: string; password?: string }[]; next_page_token: string | null };
    expect(page.items.map((e) => e.extension).sort()).toEqual(['100', '101', '102', '103', '104', '105']);
    expect(page.next_page_token).toBeNull();
    expect(page.items.every((e) => e.password === undefined)).toBe(true);
  });

  it('says how to get the next page when there is one', async () => {
    const r = await d('extensions', 'list', 'demo-issabel', '--page-size', '4');
    expect(rowsOf(r.stdout)).toHaveLength(4);
    expect(r.stderr).toMatch(/^more: --page-token \S+\n$/);
  });

  it('walks every page with --all, progress on stderr only', async () => {
    const r = await d('extensions', 'list', 'demo-issabel', '--all', '--page-size', '2', '--progress', '--json');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { items: { extension: string }[] };
    expect(Object.keys(body)).toEqual(['items']);
    expect(body.items.map((e) => e.extension)).toEqual(['1000', '1001', '1002', '1003', '1004', '1005']);
    expect(r.stderr).toBe('fetched 2 extension(s)\nfetched 4 extension(s)\nfetched 6 extension(s)\n');
    const quiet = await d('extensions', 'list', 'demo-issabel', '--all', '--page-size', '2');
    expect(rowsOf(quiet.stdout)).toHaveLength(6);
    expect(quiet.stderr).toBe('');
  });

  it('creates on demo-voipbin and shows the generated password once', async () => {
    const r = await d('extensions', 'create', 'demo-voipbin', '--extension', '150', '--name', 'Lab Phone');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^extension:\s+150$/m);
    expect(r.stdout).toMatch(/^password:\s+[A-Za-z0-9]{24}$/m);
    expect(r.stderr).toContain('shown only this once');
    expect(r.stderr).toContain("tenant 'demo-voipbin' runs on a simulator started for this command");
  });

  it('prints a 501 from demo-vitalpbx as a problem and exits 1', async () => {
    const r = await d('extensions', 'create', 'demo-vitalpbx', '--extension', '150', '--name', 'X');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("error: The tenant's backend does not support this operation: Backend 'vitalpbx' does not support 'extensions.create'.\n");
  });

  it('prints field faults with their pointers, and unknown tenants as not found', async () => {
    const bad = await d('extensions', 'create', 'demo-voipbin', '--name', 'X', '--extension', '150', '--password', 'short');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: The request is not valid: .*\n {2}\/password: /);
    const missing = await d('extensions', 'list', 'nowhere');
    expect(missing).toMatchObject({ code: 1, stderr: "error: Not found: No tenant named 'nowhere'.\n" });
  });

  describe('on a backend that outlives each command', () => {
    let server: Awaited<ReturnType<typeof startVoipbinSimulator>>['server'];
    let ids: Record<string, string>[];
    const lab = path.join(tmp, 'lab.yaml');
    const l = (...argv: string[]) => cli([...argv, '--config', lab]);

    beforeAll(async () => {
      const started = await startVoipbinSimulator();
      server = started.server;
      ids = started.sim.seed([
        { extension: '200', name: 'One' },
        { extension: '201', name: 'Two' },
      ]);
      fs.writeFileSync(lab, `api_keys: [{ id: a, key: cli-test-key-000001, tenants: ["*"] }]\ntenants:\n  lab: { backend: voipbin, base_url: "${server.url}/v1.0", auth: { accesskey: ${DEMO_ACCESSKEY} } }\n`);
    });
    afterAll(() => server.close());

    it('creates, gets (with the password when asked) and deletes one extension', async () => {
      const created = await l('extensions', 'create', 'lab', '--extension', '300', '--name', 'Lab', '--password', 'Sip-secret-123', '--json');
      expect(created.code).toBe(0);
      expect(created.stderr).toBe('');
      const ext = JSON.parse(created.stdout) as { id: string; password: string };
      expect(ext.password).toBe('Sip-secret-123');
      const got = await l('extensions', 'get', 'lab', ext.id);
      expect(got.stdout).toMatch(new RegExp(`^id:\\s+${ext.id}$`, 'm'));
      expect(got.stdout).toMatch(/^name:\s+Lab$/m);
      expect(got.stdout).not.toContain('password');
      expect((await l('extensions', 'get', 'lab', ext.id, '--show-password')).stdout).toMatch(/^password:\s+Sip-secret-123$/m);
      expect(await l('extensions', 'delete', 'lab', ext.id)).toMatchObject({ code: 0, stdout: `deleted ${ext.id}\n` });
      expect(await l('extensions', 'get', 'lab', ext.id)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: Not found: /) });
    });

    it('batch deletes, one line per id, and exits 1 when an id was not deleted', async () => {
      const r = await l('extensions', 'delete', 'lab', ids[0].id, 'no-such-id', ids[1].id);
      expect(r.code).toBe(1);
      const rows = rowsOf(r.stdout);
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatch(new RegExp(`^${ids[0].id}\\s+deleted\\s+-$`));
      expect(rows[1]).toMatch(/^no-such-id\s+not_found\s+-$/);
      expect(rows[2]).toMatch(new RegExp(`^${ids[1].id}\\s+deleted\\s+-$`));
      expect(JSON.parse((await l('extensions', 'list', 'lab', '--json')).stdout)).toEqual({ items: [], next_page_token: null });
    });
  });
});

describe('gateway mode (--url, --key)', () => {
  let gateway: RunningGateway;
  const g = (...argv: string[]) => cli([...argv, '--url', gateway.url, '--key', DEMO_KEY]);

  beforeAll(async () => {
    const config = parseConfig(fs.readFileSync(demo, 'utf8'), { registry, env: {} });
    gateway = await startGateway({ ...config, logging: { level: 'silent' } }, registry, { PORT: '0' });
  });
  afterAll(() => gateway.close());

  it('lists tenants and extensions, reading the URL and key from the environment too', async () => {
    const tenants = await g('tenants');
    expect(tenants.code).toBe(0);
    expect(rowsOf(tenants.stdout).map((r) => r.split(/\s+/)[0])).toEqual(['demo-voipbin', 'demo-vitalpbx', 'demo-issabel']);
    const list = await cli(['extensions', 'list', 'demo-issabel'], { PBX_GATEWAY_URL: gateway.url, PBX_GATEWAY_KEY: DEMO_KEY });
    expect(list.code).toBe(0);
    expect(rowsOf(list.stdout)).toHaveLength(6);
    const direct = await cli(['extensions', 'list', 'demo-issabel', '--config', demo]);
    expect(list.stdout.split('\n')[0]).toBe(direct.stdout.split('\n')[0]);
  });

  it('creates, gets (with the password, the demo key has the secrets scope), and batch deletes', async () => {
    const created = await g('extensions', 'create', 'demo-voipbin', '--extension', '160', '--name', 'Gateway Lab', '--json');
    expect(created.code).toBe(0);
    const ext = JSON.parse(created.stdout) as { id: string; password: string };
    expect(ext.password).toMatch(/^[A-Za-z0-9]{24}$/);
    const got = await g('extensions', 'get', 'demo-voipbin', ext.id);
    expect(got.stdout).toMatch(/^name:\s+Gateway Lab$/m);
    const secret = await g('extensions', 'get', 'demo-voipbin', ext.id, '--show-password');
    expect(secret.code).toBe(0);
    expect(secret.stdout).toContain(ext.password);
    const del = await g('extensions', 'delete', 'demo-voipbin', ext.id, 'no-such-id', '--json');
    expect(del.code).toBe(1);
    expect(JSON.parse(del.stdout)).toEqual({ results: [{ id: ext.id, status: 'deleted' }, { id: 'no-such-id', status: 'not_found' }] });
  });

  it('prints API problems (wrong key, 501) and exits 1', async () => {
    const auth = await cli(['tenants', '--url', gateway.url, '--key', 'not-the-right-key-0000']);
    expect(auth.code).toBe(1);
    expect(auth.stderr).toMatch(/^error: Authentication required: /);
    const unsupported = await g('extensions', 'delete', 'demo-vitalpbx', '1');
    expect(unsupported).toMatchObject({ code: 1, stderr: "error: The tenant's backend does not support this operation: Backend 'vitalpbx' does not support 'extensions.delete'.\n" });
  });

  it('says when the gateway cannot be reached', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const r = await cli(['tenants', '--url', `http://127.0.0.1:${port}`]);
    expect(r).toMatchObject({ code: 1, stderr: `error: Cannot reach the gateway: http://127.0.0.1:${port}: ECONNREFUSED (connection refused)\n` });
    // A name that does not resolve (.invalid never does), and TLS spoken to a plain HTTP port: the cause, not "fetch failed".
    const nohost = await cli(['tenants', '--url', 'http://pbx-gateway.invalid:8080/']);
    expect(nohost.code).toBe(1);
    expect(nohost.stderr).toMatch(/^error: Cannot reach the gateway: http:\/\/pbx-gateway\.invalid:8080: (ENOTFOUND|EAI_AGAIN) /);
    const tls = await cli(['tenants', '--url', gateway.url.replace('http:', 'https:')]);
    expect(tls.code).toBe(1);
    expect(tls.stderr).toMatch(/^error: Cannot reach the gateway: https:\/\/127\.0\.0\.1:\d+: TLS error: ERR_SSL_\w+ \([^\n]+\)\n$/);
    expect(tls.stderr).not.toContain('fetch failed');
  });

  it('names the cause of a failed request: a timeout, an error of each address tried, a TLS code', () => {
    const failed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });
    expect(fetchFailure(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe('timed out (no answer within 60 s)');
    expect(fetchFailure(failed(Object.assign(new Error('getaddrinfo ENOTFOUND gw.example'), { code: 'ENOTFOUND' })))).toBe('ENOTFOUND (host not found)');
    expect(fetchFailure(failed(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:8080'), { code: 'ECONNREFUSED' })])))).toBe('ECONNREFUSED (connection refused)');
    expect(fetchFailure(failed(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })))).toBe('TLS error: DEPTH_ZERO_SELF_SIGNED_CERT (self-signed certificate)');
    expect(fetchFailure(failed(Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' })))).toBe('UND_ERR_CONNECT_TIMEOUT (connection timed out)');
    expect(safeUrl('https://user:pw@gw.example:8443/base?key=k#x')).toBe('https://gw.example:8443/base');
  });

  it('takes a --url ending in /v1 (as the API is addressed) and refuses one holding credentials without printing them', async () => {
    for (const url of [`${gateway.url}/v1`, `${gateway.url}/v1/`, `${gateway.url}/`]) {
      const r = await cli(['tenants', '--url', url, '--key', DEMO_KEY]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^NAME\s+BACKEND/);
    }
    const secret = await cli(['tenants', '--url', gateway.url.replace('http://', 'http://admin:hunter2@')]);
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain('--url must not hold credentials');
    expect(secret.stderr).not.toContain('hunter2');
  });

  it('without a key, names the flag and the variable that give one', async () => {
    const r = await cli(['tenants', '--url', gateway.url]);
    expect(r).toMatchObject({ code: 1, stderr: 'error: Authentication required: no API key given: pass --key <key> or set PBX_GATEWAY_KEY\n' });
    const wrong = await cli(['tenants', '--url', gateway.url, '--key', 'not-the-key-0000000000']);
    expect(wrong).toMatchObject({ code: 1, stderr: 'error: Authentication required: the gateway refused the API key given (--key or PBX_GATEWAY_KEY)\n' });
  });

  it('redirects GET / to the console', async () => {
    const res = await fetch(`${gateway.url}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/console/');
  });
});

describe('migrate', () => {
  it('prints the plan as a table with a summary on --dry-run, then applies and ends with outcome counts', async () => {
    const demo = path.join(__dirname, '../../config/demo.yaml');
    const io = () => {
      let out = '';
      let err = '';
      return {
        io: { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) }, env: {} },
        out: () => out,
        err: () => err,
      };
    };
    const dry = io();
    expect(await runCli(['migrate', '--from', 'demo-issabel', '--to', 'demo-voipbin', '--dry-run', '--config', demo], dry.io as never)).toBe(0);
    expect(dry.out()).toMatch(/^ROW\s+EXTENSION\s+ACTION\s+LOSSY\s+DETAIL$/m);
    expect(dry.out()).toMatch(/^plan: 6 create, 0 update, 0 skip, 0 conflict, 0 invalid$/m);
    const plain = io();
    expect(await runCli(['migrate', '--from', 'demo-issabel', '--to', 'demo-voipbin', '--config', demo], plain.io as never)).toBe(0);
    expect(plain.out()).toBe(dry.out());
    const run = io();
    expect(await runCli(['migrate', '--from', 'demo-issabel', '--to', 'demo-voipbin', '--config', demo, '--progress', '--apply'], run.io as never)).toBe(0);
    expect(run.out()).toMatch(/^migration [0-9a-f-]+ done: 6 done, 0 failed, 0 skipped of 6$/m);
    const refused = io();
    expect(await runCli(['migrate', '--from', 'demo-issabel', '--to', 'demo-vitalpbx', '--config', demo, '--apply'], refused.io as never)).toBe(1);
    expect(refused.err()).toMatch(/does not support 'extensions\.create'/);
    const both = io();
    expect(await runCli(['migrate', '--from', 'demo-issabel', '--to', 'demo-voipbin', '--config', demo, '--apply', '--dry-run'], both.io as never)).toBe(2);
    expect(both.err()).toContain('migrate takes --apply or --dry-run, not both');
  });

  describe('against a gateway', () => {
    let gateway: RunningGateway;
    beforeAll(async () => {
      const config = parseConfig(fs.readFileSync(demo, 'utf8'), { registry, env: {} });
      gateway = await startGateway({ ...config, logging: { level: 'silent' } }, registry, { PORT: '0' });
    });
    afterAll(() => gateway.close());
    const m = (...argv: string[]) => cli(['migrate', '--from', 'demo-issabel', '--to', 'demo-voipbin', ...argv, '--url', gateway.url, '--key', DEMO_KEY]);
    const count = async () => JSON.parse((await cli(['extensions', 'list', 'demo-voipbin', '--all', '--json', '--url', gateway.url, '--key', DEMO_KEY])).stdout).items.length as number;

    it('plans without --apply (nothing written), applies with it, and exits 1 naming every conflict', async () => {
      const before = await count();
      const plan = await m();
      expect(plan).toMatchObject({ code: 0, stderr: '' });
      expect(plan.stdout).toMatch(/^plan: 6 create, 0 update, 0 skip, 0 conflict, 0 invalid$/m);
      expect(await count()).toBe(before);

      const applied = await m('--apply');
      expect(applied.code).toBe(0);
      expect(applied.stdout).toMatch(/^migration [0-9a-f-]+ done: 6 done, 0 failed, 0 skipped of 6$/m);
      expect(await count()).toBe(before + 6);

      // Again: every item now exists in the target. The plan says so and fails; so does applying it anyway.
      const replan = await m();
      expect(replan.code).toBe(1);
      expect(replan.stdout).toMatch(/^plan: 0 create, 0 update, 0 skip, 6 conflict, 0 invalid$/m);
      expect(replan.stderr).toMatch(/^conflict: row 1 \(extension \d+\): exists$/m);
      const again = await m('--apply');
      expect(again.code).toBe(1);
      expect(again.stderr.match(/^conflict: row \d+ \(extension \d+\)/gm)).toHaveLength(6);
      expect(again.stderr).toMatch(/: 6 item\(s\) not migrated$/m);
      expect(await count()).toBe(before + 6);
      // What the user asked for (skip what exists) is a success.
      expect((await m('--apply', '--on-conflict', 'skip')).code).toBe(0);
    });

    it('imports a CSV file: a plan by default, written with --apply, exit 1 naming each conflicting or invalid row', async () => {
      const file = path.join(tmp, 'rows.csv');
      fs.writeFileSync(file, 'extension,name\n7701,Import One\n7702,Import Two\n');
      const imp = (...argv: string[]) => cli(['import', 'demo-issabel', '--file', file, ...argv, '--url', `${gateway.url}/v1`, '--key', DEMO_KEY]);
      const numbers = async () => (JSON.parse((await cli(['extensions', 'list', 'demo-issabel', '--all', '--json', '--url', gateway.url, '--key', DEMO_KEY])).stdout).items as { extension: string }[]).map((e) => e.extension);
      const plan = await imp();
      expect(plan).toMatchObject({ code: 0, stderr: '' });
      expect(plan.stdout).toMatch(/^plan: 2 create, 0 update, 0 skip, 0 conflict, 0 invalid$/m);
      expect(await numbers()).not.toContain('7701');
      expect(await imp('--dry-run')).toEqual(plan);
      const applied = await imp('--apply');
      expect(applied).toMatchObject({ code: 0, stderr: '' });
      expect(applied.stdout).toMatch(/^import: 2 done, 0 failed, 0 skipped of 2$/m);
      expect(await numbers()).toEqual(expect.arrayContaining(['7701', '7702']));
      fs.writeFileSync(file, 'extension,name\n7701,Import One\n,No Number\n7703,Import Three\n');
      const again = await imp('--apply');
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^conflict: row 1 \(extension 7701\)/m);
      expect(again.stderr).toMatch(/^invalid: row 2$/m);
      expect(again.stderr).toMatch(/^import: 2 item\(s\) not imported$/m);
      expect(await numbers()).toContain('7703');
    });
  });

  it('imports in direct mode too, and needs --file', async () => {
    const file = path.join(tmp, 'direct.ndjson');
    fs.writeFileSync(file, '{"extension":"7801","name":"Direct One"}\n');
    const plan = await cli(['import', 'demo-voipbin', '--file', file, '--config', demo]);
    expect(plan).toMatchObject({ code: 0, stderr: '' });
    expect(plan.stdout).toMatch(/^plan: 1 create, 0 update, 0 skip, 0 conflict, 0 invalid$/m);
    const applied = await cli(['import', 'demo-voipbin', '--file', file, '--config', demo, '--apply']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^import: 1 done, 0 failed, 0 skipped of 1$/m);
    expect((await cli(['import', 'demo-voipbin', '--config', demo])).stderr).toContain('import needs --file');
    expect((await cli(['import', 'demo-voipbin', '--file', path.join(tmp, 'none.csv'), '--config', demo])).stderr).toContain('cannot read --file');
  });
});
