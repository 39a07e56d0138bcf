/**
 * Pacing per vendor account (src/pacing.ts) against the VoIPBIN simulator with the real customer limit (16.7/s,
 * burst 33): bursts draw no 429 and take at least the bucket's time (lower bounds only: this machine is shared),
 * two instances pace together through Redis, an interactive request whose turn is past its budget is 503 at once
 * with no backend call, background work waits, a 429 that still arrives slows the bucket, and with Redis down
 * each instance paces on its own (said once in the log).
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import { BackendHttp } from '../../src/backend-http';
import { RateLimitedError } from '../../src/errors';
import { capacityOf, MemoryBucket, Pacer } from '../../src/pacing';
import { newRequestContext } from '../../src/request-context';
import type { RunningSimulator } from '../../src/simulator-kit';
import { RedisStore } from '../../src/state/redis';
import { buildTestGateway, requireRedis, TEST_REDIS_URL, type TestGateway } from '../helpers';

jest.setTimeout(60_000);

const KEY = 'pacing-test-key-000000001';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
const stores: RedisStore[] = [];

afterAll(async () => {
  await Promise.all([...servers.map((s) => s.close()), ...stores.map((s) => s.close())]);
});

async function voipbin(opts?: Parameters<typeof startVoipbinSimulator>[0]): Promise<{ sim: VoipbinSimulator; server: RunningSimulator; id: string }> {
  const { sim, server } = await startVoipbinSimulator(opts);
  servers.push(server);
  const [rec] = sim.seed([{ extension: '100', name: 'Reception' }]);
  return { sim, server, id: rec.id };
}

function config(baseUrl: string, tenant: Record<string, unknown> = {}) {
  return {
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'] }],
    server: { rate_limit: { requests: 0 } },
    tenants: { cloud: { backend: 'voipbin', base_url: baseUrl, auth: { accesskey: DEMO_ACCESSKEY }, resilience: { max_queued: 500 }, ...tenant } },
  };
}

/** The backend calls the gateway logged answered 429 (debug lines, one per call). */
function backend429s(gw: TestGateway): number {
  return gw.logs().split('\n').filter((l) => l.includes('"msg":"backend call"') && l.includes('"status":429')).length;
}

/** n calls take at least (n - what the pacer lets go at once) / 16.7 s. */
const minMs = (n: number) => ((n - capacityOf({ ratePerS: 16.7, burst: 33 })) / 16.7) * 1000 - 100;

it('a burst of 100 calls through one gateway: no 429, and at least the bucket\'s time', async () => {
  const { sim, server, id } = await voipbin();
  const gw = buildTestGateway(config(`${server.url}/v1.0`), { requestBudgetMs: 30_000 });
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 100 }, () => request(gw.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth)));
  const elapsed = Date.now() - started;
  expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
  expect(backend429s(gw)).toBe(0);
  expect(gw.waits).toEqual([]); // no Retry-After was met
  expect(sim.calls.filter((c) => c.path.startsWith('/v1.0/extensions/'))).toHaveLength(100);
  expect(elapsed).toBeGreaterThanOrEqual(minMs(100));
});

it('two gateway instances sharing Redis pace the account together: no 429', async () => {
  await requireRedis();
  const { server, id } = await voipbin();
  const prefix = `pbxgw-pacing-test-${randomUUID()}:`;
  const [sa, sb] = [new RedisStore(TEST_REDIS_URL, { prefix }), new RedisStore(TEST_REDIS_URL, { prefix })];
  stores.push(sa, sb);
  const a = buildTestGateway(config(`${server.url}/v1.0`), { requestBudgetMs: 30_000, store: sa });
  const b = buildTestGateway(config(`${server.url}/v1.0`), { requestBudgetMs: 30_000, store: sb });
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => request(i % 2 ? a.app : b.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth)));
  const elapsed = Date.now() - started;
  expect(answers.map((r) => r.status)).toEqual(Array(100).fill(200));
  expect(backend429s(a) + backend429s(b)).toBe(0);
  expect([...a.waits, ...b.waits]).toEqual([]);
  expect(elapsed).toBeGreaterThanOrEqual(minMs(100));
  expect(a.logs() + b.logs()).not.toContain('paced per instance');
});

it('an interactive request whose turn is past its budget: 503 rate-limited with Retry-After at once, no backend call', async () => {
  const { sim, server, id } = await voipbin({ rateLimit: false });
  // 0.5 calls/s, burst 2 (one at once): the second call's turn is 2 s away, the budget 1 s.
  const gw = buildTestGateway(config(`${server.url}/v1.0`, { pacing: { rate_per_s: 0.5, burst: 2 } }), { requestBudgetMs: 1000 });
  await request(gw.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth).expect(200);
  const before = sim.calls.length;
  const started = Date.now();
  const res = await request(gw.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth);
  expect(Date.now() - started).toBeLessThan(900); // at once, not after waiting its budget out
  expect(res.status).toBe(503);
  expect(res.body).toMatchObject({ type: '/problems/rate-limited', backend: 'voipbin' });
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const create = await request(gw.app).post('/v1/tenants/cloud/extensions').set(auth).send({ extension: '101', name: 'Paced' });
  expect(create.status).toBe(503);
  expect(create.body.type).toBe('/problems/rate-limited');
  expect(sim.calls.length).toBe(before); // nothing was sent
});

describe('backend-http with a pacer', () => {
  let server: RunningSimulator;
  beforeAll(async () => {
    ({ server } = await voipbin({ rateLimit: false }));
  });
  const logger = pino({ level: 'silent' });
  const http = (ratePerS: number, burst: number) => {
    const settings = { ratePerS, burst };
    return new BackendHttp({ backend: 'voipbin', baseUrl: `${server.url}/v1.0`, timeoutMs: 5000, logger, sleep: async () => undefined, pacer: new Pacer(settings, new MemoryBucket(settings)) });
  };
  const get = (h: BackendHttp, ctx = newRequestContext('pacing-test', 5000)) => h.request({ ctx, method: 'GET', url: 'extensions', params: { accesskey: DEMO_ACCESSKEY }, idempotent: true });

  it('background work waits its turn whatever the wait; interactive work past its budget is refused, writeSent=false', async () => {
    const h = http(0.5, 2); // one at once, then one every 2 s
    await get(h);
    const refused = await get(h, newRequestContext('interactive', 1500)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).writeSent).toBe(false);
    const started = Date.now();
    expect((await get(h, newRequestContext('job', 10_000, { background: true }))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('a 429 that still arrives empties the bucket for its Retry-After and halves the rate', async () => {
    const h = http(10, 2); // one at once, then one every 100 ms
    const timeOf = async (n: number) => {
      const started = Date.now();
      for (let i = 0; i < n; i++) expect((await get(h)).status).toBe(200);
      return Date.now() - started;
    };
    await timeOf(1);
    server.injectFault({ kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
    // The 429 is waited out (its Retry-After: this test's sleep records nothing) and the call sent again on the
    // bucket's turn, a second later.
    expect(await timeOf(1)).toBeGreaterThanOrEqual(950);
    // Then 5 calls at half the rate: 200 ms apart, where 100 ms would do before.
    expect(await timeOf(5)).toBeGreaterThanOrEqual(5 * 200 - 60);
  });
});

it('Redis down: each instance paces on its own, said once in the log', async () => {
  const { server, id } = await voipbin();
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const store = new RedisStore(`redis://127.0.0.1:${port}/15`, { prefix: `pbxgw-pacing-test-${randomUUID()}:`, logger: { warn: () => undefined, info: () => undefined } });
  stores.push(store);
  const gw = buildTestGateway(config(`${server.url}/v1.0`), { requestBudgetMs: 30_000, store });
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 60 }, () => request(gw.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth)));
  expect(answers.map((a) => a.status)).toEqual(Array(60).fill(200));
  expect(backend429s(gw)).toBe(0);
  expect(Date.now() - started).toBeGreaterThanOrEqual(minMs(60));
  expect(gw.logs().split('paced per instance').length - 1).toBe(1);
});
