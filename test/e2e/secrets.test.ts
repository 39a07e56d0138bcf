/**
 * Secrets stay out of logs and answers: extension passwords, backend access keys, login passwords, JWTs, API
 * keys, and `?token=` query values. The log is captured at debug level, so every backend call is logged too.
 */
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
