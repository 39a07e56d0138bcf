/** Across PBXes over the simulators: the directory, export and import, and migrations in every direction. */
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator, type IssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator, type VitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'across-pbx-test-key-00001';
const LIMITED = 'across-limited-key-000001';
const auth = { Authorization: `Bearer ${KEY}` };
let cloud: { sim: VoipbinSimulator; server: RunningSimulator };
let box: { sim: IssabelSimulator; server: RunningSimulator };
let vital: { sim: VitalpbxSimulator; server: RunningSimulator };
let gw: ReturnType<typeof buildTestGateway>;

beforeEach(async () => {
  [cloud, box, vital] = await Promise.all([startVoipbinSimulator(), startIssabelSimulator(), startVitalpbxSimulator()]);
  gw = buildTestGateway({
    api_keys: [
      { id: 'admin', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } },
      { id: 'limited', key: LIMITED, tenants: ['box'] },
    ],
    tenants: {
      cloud: { backend: 'voipbin', base_url: `${cloud.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } },
      // Not paced: the import of 1,000 rows (2,000 calls) is the point, and at Issabel's default 10/s it takes 200 s.
      box: { backend: 'issabel', base_url: `${box.server.url}/pbxapi`, auth: DEMO_USER, pacing: false },
      vital: { backend: 'vitalpbx', base_url: `${vital.server.url}/api/v2`, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
      broken: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', timeout_ms: 300, auth: { accesskey: DEMO_ACCESSKEY } },
    },
    // A budget the 1,000-row import fits on a loaded machine too: with `async=false` it stays in its request
    // (these tests are about the answer inline; imports that go on as jobs are test/e2e/jobs.test.ts's).
  }, { requestBudgetMs: 60_000 });
});
afterEach(() => Promise.all([cloud.server.close(), box.server.close(), vital.server.close()]));

const api = () => request(gw.app);
async function waitFor(id: string, statuses = ['done', 'failed']) {
  for (let i = 0; i < 400; i++) {
    const res = await api().get(`/v1/migrations/${id}`).set(auth).expect(200);
    if (statuses.includes(res.body.status)) return res.body;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('migration did not finish');
}

describe('directory', () => {
  it('searches every visible tenant, lists a failing one as unavailable, pages, and respects the key', async () => {
    cloud.sim.seed([{ extension: '100', name: 'Alice Cloud' }, { extension: '101', name: 'Bob' }]);
    box.sim.seed([{ extension: '1000', name: 'Alice Box' }, { extension: '1001', name: 'Carol' }]);
    vital.sim.seed('vitalpbx', [{ extension: '200', name: 'Alice Vital' }]);
    const res = await api().get('/v1/extensions?q=alice').set(auth).expect(200);
    expect(res.body.items.map((e: { tenant: string; name: string }) => `${e.tenant}:${e.name}`)).toEqual(['box:Alice Box', 'cloud:Alice Cloud', 'vital:Alice Vital']);
    expect(res.body.unavailable).toEqual([{ tenant: 'broken', backend: 'voipbin', problem: expect.objectContaining({ type: '/problems/backend-unavailable' }) }]);
    const p1 = await api().get('/v1/extensions?q=alice&page_size=2').set(auth).expect(200);
    const p2 = await api().get(`/v1/extensions?q=alice&page_size=2&page_token=${p1.body.next_page_token}`).set(auth).expect(200);
    expect([...p1.body.items, ...p2.body.items].map((e: { name: string }) => e.name)).toEqual(['Alice Box', 'Alice Cloud', 'Alice Vital']);
    expect(p2.body.next_page_token).toBeNull();
    await api().get(`/v1/extensions?q=bob&page_token=${p1.body.next_page_token}`).set(auth).expect(400);
    const byBackend = await api().get('/v1/extensions?backend=issabel').set(auth).expect(200);
    expect(byBackend.body.items.map((e: { extension: string }) => e.extension)).toEqual(['1000', '1001']);
    const limited = await api().get('/v1/extensions?q=alice').set({ Authorization: `Bearer ${LIMITED}` }).expect(200);
    expect(limited.body.items.map((e: { tenant: string }) => e.tenant)).toEqual(['box']);
    expect(limited.body.unavailable).toEqual([]);
  });
});

describe('directory snapshots', () => {
  it('walks each tenant once for a search and the searches right after it', async () => {
    cloud.sim.seed(Array.from({ length: 150 }, (_, i) => ({ extension: String(7000 + i), name: `Walked ${i}` })));
    const before = cloud.sim.calls.length;
    const first = await api().get('/v1/extensions?tenant=cloud&q=walked&page_size=100').set(auth).expect(200);
    const walk = cloud.sim.calls.length - before;
    expect(walk).toBeGreaterThanOrEqual(2);
    await api().get(`/v1/extensions?tenant=cloud&q=walked&page_size=100&page_token=${first.body.next_page_token}`).set(auth).expect(200);
    await api().get('/v1/extensions?tenant=cloud&q=walked 1').set(auth).expect(200);
    expect(cloud.sim.calls.length - before).toBe(walk);
  });
});

describe('export and import', () => {
  it('exports 1,000 extensions as NDJSON and CSV, passwords only when asked with the secrets scope', async () => {
    cloud.sim.seed(Array.from({ length: 1000 }, (_, i) => ({ extension: String(5000 + i), name: `User ${i}`, password: `Pass-${i}-secret` })));
    const nd = await api().get('/v1/tenants/cloud/extensions/export?format=ndjson').set(auth).expect(200);
    expect(nd.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = nd.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1000);
    expect(new Set(lines.map((l) => l.extension)).size).toBe(1000);
    expect(nd.text).not.toContain('Pass-1-secret');
    const csv = await api().get('/v1/tenants/cloud/extensions/export?format=csv&include=password').set(auth).expect(200);
    const rows = csv.text.trim().split('\r\n');
    expect(rows[0]).toBe('id,extension,name,description,username,domain,direct_uri,created_at,updated_at,password');
    expect(rows).toHaveLength(1001);
    expect(csv.text).toContain('Pass-1-secret');
    await api().get('/v1/tenants/box/extensions/export?include=password').set({ Authorization: `Bearer ${LIMITED}` }).expect(403);
  });

  it('imports 1,000 rows of CSV: a dry run changes nothing, the real run reloads the PBX once, a re-run creates nothing twice', async () => {
    const csv = 'extension,name,password\n' + Array.from({ length: 1000 }, (_, i) => `${2000 + i},Imported ${i},Import-Pass-${i}`).join('\n');
    const dry = await api().post('/v1/tenants/box/extensions/import').set(auth).set('content-type', 'text/csv').send(csv).expect(200);
    expect(dry.body.summary).toEqual({ create: 1000, update: 0, skip: 0, conflict: 0, invalid: 0 });
    expect(box.sim.has('2000')).toBe(false);
    const reloads = box.sim.counters.reloads;
    const run = await api().post('/v1/tenants/box/extensions/import?dry_run=false&async=false').set(auth).set('content-type', 'text/csv').send(csv).expect(200);
    expect(run.body.outcome).toEqual({ done: 1000, failed: 0, skipped: 0 });
    expect(box.sim.counters.reloads - reloads).toBe(1);
    expect(box.sim.raw('2999')).toMatchObject({ name: 'Imported 999', secret: 'Import-Pass-999' });
    const again = await api().post('/v1/tenants/box/extensions/import?dry_run=false&on_conflict=skip&async=false').set(auth).set('content-type', 'text/csv').send(csv).expect(200);
    expect(again.body.outcome).toEqual({ done: 0, failed: 0, skipped: 1000 });
  }, 60_000);

  it('plans updates with a field diff, conflicts, and invalid rows with their reason', async () => {
    box.sim.seed([{ extension: '1000', name: 'Old Name', secret: 'Same-Secret-1' }]);
    const nd = [
      { extension: '1000', name: 'New Name', password: 'Same-Secret-1' },
      { extension: '1001', name: 'Fresh' },
      { extension: 'x y', name: 'Bad' },
      { name: 'No number' },
      { extension: '1001', name: 'Twice' },
      { extension: '1002', name: 'Described', description: 'Issabel cannot keep this' },
    ].map((o) => JSON.stringify(o)).join('\n');
    const plan = await api().post('/v1/tenants/box/extensions/import?on_conflict=update').set(auth).set('content-type', 'application/x-ndjson').send(nd).expect(200);
    expect(plan.body.items.map((i: { action: string }) => i.action)).toEqual(['update', 'create', 'invalid', 'invalid', 'invalid', 'create']);
    expect(plan.body.items[0].changes).toEqual({ name: { from: 'Old Name', to: 'New Name' } });
    expect(plan.body.items[2].reason).toMatch(/extension/);
    expect(plan.body.items[5].lossy).toEqual(['description']);
    const fail = await api().post('/v1/tenants/box/extensions/import?on_conflict=fail').set(auth).set('content-type', 'application/x-ndjson').send(nd).expect(200);
    expect(fail.body.items[0]).toMatchObject({ action: 'conflict', target_id: '1000' });
    const refused = await api().post('/v1/tenants/box/extensions/import?dry_run=false&on_conflict=update').set(auth).set('content-type', 'application/x-ndjson').send(nd).expect(422);
    expect(refused.body.detail).toMatch(/description/);
    expect(box.sim.raw('1000')).toMatchObject({ name: 'Old Name' });
    const applied = await api().post('/v1/tenants/box/extensions/import?dry_run=false&on_conflict=update&accept_loss=description&async=false').set(auth).set('content-type', 'application/x-ndjson').send(nd).expect(200);
    expect(applied.body.outcome).toEqual({ done: 3, failed: 0, skipped: 3 });
    expect(box.sim.raw('1000')).toMatchObject({ name: 'New Name' });
    await api().post('/v1/tenants/vital/extensions/import').set(auth).set('content-type', 'text/csv').send('extension,name\n1,x').expect(501);
  });
});

describe('migrations', () => {
  it('Issabel to VoIPBIN: plans, applies in the background, keeps passwords, verifies', async () => {
    box.sim.seed([{ extension: '1000', name: 'Reception', secret: 'Box-Secret-1000' }, { extension: '1001', name: 'Alice', secret: 'Box-Secret-1001' }]);
    const dry = await api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'cloud' }).expect(200);
    expect(dry.body).toMatchObject({ dry_run: true, summary: { create: 2 } });
    const started = await api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'cloud', dry_run: false }).expect(202);
    expect(started.headers.location).toBe(`/v1/migrations/${started.body.id}`);
    const done = await waitFor(started.body.id);
    expect(done).toMatchObject({ status: 'done', progress: { total: 2, done: 2, failed: 0 } });
    const list = await api().get('/v1/tenants/cloud/extensions?include=password').set(auth).expect(200);
    expect(list.body.items.map((e: { extension: string; password: string }) => [e.extension, e.password]).sort()).toEqual([
      ['1000', 'Box-Secret-1000'],
      ['1001', 'Box-Secret-1001'],
    ]);
  });

  it('VoIPBIN to Issabel: the description is lossy and refused until accepted by name; conflicts each way', async () => {
    cloud.sim.seed([{ extension: '3000', name: 'Cloud A', detail: 'kept only in the cloud' }, { extension: '3001', name: 'Cloud B' }]);
    box.sim.seed([{ extension: '3001', name: 'Already here' }]);
    const plan = await api().post('/v1/migrations').set(auth).send({ from: 'cloud', to: 'box' }).expect(200);
    expect(plan.body.items).toEqual([
      expect.objectContaining({ extension: '3001', action: 'conflict', target_id: '3001' }),
      expect.objectContaining({ extension: '3000', action: 'create', lossy: ['description'] }),
    ]);
    const refused = await api().post('/v1/migrations').set(auth).send({ from: 'cloud', to: 'box', dry_run: false }).expect(422);
    expect(refused.body.errors).toEqual([{ pointer: '/accept_loss', detail: 'description would be lost' }]);
    expect(box.sim.has('3000')).toBe(false);
    const run = await api().post('/v1/migrations').set(auth).send({ from: 'cloud', to: 'box', dry_run: false, accept_loss: ['description'], on_conflict: 'update' }).expect(202);
    const done = await waitFor(run.body.id);
    expect(done.progress).toMatchObject({ done: 2, failed: 0 });
    expect(box.sim.raw('3001')).toMatchObject({ name: 'Cloud B' });
    // And back: the cloud already has both numbers now? No: back from the box into the cloud, 3000 conflicts.
    const back = await api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'cloud', select: { extensions: ['3000'] } }).expect(200);
    expect(back.body.items).toEqual([expect.objectContaining({ extension: '3000', action: 'conflict' })]);
  });

  it('VitalPBX to either: a read-only source works; a read-only target is refused at plan time', async () => {
    vital.sim.seed('vitalpbx', [{ extension: '400', name: 'Vital One', secret: 'Vital-Secret-400' }, { extension: '401', name: 'Vital Two' }]);
    for (const to of ['cloud', 'box']) {
      const run = await api().post('/v1/migrations').set(auth).send({ from: 'vital', to, dry_run: false, select: { range: { from: '400', to: '400' } } }).expect(202);
      expect((await waitFor(run.body.id)).progress).toMatchObject({ total: 1, done: 1 });
    }
    expect(box.sim.raw('400')).toMatchObject({ name: 'Vital One', secret: 'Vital-Secret-400' });
    const refused = await api().post('/v1/migrations').set(auth).send({ from: 'box', to: 'vital' }).expect(501);
    expect(refused.body).toMatchObject({ backend: 'vitalpbx', capability: 'extensions.create' });
  });

  it('needs the secrets scope to copy passwords, and access to both tenants', async () => {
    const limited = { Authorization: `Bearer ${LIMITED}` };
    await api().post('/v1/migrations').set(limited).send({ from: 'box', to: 'cloud', passwords: 'generate' }).expect(403);
  });
});
