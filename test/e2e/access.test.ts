/** Who may do what: digested keys, scopes, per-key rate limits, body limits, path safety, headers, audit. */
import { createHash } from 'node:crypto';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const ADMIN = 'admin-key-access-test-0001';
const READER = 'reader-key-access-test-0001';
const WRITER = 'writer-key-access-test-0001';
const LIMITED = 'limited-key-access-test-001';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let sim: VoipbinSimulator;
let server: RunningSimulator;
let gw: ReturnType<typeof buildTestGateway>;
let id: string;

beforeAll(async () => {
  ({ sim, server } = await startVoipbinSimulator());
  [{ id }] = sim.seed([{ extension: '100', name: 'Reception', password: 'Reception-Secret-1' }]);
  gw = buildTestGateway({
    api_keys: [
      { id: 'admin', key_sha256: sha(ADMIN), tenants: ['*'], scopes: ['read', 'write', 'secrets'] },
      { id: 'reader', key: READER, tenants: ['*'], scopes: ['read'] },
      { id: 'writer', key: WRITER, tenants: ['*'] },
      { id: 'limited', key: LIMITED, tenants: ['*'], rate_limit: { requests: 3, window_s: 60 } },
    ],
    tenants: { acme: { backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } } },
  });
});
afterAll(() => server.close());

const api = () => request(gw.app);
const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const ext = '/v1/tenants/acme/extensions';

describe('keys and scopes', () => {
  it('accepts a key configured only by its SHA-256 digest', async () => {
    await api().get(ext).set(as(ADMIN)).expect(200);
    await api().get(ext).set(as(sha(ADMIN))).expect(401);
  });

  it('refuses a write to a read-only key with 403 naming the scope, calling no backend', async () => {
    await api().get(ext).set(as(READER)).expect(200);
    const before = sim.calls.length;
    const res = await api().post(ext).set(as(READER)).send({ extension: '200', name: 'x' }).expect(403);
    expect(res.body).toMatchObject({ type: '/problems/forbidden', scope: 'write' });
    expect(sim.calls.length).toBe(before);
  });

  it('needs the secrets scope to read a password, but a create answers its password once', async () => {
    const res = await api().get(`${ext}/${id}?include=password`).set(as(WRITER)).expect(403);
    expect(res.body.scope).toBe('secrets');
    await api().get(`${ext}?include=password`).set(as(WRITER)).expect(403);
    const created = await api().post(ext).set(as(WRITER)).send({ extension: '201', name: 'New' }).expect(201);
    expect(created.body.password).toHaveLength(24);
    const read = await api().get(`${ext}/${id}?include=password`).set(as(ADMIN)).expect(200);
    expect(read.body.password).toBe('Reception-Secret-1');
  });
});

describe('rate limit per key', () => {
  it('answers 429 with Retry-After past the limit, with RateLimit headers on every answer, other keys unaffected', async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await api().get('/v1/tenants').set(as(LIMITED)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => a.headers['ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
    expect(answers[0].headers['ratelimit-limit']).toBe('3');
    expect(answers[0].headers['ratelimit-policy']).toBe('3;w=60');
    expect(Number(answers[3].headers['retry-after'])).toBeGreaterThan(0);
    expect(answers[3].body).toMatchObject({ type: '/problems/too-many-requests', status: 429 });
    await api().get('/v1/tenants').set(as(ADMIN)).expect(200);
  });
});

describe('request hygiene', () => {
  it('answers 413 for a body over 1 MB and 400 for malformed JSON', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(1_100_000), extension: '300' });
    const res = await api().post(ext).set(as(ADMIN)).set('content-type', 'application/json').send(big).expect(413);
    expect(res.body.type).toBe('/problems/payload-too-large');
    await api().post(ext).set(as(ADMIN)).set('content-type', 'application/json').send('{"name":').expect(400);
  });

  it('never lets an id leave its extension path', async () => {
    const before = sim.calls.length;
    for (const bad of ['..', '..%2F..%2Faccesskeys', '%2E%2E', 'a%2Fb', 'x%00y', `${'a'.repeat(129)}`]) {
      await api().get(`${ext}/${bad}`).set(as(ADMIN)).expect(404);
    }
    const batch = await api().delete(`${ext}?ids=..,${encodeURIComponent('../x')}`).set(as(ADMIN)).expect(200);
    expect(batch.body.results.map((r: { status: string }) => r.status)).toEqual(['not_found', 'not_found']);
    expect(sim.calls.length).toBe(before);
  });

  it('sends security headers and no stack trace', async () => {
    const res = await api().get('/v1/tenants/acme/extensions/zz').set(as(ADMIN));
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});

describe('audit', () => {
  it('writes one audit line per write with key, tenant, operation, target, outcome and request id, no secret', async () => {
    await api().patch(`${ext}/${id}`).set(as(ADMIN)).set('x-request-id', 'audit-req-1').send({ password: 'Audited-Secret-9' }).expect(200);
    await api().delete(`${ext}/00000000-0000-4000-8000-000000000000`).set(as(ADMIN)).set('x-request-id', 'audit-req-2').expect(404);
    const lines = gw.logs().split('\n').filter((l) => l.includes('"audit":true')).map((l) => JSON.parse(l));
    expect(lines.find((l) => l.req_id === 'audit-req-1')).toMatchObject({ key_id: 'admin', tenant: 'acme', operation: 'extension.update', target: id, outcome: 'success', status: 200 });
    expect(lines.find((l) => l.req_id === 'audit-req-2')).toMatchObject({ operation: 'extension.delete', outcome: 'failure', status: 404 });
    expect(gw.logs()).not.toContain('Audited-Secret-9');
  });
});

describe('a client that leaves before the answer', () => {
  it('is still logged: the access line with 499, and the write its audit line as client_closed', async () => {
    const http = await import('node:http');
    const srv = http.createServer(gw.app).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    try {
      const port = (srv.address() as { port: number }).port;
      server.injectFault({ kind: 'slow', ms: 1500 }); // the PATCH's read of the extension
      const before = gw.logs().length;
      await new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'PATCH', path: `${ext}/${id}`, headers: { ...as(ADMIN), 'content-type': 'application/json', 'x-request-id': 'left-early-1' } });
        req.on('error', () => resolve());
        req.end(JSON.stringify({ name: 'Gone Away' }));
        setTimeout(() => (req.destroy(), resolve()), 200);
      });
      // Wait for the gateway to notice and the backend call to end.
      for (let i = 0; i < 40 && !/"req_id":"left-early-1"[^\n]*"status":499/.test(gw.logs().slice(before)); i++) await new Promise((r) => setTimeout(r, 100));
      const lines = gw.logs().slice(before).split('\n').filter((l) => l.includes('left-early-1'));
      expect(lines.some((l) => /"msg":"request"/.test(l) && /"status":499/.test(l))).toBe(true);
      expect(lines.some((l) => /"audit":true/.test(l) && /"outcome":"client_closed"/.test(l) && /"operation":"extension.update"/.test(l))).toBe(true);
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });
});
