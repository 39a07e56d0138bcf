/**
 * Hostile backends: nothing crashes, nothing leaks. A `vitalpbx` tenant points at a fake backend that answers
 * with huge, lying, dripping, broken or rate-limiting answers; another tenant on a well-behaved simulator must
 * keep being served meanwhile. Each case checks the caller's answer (a 502/504 problem without the vendor's
 * text), that the gateway's memory did not follow the body, and that the process still serves after.
 */
import pino from 'pino';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import { BackendHttp, MAX_RETRY_AFTER_MS, parseRetryAfterMs } from '../../src/backend-http';
import { newRequestContext } from '../../src/request-context';
import type { RunningSimulator } from '../../src/simulator-kit';
import { startForwardProxy, type ForwardProxy } from '../fixtures/forward-proxy';
import { startHostileBackend, VENDOR_TEXT, type HostileBackend } from '../fixtures/hostile-backend';
import { buildTestGateway, type TestGateway } from '../helpers';

const KEY = 'hostile-backend-key-00001';
const auth = { Authorization: `Bearer ${KEY}` };
const MiB = 1024 * 1024;
/** The caps the hostile tenant runs with: small, so that a body many times larger costs the test little. */
const LIST_CAP = 4 * MiB;
const OTHER_CAP = 64 * 1024;

let hostile: HostileBackend;
let cloud: { sim: VoipbinSimulator; server: RunningSimulator };
let gw: TestGateway;

function gateway(tenant: Record<string, unknown> = {}): TestGateway {
  return buildTestGateway({
    api_keys: [{ id: 'hostile', key: KEY, tenants: ['*'], rate_limit: { requests: 0 } }],
    tenants: {
      hostile: {
        backend: 'vitalpbx',
        base_url: `${hostile.url}/api/v2`,
        timeout_ms: 4000,
        limits: { list_bytes: LIST_CAP, other_bytes: OTHER_CAP },
        resilience: { breaker_failures: 100 },
        auth: { app_key: 'hostile-app-key', tenant: 'one' },
        ...tenant,
      },
      cloud: { backend: 'voipbin', base_url: `${cloud.server.url}/v1.0`, timeout_ms: 4000, auth: { accesskey: DEMO_ACCESSKEY } },
    },
  }, { requestBudgetMs: 10_000 });
}

beforeEach(async () => {
  [hostile, cloud] = await Promise.all([startHostileBackend(), startVoipbinSimulator()]);
  cloud.sim.seed([{ extension: '100', name: 'Cloud' }]);
  gw = gateway();
});
afterEach(async () => {
  expect(gw.logs()).not.toContain(VENDOR_TEXT.slice(0, 19));
  await Promise.all([hostile.close(), cloud.server.close()]);
});

const get = (path: string, g = gw) => request(g.app).get(path).set(auth);
/** A request and the moment (performance.now()) its answer arrived. */
const timed = async (path: string) => {
  const res = await get(path);
  return { res, at: performance.now() };
};

/** The peak resident size while `work` runs, above what it was before: sampled every 10 ms. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

/** A problem answer from the gateway's own words: the backend's never reach the caller. */
function expectProblem(res: request.Response, status: number, type: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type, backend: 'vitalpbx' });
  expect(res.text).not.toContain('HOSTILE-VENDOR-TEXT');
  expect(res.text).not.toContain('Fatal error');
}

/** The process still serves: health, the other tenant, and the hostile one once it behaves. */
async function stillServing(): Promise<void> {
  await request(gw.app).get('/healthz').expect(200);
  expect((await get('/v1/tenants/cloud/extensions')).status).toBe(200);
  hostile.mode = { kind: 'ok' };
  expect((await get('/v1/tenants/hostile/extensions')).status).toBe(200);
}

describe('a hostile backend', () => {
  it('a 128 MiB list answer is cut at the list cap: one 502 saying it was too large, the socket closed, memory flat', async () => {
    const bytes = 128 * MiB;
    hostile.mode = { kind: 'huge', bytes };
    const { result: res, growth } = await rssGrowth(() => get('/v1/tenants/hostile/extensions'));
    expectProblem(res, 502, '/problems/backend-unavailable');
    expect(res.body.detail).toMatch(/too large/);
    expect(res.body.detail).toContain('limits.list_bytes');
    await hostile.served[0].done;
    expect(hostile.served[0].ended).toBe('closed'); // the gateway went away; the fixture did not finish
    expect(hostile.served[0].bytesSent).toBeLessThan(bytes / 4);
    expect(hostile.served).toHaveLength(1); // not retried: it would be as large again
    expect(growth).toBeLessThan(bytes / 3);
    await stillServing();
  });

  it('a single read is held to the smaller cap (limits.other_bytes)', async () => {
    hostile.mode = { kind: 'huge', bytes: 16 * MiB };
    const res = await get('/v1/tenants/hostile/extensions/1');
    expectProblem(res, 502, '/problems/backend-unavailable');
    expect(res.body.detail).toContain(`more than the ${OTHER_CAP} bytes`);
    expect(res.body.detail).toContain('limits.other_bytes');
    await hostile.served[0].done;
    expect(hostile.served[0].bytesSent).toBeLessThan(8 * MiB);
  });

  it('another tenant is answered while a huge answer streams in, before it is cut', async () => {
    // 64 KiB every 25 ms: the 4 MiB cap is reached after about 1.6 s.
    hostile.mode = { kind: 'huge', bytes: 256 * MiB, intervalMs: 25 };
    const slow = timed('/v1/tenants/hostile/extensions');
    while (!hostile.served[0]?.bytesSent) await new Promise((r) => setTimeout(r, 5));
    const other = await timed('/v1/tenants/cloud/extensions');
    const huge = await slow;
    expect(other.res.status).toBe(200);
    expect(other.at).toBeLessThan(huge.at);
    expectProblem(huge.res, 502, '/problems/backend-unavailable');
    expect(huge.res.body.detail).toMatch(/too large/);
    await stillServing();
  });

  it('a body claiming 1 GB that then stalls is refused on its Content-Length, at once', async () => {
    hostile.mode = { kind: 'claim' };
    const started = performance.now();
    const { result: res, growth } = await rssGrowth(() => get('/v1/tenants/hostile/extensions'));
    expect(performance.now() - started).toBeLessThan(3000); // well inside the 4 s timeout it used to wait out
    expectProblem(res, 502, '/problems/backend-unavailable');
    expect(res.body.detail).toMatch(/too large/);
    await hostile.served[0].done;
    expect(hostile.served[0].ended).toBe('closed');
    expect(growth).toBeLessThan(64 * MiB);
    await stillServing();
  });

  it('a slow drip (a byte every 100 ms) is cut by the call timeout, which bounds the whole body; others are served meanwhile', async () => {
    gw = gateway({ timeout_ms: 1500 });
    hostile.mode = { kind: 'drip', intervalMs: 100 };
    const started = performance.now();
    const drip = timed('/v1/tenants/hostile/extensions');
    while (!hostile.served[0]?.bytesSent) await new Promise((r) => setTimeout(r, 5));
    const other = await timed('/v1/tenants/cloud/extensions');
    const cut = await drip;
    expect(other.res.status).toBe(200);
    expect(other.at).toBeLessThan(cut.at);
    expectProblem(cut.res, 504, '/problems/backend-timeout');
    // It said it was answering: the detail tells that apart from a backend that never answered.
    expect(cut.res.body.detail).toBe("The backend's answer did not arrive in full within 1500 ms.");
    expect(cut.at - started).toBeLessThan(4000);
    await hostile.served[0].done;
    expect(hostile.served[0].ended).toBe('closed');
    expect(hostile.served[0].bytesSent).toBeLessThan(100);
    await stillServing();
  });

  it('HTML error pages (a small one, and a 2 MiB PHP dump on a single read) and JSON cut off mid-way: 502 without the vendor text', async () => {
    for (const mode of [{ kind: 'html' as const }, { kind: 'invalid-json' as const }]) {
      hostile.mode = mode;
      expectProblem(await get('/v1/tenants/hostile/extensions'), 502, '/problems/backend-unavailable');
      expectProblem(await get('/v1/tenants/hostile/extensions/1'), 502, '/problems/backend-unavailable');
    }
    hostile.mode = { kind: 'html', padTo: 2 * MiB };
    const dump = await get('/v1/tenants/hostile/extensions/1');
    expectProblem(dump, 502, '/problems/backend-unavailable');
    expect(dump.body.detail).toMatch(/too large/);
    await stillServing();
  });

  it.each([
    ['429 with Retry-After: 999999999', 429, '999999999'],
    ['503 with Retry-After: 999999999', 503, '999999999'],
    ['429 with an HTTP-date in 2099', 429, 'Thu, 01 Jan 2099 00:00:00 GMT'],
    ['503 with an HTTP-date in 2099', 503, 'Thu, 01 Jan 2099 00:00:00 GMT'],
  ])('%s: 503 rate-limited passing on at most 60 s', async (_what, status, retryAfter) => {
    hostile.mode = { kind: 'status', status, headers: { 'retry-after': retryAfter } };
    const res = await get('/v1/tenants/hostile/extensions');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ type: '/problems/rate-limited', backend: 'vitalpbx' });
    expect(Number(res.headers['retry-after'])).toBe(60);
    expect(res.body.retry_after).toBe(60);
    expect(res.body.detail).not.toContain('999999999');
    expect(gw.waits).toEqual([]); // nothing waited out: far longer than the gateway waits itself
    await stillServing();
  });

  it('a 503 with a garbage Retry-After is a plain 503: the header is ignored, not read as a wait', async () => {
    hostile.mode = { kind: 'status', status: 503, headers: { 'retry-after': 'soon, maybe' } };
    const res = await get('/v1/tenants/hostile/extensions');
    expectProblem(res, 502, '/problems/backend-unavailable');
    expect(gw.waits.every((ms) => ms < 1000)).toBe(true); // only the retries' short backoffs
    expect(hostile.served).toHaveLength(3); // a proxy-style 503 without a (readable) Retry-After is retried twice
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  it('reads delta-seconds and the three HTTP-date forms, bounded to 0..60 s', () => {
    const cases: [string, number][] = [
      ['2', 2000],
      ['0', 0],
      ['1.5', 1500],
      [' 3 ', 3000],
      ['120', 60_000],
      ['999999999', MAX_RETRY_AFTER_MS],
      ['Tue, 01 Dec 2026 00:00:30 GMT', 30_000],
      ['Tuesday, 01-Dec-26 00:00:30 GMT', 30_000],
      ['Tue Dec  1 00:00:30 2026', 30_000],
      ['Thu, 01 Jan 2099 00:00:00 GMT', MAX_RETRY_AFTER_MS],
      ['Mon, 01 Dec 2025 00:00:00 GMT', 0],
    ];
    expect(cases.map(([h]) => [h, parseRetryAfterMs(h, now)])).toEqual(cases);
    expect(MAX_RETRY_AFTER_MS).toBe(60_000);
  });

  it('ignores anything else', () => {
    const garbage = ['', ' ', '-5', 'soon', '1e9', 'Infinity', '0x10', '2099-01-01', 'Thu, 01 Jan 2099', 'tomorrow GMT'];
    expect(garbage.map((h) => [h, parseRetryAfterMs(h, now)])).toEqual(garbage.map((h) => [h, undefined]));
  });
});

describe('the request id header', () => {
  const http = () => new BackendHttp({ backend: 'vitalpbx', baseUrl: hostile.url, timeoutMs: 2000, logger: pino({ level: 'silent' }), requestIdHeader: 'x-request-id' });

  it("an id the adapter set itself wins over the gateway's, whatever its case", async () => {
    const ctx = newRequestContext('gateway-id', 5000);
    await http().request({ ctx, method: 'GET', url: 'extensions', headers: { 'X-Request-Id': 'derived-id' }, idempotent: true });
    expect(hostile.served[0].headers['x-request-id']).toBe('derived-id');
    await http().request({ ctx, method: 'GET', url: 'extensions', idempotent: true });
    expect(hostile.served[1].headers['x-request-id']).toBe('gateway-id');
  });
});

describe('proxies', () => {
  let proxy: ForwardProxy;
  const saved: Record<string, string | undefined> = {};
  const ENV = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];
  beforeEach(async () => {
    proxy = await startForwardProxy(hostile.url);
    for (const k of ENV) (saved[k] = process.env[k]), delete process.env[k];
  });
  afterEach(async () => {
    for (const k of ENV) if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
    await proxy.close();
  });
  const direct = (baseUrl: string, extra: Partial<ConstructorParameters<typeof BackendHttp>[0]> = {}) =>
    new BackendHttp({ backend: 'vitalpbx', baseUrl, timeoutMs: 1000, logger: pino({ level: 'silent' }), resilience: { retries: 0 }, ...extra });
  const ctx = () => newRequestContext('proxy-test', 5000);

  it("a tenant's proxy carries its calls (credentials from the URL, never logged)", async () => {
    const password = 'proxy-Secret-pw-9';
    gw = gateway({ base_url: 'http://vital.example.test/api/v2', proxy: proxy.url.replace('//', `//gw:${password}@`) });
    expect((await get('/v1/tenants/hostile/extensions')).status).toBe(200);
    expect(proxy.seen).toEqual(['GET http://vital.example.test/api/v2/extensions']);
    expect(proxy.credentials[0]).toBe(`Basic ${Buffer.from(`gw:${password}`).toString('base64')}`);
    expect(gw.logs()).toContain('backend calls go through a proxy');
    expect(gw.logs()).not.toContain(password);
  });

  it("HTTP_PROXY from the environment, unless NO_PROXY names the host, the tenant says proxy: false, or the backend is on loopback", async () => {
    process.env.HTTP_PROXY = proxy.url;
    const res = await direct('http://vital.example.test/api/v2').request({ ctx: ctx(), method: 'GET', url: 'extensions', idempotent: true });
    expect(res.status).toBe(200);
    expect(proxy.seen).toEqual(['GET http://vital.example.test/api/v2/extensions']);
    process.env.NO_PROXY = 'localhost,.example.test';
    await expect(direct('http://vital.example.test/api/v2').request({ ctx: ctx(), method: 'GET', url: 'extensions', idempotent: true })).rejects.toMatchObject({ status: expect.any(Number) });
    expect(proxy.seen).toHaveLength(1);
    delete process.env.NO_PROXY;
    await expect(direct('http://vital.example.test/api/v2', { proxy: false }).request({ ctx: ctx(), method: 'GET', url: 'extensions', idempotent: true })).rejects.toMatchObject({ status: expect.any(Number) });
    expect((await direct(hostile.url).request({ ctx: ctx(), method: 'GET', url: 'extensions', idempotent: true })).status).toBe(200);
    expect(proxy.seen).toHaveLength(1);
  });

  it('an https backend is reached through the proxy by a CONNECT tunnel', async () => {
    process.env.HTTPS_PROXY = proxy.url;
    // The fixture refuses the tunnel (403): what matters here is that the call asked the proxy for one.
    await direct('https://vital.example.test/api/v2').request({ ctx: ctx(), method: 'GET', url: 'extensions', idempotent: true }).catch(() => undefined);
    expect(proxy.seen).toEqual(['CONNECT vital.example.test:443']);
  });
});
