/**
 * Desired state over the three simulators: export then plan is "no changes" for each vendor; plans of a new, a
 * changed and a drifted tenant; prune with and without allowance; a stale plan refused; lossy fields refused and
 * accepted; ring groups and their members ordered; an apply resumed after a backend fault; the access rules.
 */
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import type { DesiredState, DesiredStatePlan } from '../../schemas/types';
import { buildTestGateway } from '../helpers';

const KEY = 'desired-state-key-00000001';
const READER = 'desired-state-reader-00001';
const WRITER = 'desired-state-writer-00001';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Job {
  id: string;
  tenant: string;
  status: string;
  results: { row: number; kind: string; extension: string; action: string; status: string; error?: { type: string } }[];
  progress: { done: number; failed: number; not_done: number; total: number };
}

async function setup(opts: { issabelDemo?: boolean } = {}) {
  const box = await startIssabelSimulator();
  if (opts.issabelDemo ?? true) box.sim.seedDemo();
  const cloud = await startVoipbinSimulator({ rateLimit: false });
  cloud.sim.seedDemo();
  const vital = await startVitalpbxSimulator();
  vital.sim.seedDemo();
  servers.push(box.server, cloud.server, vital.server);
  const gw = buildTestGateway({
    api_keys: [
      { id: 'ops', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } },
      { id: 'ci', key: READER, tenants: ['*'], scopes: ['read'] },
      { id: 'writer', key: WRITER, tenants: ['box'], scopes: ['read', 'write'] },
    ],
    tenants: {
      box: { backend: 'issabel', base_url: `${box.server.url}/pbxapi`, auth: DEMO_USER, pacing: false, resilience: { retries: 0, breaker_failures: 1000 } },
      cloud: { backend: 'voipbin', base_url: `${cloud.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false },
      vital: { backend: 'vitalpbx', base_url: `${vital.server.url}/api/v2`, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' }, pacing: false },
    },
  }, { requestBudgetMs: 15_000 });
  const api = () => request(gw.app);
  const plan = async (file: DesiredState) => (await api().post('/v1/desired-state/plan').set(auth).send(file).expect(200)).body as DesiredStatePlan;
  const exported = async (tenant: string) => (await api().get(`/v1/tenants/${tenant}/desired-state`).set(auth).expect(200)).body as DesiredState;
  const apply = (file: DesiredState, q: Record<string, string>) => api().post(`/v1/desired-state/apply?${new URLSearchParams(q)}`).set(auth).send(file);
  const finished = async (id: string): Promise<Job> => {
    for (let i = 0; i < 300; i++) {
      const job = (await api().get(`/v1/jobs/${id}`).set(auth).expect(200)).body as Job;
      if (job.status !== 'running') return job;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`job ${id} did not finish`);
  };
  return { box, cloud, vital, gw, api, plan, exported, apply, finished };
}

const itemsOf = (plan: DesiredStatePlan, tenant: string) => plan.tenants.find((t) => t.tenant === tenant)!.items;
const byNumber = (plan: DesiredStatePlan, tenant: string, n: string, kind = 'extension') => itemsOf(plan, tenant).find((i) => i.extension === n && i.kind === kind);

it('exports each vendor as a file that plans to no changes, in one file naming all three', async () => {
  const s = await setup();
  const file: DesiredState = { version: 1, tenants: {} };
  for (const t of ['box', 'cloud', 'vital']) Object.assign(file.tenants, (await s.exported(t)).tenants);
  expect(file.tenants.box!.ring_groups!.map((g) => g.extension)).toEqual(['600', '601']);
  expect(file.tenants.cloud!.ring_groups).toBeUndefined();
  const plan = await s.plan(file);
  expect(plan).toMatchObject({ changes: false, valid: true });
  for (const t of plan.tenants) expect(t.summary).toMatchObject({ create: 0, update: 0, delete: 0, lossy: 0, invalid: 0 });
  expect(plan.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  // The same plan again reads the same things: the same fingerprint.
  expect((await s.plan(file)).fingerprint).toBe(plan.fingerprint);
  const drift = (await s.api().post('/v1/desired-state/drift').set(auth).send(file).expect(200)).body;
  expect(drift.drifted).toBe(false);
});

it('plans one extension list against each vendor: what each can hold', async () => {
  const s = await setup();
  const list = [{ extension: '2001', name: 'New Desk', description: 'Lobby' }];
  const plan = await s.plan({ tenants: { box: { extensions: list }, cloud: { extensions: list }, vital: { extensions: list } } });
  expect(byNumber(plan, 'cloud', '2001')).toMatchObject({ action: 'create' });
  expect(byNumber(plan, 'box', '2001')).toMatchObject({ action: 'lossy', then: 'create', lossy: ['description'] });
  expect(byNumber(plan, 'vital', '2001')).toMatchObject({ action: 'invalid', reason: expect.stringContaining('cannot create') });
  expect(plan.valid).toBe(false);
});

it('plans a new tenant (all creates), a changed file (updates with the diff) and a drifted PBX', async () => {
  const s = await setup({ issabelDemo: false });
  const file: DesiredState = { tenants: { box: { extensions: [{ extension: '300', name: 'Ann' }, { extension: '301', name: 'Ben', password: 'Ben-Secret-301' }] } } };
  const fresh = await s.plan(file);
  expect(itemsOf(fresh, 'box').map((i) => [i.extension, i.action])).toEqual([['300', 'create'], ['301', 'create']]);
  const started = await s.apply(file, { fingerprint: fresh.fingerprint }).expect(202);
  expect((await s.finished(started.body.jobs[0].id)).status).toBe('done');
  expect(s.box.sim.raw('301')).toMatchObject({ name: 'Ben', secret: 'Ben-Secret-301' });

  // The file changes: a rename and a new password; the password shows only as changed.
  const changed = await s.plan({ tenants: { box: { extensions: [{ extension: '300', name: 'Ann Lee' }, { extension: '301', name: 'Ben', password: 'Ben-Secret-302' }] } } });
  expect(byNumber(changed, 'box', '300')).toMatchObject({ action: 'update', changes: { name: { from: 'Ann', to: 'Ann Lee' } } });
  expect(byNumber(changed, 'box', '301')).toMatchObject({ action: 'update', changes: { password: { from: '(hidden)', to: '(hidden)' } } });
  expect(JSON.stringify(changed)).not.toContain('Ben-Secret');

  // Someone renames 300 on the PBX itself: drift names it and the field.
  s.box.sim.seed([{ extension: '300', name: 'Renamed At The Desk', secret: s.box.sim.raw('300')!.secret as string }]);
  const drift = (await s.api().post('/v1/desired-state/drift').set(auth).send(file).expect(200)).body;
  expect(drift).toMatchObject({ drifted: true, tenants: [{ tenant: 'box', in_sync: 1, drift: [{ kind: 'extension', extension: '300', state: 'changed', fields: ['name'] }] }] });
});

it('refuses a stale plan, and an invalid or a lossy item not accepted, writing nothing', async () => {
  const s = await setup();
  const file = (await s.exported('cloud')) as DesiredState;
  file.tenants.cloud!.extensions!.push({ extension: '150', name: 'Late' });
  const plan = await s.plan(file);
  // Outside the plan, someone renames an extension: the plan's fingerprint no longer holds.
  const first = (await s.api().get('/v1/tenants/cloud/extensions').set(auth).expect(200)).body.items[0];
  await s.api().patch(`/v1/tenants/cloud/extensions/${first.id}`).set(auth).send({ name: 'Changed Meanwhile' }).expect(200);
  const stale = await s.apply(file, { fingerprint: plan.fingerprint }).expect(409);
  expect(stale.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(stale.body).toMatchObject({ type: '/problems/plan-stale', errors: [{ pointer: '/query/fingerprint' }] });
  expect((await s.plan(file)).tenants[0].items.find((i) => i.extension === '150')).toMatchObject({ action: 'create' });

  // A description on Issabel cannot be held: refused until accepted by name.
  const lossy: DesiredState = { tenants: { box: { extensions: [{ extension: '1000', name: 'Front Desk', description: 'ground floor' }] } } };
  const lp = await s.plan(lossy);
  const refused = await s.apply(lossy, { fingerprint: lp.fingerprint }).expect(422);
  expect(refused.body.errors).toEqual([{ pointer: '/tenants/box/extensions/0/description', detail: "backend 'issabel' cannot hold description" }]);
  expect(s.box.sim.raw('1000')).toMatchObject({ name: 'Reception' });
  const ok = await s.apply(lossy, { fingerprint: lp.fingerprint, accept_loss: 'description' }).expect(202);
  expect((await s.finished(ok.body.jobs[0].id)).status).toBe('done');
  expect(s.box.sim.raw('1000')).toMatchObject({ name: 'Front Desk' });

  // An invalid item (a ring group on a backend without them) refuses the whole apply.
  const bad: DesiredState = { tenants: { cloud: { extensions: [{ extension: '151', name: 'X' }], ring_groups: [{ extension: '700', name: 'G', members: ['151'] }] } } };
  const bp = await s.plan(bad);
  const invalid = await s.apply(bad, { fingerprint: bp.fingerprint }).expect(422);
  expect(invalid.body.errors[0]).toMatchObject({ pointer: '/tenants/cloud/ring_groups/0', detail: expect.stringContaining('has no ring groups') });
  expect((await s.plan(bad)).tenants[0].items.find((i) => i.extension === '151')).toMatchObject({ action: 'create' });
});

it('prunes only with prune on, and more than the allowed share only with an allowance', async () => {
  const s = await setup();
  const file = (await s.exported('cloud')) as DesiredState;
  const kept = file.tenants.cloud!.extensions!.slice(0, 4);
  const without = { tenants: { cloud: { extensions: kept } } } as DesiredState;
  expect((await s.plan(without)).changes).toBe(false);
  const pruning = { tenants: { cloud: { prune: true, extensions: kept } } } as DesiredState;
  const plan = await s.plan(pruning);
  expect(itemsOf(plan, 'cloud').filter((i) => i.action === 'delete').map((i) => i.extension)).toEqual(['104', '105']);
  expect(plan.tenants[0].prune_share).toBeCloseTo(2 / 6);
  const refused = await s.apply(pruning, { fingerprint: plan.fingerprint }).expect(422);
  expect(refused.body).toMatchObject({ type: '/problems/prune-too-large', errors: [{ pointer: '/query/max_prune_share' }] });
  expect((await s.api().get('/v1/tenants/cloud/extensions').set(auth).expect(200)).body.items).toHaveLength(6);
  const allowed = await s.apply(pruning, { fingerprint: plan.fingerprint, max_prune_share: '0.5' }).expect(202);
  const job = await s.finished(allowed.body.jobs[0].id);
  expect(job.results.map((r) => [r.extension, r.action, r.status])).toEqual([['104', 'delete', 'done'], ['105', 'delete', 'done']]);
  expect((await s.api().get('/v1/tenants/cloud/extensions').set(auth).expect(200)).body.items.map((e: { extension: string }) => e.extension).sort()).toEqual(['100', '101', '102', '103']);
  expect((await s.plan(pruning)).changes).toBe(false);
});

it('orders ring groups after their new members, deletes before a number is used again, and reloads the PBX once', async () => {
  const s = await setup();
  const file = (await s.exported('box')) as DesiredState;
  const box = file.tenants.box!;
  box.prune = true;
  // Ring group 601 goes; its number becomes an extension. 1004 goes (it was a member of 601 only), and its
  // number becomes a ring group of the new extension 1010 and of 601.
  box.ring_groups = [{ extension: '600', name: 'Sales', strategy: 'ringall', ring_time: 20, members: ['1001', '1010'] }, { extension: '1004', name: 'Night', members: ['1010', '601'] }];
  box.extensions = box.extensions!.filter((e) => e.extension !== '1004').concat([{ extension: '1010', name: 'New Hire' }, { extension: '601', name: 'Was A Group' }]);
  const plan = await s.plan(file);
  expect(itemsOf(plan, 'box').filter((i) => i.action !== 'unchanged').map((i) => `${i.kind}:${i.extension}:${i.action}`)).toEqual([
    'ring_group:601:delete',
    'extension:1010:create',
    'extension:601:create',
    'ring_group:600:update',
    'extension:1004:delete',
    'ring_group:1004:create',
  ]);
  const reloads = s.box.sim.counters.reloads;
  const res = await s.apply(file, { fingerprint: plan.fingerprint, max_prune_share: '0.3' }).expect(202);
  const job = await s.finished(res.body.jobs[0].id);
  expect(job.results.every((r) => r.status === 'done')).toBe(true);
  expect(s.box.sim.rawRingGroup('1004')).toMatchObject({ name: 'Night' });
  expect(s.box.sim.rawRingGroup('601')).toBeUndefined();
  expect(s.box.sim.raw('601')).toMatchObject({ name: 'Was A Group' });
  // The extension delete reloads on its own (the vendor's DELETE ignores `reload`); with the one at the end, two.
  expect(s.box.sim.counters.reloads - reloads).toBe(2);
  // Each item is one change event of the key that applied it, from the job.
  const events = (await s.api().get('/v1/events?tenant=box&limit=100').set(auth).expect(200)).body.events as { type: string; source: string; key_id?: string; request_id: string; data: { id: string; extension?: string } }[];
  expect(events.map((e) => `${e.type}:${e.data.extension ?? e.data.id}`)).toEqual(['ring_group.deleted:601', 'extension.created:1010', 'extension.created:601', 'ring_group.updated:600', 'extension.deleted:1004', 'ring_group.created:1004']);
  expect(new Set(events.map((e) => `${e.source}/${e.key_id}/${e.request_id}`))).toEqual(new Set([`gateway/ops/job-${job.id}`]));
  expect((await s.plan(file)).changes).toBe(false);
});

it('resumes an apply stopped by a backend fault: rows done stay done, the rest are planned again', async () => {
  const s = await setup();
  const file = (await s.exported('cloud')) as DesiredState;
  file.tenants.cloud!.extensions!.push(...Array.from({ length: 6 }, (_, i) => ({ extension: String(200 + i), name: `Row ${i}` })));
  const plan = await s.plan(file);
  // The backend goes down after a few calls: the job stops at the first fault, the rest not done.
  for (let i = 0; i < 40; i++) s.cloud.server.injectFault({ kind: 'status', status: 503 }, i === 0 ? 4 : 0);
  const res = await s.apply(file, { fingerprint: plan.fingerprint }).expect(202);
  const failed = await s.finished(res.body.jobs[0].id);
  expect(failed.status).toBe('failed');
  expect(failed.results.some((r) => r.status === 'not_done')).toBe(true);
  const doneBefore = failed.results.filter((r) => r.status === 'done').length;
  // Back up; resume.
  for (let i = 0; i < 200 && (await fetch(`${s.cloud.server.url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}`)).status === 503; i++);
  await s.api().post(`/v1/jobs/${failed.id}/resume`).set(auth).expect(202);
  const resumed = await s.finished(failed.id);
  expect(resumed.status).toBe('done');
  expect(resumed.results.filter((r) => r.status === 'done')).toHaveLength(6);
  expect(doneBefore).toBeLessThan(6);
  expect((await s.plan(file)).changes).toBe(false);
});

it('validates the file, and keeps keys to their tenants and scopes', async () => {
  const s = await setup();
  const bad = await s.api().post('/v1/desired-state/plan').set(auth).send({ tenants: { box: { extensions: [{ extension: '1', name: '' }] } } }).expect(400);
  expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer: '/tenants/box/extensions/0/name' })]));
  await s.api().post('/v1/desired-state/plan').set(auth).send({ tenants: { nowhere: {} } }).expect(400);
  // A read-only key plans and checks drift, and cannot apply.
  const file = await s.exported('box');
  const plan = (await s.api().post('/v1/desired-state/plan').set({ Authorization: `Bearer ${READER}` }).send(file).expect(200)).body as DesiredStatePlan;
  await s.api().post('/v1/desired-state/drift').set({ Authorization: `Bearer ${READER}` }).send(file).expect(200);
  await s.api().post(`/v1/desired-state/apply?fingerprint=${plan.fingerprint}`).set({ Authorization: `Bearer ${READER}` }).send(file).expect(403);
  // Passwords in a file: a plan would tell whether each differs, so only a key with the secrets scope.
  const withPassword = { tenants: { box: { extensions: [{ extension: '1001', name: 'Alice Martin', password: 'A-Guess-1234' }] } } };
  const denied = await s.api().post('/v1/desired-state/plan').set({ Authorization: `Bearer ${WRITER}` }).send(withPassword).expect(403);
  expect(denied.body.scope).toBe('secrets');
  // A key limited to one tenant cannot name another.
  await s.api().post('/v1/desired-state/plan').set({ Authorization: `Bearer ${WRITER}` }).send(await s.exported('cloud')).expect(403);
  // An unresolved ${...} reaching the gateway is an invalid item, not a password.
  const unresolved = await s.plan({ tenants: { box: { extensions: [{ extension: '1001', name: 'Alice Martin', password: '${ALICE_PW}' }] } } });
  expect(byNumber(unresolved, 'box', '1001')).toMatchObject({ action: 'invalid', reason: expect.stringContaining('unresolved') });
});
