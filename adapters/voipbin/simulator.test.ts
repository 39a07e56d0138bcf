import type { RunningSimulator } from '../../src/simulator-kit';
import { DEMO_ACCESSKEY, DEMO_USER, VoipbinSimulator, startVoipbinSimulator, type VoipbinSimOptions } from './simulator';

/** Go's JSON time: RFC 3339 in UTC, up to microseconds here, trailing zeros of the fraction trimmed. */
const RFC3339_TRIMMED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,5}[1-9])?Z$/;
/** The paging token's fixed form. */
const TOKEN_US = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const LEGACY_TS = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/;
const servers: RunningSimulator[] = [];

/** A simulator without the real customer rate limit (these tests send many calls in a row, not paced), unless
 * `opts` says otherwise; `real: true` keeps the simulator's defaults, the limit included. */
async function start(opts?: VoipbinSimOptions, real = false): Promise<{ sim: VoipbinSimulator; url: string }> {
  const { sim, server } = await startVoipbinSimulator(real ? opts : { rateLimit: false, ...opts }, 0);
  servers.push(server);
  return { sim, url: server.url };
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Call with the demo access key in the query string unless `auth: false`. */
async function call(url: string, method: string, path: string, body?: unknown, opts: { auth?: boolean; headers?: Record<string, string> } = {}) {
  const u = new URL(path, url);
  if (opts.auth !== false) u.searchParams.set('accesskey', DEMO_ACCESSKEY);
  const res = await fetch(u, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (text ? JSON.parse(text) : undefined) as any };
}

async function login(url: string, username = DEMO_USER.username, password = DEMO_USER.password) {
  return call(url, 'POST', '/auth/login', { username, password }, { auth: false });
}

describe('VoIPBIN simulator', () => {
  let sim: VoipbinSimulator;
  let url: string;
  beforeAll(async () => {
    ({ sim, url } = await start());
  });

  describe('authentication', () => {
    it('accepts the access key in the query string and as a cookie', async () => {
      expect((await call(url, 'GET', '/v1.0/extensions')).status).toBe(200);
      const cookie = await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: { cookie: `accesskey=${DEMO_ACCESSKEY}` } });
      expect(cookie.status).toBe(200);
    });

    it('refuses no credential, an unknown key, and an access key sent as Bearer', async () => {
      const none = await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false });
      expect(none.status).toBe(401);
      expect(none.json.error).toMatchObject({ status: 'UNAUTHENTICATED', reason: 'AUTHENTICATION_REQUIRED' });
      expect(none.json.error).not.toHaveProperty('details');
      const unknown = await call(url, 'GET', '/v1.0/extensions?accesskey=vb_nope', undefined, { auth: false });
      expect(unknown.json.error.reason).toBe('INVALID_CREDENTIALS');
      const bearer = await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: { authorization: `Bearer ${DEMO_ACCESSKEY}` } });
      expect(bearer.status).toBe(401);
      expect(bearer.json.error.reason).toBe('INVALID_CREDENTIALS');
    });

    it('logs in and accepts the JWT as Bearer, ?token= and cookie; revokeTokens invalidates it', async () => {
      const a = await login(url);
      const b = await login(url);
      expect(a.status).toBe(200);
      expect(a.json.username).toBe(DEMO_USER.username);
      expect(a.json.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(a.json.token).not.toBe(b.json.token);
      const payload = JSON.parse(Buffer.from(a.json.token.split('.')[1], 'base64url').toString());
      expect(payload.exp).toBeGreaterThan(Date.now() / 1000 + 6 * 24 * 3600);
      const token = a.json.token as string;
      expect((await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await call(url, 'GET', `/v1.0/extensions?token=${token}`, undefined, { auth: false })).status).toBe(200);
      expect((await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: { cookie: `token=${token}` } })).status).toBe(200);
      sim.revokeTokens();
      const revoked = await call(url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: { authorization: `Bearer ${token}` } });
      expect(revoked.status).toBe(401);
      expect(revoked.json.error.reason).toBe('INVALID_CREDENTIALS');
    });

    it('answers a failed login with a bare 400 and an empty body', async () => {
      for (const res of [await login(url, DEMO_USER.username, 'wrong'), await call(url, 'POST', '/auth/login', {}, { auth: false })]) {
        expect(res.status).toBe(400);
        expect(res.text).toBe('');
      }
    });

    it('redirects a path with a trailing slash as gin does (301 for GET, 307 otherwise), without X-Request-Id', async () => {
      const get = await fetch(new URL('/v1.0/extensions/?page_size=2', url), { redirect: 'manual' });
      expect(get.status).toBe(301);
      expect(get.headers.get('location')).toBe('/v1.0/extensions?page_size=2');
      expect(get.headers.get('x-request-id')).toBeNull();
      const post = await fetch(new URL('/v1.0/extensions/', url), { method: 'POST', redirect: 'manual', body: '{}' });
      expect(post.status).toBe(307);
      expect(post.headers.get('location')).toBe('/v1.0/extensions');
      expect((await call(url, 'GET', '/v1.0/trunks/')).json.error.reason).toBe('ROUTE_NOT_FOUND');
    });

    it('answers every call of a frozen account with 403 ACCOUNT_FROZEN and its recovery details', async () => {
      const frozen = await start({ frozen: true });
      const res = await call(frozen.url, 'GET', '/v1.0/extensions');
      expect(res.status).toBe(403);
      expect(res.json.error).toMatchObject({ status: 'PERMISSION_DENIED', reason: 'ACCOUNT_FROZEN', details: [{ recovery_endpoint: 'DELETE /auth/unregister' }] });
      frozen.sim.setFrozen(false);
      expect((await call(frozen.url, 'GET', '/v1.0/extensions')).status).toBe(200);
    });

    it('answers unknown routes with 404 ROUTE_NOT_FOUND', async () => {
      const res = await call(url, 'PATCH', '/v1.0/extensions');
      expect(res.status).toBe(404);
      expect(res.json.error).toMatchObject({ status: 'NOT_FOUND', reason: 'ROUTE_NOT_FOUND' });
      expect((await call(url, 'GET', '/v1.0/trunks')).json.error.reason).toBe('ROUTE_NOT_FOUND');
    });
  });

  describe('extensions', () => {
    it('creates without validation and gets the record', async () => {
      const created = await call(url, 'POST', '/v1.0/extensions', { extension: '200', name: 'Front', detail: 'desk', password: 'pw1' });
      expect(created.status).toBe(200);
      const rec = created.json;
      expect(rec).toMatchObject({ extension: '200', username: '200', name: 'Front', detail: 'desk', password: 'pw1', tm_update: null, tm_delete: null });
      expect(rec.domain_name).toBe(rec.customer_id);
      expect(rec.direct_hash).toMatch(/^direct\.[0-9a-f]{12}$/);
      expect(rec.tm_create).toMatch(RFC3339_TRIMMED);
      expect((await call(url, 'GET', `/v1.0/extensions/${rec.id}`)).json).toEqual(rec);
      const bare = await call(url, 'POST', '/v1.0/extensions', { name: 'no number' });
      expect(bare.status).toBe(200);
      expect(bare.json).toMatchObject({ extension: '', password: '', detail: '' });
    });

    it('PUT replaces name, detail and password; a left-out field becomes ""', async () => {
      const [rec] = sim.seed([{ extension: '201', name: 'Old', detail: 'old detail', password: 'secret' }]);
      const res = await call(url, 'PUT', `/v1.0/extensions/${rec.id}`, { name: 'New', extension: '999', direct: true });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ name: 'New', detail: '', password: '', extension: '201' });
      expect(res.json.tm_update).toMatch(RFC3339_TRIMMED);
    });

    it('answers a duplicate active extension number with 500 INTERNAL', async () => {
      sim.seed([{ extension: '202', name: 'A' }]);
      const res = await call(url, 'POST', '/v1.0/extensions', { extension: '202', name: 'B' });
      expect(res.status).toBe(500);
      expect(res.json.error).toMatchObject({ status: 'INTERNAL', reason: 'INTERNAL', message: 'An internal error occurred.' });
    });

    it('answers 500 INTERNAL beyond the extension limit', async () => {
      const limited = await start({ extensionLimit: 2 });
      limited.sim.seed([{ extension: '1', name: 'A' }, { extension: '2', name: 'B' }]);
      const res = await call(limited.url, 'POST', '/v1.0/extensions', { extension: '3', name: 'C' });
      expect(res.status).toBe(500);
      expect(res.json.error.reason).toBe('INTERNAL');
      expect((await call(limited.url, 'GET', '/v1.0/extensions')).json.result).toHaveLength(2);
    });

    it('leaves a failed create half-done: after the AOR the number fails until then; after the insert it exists', async () => {
      const half = await start();
      half.sim.failNextCreate('after-aor');
      expect((await call(half.url, 'POST', '/v1.0/extensions', { extension: '50', name: 'A' })).status).toBe(500);
      expect((await call(half.url, 'GET', '/v1.0/extensions')).json.result).toHaveLength(0);
      expect((await call(half.url, 'POST', '/v1.0/extensions', { extension: '50', name: 'A' })).status).toBe(500);
      expect((await call(half.url, 'POST', '/v1.0/extensions', { extension: '51', name: 'B' })).status).toBe(200);
      half.sim.failNextCreate('after-insert');
      expect((await call(half.url, 'POST', '/v1.0/extensions', { extension: '52', name: 'C' })).status).toBe(500);
      const list = (await call(half.url, 'GET', '/v1.0/extensions')).json.result as { extension: string }[];
      expect(list.map((r) => r.extension)).toEqual(['52', '51']);
    });

    it('lets another client create the same number just before the next create', async () => {
      const race = await start();
      race.sim.raceNextCreate({ extension: '60', name: 'Theirs', password: 'their-pw' });
      const res = await call(race.url, 'POST', '/v1.0/extensions', { extension: '60', name: 'Mine' });
      expect(res.status).toBe(500);
      const list = (await call(race.url, 'GET', '/v1.0/extensions')).json.result;
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ extension: '60', name: 'Theirs' });
    });

    it('soft-deletes: 200 twice, each stamping tm_delete and tm_update anew, GET still 200, gone from the list, number reusable', async () => {
      const [rec] = sim.seed([{ extension: '203', name: 'Temp' }]);
      const first = await call(url, 'DELETE', `/v1.0/extensions/${rec.id}`);
      expect(first.status).toBe(200);
      expect(first.json.tm_delete).toMatch(RFC3339_TRIMMED);
      expect(first.json.tm_update).toBe(first.json.tm_delete);
      const second = await call(url, 'DELETE', `/v1.0/extensions/${rec.id}`);
      expect(second.status).toBe(200);
      expect(Date.parse(second.json.tm_delete)).toBeGreaterThanOrEqual(Date.parse(first.json.tm_delete));
      expect(second.json.tm_delete).not.toBe(first.json.tm_delete);
      expect(second.json.tm_update).toBe(second.json.tm_delete);
      const got = await call(url, 'GET', `/v1.0/extensions/${rec.id}`);
      expect(got.status).toBe(200);
      expect(got.json.tm_delete).toBe(second.json.tm_delete);
      expect(sim.raw(rec.id)?.tm_delete).toBe(second.json.tm_delete);
      const list = await call(url, 'GET', '/v1.0/extensions');
      expect(list.json.result.map((r: { id: string }) => r.id)).not.toContain(rec.id);
      expect((await call(url, 'POST', '/v1.0/extensions', { extension: '203', name: 'Again' })).status).toBe(200);
    });

    it('regenerates the direct hash without a body', async () => {
      const [rec] = sim.seed([{ extension: '204', name: 'Direct' }]);
      const res = await call(url, 'POST', `/v1.0/extensions/${rec.id}/direct-hash-regenerate`);
      expect(res.status).toBe(200);
      expect(res.json.direct_hash).toMatch(/^direct\.[0-9a-f]{12}$/);
      expect(res.json.direct_hash).not.toBe(rec.direct_hash);
      expect(res.json.tm_update).toMatch(RFC3339_TRIMMED);
    });

    it('answers 403 for another customer, 404 for unknown, 400 for a malformed id', async () => {
      const foreign = sim.seedForeign({ extension: '300', name: 'Not yours' });
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await call(url, method, `/v1.0/extensions/${foreign}`, method === 'PUT' ? { name: 'x' } : undefined);
        expect(res.status).toBe(403);
        expect(res.json.error).toMatchObject({ status: 'PERMISSION_DENIED', reason: 'PERMISSION_DENIED' });
      }
      expect(sim.raw(foreign)?.name).toBe('Not yours');
      const unknown = await call(url, 'GET', '/v1.0/extensions/00000000-0000-4000-8000-000000000000');
      expect(unknown.status).toBe(404);
      expect(unknown.json.error.reason).toBe('EXTENSION_NOT_FOUND');
      const bad = await call(url, 'GET', '/v1.0/extensions/not-a-uuid');
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatchObject({ status: 'INVALID_ARGUMENT', reason: 'INVALID_ID' });
    });

    it('answers 403 PERMISSION_DENIED on every extension call to a login without CustomerAdmin or CustomerManager', async () => {
      const agent = { username: 'agent@example.com', password: 'agent-pw-1', permissions: ['CustomerAgent' as const] };
      const manager = { username: 'manager@example.com', password: 'manager-pw-1', permissions: ['CustomerManager' as const] };
      const perms = await start({ users: [agent, manager] });
      const [own] = perms.sim.seed([{ extension: '100', name: 'Own' }]);
      const bearer = async (who: { username: string; password: string }) => ({ authorization: `Bearer ${(await login(perms.url, who.username, who.password)).json.token}` });
      const agentAuth = await bearer(agent);
      const denied = [
        await call(perms.url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: agentAuth }),
        await call(perms.url, 'POST', '/v1.0/extensions', { extension: '101', name: 'x' }, { auth: false, headers: agentAuth }),
        await call(perms.url, 'GET', `/v1.0/extensions/${own.id}`, undefined, { auth: false, headers: agentAuth }),
        await call(perms.url, 'PUT', `/v1.0/extensions/${own.id}`, { name: 'x', detail: '', password: 'p' }, { auth: false, headers: agentAuth }),
        await call(perms.url, 'DELETE', `/v1.0/extensions/${own.id}`, undefined, { auth: false, headers: agentAuth }),
        await call(perms.url, 'POST', `/v1.0/extensions/${own.id}/direct-hash-regenerate`, undefined, { auth: false, headers: agentAuth }),
      ];
      for (const res of denied) {
        expect(res.status).toBe(403);
        expect(res.json.error).toMatchObject({ status: 'PERMISSION_DENIED', reason: 'PERMISSION_DENIED' });
      }
      expect(perms.sim.raw(own.id)).toMatchObject({ name: 'Own', tm_delete: null });
      // The id is looked up before the permission is checked.
      const unknown = await call(perms.url, 'GET', '/v1.0/extensions/00000000-0000-4000-8000-000000000000', undefined, { auth: false, headers: agentAuth });
      expect(unknown.status).toBe(404);
      const managerAuth = await bearer(manager);
      expect((await call(perms.url, 'GET', '/v1.0/extensions', undefined, { auth: false, headers: managerAuth })).status).toBe(200);
      expect((await call(perms.url, 'GET', `/v1.0/extensions/${own.id}`, undefined, { auth: false, headers: managerAuth })).status).toBe(200);
    });

    it('answers an empty body, malformed JSON, a non-object or a field of another type with 400 INVALID_JSON_BODY', async () => {
      const [rec] = sim.seed([{ extension: '205', name: 'Body' }]);
      const raw = async (method: string, path: string, body: string | undefined) => {
        const u = new URL(path, url);
        u.searchParams.set('accesskey', DEMO_ACCESSKEY);
        const res = await fetch(u, { method, headers: { 'content-type': 'application/json' }, body });
        return { status: res.status, json: (await res.json()) as any };
      };
      for (const path of ['/v1.0/extensions', `/v1.0/extensions/${rec.id}`]) {
        const method = path === '/v1.0/extensions' ? 'POST' : 'PUT';
        for (const body of [undefined, '', '{"name":', 'not json', '[]', '"text"', '42', '{"name": 7}']) {
          const res = await raw(method, path, body);
          expect([method, body, res.status]).toEqual([method, body, 400]);
          expect(res.json.error).toMatchObject({ status: 'INVALID_ARGUMENT', reason: 'INVALID_JSON_BODY' });
        }
      }
      expect(sim.raw(rec.id)?.name).toBe('Body');
      // null decodes to nothing, and keys match case-insensitively as in Go.
      expect((await raw('PUT', `/v1.0/extensions/${rec.id}`, '{"NAME":"Upper","detail":null,"password":"p"}')).json).toMatchObject({ name: 'Upper', detail: '' });
      expect((await raw('PUT', `/v1.0/extensions/${rec.id}`, 'null')).json).toMatchObject({ name: '', detail: '', password: '' });
      // The id's form is checked before the body, the body before the look-up.
      expect((await raw('PUT', '/v1.0/extensions/nope', '')).json.error.reason).toBe('INVALID_ID');
      expect((await raw('PUT', '/v1.0/extensions/00000000-0000-4000-8000-000000000000', '')).json.error.reason).toBe('INVALID_JSON_BODY');
    });

    it('refuses a malformed id on direct-hash-regenerate with 400 INVALID_REQUEST_PARAMETER (the path is typed uuid)', async () => {
      const res = await call(url, 'POST', '/v1.0/extensions/not-a-uuid/direct-hash-regenerate');
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ status: 'INVALID_ARGUMENT', reason: 'INVALID_REQUEST_PARAMETER' });
    });

    it('echoes an X-Request-Id of at most 64 [A-Za-z0-9_-] and makes its own otherwise', async () => {
      const safe = `gw_${'a'.repeat(58)}-Z9`;
      expect(safe).toHaveLength(64);
      const echoed = await call(url, 'GET', '/v1.0/extensions/not-a-uuid', undefined, { headers: { 'x-request-id': safe } });
      expect(echoed.headers.get('x-request-id')).toBe(safe);
      expect(echoed.json.error.request_id).toBe(safe);
      for (const unsafe of ['gw-abc.123:4', 'bad id!', `${safe}x`]) {
        const own = await call(url, 'GET', '/v1.0/extensions', undefined, { headers: { 'x-request-id': unsafe } });
        expect(own.headers.get('x-request-id')).toMatch(/^req_[A-Z2-7]{26}$/);
      }
      expect((await login(url, 'x', 'y')).headers.get('x-request-id')).toMatch(/^req_[A-Z2-7]{26}$/);
      expect(sim.receivedRequestIds).toContain('gw-abc.123:4');
    });

    it('records every call', () => {
      expect(sim.calls.length).toBeGreaterThan(10);
      expect(sim.calls).toContainEqual({ method: 'POST', path: '/auth/login' });
    });
  });

  it('pages 250 extensions newest first: 100, 100, 50, then an empty page with ""', async () => {
    const paging = await start();
    paging.sim.seed(Array.from({ length: 250 }, (_, i) => ({ extension: String(1000 + i), name: `E${i}` })));
    const sizes: number[] = [];
    const seen: string[] = [];
    let token = '';
    for (let i = 0; i < 4; i++) {
      const res = await call(paging.url, 'GET', `/v1.0/extensions?page_size=100${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
      const items = res.json.result as { extension: string; tm_create: string }[];
      sizes.push(items.length);
      seen.push(...items.map((r) => r.extension));
      if (items.length) {
        // The token is the last item's tm_create in the fixed six-digit form, whatever tm_create shows.
        expect(res.json.next_page_token).toMatch(TOKEN_US);
        expect(Date.parse(res.json.next_page_token)).toBe(Date.parse(items[items.length - 1].tm_create));
      } else expect(res.json.next_page_token).toBe('');
      token = res.json.next_page_token;
    }
    expect(sizes).toEqual([100, 100, 50, 0]);
    expect(new Set(seen).size).toBe(250);
    expect(seen[0]).toBe('1249');
    expect(seen[249]).toBe('1000');
    // Clamped as server/extensions.go does: 0, negative and over 100 all mean 100.
    for (const size of ['500', '0', '-3', '99999999999']) {
      expect((await call(paging.url, 'GET', `/v1.0/extensions?page_size=${size}`)).json.result).toHaveLength(100);
    }
    expect((await call(paging.url, 'GET', '/v1.0/extensions?page_size=7')).json.result).toHaveLength(7);
    for (const size of ['abc', '1.5', '', '99999999999999999999']) {
      const res = await call(paging.url, 'GET', `/v1.0/extensions?page_size=${size}`);
      expect([size, res.status]).toEqual([size, 400]);
      expect(res.json.error).toMatchObject({ status: 'INVALID_ARGUMENT', reason: 'INVALID_REQUEST_PARAMETER' });
    }
  });

  it('renders timestamps as Go does: trailing zeros of the fraction trimmed, no fraction when it is zero', async () => {
    let now = Date.parse('2026-01-15T09:30:00.000Z');
    const clocked = await start({ clock: () => now });
    const [a] = clocked.sim.seed([{ extension: '1', name: 'A' }]);
    expect(a.tm_create).toBe('2026-01-15T09:30:00Z');
    const [b] = clocked.sim.seed([{ extension: '2', name: 'B' }]);
    expect(b.tm_create).toBe('2026-01-15T09:30:00.000001Z');
    now = Date.parse('2026-01-15T09:30:01.250Z');
    const [c] = clocked.sim.seed([{ extension: '3', name: 'C' }]);
    expect(c.tm_create).toBe('2026-01-15T09:30:01.25Z');
    const page = await call(clocked.url, 'GET', '/v1.0/extensions?page_size=3');
    expect(page.json.result.map((r: { tm_create: string }) => r.tm_create)).toEqual([c.tm_create, b.tm_create, a.tm_create]);
    expect(page.json.next_page_token).toBe('2026-01-15T09:30:00.000000Z');
    expect((await call(clocked.url, 'GET', '/v1.0/extensions?page_size=2')).json.next_page_token).toBe('2026-01-15T09:30:00.000001Z');
    expect((await call(clocked.url, 'GET', `/v1.0/extensions?page_token=${encodeURIComponent('2026-01-15T09:30:00.000001Z')}`)).json.result).toHaveLength(1);
  });

  it('renders seed-era answers in legacy mode', async () => {
    const legacy = await start({ legacy: true, customerId: '11111111-2222-4333-8444-555555555555' });
    const rec = (await call(legacy.url, 'POST', '/v1.0/extensions', { extension: '100', name: 'Old' })).json;
    expect(rec.tm_create).toMatch(LEGACY_TS);
    expect(rec).toMatchObject({ tm_update: '', tm_delete: '', customer_id: '11111111-2222-4333-8444-555555555555' });
    expect(rec.domain_name).toBe('11111111-2222-4333-8444-555555555555.registrar.voipbin.net');
    expect(rec.direct_hash).toMatch(/^[0-9a-f]{12}$/);
    const page = await call(legacy.url, 'GET', '/v1.0/extensions');
    expect(page.json.next_page_token).toBe(rec.tm_create);
  });

  it('rate-limits per customer with 429 RATE_LIMIT_EXCEEDED and Retry-After', async () => {
    const limited = await start({ rateLimit: { perSecond: 1, burst: 2 } });
    expect((await call(limited.url, 'GET', '/v1.0/extensions')).status).toBe(200);
    expect((await call(limited.url, 'GET', '/v1.0/extensions')).status).toBe(200);
    const res = await call(limited.url, 'GET', '/v1.0/extensions');
    expect(res.status).toBe(429);
    expect(res.json.error).toMatchObject({ status: 'RESOURCE_EXHAUSTED', reason: 'RATE_LIMIT_EXCEEDED', details: [{ limited_by: 'customer' }] });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it("enforces the real customer limit by default (burst 33, then 429); rateLimit: false turns it off", async () => {
    const real = await start(undefined, true);
    const statuses = await Promise.all(Array.from({ length: 60 }, () => call(real.url, 'GET', '/v1.0/extensions?page_size=1').then((r) => r.status)));
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(33);
    expect(statuses.filter((s) => s === 200).length).toBeLessThan(60); // 60 in far less than the 1.6 s the 27 more need
    expect(statuses).toContain(429);
    const off = await start({ rateLimit: false });
    const free = await Promise.all(Array.from({ length: 40 }, () => call(off.url, 'GET', '/v1.0/extensions?page_size=1').then((r) => r.status)));
    expect(free).toEqual(Array(40).fill(200));
  });
});
