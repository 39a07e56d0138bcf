import pino from 'pino';
import { BackendHttp } from '../../src/backend-http';
import { newRequestContext } from '../../src/request-context';
import type { RunningSimulator } from '../../src/simulator-kit';
import { loginUrlFor } from './adapter';
import { backendRequestId, PERMISSION_RELOGIN_MS, VoipbinClient } from './client';
import { startVoipbinSimulator, type VoipbinSimulator } from './simulator';

const KEPT = /^[A-Za-z0-9_-]{1,64}$/;

describe('backendRequestId: an X-Request-Id VoIPBIN keeps (at most 64 of [A-Za-z0-9_-])', () => {
  it.each(['0b6c1f9e-4c1a-4d8e-9a51-2f3c4d5e6f70', 'readyz-acme', 'a', 'x'.repeat(64), 'A_b-9'])('sends %p as it is', (id) => {
    expect(backendRequestId(id)).toBe(id);
  });

  it.each(['caller.req:42', 'x'.repeat(65), `a.b:c-${'y'.repeat(122)}`, '...', ':'])('derives a kept one from %p', (id) => {
    const derived = backendRequestId(id);
    expect(derived).toMatch(KEPT);
    expect(derived).not.toBe(id);
    expect(backendRequestId(id)).toBe(derived);
  });

  it('keeps the readable part and tells apart ids that differ only in replaced characters or beyond the cut', () => {
    expect(backendRequestId('caller.req:42')).toMatch(/^caller_req_42-[A-Za-z0-9_-]{12}$/);
    expect(backendRequestId('a.b')).not.toBe(backendRequestId('a:b'));
    expect(backendRequestId(`${'z'.repeat(70)}1`)).not.toBe(backendRequestId(`${'z'.repeat(70)}2`));
  });
});

describe('VoipbinClient: a login whose permissions change', () => {
  const AGENT = { username: 'agent@example.com', password: 'agent-pw-Q7', permissions: ['CustomerAgent' as const] };
  let server: RunningSimulator;
  let sim: VoipbinSimulator;
  let now = 1_000_000;
  let client: VoipbinClient;
  const ctx = () => newRequestContext('client-test', 5000);
  const logins = () => sim.calls.filter((c) => c.path === '/auth/login').length;

  beforeEach(async () => {
    ({ sim, server } = await startVoipbinSimulator({ users: [AGENT] }));
    const http = new BackendHttp({ backend: 'voipbin', baseUrl: `${server.url}/v1.0`, timeoutMs: 2000, logger: pino({ level: 'silent' }), requestIdHeader: 'x-request-id' });
    client = new VoipbinClient(http, { username: AGENT.username, password: AGENT.password }, loginUrlFor(`${server.url}/v1.0`), undefined, undefined, () => now);
  });
  afterEach(() => server.close());

  it('logs in afresh on a 403 at most once a minute, so a permission granted since is seen', async () => {
    const list = () => client.call(ctx(), 'GET', 'extensions', { idempotent: true, params: { page_size: 1 } });
    await expect(list()).rejects.toMatchObject({ slug: 'backend-auth-failed', extra: { missing_permission: 'CustomerAdmin or CustomerManager' } });
    expect(logins()).toBe(2); // the first login, and one more after the 403
    sim.setUserPermissions(AGENT.username, ['CustomerManager']);
    now += PERMISSION_RELOGIN_MS - 1;
    await expect(list()).rejects.toMatchObject({ slug: 'backend-auth-failed' });
    expect(logins()).toBe(2); // within the minute: the token is kept
    now += 1;
    await expect(list()).resolves.toMatchObject({ result: [] });
    expect(logins()).toBe(3);
    await expect(list()).resolves.toMatchObject({ result: [] });
    expect(logins()).toBe(3);
  });
});
