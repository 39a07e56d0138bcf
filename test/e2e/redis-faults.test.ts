/**
 * A failing Redis, shared by two gateway instances: paused (commands hang) and killed (connections refused).
 * Nothing waits past its budget, what needs Redis is 503 with Retry-After (never 500), reads and rate-limited
 * requests are still served (rate limits per instance, said once in the log), each Idempotency-Key creates one
 * extension, and the first request after Redis returns is not slow.
 *
 * Runs its own redis-server on a free port (never the shared one), started and killed here.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { RedisStore } from '../../src/state/redis';
import { buildTestGateway } from '../helpers';

jest.setTimeout(30_000);

const KEY = 'redis-faults-test-key-0001';
const auth = { Authorization: `Bearer ${KEY}` };
const BUDGET = 5000;
let port = 0;
let redis: ChildProcess | undefined;
let sim: RunningSimulator;
const stores: RedisStore[] = [];
const storeLogs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address() as net.AddressInfo;
      s.close(() => resolve(p));
    });
  });
}

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

function killRedis(): Promise<void> {
  const child = redis!;
  redis = undefined;
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  ({ server: sim } = await startVoipbinSimulator());
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  if (redis) await killRedis();
  await sim.close();
});

function gateways() {
  const config = {
    api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], scopes: ['read', 'write'], rate_limit: { requests: 1000, window_s: 60 } }],
    tenants: { acme: { backend: 'voipbin', base_url: `${sim.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } } },
  };
  const make = (name: string) => {
    const store = new RedisStore(`redis://127.0.0.1:${port}`, {
      logger: { warn: (_o, msg) => void storeLogs.push(`${name} warn ${msg}`), info: (_o, msg) => void storeLogs.push(`${name} info ${msg}`) },
    });
    stores.push(store);
    return buildTestGateway(config, { store, requestBudgetMs: BUDGET }).app;
  };
  return [make('a'), make('b')] as const;
}

async function timed<T>(p: PromiseLike<T>): Promise<{ res: T; ms: number }> {
  const started = Date.now();
  const res = await p;
  return { res, ms: Date.now() - started };
}

async function countOnBackend(number: string): Promise<number> {
  const res = await fetch(`${sim.url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}&page_size=100`);
  return ((await res.json()) as { result: { extension: string }[] }).result.filter((e) => e.extension === number).length;
}

type App = ReturnType<typeof gateways>[number];
const list = (app: App) => request(app).get('/v1/tenants/acme/extensions').set(auth);
const create = (app: App, idem: string, number: string) => request(app).post('/v1/tenants/acme/extensions').set(auth).set('Idempotency-Key', idem).send({ extension: number, name: `Idem ${number}` });

it('paused: reads are served, idempotent creates are 503 with Retry-After, nothing waits its budget out; then one extension per key', async () => {
  const [a, b] = gateways();
  await list(a).expect(200);
  await list(b).expect(200);
  execFileSync('redis-cli', ['-p', String(port), 'CLIENT', 'PAUSE', '3000', 'ALL']);
  const paused = Date.now();
  const answers = await Promise.all([timed(list(a)), timed(list(b)), timed(create(a, 'paused-1', '801')), timed(create(b, 'paused-1', '801'))]);
  for (const { ms } of answers) expect(ms).toBeLessThan(2000);
  expect(answers.map((x) => x.res.status)).toEqual([200, 200, 503, 503]);
  for (const { res } of answers.slice(2)) {
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.body.type).toBe('/problems/state-unavailable');
  }
  expect(await countOnBackend('801')).toBe(0);
  // Redis wakes up (and runs what it was sent meanwhile): the key was withdrawn, the create runs once.
  await new Promise((r) => setTimeout(r, Math.max(0, 3300 - (Date.now() - paused))));
  const first = await create(a, 'paused-1', '801');
  expect(first.status).toBe(201);
  const again = await create(b, 'paused-1', '801').expect(201);
  expect(again.headers['idempotency-replayed']).toBe('true');
  expect(again.body.id).toBe(first.body.id);
  expect(await countOnBackend('801')).toBe(1);
});

it('killed: reads are served with per-instance rate limits (logged once), creates that need it are 503; back, the first request is quick and each key creates once', async () => {
  storeLogs.length = 0;
  const [a, b] = gateways();
  await list(a).expect(200);
  await create(a, 'before-kill', '810').expect(201);
  await killRedis();
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 3; i++) {
    for (const app of [a, b]) {
      const { res, ms } = await timed(list(app));
      expect(res.status).toBe(200);
      expect(ms).toBeLessThan(1000);
    }
  }
  for (const app of [a, b]) {
    const { res, ms } = await timed(create(app, 'killed-1', '811'));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(ms).toBeLessThan(1000);
  }
  // A write without an Idempotency-Key does not need the store: served.
  await request(a).post('/v1/tenants/acme/extensions').set(auth).send({ extension: '812', name: 'No key' }).expect(201);
  expect(storeLogs.filter((l) => l.startsWith('a warn'))).toHaveLength(1);
  expect(storeLogs.filter((l) => l.startsWith('b warn'))).toHaveLength(1);
  expect(storeLogs[0]).toMatch(/rate limits are counted per instance/);

  await startRedis();
  const back = await timed(list(a));
  expect(back.res.status).toBe(200);
  expect(back.ms).toBeLessThan(1000);
  // Within a second both instances use Redis again.
  let created: request.Response | undefined;
  for (let i = 0; i < 20 && created?.status !== 201; i++) {
    const { res, ms } = await timed(create(i % 2 ? a : b, 'killed-1', '811'));
    expect([201, 503]).toContain(res.status);
    expect(ms).toBeLessThan(1000);
    created = res;
    if (res.status !== 201) await new Promise((r) => setTimeout(r, 100));
  }
  expect(created?.status).toBe(201);
  const again = await create(a, 'killed-1', '811').expect(201);
  const againB = await create(b, 'killed-1', '811').expect(201);
  expect([again.body.id, againB.body.id]).toEqual([created!.body.id, created!.body.id]);
  expect(await countOnBackend('811')).toBe(1);
  // The key used before the kill: Redis lost it (no persistence), but a numbered create cannot make a second.
  expect(await countOnBackend('810')).toBe(1);
});
