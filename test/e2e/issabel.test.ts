/** Issabel over real HTTP: the JWT session under expiry and concurrency, create without overwrite, the
 * non-atomic comma DELETE, apply-changes once per batch, and ring groups. */
import request from 'supertest';
import { DEMO_USER, FOLLOWME_ON, startIssabelSimulator, type IssabelSimOptions } from '../../adapters/issabel/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'issabel-e2e-api-key-00001';
const auth = { Authorization: `Bearer ${KEY}` };
const running: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function setup(opts: IssabelSimOptions = {}, password = DEMO_USER.password, timeout_ms = 10_000) {
  const { sim, server } = await startIssabelSimulator(opts);
  running.push(server);
  sim.seed([
    { extension: '1000', name: 'Reception', secret: 'Secret-1000' },
    { extension: '1001', name: 'Alice', secret: 'Secret-1001' },
    { extension: '1002', name: 'Bruno', secret: 'Secret-1002' },
    { extension: '1004', name: 'Dana', secret: 'Secret-1004' },
  ]);
  const gateway = buildTestGateway({
    api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    // Not paced: fifty requests at once meeting an expired token is the point of several tests here (test/e2e/pacing.test.ts tests pacing).
    tenants: { hq: { backend: 'issabel', base_url: `${server.url}/pbxapi`, timeout_ms, auth: { user: DEMO_USER.user, password }, pacing: false } },
  });
  return { sim, app: gateway.app, logs: gateway.logs };
}
const ext = '/v1/tenants/hq/extensions';

describe('Issabel tokens', () => {
  it('logs in once and reuses the token', async () => {
    const { sim, app } = await setup();
    for (let i = 0; i < 5; i++) await request(app).get(ext).set(auth).expect(200);
    expect(sim.counters.logins).toBe(1);
    expect(sim.counters.renewals).toBe(0);
  });

  it.each(['status200', 'http500', 'http403'] as const)(
    'renews once and replays when fifty requests meet an expired token (%s), never failing a caller',
    async (expiredStyle) => {
      const { sim, app } = await setup({ expiredStyle });
      await request(app).get(ext).set(auth).expect(200);
      sim.expireAccessTokens();
      const answers = await Promise.all(Array.from({ length: 50 }, () => request(app).get(`${ext}/1001`).set(auth)));
      expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
      expect(sim.counters.renewals).toBe(1);
      expect(sim.counters.logins).toBe(1);
    },
  );

  it('logs in again when the refresh token has expired too', async () => {
    const { sim, app } = await setup();
    await request(app).get(ext).set(auth).expect(200);
    sim.expireAccessTokens();
    sim.expireRefreshTokens();
    await request(app).get(ext).set(auth).expect(200);
    expect(sim.counters.logins).toBe(2);
  });

  it('answers 502 backend-auth-failed for a refused login, without leaking the password', async () => {
    const { app, logs } = await setup({}, 'not-the-issabel-password');
    const res = await request(app).get(ext).set(auth).expect(502);
    expect(res.body.type).toBe('/problems/backend-auth-failed');
    expect(logs() + JSON.stringify(res.body)).not.toContain('not-the-issabel-password');
  });

  it('does not replay a create on an unexplained 500', async () => {
    const { sim, app } = await setup();
    await request(app).get(ext).set(auth).expect(200);
    const before = sim.calls.length;
    running[0].injectFault({ kind: 'status', status: 500, body: '{"status":"error","errors":[{"status":"500","detail":"AMI","verbose":"secret=amipass123"}]}' });
    const res = await request(app).post(ext).set(auth).send({ name: 'Once' }).expect(502);
    expect(JSON.stringify(res.body)).not.toContain('amipass123');
    // The faulted POST was answered by the fault; the gateway only looked (is the PBX empty?), and sent nothing again.
    expect(sim.calls.slice(before).filter((c) => c.method !== 'GET')).toEqual([]);
  });

  it('does not renew and replay an update after a 500 that is not about the token (a debug page naming JWT)', async () => {
    const { sim, app } = await setup();
    await request(app).get(ext).set(auth).expect(200);
    const before = sim.calls.length;
    const page = "<h1>Internal Server Error</h1><pre>'Authorization'=>'Bearer eyJ...','JWT_KEY'=>'k','MGRPASS'=>'amipass123'</pre>";
    // Skip one request (the read before the update): the PUT gets the error page.
    running[0].injectFault({ kind: 'status', status: 500, body: page, headers: { 'content-type': 'text/html' } }, 1);
    const res = await request(app).patch(`${ext}/1001`).set(auth).send({ name: 'Half' }).expect(502);
    expect(JSON.stringify(res.body)).not.toContain('amipass123');
    const after = sim.calls.slice(before);
    expect(after.filter((c) => c.method === 'PUT')).toEqual([]); // the faulted PUT never reached the simulator: not re-sent
    expect(sim.counters.renewals).toBe(0);
  });
});

describe('Issabel lists', () => {
  it('a list larger than the single-answer cap (1 MiB) is read under the list cap', async () => {
    const { sim, app } = await setup();
    sim.seed(Array.from({ length: 9000 }, (_, i) => ({ extension: String(20000 + i), name: `Bulk extension number ${i}`, secret: `Bulk-Secret-${i}-0123456789` })));
    const res = await request(app).get(`${ext}?page_size=500`).set(auth).expect(200);
    expect(res.body.items).toHaveLength(500);
  });
});

describe('Issabel errors carry none of its text', () => {
  it('a database error is read by its SQLSTATE, not its status (pbxapi maps them the wrong way round), and its SQL never passes', async () => {
    const { app } = await setup();
    await request(app).get(ext).set(auth).expect(200);
    const sql = (status: string, msg: string) => JSON.stringify({ status: 'fail', errors: [{ status, detail: msg, code: '23000' }] });
    // Skip the existence read; the PUT-create gets the database's answer.
    running[0].injectFault({ kind: 'status', status: 400, body: sql('400', "SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry '2100' for key 'PRIMARY' (SELECT secret FROM sip)") }, 1);
    const dup = await request(app).post(ext).set(auth).send({ extension: '2100', name: 'x' }).expect(409);
    running[0].injectFault({ kind: 'status', status: 409, body: sql('409', 'SQLSTATE[HY000]: General error: 2006 MySQL server has gone away (password=dbsecret)') }, 1);
    const gone = await request(app).post(ext).set(auth).send({ extension: '2101', name: 'x' }).expect(502);
    running[0].injectFault({ kind: 'status', status: 422, body: JSON.stringify({ status: 'fail', errors: [{ status: '422', source: 'secret', detail: 'Only digits allowed <script>x</script>' }] }) }, 1);
    const odd = await request(app).post(ext).set(auth).send({ extension: '2102', name: 'x' }).expect(422);
    expect(odd.body.errors).toEqual([{ pointer: '/password', detail: 'refused by the backend' }]);
    for (const body of [dup.body, gone.body, odd.body]) expect(JSON.stringify(body)).not.toMatch(/SQLSTATE|Duplicate|sip|dbsecret|script/);
  });
});

describe('Issabel writes', () => {
  it('picks the next free number (the first gap above the lowest) when none is given', async () => {
    const { app } = await setup();
    const res = await request(app).post(ext).set(auth).send({ name: 'New', password: 'Given-Secret-1' }).expect(201);
    expect(res.body).toMatchObject({ id: '1003', extension: '1003', username: '1003', name: 'New', password: 'Given-Secret-1', description: null });
    expect(res.headers.location).toBe('/v1/tenants/hq/extensions/1003');
  });

  it('answers 409 for a taken number instead of letting PUT overwrite it', async () => {
    const { sim, app } = await setup();
    const res = await request(app).post(ext).set(auth).send({ extension: '1001', name: 'Intruder', password: 'Other-Secret-1' }).expect(409);
    expect(res.body.errors).toEqual([{ pointer: '/extension', detail: 'already exists' }]);
    expect(sim.raw('1001')).toMatchObject({ name: 'Alice', secret: 'Secret-1001' });
    expect(sim.calls.some((c) => c.method === 'PUT')).toBe(false);
  });

  it('creates at a given free number', async () => {
    const { sim, app } = await setup();
    await request(app).post(ext).set(auth).send({ extension: '2000', name: 'Given' }).expect(201);
    expect(sim.has('2000')).toBe(true);
  });

  it('refuses a description with 422 and its pointer, and a non-digit number', async () => {
    const { app } = await setup();
    const res = await request(app).post(ext).set(auth).send({ extension: '2001', name: 'x', description: 'not storable' }).expect(422);
    expect(res.body.errors).toEqual([{ pointer: '/description', detail: "backend 'issabel' cannot store this field" }]);
    const bad = await request(app).post(ext).set(auth).send({ extension: 'abc', name: 'x' }).expect(422);
    expect(bad.body.errors[0].pointer).toBe('/extension');
  });

  it('PATCH changes only the fields sent, and a missing number is 404 (not a create)', async () => {
    const { sim, app } = await setup();
    await request(app).patch(`${ext}/1002`).set(auth).send({ name: 'Bruno C.' }).expect(200);
    expect(sim.raw('1002')).toMatchObject({ name: 'Bruno C.', secret: 'Secret-1002' });
    await request(app).patch(`${ext}/1999`).set(auth).send({ name: 'Ghost' }).expect(404);
    expect(sim.has('1999')).toBe(false);
  });

  it('maps all-string answers: the full view carries typed vendor fields without secrets', async () => {
    const { app } = await setup();
    const res = await request(app).get(`${ext}/1001?view=full`).set(auth).expect(200);
    expect(res.body).toMatchObject({ extension: '1001', username: '1001', domain: '127.0.0.1', description: null });
    expect(JSON.stringify(res.body)).not.toContain('Secret-1001');
    const devices = await request(app).get(`${ext}/1001/devices?include=password`).set(auth).expect(200);
    expect(devices.body.items).toEqual([{ id: '1001', name: 'SIP/1001', username: '1001', technology: 'sip', password: 'Secret-1001' }]);
  });
});

/** Alice as the GUI left her: settings pbxapi's update path would reset. */
const RICH = { callerid_override: { emergency: '5550000911' }, followme: FOLLOWME_ON('1001'), dictation: { enabled: 'yes', email: 'a@example.com', format: 'ogg' } };

describe('Issabel updates change only what the caller asked', () => {
  async function rich() {
    const s = await setup();
    s.sim.seed([{ extension: '1001', name: 'Alice', secret: 'Secret-1001', settings: RICH }]);
    return s;
  }
  const vendor = async (app: Parameters<typeof request>[0], n: string) => (await request(app).get(`${ext}/${n}?view=full`).set(auth).expect(200)).body.vendor;

  it('a rename or a password change keeps Follow-Me, dictation and the emergency caller id', async () => {
    const { sim, app } = await rich();
    const before = await vendor(app, '1001');
    await request(app).patch(`${ext}/1001`).set(auth).send({ name: 'Alice M.' }).expect(200);
    expect(await vendor(app, '1001')).toEqual({ ...before, name: 'Alice M.' });
    await request(app).patch(`${ext}/1001`).set(auth).send({ password: 'New-Secret-1001' }).expect(200);
    expect(await vendor(app, '1001')).toEqual({ ...before, name: 'Alice M.' });
    expect(sim.raw('1001')).toMatchObject({ secret: 'New-Secret-1001', followme: { enabled: 'yes', strategy: 'ringallv2-prim' }, dictation: { enabled: 'yes' } });
  });

  it('refuses (409, nothing written) an update that would lose a setting pbxapi cannot carry, naming it; accept_loss goes ahead', async () => {
    const { sim, app } = await setup();
    sim.seed([{ extension: '1001', name: 'Alice', settings: { device_options: { rtcp_mux: 'yes' } } }]);
    const puts = () => sim.calls.filter((c) => c.method === 'PUT').length;
    const res = await request(app).patch(`${ext}/1001`).set(auth).send({ name: 'Alice M.' }).expect(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: '/problems/settings-would-be-lost', backend: 'issabel', lost: [{ setting: 'device_options.rtcp_mux', detail: expect.any(String) }] });
    expect(res.body.errors).toEqual([{ pointer: '/query/accept_loss', detail: expect.stringContaining('device_options.rtcp_mux') }]);
    expect(puts()).toBe(0);
    expect(sim.raw('1001')).toMatchObject({ name: 'Alice', device_options: { rtcp_mux: 'yes' } });
    // Another name does not accept it; the setting's name, or its group, does.
    await request(app).patch(`${ext}/1001?accept_loss=followme`).set(auth).send({ name: 'Alice M.' }).expect(409);
    await request(app).patch(`${ext}/1001?accept_loss=device_options`).set(auth).send({ name: 'Alice M.' }).expect(200);
    expect(sim.raw('1001')).toMatchObject({ name: 'Alice M.' });
    expect((sim.raw('1001')!.device_options as Record<string, unknown>).rtcp_mux).toBeUndefined();
    await request(app).patch(`${ext}/1001?accept_loss=bad%20name`).set(auth).send({ name: 'x' }).expect(400);
  });

  it('names a disabled Follow-Me, leftover dictation and a non-digit emergency caller id as losses', async () => {
    const { sim, app } = await setup();
    sim.seed([{ extension: '1001', name: 'Alice', settings: {
      callerid_override: { emergency: '+1 555 0100' }, followme: { ...FOLLOWME_ON('1001'), enabled: 'no' }, dictation: { enabled: 'no', email: 'a@example.com', format: 'wav' },
    } }]);
    const res = await request(app).patch(`${ext}/1001`).set(auth).send({ password: 'Other-Secret-1' }).expect(409);
    expect(res.body.lost.map((l: { setting: string }) => l.setting).sort()).toEqual(['callerid_override.emergency', 'dictation', 'followme']);
    expect(sim.calls.some((c) => c.method === 'PUT')).toBe(false);
  });

  it('an import that updates keeps the settings, and its one apply-changes rewrites nothing', async () => {
    const { sim, app } = await rich();
    const before = await vendor(app, '1001');
    const reloads = sim.counters.reloads;
    const csv = 'extension,name\n1001,Alice Import\n1002,Bruno Import\n';
    const res = await request(app).post(`${ext}/import?dry_run=false&on_conflict=update`).set(auth).set('content-type', 'text/csv').send(csv).expect(200);
    expect(res.body.outcome).toEqual({ done: 2, failed: 0, skipped: 0 });
    expect(sim.counters.reloads - reloads).toBe(1);
    expect(await vendor(app, '1001')).toEqual({ ...before, name: 'Alice Import' });
  });
});

describe('Issabel numbers stay unique across kinds', () => {
  const rg = '/v1/tenants/hq/ring-groups';

  it('a ring group created without a number gets one no extension uses (pbxapi would pick from ring groups alone)', async () => {
    const { sim, app } = await setup();
    sim.seedRingGroups([{ extension: '1003', name: 'Ops', extension_list: ['1000'] }]);
    // pbxapi's own pick would be 1004, Dana's number; the gateway walks on to the first number free in both.
    const res = await request(app).post(rg).set(auth).send({ name: 'Sales', members: ['1001'] }).expect(201);
    expect(res.body.extension).toBe('1005');
    expect(sim.has('1004')).toBe(true);
  });

  it('the first ring group gets 600 unless an extension holds it', async () => {
    const { sim, app } = await setup();
    sim.seed([{ extension: '600', name: 'Lobby' }]);
    const res = await request(app).post(rg).set(auth).send({ name: 'Sales', members: ['1001'] }).expect(201);
    expect(res.body.extension).toBe('601');
  });

  it("an auto-numbered extension whose pbxapi pick is a ring group's number gets the next number free in both", async () => {
    const { sim, app } = await setup();
    sim.seedRingGroups([{ extension: '1003', name: 'Ops', extension_list: ['1000'] }]);
    const res = await request(app).post(ext).set(auth).send({ name: 'New' }).expect(201);
    expect(res.body.extension).toBe('1005');
    expect(sim.has('1003')).toBe(false);
  });

  it('an auto-numbered create on a PBX with no extension is a clear 422, and nothing is created', async () => {
    const { sim, server } = await startIssabelSimulator();
    running.push(server);
    const gateway = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { hq: { backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: { ...DEMO_USER } } },
    });
    const res = await request(gateway.app).post(ext).set(auth).send({ name: 'First' }).expect(422);
    expect(res.body.errors).toEqual([{ pointer: '/extension', detail: expect.any(String) }]);
    expect(JSON.stringify(res.body)).not.toMatch(/SQLSTATE|MGRPASS|sim-ami-secret/);
    await request(gateway.app).post(ext).set(auth).send({ extension: '100', name: 'First' }).expect(201);
    expect(sim.has('100')).toBe(true);
  });

  it('a tenant can have new extensions made as PJSIP devices, and says so in its capabilities', async () => {
    const { sim, server } = await startIssabelSimulator();
    running.push(server);
    const gateway = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { hq: { backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: { ...DEMO_USER }, tech: 'pjsip' } },
    });
    const t = await request(gateway.app).get('/v1/tenants/hq').set(auth).expect(200);
    expect(t.body.capabilities.device_technology).toBe('pjsip');
    await request(gateway.app).post(ext).set(auth).send({ extension: '100', name: 'First' }).expect(201);
    expect(sim.raw('100')).toMatchObject({ tech: 'pjsip', dial: 'PJSIP/100' });
  });
});

describe('Issabel batch delete', () => {
  it('sends one comma DELETE of the numbers that exist, reads back, and reports each id truthfully', async () => {
    const { sim, app } = await setup();
    const reloadsBefore = sim.counters.reloads;
    const res = await request(app).delete(`${ext}?ids=1000,1003,1001,abc,1004`).set(auth).expect(200);
    expect(res.body.results).toEqual([
      { id: '1000', status: 'deleted' },
      { id: '1003', status: 'not_found' },
      { id: '1001', status: 'deleted' },
      { id: 'abc', status: 'not_found' },
      { id: '1004', status: 'deleted' },
    ]);
    const deletes = sim.calls.filter((c) => c.method === 'DELETE');
    expect(deletes).toEqual([{ method: 'DELETE', path: '/pbxapi/extensions/1000,1001,1004' }]);
    expect(sim.counters.reloads - reloadsBefore).toBe(1);
    expect(['1000', '1001', '1004'].map((n) => sim.has(n))).toEqual([false, false, false]);
    expect(sim.has('1002')).toBe(true);
  });

  it('reports failed, not deleted, for numbers still there when the DELETE fails', async () => {
    const { sim, app } = await setup({}, DEMO_USER.password, 300);
    await request(app).get(ext).set(auth).expect(200);
    // The next request is the read before the delete; the one after it, the DELETE, never gets an answer.
    running[0].injectFault({ kind: 'hang' }, 1);
    const res = await request(app).delete(`${ext}?ids=1000`).set(auth).expect(200);
    expect(res.body.results).toEqual([{ id: '1000', status: 'failed', error: expect.objectContaining({ status: 504 }) }]);
    expect(sim.has('1000')).toBe(true);
  }, 20_000);

  it('runs apply-changes when the DELETE failed part-way, through a write that changes nothing', async () => {
    const { sim, app } = await setup();
    sim.seedRingGroups([{ extension: '600', name: 'Sales', extension_list: ['1000'] }]);
    const group = sim.rawRingGroup('600');
    // A database error at 1002: pbxapi has deleted 1000 and 1001 and dies before apply-changes.
    sim.failNextDeleteAt('1002');
    const reloads = sim.counters.reloads;
    const res = await request(app).delete(`${ext}?ids=1000,1001,1002`).set(auth).expect(200);
    expect(res.body.results).toEqual([
      { id: '1000', status: 'deleted' },
      { id: '1001', status: 'deleted' },
      { id: '1002', status: 'failed', error: expect.objectContaining({ status: 502 }) },
    ]);
    expect(JSON.stringify(res.body)).not.toContain('SQLSTATE');
    expect(sim.counters.reloads - reloads).toBe(1); // the gateway's: an empty ring-group PUT
    expect(sim.calls.filter((c) => c.method === 'PUT')).toEqual([{ method: 'PUT', path: '/pbxapi/ringgroups/600' }]);
    expect(sim.rawRingGroup('600')).toEqual(group);
  });
});

describe('Issabel ring groups', () => {
  it('creates, reads, updates and deletes a ring group, validated before any backend call', async () => {
    const { sim, app } = await setup();
    const rg = '/v1/tenants/hq/ring-groups';
    const before = sim.calls.length;
    const bad = await request(app).post(rg).set(auth).send({ name: 'Bad', strategy: 'random', ring_time: 301, members: [] }).expect(400);
    expect(bad.body.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['/members', '/ring_time', '/strategy']);
    expect(sim.calls.length).toBe(before);

    const created = await request(app).post(rg).set(auth).send({ name: 'Sales', members: ['1001', '1002'], strategy: 'hunt', ring_time: 25 }).expect(201);
    expect(created.body).toMatchObject({ name: 'Sales', members: ['1001', '1002'], strategy: 'hunt', ring_time: 25 });
    const id = created.body.id as string;
    expect(created.headers.location).toBe(`${rg}/${id}`);

    const patched = await request(app).patch(`${rg}/${id}`).set(auth).send({ members: ['1000'] }).expect(200);
    expect(patched.body).toMatchObject({ name: 'Sales', strategy: 'hunt', ring_time: 25, members: ['1000'] });
    const list = await request(app).get(rg).set(auth).expect(200);
    expect(list.body.items.map((g: { id: string }) => g.id)).toContain(id);
    const full = await request(app).get(`${rg}/${id}?view=full`).set(auth).expect(200);
    expect(full.body.vendor).toMatchObject({ destination_if_no_answer: expect.any(String) });

    await request(app).post(rg).set(auth).send({ extension: id, name: 'Dup', members: ['1000'] }).expect(409);
    await request(app).delete(`${rg}/${id}`).set(auth).expect(204);
    await request(app).get(`${rg}/${id}`).set(auth).expect(404);
    await request(app).patch(`${rg}/${id}`).set(auth).send({ name: 'x' }).expect(404);
  });

  it('answers 501 for ring groups on a backend without them', async () => {
    const gateway = buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
      tenants: { cloud: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', auth: { accesskey: 'vb_unused' } } },
    });
    const res = await request(gateway.app).get('/v1/tenants/cloud/ring-groups').set(auth).expect(501);
    expect(res.body).toMatchObject({ backend: 'voipbin', capability: 'ring_groups' });
  });
});
