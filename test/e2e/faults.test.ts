/**
 * Fault injection over HTTP: three tenants on three simulated backends, one of them misbehaving at a time.
 * Each case checks the caller's answer, that the other tenants kept working, and the backend's state after.
 */
import request from 'supertest';
import { DEMO_USER as ISSABEL_USER, startIssabelSimulator, type IssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator, type VitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'fault-injection-key-00001';
const auth = { Authorization: `Bearer ${KEY}` };
const EXT_PASSWORD = 'Fault-Ext-Password-77';
let voipbin: { sim: VoipbinSimulator; server: RunningSimulator };
let issabel: { sim: IssabelSimulator; server: RunningSimulator };
let vital: { sim: VitalpbxSimulator; server: RunningSimulator };
let gw: ReturnType<typeof buildTestGateway>;

beforeEach(async () => {
  [voipbin, issabel, vital] = await Promise.all([startVoipbinSimulator(), startIssabelSimulator(), startVitalpbxSimulator()]);
  voipbin.sim.seed([{ extension: '100', name: 'Cloud', password: EXT_PASSWORD }]);
  issabel.sim.seed([{ extension: '1000', name: 'Box', secret: EXT_PASSWORD }]);
  vital.sim.seed('vitalpbx', [{ extension: '200', name: 'Vital', secret: EXT_PASSWORD }]);
  const resilience = { breaker_failures: 3, breaker_open_ms: 400 };
  gw = buildTestGateway({
    api_keys: [{ id: 'faults', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
    tenants: {
      cloud: { backend: 'voipbin', base_url: `${voipbin.server.url}/v1.0`, timeout_ms: 300, resilience, auth: { accesskey: DEMO_ACCESSKEY } },
      box: { backend: 'issabel', base_url: `${issabel.server.url}/pbxapi`, timeout_ms: 300, resilience, auth: ISSABEL_USER },
      vital: { backend: 'vitalpbx', base_url: `${vital.server.url}/api/v2`, timeout_ms: 300, resilience, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
    },
  });
});
afterEach(async () => {
  // Every fault case: no secret in any log line.
  for (const secret of [KEY, DEMO_ACCESSKEY, DEMO_APP_KEY, ISSABEL_USER.password, EXT_PASSWORD]) expect(gw.logs()).not.toContain(secret);
  await Promise.all([voipbin.server.close(), issabel.server.close(), vital.server.close()]);
});

const get = (path: string) => request(gw.app).get(path).set(auth);
const others = async (but: string) => {
  const tenants = ['cloud', 'box', 'vital'].filter((t) => t !== but);
  const answers = await Promise.all(tenants.map((t) => get(`/v1/tenants/${t}/extensions`)));
  return answers.map((a) => a.status);
};

describe('fault injection', () => {
  it('latency past the timeout: 504, while the other tenants answer', async () => {
    voipbin.server.injectFault({ kind: 'slow', ms: 1500 });
    const [slow, rest] = await Promise.all([get('/v1/tenants/cloud/extensions'), others('cloud')]);
    expect(slow.status).toBe(504);
    expect(slow.body.type).toBe('/problems/backend-timeout');
    expect(rest).toEqual([200, 200]);
  });

  it('one backend hung: its callers get 504, the other tenants are served meanwhile', async () => {
    for (let i = 0; i < 5; i++) issabel.server.injectFault({ kind: 'hang' });
    const hung = Promise.all(Array.from({ length: 5 }, () => get('/v1/tenants/box/extensions/1000')));
    const served = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`/v1/tenants/${i % 2 ? 'cloud' : 'vital'}/extensions`)));
    expect(served.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await hung).map((r) => r.status).every((s) => s === 504 || s === 503)).toBe(true);
  });

  it('a 5xx burst opens the circuit: fail fast with 503 + Retry-After, no backend call, then one probe closes it', async () => {
    for (let i = 0; i < 3; i++) vital.server.injectFault({ kind: 'status', status: 500, body: '<b>Fatal error</b> app-key=leak' });
    for (let i = 0; i < 3; i++) expect((await get('/v1/tenants/vital/extensions')).status).toBe(502);
    const before = vital.server.requestCount();
    const open = await get('/v1/tenants/vital/extensions');
    expect(open.status).toBe(503);
    expect(open.body).toMatchObject({ type: '/problems/backend-circuit-open', backend: 'vitalpbx' });
    expect(Number(open.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(open.body)).not.toContain('leak');
    expect(vital.server.requestCount()).toBe(before);
    expect(await others('vital')).toEqual([200, 200]);
    await new Promise((r) => setTimeout(r, 450));
    expect((await get('/v1/tenants/vital/extensions')).status).toBe(200);
    expect((await get('/v1/tenants/vital/extensions')).status).toBe(200);
  });

  it('connection resets: reads are retried; a create is not repeated and nothing is created twice', async () => {
    voipbin.server.injectFault({ kind: 'reset' });
    expect((await get('/v1/tenants/cloud/extensions')).status).toBe(200);
    // Issabel (logged in already): the existence check, then the PUT that creates. The PUT is applied and its
    // answer lost; PUT is safe to repeat, so the gateway sends it again, and Issabel updates what it created.
    await get('/v1/tenants/box/extensions').expect(200);
    const before = issabel.sim.calls.length;
    issabel.server.injectFault({ kind: 'lose-answer' }, 1);
    const created = await request(gw.app).post('/v1/tenants/box/extensions').set(auth).send({ extension: '1500', name: 'Once' });
    expect(created.status).toBe(201);
    expect(issabel.sim.calls.slice(before).map((c) => c.method)).toEqual(['GET', 'PUT', 'PUT', 'GET']);
    const list = await get('/v1/tenants/box/extensions?page_size=500');
    expect(list.body.items.filter((e: { extension: string }) => e.extension === '1500')).toHaveLength(1);
  });

  it('a create (POST) whose answer is lost is reconciled, not sent again', async () => {
    await get('/v1/tenants/cloud/extensions').expect(200);
    const before = voipbin.sim.calls.length;
    // The duplicate check reads two pages (the last one empty); then the POST, applied and its answer lost.
    voipbin.server.injectFault({ kind: 'lose-answer' }, 2);
    const res = await request(gw.app).post('/v1/tenants/cloud/extensions').set(auth).send({ extension: '300', name: 'Once' });
    expect(res.status).toBe(201);
    expect(voipbin.sim.calls.slice(before).filter((c) => c.method === 'POST')).toHaveLength(1);
    const list = await get('/v1/tenants/cloud/extensions?page_size=500');
    expect(list.body.items.filter((e: { extension: string }) => e.extension === '300')).toHaveLength(1);
  });

  it('truncated and non-JSON bodies: 502, never a crash', async () => {
    vital.server.injectFault({ kind: 'truncate' });
    vital.server.injectFault({ kind: 'truncate' });
    vital.server.injectFault({ kind: 'truncate' });
    const cut = await get('/v1/tenants/vital/extensions');
    expect(cut.status).toBe(502);
    voipbin.server.injectFault({ kind: 'garbage' });
    const html = await get('/v1/tenants/cloud/extensions');
    expect(html.status).toBe(502);
    expect(html.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await get('/v1/tenants/cloud/extensions')).status).toBe(200);
  });

  it('429 with Retry-After: waited out when short, 503 + Retry-After when long', async () => {
    issabel.server.injectFault({ kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
    expect((await get('/v1/tenants/box/extensions')).status).toBe(200);
    issabel.server.injectFault({ kind: 'status', status: 429, headers: { 'Retry-After': '120' } });
    const long = await get('/v1/tenants/box/extensions');
    expect(long.status).toBe(503);
    expect(long.headers['retry-after']).toBe('60'); // a backend's wait is passed on up to 60 s
  });

  it('the bulkhead bounds calls in flight per backend: beyond it, 503 backend-busy at once', async () => {
    const tight = buildTestGateway({
      api_keys: [{ id: 'faults', key: KEY, tenants: ['*'], rate_limit: { requests: 0 } }],
      tenants: { cloud: { backend: 'voipbin', base_url: `${voipbin.server.url}/v1.0`, timeout_ms: 2000, resilience: { max_concurrent: 1, max_queued: 1 }, auth: { accesskey: DEMO_ACCESSKEY } } },
    });
    for (let i = 0; i < 2; i++) voipbin.server.injectFault({ kind: 'slow', ms: 300 });
    const [id] = voipbin.sim.seed([{ extension: '101', name: 'B' }]).map((r) => r.id);
    const answers = await Promise.all(Array.from({ length: 4 }, () => request(tight.app).get(`/v1/tenants/cloud/extensions/${id}`).set(auth)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 503, 503]);
    expect(answers.find((a) => a.status === 503)!.body.type).toBe('/problems/backend-busy');
  });

  it('expiring tokens mid-traffic: every caller is answered, one renewal', async () => {
    await get('/v1/tenants/box/extensions').expect(200);
    issabel.sim.expireAccessTokens();
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('/v1/tenants/box/extensions/1000')));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(issabel.sim.counters.renewals).toBe(1);
  });
});
