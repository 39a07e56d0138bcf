/**
 * Secrets stay out of logs and answers: extension passwords, backend access keys, login passwords, JWTs, API
 * keys, and `?token=` query values. The log is captured at debug level, so every backend call is logged too.
 */
import { createHash } from 'node:crypto';
import request from 'supertest';
import { DEMO_USER, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { redactUrl, scrub } from '../../src/log';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const API_KEY = 'secrets-test-api-key-31337';
const ACCESSKEY = 'vb_secret_accesskey_5150';
const EXT_PASSWORD = 'Ext-Password-Known-8086';
const NEW_PASSWORD = 'Ext-Password-Newer-6502';
const QUERY_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.query-token.sig';

let server: RunningSimulator;
let jwt: string;
let gateway: ReturnType<typeof buildTestGateway>;

beforeAll(async () => {
  const started = await startVoipbinSimulator({ accessKeys: [ACCESSKEY] });
  server = started.server;
  const login = await fetch(`${server.url}/auth/login`, { method: 'POST', body: JSON.stringify(DEMO_USER), headers: { 'content-type': 'application/json' } });
  jwt = ((await login.json()) as { token: string }).token;
  const base_url = `${server.url}/v1.0`;
  gateway = buildTestGateway({
    api_keys: [{ id: 'secrets', key: API_KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: {
      bykey: { backend: 'voipbin', base_url, auth: { accesskey: ACCESSKEY } },
      bylogin: { backend: 'voipbin', base_url, auth: DEMO_USER },
      bytoken: { backend: 'voipbin', base_url, auth: { token: jwt } },
    },
  });
});
afterAll(() => server.close());

it('never writes a secret to a log line or an error body', async () => {
  const api = () => request(gateway.app);
  const auth = { Authorization: `Bearer ${API_KEY}` };
  const bodies: string[] = [];
  for (const [i, tenant] of ['bykey', 'bylogin', 'bytoken'].entries()) {
    const created = await api().post(`/v1/tenants/${tenant}/extensions`).set(auth).send({ extension: `70${i}`, name: 'S', password: EXT_PASSWORD }).expect(201);
    const id = created.body.id as string;
    await api().get(`/v1/tenants/${tenant}/extensions/${id}?include=password`).set(auth).expect(200);
    await api().patch(`/v1/tenants/${tenant}/extensions/${id}`).set(auth).send({ password: NEW_PASSWORD }).expect(200);
    await api().get(`/v1/tenants/${tenant}/extensions?view=full`).set(auth).expect(200);
    // Errors: a duplicate (409), a refused query carrying ?token= (400), an unknown id (404).
    bodies.push(JSON.stringify((await api().post(`/v1/tenants/${tenant}/extensions`).set(auth).send({ extension: `70${i}`, name: 'S', password: EXT_PASSWORD })).body));
    bodies.push(JSON.stringify((await api().get(`/v1/tenants/${tenant}/extensions?token=${QUERY_TOKEN}&accesskey=${ACCESSKEY}`).set(auth)).body));
  }
  const logs = gateway.logs();
  // The capture is real: requests and backend calls were logged, and the ?token= URL with it.
  expect(logs).toMatch(/"msg":"backend call"/);
  expect(logs).toContain('token=[REDACTED]');
  for (const secret of [API_KEY, ACCESSKEY, DEMO_USER.password, jwt, EXT_PASSWORD, NEW_PASSWORD, QUERY_TOKEN]) {
    expect(logs).not.toContain(secret);
    for (const b of bodies) expect(b).not.toContain(secret);
  }
});

describe('redaction helpers', () => {
  it('blanks credential query parameters in URLs', () => {
    expect(redactUrl('/v1.0/extensions?accesskey=abc&page_size=5&token=x.y.z')).toBe('/v1.0/extensions?accesskey=[REDACTED]&page_size=5&token=[REDACTED]');
    expect(redactUrl('/renew?refresh_token=r&access_token=a')).toBe('/renew?refresh_token=[REDACTED]&access_token=[REDACTED]');
  });
  it('scrubs credential parameters from any finished line', () => {
    expect(scrub('{"url":"https://h/x?token=abc"}')).toBe('{"url":"https://h/x?token=[REDACTED]"}');
  });
});

describe('credentials a client puts in a URL', () => {
  const HASHED_KEY = 'hashed-only-key-0123456789abcdef';
  const WRONG_KEY = 'presented-but-wrong-key-424242';
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');

  it('are blanked from every logged URL, even a key the config knows only by its SHA-256', async () => {
    const gw = buildTestGateway({
      api_keys: [{ id: 'hashed', key_sha256: sha(HASHED_KEY), tenants: ['*'] }],
      tenants: { t: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', auth: { accesskey: 'vb_unused_accesskey_0001' } } },
    });
    const api = () => request(gw.app);
    for (const name of ['api_key', 'key', 'apikey', 'access_token', 'token', 'accesskey', 'API_KEY', 'x-api-key', 'client_secret', 'api%5Fkey']) {
      expect([401, 429]).toContain((await api().get(`/v1/tenants?${name}=${HASHED_KEY}&page=1`)).status); // 429 once failures are throttled
      await api().get(`/v1/tenants?${name}=${encodeURIComponent(HASHED_KEY)}`).set('Authorization', `Bearer ${HASHED_KEY}`);
    }
    // Under a name the gateway does not know as a credential, or as a path segment: recognised by its digest.
    await api().get(`/v1/tenants?colour=${HASHED_KEY}`).set('Authorization', `Bearer ${HASHED_KEY}`).expect(400);
    await api().get(`/v1/tenants/${HASHED_KEY}`).set('Authorization', `Bearer ${HASHED_KEY}`).expect(404);
    expect([401, 429]).toContain((await api().get(`/v1/${HASHED_KEY}/x`)).status);
    // A key that is no configured key at all, presented in the header and repeated in the URL.
    expect([401, 429]).toContain((await api().get(`/v1/tenants?colour=${WRONG_KEY}`).set('Authorization', `Bearer ${WRONG_KEY}`)).status);
    expect([401, 429]).toContain((await api().get(`/v1/tenants/${WRONG_KEY}`).set('Authorization', `Bearer ${WRONG_KEY}`)).status);
    const logs = gw.logs();
    expect(logs).toMatch(/"msg":"request"/);
    expect(logs).toContain('api_key=[REDACTED]');
    expect(logs).toContain('/v1/tenants/[REDACTED]');
    expect(logs).not.toContain(HASHED_KEY);
    expect(logs).not.toContain(encodeURIComponent(HASHED_KEY));
    expect(logs).not.toContain(WRONG_KEY);
  });

  it('redactUrl knows credential names in any case and encoding, and keeps the paging cursor readable', () => {
    expect(redactUrl('/x?api_key=a&apikey=b&KEY=c&page_token=p&page_size=5')).toBe('/x?api_key=[REDACTED]&apikey=[REDACTED]&KEY=[REDACTED]&page_token=p&page_size=5');
    expect(redactUrl('/x?api%5Fkey=a&x-api-key=b&id_token=c')).toBe('/x?api%5Fkey=[REDACTED]&x-api-key=[REDACTED]&id_token=[REDACTED]');
  });
});
