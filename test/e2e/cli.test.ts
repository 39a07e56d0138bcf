/**
 * `npm start` as a new user meets it: the built entry point, the embedded demo, the printed curl line run as
 * printed; a bad config refused with every fault; SIGTERM ends the process cleanly.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const main = path.join(root, 'dist/src/main.js');


function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [main, ...args], { cwd: root, env: { PATH: process.env.PATH, ...env } });
}

function waitFor(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(pattern);
      if (m) resolve(m);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code} before printing ${pattern}: ${out}`)));
  });
}

const exitOf = (child: ChildProcessWithoutNullStreams) => new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

it('serves the demo and prints a curl line that works as printed; exits 0 on SIGTERM', async () => {
  const child = start([], { PORT: '0' });
  try {
    const [line] = await waitFor(child, /curl [^\n]+/);
    const out = execFileSync('bash', ['-c', line], { encoding: 'utf8' });
    const body = JSON.parse(out) as { items: { extension: string; tenant: string }[] };
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.items[0].tenant).toBe('demo-voipbin');
  } finally {
    const exited = exitOf(child);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
}, 30_000);

it('refuses a bad config with every fault and its path, and exits non-zero without serving', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, 'api_keys: [{ id: a, key: short, tenants: [x] }]\ntenants:\n  acme: { backend: voipbin, base_url: "${NOPE}", auth: { accesskey: k } }\n');
  const child = start(['--config', file]);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  expect(await exitOf(child)).toBe(2);
  expect(err).toContain('/api_keys/0/key');
  expect(err).toContain('/api_keys/0/tenants/0');
  expect(err).toContain('/tenants/acme/base_url: environment variable NOPE is not set');
}, 30_000);

it('on SIGTERM stops accepting, finishes the request in flight, and exits 0', async () => {
  const { serveSimulator } = await import('../../src/simulator-kit');
  const { VoipbinSimulator, DEMO_ACCESSKEY } = await import('../../adapters/voipbin/simulator');
  const sim = new VoipbinSimulator();
  const [{ id }] = sim.seed([{ extension: '100', name: 'Slow' }]);
  const backend = await serveSimulator(sim.handle);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'slow.yaml');
  fs.writeFileSync(
    file,
    `server: { port: 0 }\napi_keys: [{ id: a, key: shutdown-test-key-0001, tenants: ["*"] }]\ntenants:\n  t: { backend: voipbin, base_url: "${backend.url}/v1.0", auth: { accesskey: ${DEMO_ACCESSKEY} } }\n`,
  );
  const child = start(['--config', file]);
  try {
    const [, url] = await waitFor(child, /"url":"(http:\/\/[^"]+)"/);
    backend.injectFault({ kind: 'slow', ms: 800 });
    const inFlight = fetch(`${url}/v1/tenants/t/extensions/${id}`, { headers: { authorization: 'Bearer shutdown-test-key-0001' } });
    await new Promise((r) => setTimeout(r, 200));
    const exited = exitOf(child);
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { name: string }).name).toBe('Slow');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
    await backend.close();
  }
}, 30_000);

it('reloads its config on SIGHUP without dropping a request, and refuses a faulty one while still serving', async () => {
  const { serveSimulator } = await import('../../src/simulator-kit');
  const { VoipbinSimulator, DEMO_ACCESSKEY } = await import('../../adapters/voipbin/simulator');
  const sim = new VoipbinSimulator();
  const [{ id }] = sim.seed([{ extension: '100', name: 'Reloaded' }]);
  const backend = await serveSimulator(sim.handle);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'gw.yaml');
  const tenant = (name: string) => `  ${name}: { backend: voipbin, base_url: "${backend.url}/v1.0", auth: { accesskey: ${DEMO_ACCESSKEY} } }\n`;
  const head = `server: { port: 0 }\napi_keys: [{ id: a, key: reload-test-key-000001, tenants: ["*"] }]\ntenants:\n`;
  fs.writeFileSync(file, head + tenant('one'));
  const child = start(['--config', file]);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const names = async (url: string) =>
    ((await (await fetch(`${url}/v1/tenants`, { headers: { authorization: 'Bearer reload-test-key-000001' } })).json()) as { items: { name: string }[] }).items.map((t) => t.name);
  try {
    const [, url] = await waitFor(child, /"url":"(http:\/\/[^"]+)"/);
    expect(await names(url)).toEqual(['one']);
    backend.injectFault({ kind: 'slow', ms: 600 });
    const inFlight = fetch(`${url}/v1/tenants/one/extensions/${id}`, { headers: { authorization: 'Bearer reload-test-key-000001' } });
    await new Promise((r) => setTimeout(r, 150));
    fs.writeFileSync(file, head + tenant('one') + tenant('two'));
    child.kill('SIGHUP');
    for (let i = 0; i < 50 && !err.includes('reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await names(url)).toEqual(['one', 'two']);
    expect((await inFlight).status).toBe(200);

    fs.writeFileSync(file, head.replace('reload-test-key-000001', 'short') + tenant('three'));
    child.kill('SIGHUP');
    for (let i = 0; i < 50 && !err.includes('refused'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).toContain('configuration refused, still serving the previous one');
    expect(err).toContain('/api_keys/0/key');
    expect(await names(url)).toEqual(['one', 'two']);
  } finally {
    child.kill('SIGKILL');
    await backend.close();
  }
}, 30_000);

it('exits 2 with the fault and its path for a config the gateway cannot serve, as check-config does', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'nohost.yaml');
  fs.writeFileSync(file, 'server: { port: 0 }\napi_keys: [{ id: a, key: nohost-test-key-000001, tenants: ["*"] }]\ntenants:\n  pbx: { backend: issabel, base_url: "http://", auth: { user: admin, password: p } }\n');
  const child = start(['--config', file]);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  expect(await exitOf(child)).toBe(2);
  expect(err).toContain('/tenants/pbx/base_url: is not a usable URL');
}, 30_000);

it('on SIGHUP refuses such a config whole: not even its log level is applied', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'gw.yaml');
  const head = (level: string) => `server: { port: 0 }\nlogging: { level: ${level} }\napi_keys: [{ id: a, key: hup-level-test-key-0001, tenants: ["*"] }]\ntenants:\n  one: { backend: voipbin, simulator: true }\n`;
  fs.writeFileSync(file, head('info'));
  const child = start(['--config', file]);
  let err = '';
  let out = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const [, url] = await waitFor(child, /"url":"(http:\/\/[^"]+)"/);
    fs.writeFileSync(file, head('debug') + '  pbx: { backend: issabel, base_url: "http://", auth: { user: admin, password: p } }\n');
    child.kill('SIGHUP');
    for (let i = 0; i < 50 && !err.includes('refused'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).toContain('configuration refused, still serving the previous one');
    expect(err).toContain('/tenants/pbx/base_url');
    // Still at info: a request that calls the backend writes no debug line (backend calls are logged at debug).
    const res = await fetch(`${url}/v1/tenants/one/extensions`, { headers: { authorization: 'Bearer hup-level-test-key-0001' } });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    expect(out).toContain('"msg":"request"');
    expect(out).not.toContain('"level":20');
  } finally {
    child.kill('SIGKILL');
  }
}, 30_000);

it('`pbx-gateway serve` on a port in use exits 2 with EADDRINUSE and its path, and leaves nothing running', async () => {
  const net = await import('node:net');
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as import('node:net').AddressInfo).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'busy.yaml');
  // A tenant on a simulator: started before the listen fails, so it has to be stopped for the process to end.
  fs.writeFileSync(file, `server: { port: ${port} }\napi_keys: [{ id: a, key: busy-port-test-key-0001, tenants: ["*"] }]\ntenants:\n  one: { backend: voipbin, simulator: true }\n`);
  try {
    for (const [args, env, where] of [
      [['serve', '--config', file], {}, '/server/port'],
      [['serve'], { PORT: String(port) }, `PORT=${port}`],
    ] as const) {
      const child = spawn(process.execPath, [path.join(root, 'dist/src/cli.js'), ...args], { cwd: root, env: { PATH: process.env.PATH, ...env } });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      expect(await exitOf(child)).toBe(2);
      clearTimeout(timer);
      expect(err).toContain('EADDRINUSE');
      expect(err).toContain(where);
    }
  } finally {
    taken.close();
  }
}, 40_000);
