/**
 * The gateway as users meet it: started from a config file the way main.ts starts it, listening on a real
 * port, pointed at a VoIPBIN simulator that is configured like a real server (no `simulator: true`).
 */
import { randomUUID } from 'node:crypto';
import { registry } from '../../adapters';
import { DEMO_ACCESSKEY, VoipbinSimulator } from '../../adapters/voipbin/simulator';
import { parseConfig } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';
import { serveSimulator, type RunningSimulator, type SimRequest } from '../../src/simulator-kit';

const OPS = 'ops-key-e2e-0123456789';
const ACME = 'acme-portal-key-e2e-0123';
let gw: RunningGateway;
let backend: RunningSimulator;
let sim: VoipbinSimulator;
const seen: SimRequest[] = [];

beforeAll(async () => {
  sim = new VoipbinSimulator();
  sim.seed([{ extension: '100', name: 'Reception', detail: 'front desk', password: 'Reception-Pass-1' }]);
  backend = await serveSimulator((req) => (seen.push(req), sim.handle(req)));
  const yaml = `
server: { host: 127.0.0.1, port: 0 }
logging: { level: silent }
api_keys:
  - { id: ops, key: "\${OPS_KEY}", tenants: ["*"] }
  - { id: acme-portal, key: "${ACME}", tenants: [acme], scopes: [read, write, secrets] }
tenants:
  acme:
    backend: voipbin
    base_url: ${backend.url}/v1.0
    auth: { accesskey: "\${VB_KEY}" }
  beta:
    backend: voipbin
    base_url: ${backend.url}/v1.0
    auth: { accesskey: "${DEMO_ACCESSKEY}" }
`;
  const config = parseConfig(yaml, { registry, env: { OPS_KEY: OPS, VB_KEY: DEMO_ACCESSKEY } });
  gw = await startGateway(config, registry, {});
});
afterAll(async () => {
  await gw.close();
  await backend.close();
});

const call = (path: string, init: RequestInit & { key?: string } = {}) =>
  fetch(gw.url + path, {
    ...init,
    headers: { ...(init.key === '' ? {} : { authorization: `Bearer ${init.key ?? OPS}` }), 'content-type': 'application/json', ...(init.headers ?? {}) },
  });

describe('the gateway over HTTP', () => {
  it('serves /healthz without a key', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers 401 without a key or with an unknown one, as problem+json', async () => {
    for (const key of ['', 'not-a-key']) {
      const res = await call('/v1/tenants', { key });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ type: '/problems/unauthenticated', status: 401 });
    }
  });

  it('limits a key to its tenants: 403 outside its list (known or not), 404 for an unknown tenant', async () => {
    expect(((await (await call('/v1/tenants', { key: ACME })).json()) as { items: { name: string }[] }).items.map((t) => t.name)).toEqual(['acme']);
    expect((await call('/v1/tenants/beta/extensions', { key: ACME })).status).toBe(403);
    expect((await call('/v1/tenants/nope', { key: ACME })).status).toBe(403);
    expect((await call('/v1/tenants/nope')).status).toBe(404);
    const all = (await (await call('/v1/tenants')).json()) as { items: { name: string; backend: string }[] };
    expect(all.items.map((t) => [t.name, t.backend])).toEqual([
      ['acme', 'voipbin'],
      ['beta', 'voipbin'],
    ]);
  });

  it('manages an extension end to end', async () => {
    const created = await call('/v1/tenants/acme/extensions', { method: 'POST', key: ACME, body: JSON.stringify({ extension: '300', name: 'Lobby', description: 'lobby phone' }) });
    expect(created.status).toBe(201);
    const ext = (await created.json()) as Record<string, string>;
    expect(created.headers.get('location')).toBe(`/v1/tenants/acme/extensions/${ext.id}`);
    expect(ext.password).toHaveLength(24);

    const patched = await call(`/v1/tenants/acme/extensions/${ext.id}`, { method: 'PATCH', key: ACME, body: JSON.stringify({ description: null }) });
    expect(await patched.json()).toMatchObject({ name: 'Lobby', description: null });
    const read = (await (await call(`/v1/tenants/acme/extensions/${ext.id}?include=password`, { key: ACME })).json()) as Record<string, string>;
    expect(read.password).toBe(ext.password);

    const regen = (await (await call(`/v1/tenants/acme/extensions/${ext.id}/direct-hash/regenerate`, { method: 'POST', key: ACME })).json()) as Record<string, string>;
    expect(regen.direct_uri).toMatch(/^sip:direct\.[0-9a-f]+@sip\.voipbin\.net$/);
    expect(regen.direct_uri).not.toBe(ext.direct_uri);

    expect((await call(`/v1/tenants/acme/extensions/${ext.id}`, { method: 'DELETE', key: ACME })).status).toBe(204);
    expect((await call(`/v1/tenants/acme/extensions/${ext.id}`, { key: ACME })).status).toBe(404);
    const batch = await call(`/v1/tenants/acme/extensions?ids=${ext.id},not-an-id`, { method: 'DELETE', key: ACME });
    expect(await batch.json()).toEqual({ results: [{ id: ext.id, status: 'not_found' }, { id: 'not-an-id', status: 'not_found' }] });
  });

  it('returns the caller request id, and forwards it to the backend', async () => {
    const id = `e2e-${randomUUID()}`;
    const res = await call('/v1/tenants/acme/extensions?page_size=1', { headers: { 'x-request-id': id } });
    expect(res.headers.get('x-request-id')).toBe(id);
    expect(seen.some((r) => r.headers['x-request-id'] === id)).toBe(true);
    const unsafe = await call('/v1/tenants', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('validates queries and bodies with pointers, and refuses malformed JSON and unknown routes', async () => {
    const q = await call('/v1/tenants/acme/extensions?page_size=501&colour=red');
    expect(q.status).toBe(400);
    const body = (await q.json()) as { errors: { pointer: string }[] };
    expect(body.errors.map((e) => e.pointer).sort()).toEqual(['/query/colour', '/query/page_size']);
    const bad = await call('/v1/tenants/acme/extensions', { method: 'POST', body: '{"name":' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: '/problems/malformed-request' });
    const patch = await call(`/v1/tenants/acme/extensions/${randomUUID()}`, { method: 'PATCH', body: JSON.stringify({ extension: '5' }) });
    expect(patch.status).toBe(400);
    expect(((await patch.json()) as { errors: { pointer: string }[] }).errors[0].pointer).toBe('/extension');
    expect((await call('/v2/nothing')).status).toBe(404);
  });

  it('reads a query integer only when it is written in decimal digits', async () => {
    for (const path of ['/v1/tenants/acme/extensions', '/v1/extensions']) {
      for (const v of ['0x10', '1e1', '16.0', '+16', '%2016', '16%20', '0b1', '-1', '']) {
        const res = await call(`${path}?page_size=${v}`);
        expect({ path, v, status: res.status }).toEqual({ path, v, status: 400 });
        const body = (await res.json()) as { type: string; errors: { pointer: string; detail: string }[] };
        expect(body.type).toBe('/problems/validation');
        expect(body.errors).toEqual([{ pointer: '/query/page_size', detail: expect.stringMatching(/decimal digits|must be >= 1/) }]);
      }
      expect((await call(`${path}?page_size=016`)).status).toBe(200);
    }
  });
});
