import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { voipbin } from '../../adapters/voipbin/adapter';
import { DEMO_ACCESSKEY, DEMO_USER, VoipbinSimulator, type VoipbinSimOptions, type VoipbinSimUser } from '../../adapters/voipbin/simulator';
import { buildTestGateway, type TestGateway } from '../helpers';
import { startFake, useNock, type ContractBackend, type FakeMode, type RunningFake } from './harness';
import { describeAdapterContract } from './suite';

describeAdapterContract({
  factory: voipbin,
  makeBackend() {
    const sim = new VoipbinSimulator();
    return {
      handler: sim.handle,
      state: sim,
      basePath: '/v1.0',
      auth: { accesskey: DEMO_ACCESSKEY },
      badAuth: { accesskey: 'vb_revoked_key_9f8e7d6c5b4a' },
      badAuthSecrets: ['vb_revoked_key_9f8e7d6c5b4a'],
      seed: (list) => sim.seed(list.map((e) => ({ extension: e.extension, name: e.name, detail: e.description, password: e.password }))).map((r) => r.id),
      unknownId: () => randomUUID(),
      requestCount: () => sim.calls.length,
    };
  },
});

// ---- VoIPBIN's own behaviour, through the gateway, over nock and over the simulator's HTTP server ----------------

const KEY = 'voipbin-contract-key-00001';
const auth = { Authorization: `Bearer ${KEY}` };
/** An agent login without CustomerAdmin or CustomerManager. */
const AGENT: VoipbinSimUser = { username: 'agent@example.com', password: 'agent-password-Zq81', permissions: ['CustomerAgent'] };
const PERMISSION = 'CustomerAdmin or CustomerManager';
/** The vendor's message text for a 403: it must reach no caller. */
const VENDOR_403_TEXT = 'You do not have permission';

describe.each<FakeMode>(['nock', 'simulator'])('VoIPBIN through the gateway (%s)', (mode) => {
  let sim: VoipbinSimulator;
  let fake: RunningFake;
  let gw: TestGateway;
  const api = () => request(gw.app);

  useNock();

  async function start(opts: VoipbinSimOptions = {}): Promise<void> {
    sim = new VoipbinSimulator({ users: [DEMO_USER, AGENT], ...opts });
    const backend = { handler: sim.handle, state: sim, basePath: '/v1.0' } as ContractBackend<VoipbinSimulator>;
    fake = await startFake(mode, backend);
    const tenant = (a: Record<string, unknown>) => ({ backend: 'voipbin', base_url: fake.baseUrl, timeout_ms: 2000, auth: a });
    gw = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { admin: tenant({ accesskey: DEMO_ACCESSKEY }), agent: tenant({ username: AGENT.username, password: AGENT.password }) },
    });
  }
  afterEach(() => fake.close());

  describe('a credential without the CustomerAdmin or CustomerManager permission', () => {
    beforeEach(() => start());

    const expectPermissionProblem = (body: Record<string, unknown>) => {
      expect(body).toMatchObject({ type: '/problems/backend-auth-failed', status: 502, backend: 'voipbin', missing_permission: PERMISSION });
      expect(body.detail).toContain(`lacks the ${PERMISSION} permission`);
      expect(JSON.stringify(body)).not.toContain(VENDOR_403_TEXT);
    };

    it('answers the list with 502 backend-auth-failed naming the missing permission', async () => {
      const res = await api().get('/v1/tenants/agent/extensions').set(auth).expect(502);
      expectPermissionProblem(res.body);
      expect(gw.logs()).not.toContain(AGENT.password);
    });

    it('answers a 403 on one id with the same 502, after one one-item list, on every operation', async () => {
      const [own] = sim.seed([{ extension: '100', name: 'Mine' }]);
      for (const call of [
        () => api().get(`/v1/tenants/agent/extensions/${own.id}`),
        () => api().patch(`/v1/tenants/agent/extensions/${own.id}`).send({ name: 'x' }),
        () => api().delete(`/v1/tenants/agent/extensions/${own.id}`),
        () => api().post(`/v1/tenants/agent/extensions/${own.id}/direct-hash/regenerate`),
        () => api().post('/v1/tenants/agent/extensions').send({ extension: '101', name: 'New' }),
      ]) {
        const res = await call().set(auth).expect(502);
        expectPermissionProblem(res.body);
      }
      expect(sim.raw(own.id)).toMatchObject({ name: 'Mine', tm_delete: null });
      // The server looks the id up before it checks the permission: an unknown id is a plain 404.
      await api().get(`/v1/tenants/agent/extensions/${randomUUID()}`).set(auth).expect(404);
    });

    it('shows backend-auth-failed in /readyz', async () => {
      const res = await api().get('/readyz').expect(200);
      expect(res.body.status).toBe('degraded');
      const agent = res.body.tenants.find((t: { name: string }) => t.name === 'agent');
      expect(agent).toMatchObject({ ready: false, problem: { type: '/problems/backend-auth-failed' } });
      // Unauthenticated readers learn up/down and the problem type only: the detail (the vendor's reason) is logged.
      expect(agent.problem).toEqual({ type: '/problems/backend-auth-failed' });
      expect(res.body.tenants.find((t: { name: string }) => t.name === 'admin')).toMatchObject({ ready: true });
    });

    it('answers another customer\u2019s id (403 to a credential that may list) with 404', async () => {
      const foreign = sim.seedForeign({ extension: '100', name: 'Theirs' });
      const before = sim.calls.length;
      const res = await api().get(`/v1/tenants/admin/extensions/${foreign}`).set(auth).expect(404);
      expect(res.body.type).toBe('/problems/not-found');
      expect(sim.calls.slice(before)).toEqual([
        { method: 'GET', path: `/v1.0/extensions/${foreign}` },
        { method: 'GET', path: '/v1.0/extensions' },
      ]);
      await api().delete(`/v1/tenants/admin/extensions/${foreign}`).set(auth).expect(404);
      expect(sim.raw(foreign)?.tm_delete).toBeNull();
    });
  });

  describe('a frozen account', () => {
    beforeEach(() => start({ frozen: true }));

    it('is 502 backend-auth-failed at once, on the list and on one id (no probe)', async () => {
      const [own] = sim.seed([{ extension: '100', name: 'Mine' }]);
      const list = await api().get('/v1/tenants/admin/extensions').set(auth).expect(502);
      expect(list.body).toMatchObject({ type: '/problems/backend-auth-failed', detail: 'The VoIPBIN account is frozen.' });
      const before = sim.calls.length;
      const one = await api().get(`/v1/tenants/admin/extensions/${own.id}`).set(auth).expect(502);
      expect(one.body.type).toBe('/problems/backend-auth-failed');
      expect(sim.calls.length - before).toBe(1);
      expect(JSON.stringify(one.body)).not.toContain('unregister');
    });
  });

  describe('a direct-access token', () => {
    beforeEach(() => start());

    it('is 502 backend-auth-failed on one id too (403 DIRECT_ACCESS_NOT_SUPPORTED), not 404', async () => {
      const [own] = sim.seed([{ extension: '100', name: 'Mine' }]);
      const body = JSON.stringify({ error: { status: 'PERMISSION_DENIED', reason: 'DIRECT_ACCESS_NOT_SUPPORTED', message: 'Direct access is not supported for this endpoint.', request_id: 'req_X' } });
      fake.inject({ kind: 'status', status: 403, body, headers: { 'content-type': 'application/json' } });
      const res = await api().get(`/v1/tenants/admin/extensions/${own.id}`).set(auth).expect(502);
      expect(res.body).toMatchObject({ type: '/problems/backend-auth-failed' });
      expect(res.body.detail).toContain('direct-access token');
      expect(JSON.stringify(res.body)).not.toContain('Direct access is not supported');
    });
  });

  describe('request ids', () => {
    beforeEach(() => start());
    const received = () => sim.receivedRequestIds[sim.receivedRequestIds.length - 1];
    const mappingLines = () => gw.logs().split('\n').filter((l) => l.includes('"backend_request_id"')).map((l) => JSON.parse(l));

    it('forwards a caller id that VoIPBIN keeps as it is, with no mapping line', async () => {
      const res = await api().get('/v1/tenants/admin/extensions').set(auth).set('x-request-id', 'caller-req_42').expect(200);
      expect(res.headers['x-request-id']).toBe('caller-req_42');
      expect(received()).toBe('caller-req_42');
      expect(mappingLines()).toEqual([]);
    });

    it.each([['a dotted id', 'caller.req:42'], ['a 128-character id', `long.${'x'.repeat(123)}`]])('forwards a derived id VoIPBIN keeps for %s, and logs the mapping once per call', async (_what, id) => {
      const res = await api().get('/v1/tenants/admin/extensions').set(auth).set('x-request-id', id).expect(200);
      expect(res.headers['x-request-id']).toBe(id);
      const sent = received();
      expect(sent).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(sent).not.toBe(id);
      expect(mappingLines()).toEqual([expect.objectContaining({ level: 20, req_id: id, backend_request_id: sent })]);
    });

    it('sends the derived id on the login too', async () => {
      await api().get('/v1/tenants/agent/extensions').set(auth).set('x-request-id', 'login.req:7').expect(502);
      const loginAt = sim.calls.findIndex((c) => c.path === '/auth/login');
      expect(sim.receivedRequestIds[loginAt]).toMatch(/^login_req_7-[A-Za-z0-9_-]{12}$/);
      expect(new Set(sim.receivedRequestIds)).toEqual(new Set([sim.receivedRequestIds[loginAt]]));
    });
  });

  describe('a create that VoIPBIN answers with 500', () => {
    /** The vendor's message text for a 500: it must reach no caller. */
    const VENDOR_500_TEXT = 'An internal error occurred';
    const create = (extension: string, extra: Record<string, unknown> = {}) =>
      api().post('/v1/tenants/admin/extensions').set(auth).send({ extension, name: `Ext ${extension}`, ...extra });

    it('is 502 "not created" with the reason code when the account is at its extension limit', async () => {
      await start({ extensionLimit: 1 });
      sim.seed([{ extension: '100', name: 'Only' }]);
      const res = await create('101').expect(502);
      expect(res.body).toMatchObject({ type: '/problems/backend-unavailable', backend: 'voipbin', vendor_reason: 'INTERNAL' });
      expect(res.body.detail).toContain('extension 101');
      expect(res.body.detail).toContain('it was not created');
      expect(JSON.stringify(res.body)).not.toContain(VENDOR_500_TEXT);
      expect(gw.logs()).not.toContain(VENDOR_500_TEXT);
    });

    it('is 502 "not created" every time for a number whose SIP account a failed create left behind', async () => {
      await start();
      sim.failNextCreate('after-aor');
      for (let i = 0; i < 2; i++) {
        const res = await create('200').expect(502);
        expect(res.body).toMatchObject({ type: '/problems/backend-unavailable', vendor_reason: 'INTERNAL' });
        expect(res.body.detail).toContain('it was not created');
      }
      expect((await api().get('/v1/tenants/admin/extensions').set(auth).expect(200)).body.items).toEqual([]);
      await create('201').expect(201);
    });

    it('is the created extension (201) when VoIPBIN stored it as sent and then failed a later step', async () => {
      await start();
      sim.failNextCreate('after-insert');
      const res = await create('300', { password: 'Given-Secret-300', description: 'desk' }).expect(201);
      expect(res.body).toMatchObject({ extension: '300', name: 'Ext 300', description: 'desk', password: 'Given-Secret-300' });
      expect(sim.raw(res.body.id)).toMatchObject({ extension: '300', tm_delete: null });
    });

    it('is 409 when another client created the number meanwhile, and leaves theirs alone', async () => {
      await start();
      sim.raceNextCreate({ extension: '400', name: 'Theirs', password: 'their-Secret-4' });
      const res = await create('400').expect(409);
      expect(res.body).toMatchObject({ type: '/problems/conflict', errors: [{ pointer: '/extension' }] });
      const items = (await api().get('/v1/tenants/admin/extensions').set(auth).expect(200)).body.items;
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ extension: '400', name: 'Theirs' });
    });
  });
});
