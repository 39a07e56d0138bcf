/** VoIPBIN-only behaviour over real HTTP: the three credential forms, re-login, legacy answers. */
import request from 'supertest';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../../test/helpers';
import { loginUrlFor } from './adapter';
import { DEMO_USER, startVoipbinSimulator, type VoipbinSimulator } from './simulator';

const KEY = 'voipbin-adapter-test-key-01';
const auth = { Authorization: `Bearer ${KEY}` };

let sim: VoipbinSimulator;
let server: RunningSimulator;
beforeEach(async () => {
  ({ sim, server } = await startVoipbinSimulator());
  sim.seed([{ extension: '100', name: 'Reception', detail: 'front', password: 'Pass-100-abc' }]);
});
afterEach(() => server.close());

const gatewayWith = (tenantAuth: Record<string, unknown>) =>
  buildTestGateway({
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: { v: { backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: tenantAuth } },
  });
const logins = () => sim.calls.filter((c) => c.path === '/auth/login').length;

describe('VoIPBIN credentials', () => {
  it('logs in once, reuses the token, and logs in again once when the token is refused', async () => {
    const { app } = gatewayWith(DEMO_USER);
    await request(app).get('/v1/tenants/v/extensions').set(auth).expect(200);
    await request(app).get('/v1/tenants/v/extensions').set(auth).expect(200);
    expect(logins()).toBe(1);
    sim.revokeTokens();
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(app).get('/v1/tenants/v/extensions').set(auth)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(logins()).toBe(2);
  });

  it('answers 502 backend-auth-failed when the login is refused', async () => {
    const { app, logs } = gatewayWith({ username: DEMO_USER.username, password: 'wrong-password-xyz' });
    const res = await request(app).get('/v1/tenants/v/extensions').set(auth).expect(502);
    expect(res.body.type).toBe('/problems/backend-auth-failed');
    expect(JSON.stringify(res.body) + logs()).not.toContain('wrong-password-xyz');
  });

  it('uses a configured JWT as Bearer, and answers 502 when it is refused', async () => {
    const login = await fetch(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify(DEMO_USER), headers: { 'content-type': 'application/json' } });
    const { token } = (await login.json()) as { token: string };
    const { app } = gatewayWith({ token });
    await request(app).get('/v1/tenants/v/extensions').set(auth).expect(200);
    sim.revokeTokens();
    const res = await request(app).get('/v1/tenants/v/extensions').set(auth).expect(502);
    expect(res.body.type).toBe('/problems/backend-auth-failed');
  });

  it('treats another customer\u2019s extension as not found', async () => {
    const foreign = sim.seedForeign({ extension: '100', name: 'Theirs' });
    const { app } = gatewayWith({ accesskey: 'vb_demo_0c5f6a3e9b1d4e7f8a2b' });
    await request(app).get(`/v1/tenants/v/extensions/${foreign}`).set(auth).expect(404);
  });

  it('finds the login beside /v1.0', () => {
    expect(loginUrlFor('https://api.voipbin.net/v1.0')).toBe('https://api.voipbin.net/auth/login');
    expect(loginUrlFor('https://gw.example.com/voipbin/v1.0/')).toBe('https://gw.example.com/voipbin/auth/login');
  });
});

describe('VoIPBIN direct URI', () => {
  it('uses a current direct_hash (prefix included) as is, and regenerates it', async () => {
    const { app } = gatewayWith({ accesskey: 'vb_demo_0c5f6a3e9b1d4e7f8a2b' });
    const created = await request(app).post('/v1/tenants/v/extensions').set(auth).send({ extension: '150', name: 'Direct' }).expect(201);
    const raw = sim.raw(created.body.id)!;
    expect(raw.direct_hash).toMatch(/^direct\.[0-9a-f]{12}$/);
    expect(created.body.direct_uri).toBe(`sip:${raw.direct_hash}@sip.voipbin.net`);
    const regen = await request(app).post(`/v1/tenants/v/extensions/${created.body.id}/direct-hash/regenerate`).set(auth).expect(200);
    expect(regen.body.direct_uri).toBe(`sip:${sim.raw(created.body.id)!.direct_hash}@sip.voipbin.net`);
    expect(regen.body.direct_uri).not.toBe(created.body.direct_uri);
  });

  it('adds the prefix to a seed-era bare hash', async () => {
    const legacy = await startVoipbinSimulator({ legacy: true });
    try {
      const [rec] = legacy.sim.seed([{ extension: '201', name: 'Old' }]);
      const { app } = buildTestGateway({
        api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
        tenants: { v: { backend: 'voipbin', base_url: `${legacy.server.url}/v1.0`, auth: { accesskey: 'vb_demo_0c5f6a3e9b1d4e7f8a2b' } } },
      });
      const res = await request(app).get(`/v1/tenants/v/extensions/${rec.id}`).set(auth).expect(200);
      expect(rec.direct_hash).toMatch(/^[0-9a-f]{12}$/);
      expect(res.body.direct_uri).toBe(`sip:direct.${rec.direct_hash}@sip.voipbin.net`);
    } finally {
      await legacy.server.close();
    }
  });
});

describe('VoIPBIN current timestamps', () => {
  it('reads timestamps without a fraction or with a trimmed one, and pages by the six-digit token', async () => {
    let now = Date.parse('2026-01-15T09:30:00.000Z');
    const clocked = await startVoipbinSimulator({ clock: () => now });
    try {
      const [a] = clocked.sim.seed([{ extension: '300', name: 'A' }]);
      now += 1250;
      const [b] = clocked.sim.seed([{ extension: '301', name: 'B' }]);
      const { app } = buildTestGateway({
        api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
        tenants: { v: { backend: 'voipbin', base_url: `${clocked.server.url}/v1.0`, auth: { accesskey: 'vb_demo_0c5f6a3e9b1d4e7f8a2b' } } },
      });
      expect([a.tm_create, b.tm_create]).toEqual(['2026-01-15T09:30:00Z', '2026-01-15T09:30:01.25Z']);
      const first = await request(app).get('/v1/tenants/v/extensions?page_size=1').set(auth).expect(200);
      expect(first.body.items.map((e: { created_at: string }) => e.created_at)).toEqual(['2026-01-15T09:30:01.250Z']);
      const second = await request(app).get(`/v1/tenants/v/extensions?page_size=1&page_token=${encodeURIComponent(first.body.next_page_token)}`).set(auth).expect(200);
      expect(second.body.items.map((e: { created_at: string }) => e.created_at)).toEqual(['2026-01-15T09:30:00.000Z']);
      expect(second.body.next_page_token).toBeNull();
    } finally {
      await clocked.server.close();
    }
  });
});

describe('VoIPBIN seed-era answers', () => {
  it('maps "2021-02-18 12:42:27.688282" timestamps and FQDN domains', async () => {
    const legacy = await startVoipbinSimulator({ legacy: true });
    try {
      const [rec] = legacy.sim.seed([{ extension: '200', name: 'Old' }]);
      const { app } = buildTestGateway({
        api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
        tenants: { v: { backend: 'voipbin', base_url: `${legacy.server.url}/v1.0`, auth: { accesskey: 'vb_demo_0c5f6a3e9b1d4e7f8a2b' } } },
      });
      const res = await request(app).get(`/v1/tenants/v/extensions/${rec.id}`).set(auth).expect(200);
      expect(rec.tm_create).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      expect(res.body.created_at).toBe(new Date(rec.tm_create.replace(' ', 'T') .slice(0, 23) + 'Z').toISOString());
      expect(res.body.updated_at).toBeNull();
      expect(res.body.domain).toMatch(/\.registrar\.voipbin\.net$/);
    } finally {
      await legacy.server.close();
    }
  });
});
