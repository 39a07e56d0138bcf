/**
 * Backend calls per unified operation, counted by the simulators. The table in bench/README.md is this test's
 * expectations; each call above a vendor's minimum is justified there in one line.
 */
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, DEMO_USER as VOIPBIN_USER, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { buildTestGateway } from '../helpers';

const KEY = 'backend-calls-test-key-001';
const auth = { Authorization: `Bearer ${KEY}` };

async function setup() {
  const [v, i, p] = await Promise.all([startVoipbinSimulator(), startIssabelSimulator(), startVitalpbxSimulator()]);
  const [{ id: vid }] = v.sim.seed([{ extension: '100', name: 'A' }, { extension: '101', name: 'B' }, { extension: '102', name: 'C' }]);
  i.sim.seed([{ extension: '1000', name: 'A' }, { extension: '1001', name: 'B' }, { extension: '1002', name: 'C' }]);
  const [pid] = p.sim.seed('vitalpbx', [{ extension: '200', name: 'A' }, { extension: '201', name: 'B' }]);
  const gw = buildTestGateway({
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
    tenants: {
      cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } },
      login: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: VOIPBIN_USER },
      box: { backend: 'issabel', base_url: `${i.server.url}/pbxapi`, auth: DEMO_USER },
      vital: { backend: 'vitalpbx', base_url: `${p.server.url}/api/v2`, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
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
  } finally {
    await s.close();
  }
});
