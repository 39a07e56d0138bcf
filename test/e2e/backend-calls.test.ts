/**
 * Backend calls per unified operation, counted by the simulators. The table in bench/README.md is this test's
 * expectations; each call above a vendor's minimum is justified there in one line (and, for creates, imports and
 * migrations, here too). Pacing is off and the VoIPBIN simulator's rate limit too: these count calls, not time.
 */
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, DEMO_USER as VOIPBIN_USER, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { buildTestGateway } from '../helpers';

const KEY = 'backend-calls-test-key-001';
const auth = { Authorization: `Bearer ${KEY}` };

/** A VoIPBIN simulator without its per-customer rate limit (on by default): these tests count calls, not time. */
const voipbinSim = () => startVoipbinSimulator({ rateLimit: false });

async function setup() {
  const [v, i, p] = await Promise.all([voipbinSim(), startIssabelSimulator(), startVitalpbxSimulator()]);
  const [{ id: vid }] = v.sim.seed([{ extension: '100', name: 'A' }, { extension: '101', name: 'B' }, { extension: '102', name: 'C' }]);
  i.sim.seed([{ extension: '1000', name: 'A' }, { extension: '1001', name: 'B' }, { extension: '1002', name: 'C' }]);
  const [pid] = p.sim.seed('vitalpbx', [{ extension: '200', name: 'A' }, { extension: '201', name: 'B' }]);
  const gw = buildTestGateway({
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
    tenants: {
      cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false },
      login: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: VOIPBIN_USER, pacing: false },
      box: { backend: 'issabel', base_url: `${i.server.url}/pbxapi`, auth: DEMO_USER, pacing: false },
      vital: { backend: 'vitalpbx', base_url: `${p.server.url}/api/v2`, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' }, pacing: false },
    },
  });
  const counter = (calls: unknown[]) => async (fn: () => Promise<unknown>) => {
    const before = calls.length;
    await fn();
    return calls.length - before;
  };
  return { v, i, p, vid, pid, app: gw.app, count: { voipbin: counter(v.sim.calls), issabel: counter(i.sim.calls), vitalpbx: counter(p.sim.calls) }, close: () => Promise.all([v.server.close(), i.server.close(), p.server.close()]) };
}

it('spends the calls the table says, and no more', async () => {
  const s = await setup();
  const api = () => request(s.app);
  try {
    const vb = s.count.voipbin;
    expect(await vb(() => api().get(`/v1/tenants/cloud/extensions/${s.vid}`).set(auth).expect(200))).toBe(1);
    expect(await vb(() => api().get('/v1/tenants/cloud/extensions').set(auth).expect(200))).toBe(2);
    let id = '';
    // The first create walks the list for the tenant's index of numbers (2 pages: the last non-empty page still
    // carries a token), then creates.
    expect(await vb(async () => (id = (await api().post('/v1/tenants/cloud/extensions').set(auth).send({ extension: '300', name: 'N' }).expect(201)).body.id))).toBe(3);
    expect(await vb(() => api().patch(`/v1/tenants/cloud/extensions/${id}`).set(auth).send({ name: 'M' }).expect(200))).toBe(2);
    expect(await vb(() => api().post(`/v1/tenants/cloud/extensions/${id}/direct-hash/regenerate`).set(auth).expect(200))).toBe(2);
    expect(await vb(() => api().delete(`/v1/tenants/cloud/extensions/${id}`).set(auth).expect(204))).toBe(2);
    // Login: once, then the token is reused.
    expect(await vb(() => api().get('/v1/tenants/login/extensions').set(auth).expect(200))).toBe(3);
    expect(await vb(() => api().get('/v1/tenants/login/extensions').set(auth).expect(200))).toBe(2);

    const ib = s.count.issabel;
    expect(await ib(() => api().get('/v1/tenants/box/extensions').set(auth).expect(200))).toBe(2); // login + list
    expect(await ib(() => api().get('/v1/tenants/box/extensions/1000').set(auth).expect(200))).toBe(1);
    expect(await ib(() => api().get('/v1/tenants/box/extensions').set(auth).expect(200))).toBe(1);
    expect(await ib(() => api().post('/v1/tenants/box/extensions').set(auth).send({ extension: '2000', name: 'N' }).expect(201))).toBe(3);
    expect(await ib(() => api().post('/v1/tenants/box/extensions').set(auth).send({ name: 'Auto' }).expect(201))).toBe(2);
    expect(await ib(() => api().patch('/v1/tenants/box/extensions/2000').set(auth).send({ name: 'M' }).expect(200))).toBe(2);
    expect(await ib(() => api().delete('/v1/tenants/box/extensions/2000').set(auth).expect(204))).toBe(1);
    expect(await ib(() => api().delete('/v1/tenants/box/extensions?ids=1000,1001,9999').set(auth).expect(200))).toBe(3);

    const vp = s.count.vitalpbx;
    expect(await vp(() => api().get('/v1/tenants/vital/extensions').set(auth).expect(200))).toBe(1);
    expect(await vp(() => api().get(`/v1/tenants/vital/extensions/${s.pid}`).set(auth).expect(200))).toBe(1);
    expect(await vp(() => api().get(`/v1/tenants/vital/extensions/${s.pid}/voicemail`).set(auth).expect(200))).toBe(1);
    expect(await vp(() => api().post('/v1/tenants/vital/extensions').set(auth).send({ extension: '9', name: 'x' }).expect(501))).toBe(0);
    // VitalPBX cannot create (read-only API): an import or a migration into it is refused before any call.
    expect(await vp(() => api().post('/v1/tenants/vital/extensions/import?dry_run=false').set(auth).set('content-type', 'text/csv').send('extension,name\n9,x').expect(501))).toBe(0);
    expect(await vp(() => api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'vital', dry_run: true }).expect(501))).toBe(0);
  } finally {
    await s.close();
  }
});

/** 1,000 extensions, numbered 10000..10999. */
const thousand = (name = 'Seeded') => Array.from({ length: 1000 }, (_, n) => ({ extension: String(10000 + n), name: `${name} ${n}` }));
/** 100 rows of CSV for new numbers 20000..20099. */
const hundredRows = 'extension,name,password\n' + Array.from({ length: 100 }, (_, n) => `${20000 + n},Imported ${n},Import-Pass-${n}-xyz`).join('\n');

/** The gateway over a VoIPBIN tenant (`cloud`) and an Issabel one (`box`), 1,000 extensions each, pacing off. */
async function bulkSetup() {
  const [v, i] = await Promise.all([voipbinSim(), startIssabelSimulator()]);
  v.sim.seed(thousand());
  i.sim.seed(thousand());
  const gw = buildTestGateway(
    {
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
      tenants: {
        cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false },
        box: { backend: 'issabel', base_url: `${i.server.url}/pbxapi`, auth: DEMO_USER, pacing: false },
      },
    },
    // Long enough that a 100-row import is applied within its request.
    { requestBudgetMs: 120_000 },
  );
  const api = () => request(gw.app);
  const counter = (calls: unknown[]) => async (fn: () => Promise<unknown>) => {
    const before = calls.length;
    await fn();
    return calls.length - before;
  };
  /** Wait for a background run (a migration, or an import answered 202) to end; its calls are counted with it. */
  const settle = async (location: string) => {
    for (let turn = 0; turn < 600; turn++) {
      const state = (await api().get(location).set(auth).expect(200)).body as { status: string };
      if (state.status !== 'running') return state;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${location} still running`);
  };
  /** An import applied (in the request, or as a job it waits for): every row must be done. */
  const importRows = async (tenant: string, csv: string) => {
    const res = await api().post(`/v1/tenants/${tenant}/extensions/import?dry_run=false`).set(auth).set('content-type', 'text/csv').send(csv);
    if (res.status === 202) {
      const state = (await settle(res.headers.location)) as { status: string; progress?: { done: number } };
      expect(state.status).toBe('done');
      return;
    }
    expect(res.status).toBe(200);
    expect(res.body.outcome).toEqual({ done: 100, failed: 0, skipped: 0 });
  };
  return { v, i, api, settle, importRows, count: { voipbin: counter(v.sim.calls), issabel: counter(i.sim.calls) }, close: () => Promise.all([v.server.close(), i.server.close()]) };
}

describe('calls per create, import and migration (tenants of 1,000)', () => {
  it('a single create: a cold index walks the list once, a warm one not at all', async () => {
    const s = await bulkSetup();
    try {
      const create = (tenant: string, extension: string) => () => s.api().post(`/v1/tenants/${tenant}/extensions`).set(auth).send({ extension, name: 'N' }).expect(201);
      // VoIPBIN: cold = the index's walk (10 pages of 100 and the empty page that ends the list) + the create;
      // warm = the create alone (its answer is the stored record: nothing is read back).
      expect(await s.count.voipbin(create('cloud', '30000'))).toBe(12);
      expect(await s.count.voipbin(create('cloud', '30001'))).toBe(1);
      // A taken number is a 409 from a walk made for the question, never from an older one (the number may have
      // been deleted elsewhere since: a stale index must not refuse a free number). That walk stops where it finds
      // the number: 10005 is the 997th of 1,002, newest first, so on page 10.
      expect(await s.count.voipbin(() => s.api().post('/v1/tenants/cloud/extensions').set(auth).send({ extension: '10005', name: 'N' }).expect(409))).toBe(10);
      // Issabel does not use the index: a GET by number is its exact check (PUT would overwrite a taken number)
      // and costs one call, cold or warm; PUT answers no body, so the created record is read back.
      await s.api().get('/v1/tenants/box/extensions?page_size=1').set(auth).expect(200); // logs in
      expect(await s.count.issabel(create('box', '30000'))).toBe(3);
      expect(await s.count.issabel(create('box', '30001'))).toBe(3);
    } finally {
      await s.close();
    }
  });

  it('imports 100 rows into VoIPBIN in 111 calls: one walk of the tenant and one create per row', async () => {
    const s = await bulkSetup();
    try {
      // 11 list calls (the plan's one walk) + 100 creates. No per-row duplicate walk (the plan checked every
      // number), no per-row read-back (VoIPBIN's create answers the stored record).
      expect(await s.count.voipbin(() => s.importRows('cloud', hundredRows))).toBe(111);
      // The import's walk and its creates keep the tenant's index warm: the next single create is one call.
      expect(await s.count.voipbin(() => s.api().post('/v1/tenants/cloud/extensions').set(auth).send({ extension: '30000', name: 'N' }).expect(201))).toBe(1);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('imports 100 rows into Issabel in 302 calls', async () => {
    const s = await bulkSetup();
    try {
      await s.api().get('/v1/tenants/box/extensions?page_size=1').set(auth).expect(200); // logs in
      // 1 list (the plan) + per row 3: a GET by number (above the minimum: the only guard against PUT silently
      // overwriting a number taken since the plan's list), the PUT, and the GET that reads it back (needed: the PUT
      // answers no body) + 1 PUT that applies the changes once for the batch.
      expect(await s.count.issabel(() => s.importRows('box', hundredRows))).toBe(302);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('migrates 100 extensions from Issabel to VoIPBIN: one read of each side and one create per extension', async () => {
    const s = await bulkSetup();
    try {
      s.i.sim.seed(Array.from({ length: 100 }, (_, n) => ({ extension: String(40000 + n), name: `Moved ${n}`, secret: `Moved-Pass-${n}-xyz` })));
      await s.api().get('/v1/tenants/box/extensions?page_size=1').set(auth).expect(200); // logs in
      const run = () =>
        s.count.issabel(() =>
          s.count.voipbin(async () => {
            const res = await s.api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'cloud', dry_run: false, select: { range: { from: '40000', to: '40099' } } }).expect(202);
            const state = (await s.settle(res.headers.location)) as { status: string };
            expect(state.status).toBe('done');
          }).then((n) => (voipbinCalls = n)),
        );
      let voipbinCalls = 0;
      // Issabel: 1 list of the source. VoIPBIN: 11 list calls (the target's one walk) + 100 creates.
      expect(await run()).toBe(1);
      expect(voipbinCalls).toBe(111);
    } finally {
      await s.close();
    }
  }, 60_000);
});
