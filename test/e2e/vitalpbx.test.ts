/** VitalPBX over real HTTP: two gateway tenants on one VitalPBX server, and every extension detail. */
import request from 'supertest';
import { DEMO_APP_KEY, startVitalpbxSimulator, type VitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'vitalpbx-e2e-api-key-0001';
const auth = { Authorization: `Bearer ${KEY}` };
let sim: VitalpbxSimulator;
let server: RunningSimulator;
let gateway: ReturnType<typeof buildTestGateway>;
let hqIds: string[];

beforeAll(async () => {
  ({ sim, server } = await startVitalpbxSimulator());
  hqIds = sim.seed('vitalpbx', [
    {
      extension: '100', name: 'Reception', secret: 'Rcpt-Secret-1', devices: 2,
      queues: [{ id: 1, name: 'Q500', penalty: 0 }, { id: 2, name: 'Q501', penalty: 3 }],
      cdr: { local: 45, incoming: 29, outgoing: 4, transit: 0 },
      voicemail: [
        { folder: 'INBOX', clid: '"Demo" <1519>', date: '1565987730', duration: 9 },
        { folder: 'Old', clid: '"A" <1>', date: '1513443087', duration: 8 },
        { folder: 'Old', clid: '"B" <2>', date: '1513443187', duration: 3 },
      ],
    },
    { extension: '101', name: 'Sales' },
  ]);
  sim.seed('branch2', [{ extension: '2001', name: 'Branch Desk' }]);
  const base_url = `${server.url}/api/v2`;
  gateway = buildTestGateway({
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: {
      hq: { backend: 'vitalpbx', base_url, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
      branch: { backend: 'vitalpbx', base_url, auth: { app_key: DEMO_APP_KEY, tenant: 2 } },
    },
  });
});
afterAll(() => server.close());

const api = () => request(gateway.app);

describe('VitalPBX tenants on one server', () => {
  it('never show each other their extensions', async () => {
    const hq = await api().get('/v1/tenants/hq/extensions').set(auth).expect(200);
    const branch = await api().get('/v1/tenants/branch/extensions').set(auth).expect(200);
    expect(hq.body.items.map((e: { extension: string }) => e.extension)).toEqual(['100', '101']);
    expect(branch.body.items.map((e: { extension: string }) => e.extension)).toEqual(['2001']);
    await api().get(`/v1/tenants/branch/extensions/${hqIds[0]}`).set(auth).expect(404);
    await api().get(`/v1/tenants/branch/extensions/${hqIds[0]}/devices`).set(auth).expect(404);
    expect(sim.calls.every((c) => c.tenant === 'vitalpbx' || c.tenant === '2')).toBe(true);
  });

  it('says read-only in the capabilities, and answers writes with 501 naming backend and capability', async () => {
    const tenant = await api().get('/v1/tenants/hq').set(auth).expect(200);
    expect(tenant.body.capabilities.extensions).toMatchObject({ list: true, get: true, create: false, update: false, delete: false });
    const res = await api().post('/v1/tenants/hq/extensions').set(auth).send({ extension: '300', name: 'x' }).expect(501);
    expect(res.body).toMatchObject({ type: '/problems/unsupported', backend: 'vitalpbx', capability: 'extensions.create' });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('VitalPBX extension details', () => {
  const at = () => `/v1/tenants/hq/extensions/${hqIds[0]}`;

  it('devices: one per registration, passwords only when asked', async () => {
    const res = await api().get(`${at()}/devices`).set(auth).expect(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items[0]).toEqual({ id: expect.any(String), name: expect.any(String), username: expect.any(String), technology: 'pjsip' });
    const withPw = await api().get(`${at()}/devices?include=password`).set(auth).expect(200);
    expect(withPw.body.items[0].password).toBe('Rcpt-Secret-1');
  });

  it('queues: ids, names and penalties as numbers', async () => {
    const res = await api().get(`${at()}/queues`).set(auth).expect(200);
    expect(res.body).toEqual({ items: [{ id: '1', name: 'Q500', penalty: 0 }, { id: '2', name: 'Q501', penalty: 3 }] });
  });

  it('call summary: one object of numbers', async () => {
    const res = await api().get(`${at()}/call-summary`).set(auth).expect(200);
    expect(res.body).toEqual({ local: 45, incoming: 29, outgoing: 4, transit: 0 });
  });

  it.each(['folders', 'array'] as const)('voicemail: one flat list whichever shape VitalPBX sends (%s)', async (shape) => {
    sim.voicemailShape = shape;
    const res = await api().get(`${at()}/voicemail`).set(auth).expect(200);
    expect(res.body.items.map((m: { folder: string; duration_s: number }) => [m.folder, m.duration_s])).toEqual([
      ['INBOX', 9],
      ['Old', 3],
      ['Old', 8],
    ]);
    expect(res.body.items[0]).toMatchObject({ caller_id: '"Demo" <1519>', received_at: '2019-08-16T20:35:30.000Z', recording_path: expect.stringMatching(/INBOX\/msg0000\.wav$/) });
  });

  it('answers 501 for details on a backend without them', async () => {
    const other = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { cloud: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', auth: { accesskey: 'vb_unused' } } },
    });
    const res = await request(other.app).get('/v1/tenants/cloud/extensions/0b5d6c56-4c5f-4b35-9a5b-0d3b1c2a3e4f/queues').set(auth).expect(501);
    expect(res.body).toMatchObject({ backend: 'voipbin', capability: 'queues' });
  });
});

describe('VitalPBX faults', () => {
  it('answers 502 backend-auth-failed for a refused app-key, and logs no trace of it', async () => {
    const bad = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { hq: { backend: 'vitalpbx', base_url: `${server.url}/api/v2`, auth: { app_key: 'refused-app-key-xyz', tenant: 'vitalpbx' } } },
    });
    const res = await request(bad.app).get('/v1/tenants/hq/extensions').set(auth).expect(502);
    expect(res.body.type).toBe('/problems/backend-auth-failed');
    expect(bad.logs() + JSON.stringify(res.body)).not.toContain('refused-app-key-xyz');
  });

  it('treats an HTTP 200 with status "error" as a failure, without passing its message on', async () => {
    server.injectFault({ kind: 'status', status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"error","message":"SQLSTATE secret-ish detail","data":null}' });
    const res = await api().get('/v1/tenants/hq/extensions').set(auth).expect(502);
    expect(res.body.type).toBe('/problems/backend-unavailable');
    expect(JSON.stringify(res.body)).not.toContain('SQLSTATE');
  });
});
