/**
 * Change events: a write through the gateway is one `gateway` event; a change made on the PBX itself is one `pbx`
 * event after the next comparison (never a second time, not after a restart either); the feed pages, filters by
 * the key's tenants, long-polls, and says when a cursor is older than the retention.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { DEMO_USER as ISSABEL_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { createEventLog } from '../../src/events/log';
import type { ChangeEvent } from '../../src/events/types';
import { createApp } from '../../src/http/app';
import { ajv } from '../../src/schemas';
import { RedisStore } from '../../src/state/redis';
import { MemoryStore, type StateStore } from '../../src/state/store';
import type { RunningSimulator } from '../../src/simulator-kit';
import eventSchema from '../../schemas/event.schema.json';
import { buildTestGateway, dropKeys, requireRedis, TEST_REDIS_URL, type TestGateway } from '../helpers';

const KEY = 'events-test-key-0000000001';
const NARROW_KEY = 'events-test-key-0000000002';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
const stores: StateStore[] = [];
afterEach(async () => {
  await Promise.all([...servers.splice(0).map((s) => s.close()), ...stores.splice(0).map(async (s) => (await dropKeys(s), s.close()))]);
});

const validEvent = ajv.compile(eventSchema);

async function voipbin() {
  const { sim, server } = await startVoipbinSimulator({ rateLimit: false });
  servers.push(server);
  return { sim, server, url: server.url };
}

const voipbinTenant = (url: string) => ({ backend: 'voipbin', base_url: `${url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false });
function config(tenants: Record<string, object>) {
  return {
    api_keys: [
      { id: 'ops', key: KEY, tenants: ['*'], rate_limit: { requests: 0 }, scopes: ['read', 'write', 'secrets'] },
      { id: 'narrow', key: NARROW_KEY, tenants: ['acme'], rate_limit: { requests: 0 } },
    ],
    tenants,
  };
}

/** A change made on the PBX itself, through its own API (not the gateway). */
async function direct(url: string, method: string, path: string, body?: object) {
  const res = await fetch(`${url}/v1.0${path}${path.includes('?') ? '&' : '?'}accesskey=${DEMO_ACCESSKEY}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  return ((await res.json()) as { id: string } & Record<string, unknown>);
}

async function feed(gw: TestGateway, query = '', key = KEY): Promise<{ events: ChangeEvent[]; next: string }> {
  const res = await request(gw.app).get(`/v1/events${query}`).set({ Authorization: `Bearer ${key}` });
  expect(res.status).toBe(200);
  for (const e of res.body.events) expect(validEvent(e)).toBe(true);
  return res.body;
}

/** Every event after `after`, page by page. */
async function allAfter(gw: TestGateway, after?: string) {
  const out: ChangeEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await feed(gw, `?limit=2${cursor ? `&after=${cursor}` : ''}`);
    out.push(...page.events);
    if (!page.events.length) return { events: out, next: page.next };
    cursor = page.next;
  }
}

const noSecrets = (gw: TestGateway, ...secrets: string[]) => {
  const text = JSON.stringify((gw.app.locals.events as { read: unknown }) && gw.logs());
  for (const s of secrets) expect(text).not.toContain(s);
};

describe('gateway writes', () => {
  it('a create, an update and a delete through the API are one gateway event each, with key and request ids and no secret', async () => {
    const { url } = await voipbin();
    const gw = buildTestGateway(config({ acme: voipbinTenant(url) }));
    const created = await request(gw.app).post('/v1/tenants/acme/extensions').set(auth).set('X-Request-Id', 'req-create-1').send({ extension: '2001', name: 'Front Desk', password: 'Secret-Pass-2001-abc' }).expect(201);
    await request(gw.app).patch(`/v1/tenants/acme/extensions/${created.body.id}`).set(auth).set('X-Request-Id', 'req-patch-1').send({ name: 'Lobby', password: 'Other-Pass-2001-xyz' }).expect(200);
    await request(gw.app).delete(`/v1/tenants/acme/extensions/${created.body.id}`).set(auth).set('X-Request-Id', 'req-delete-1').expect(204);

    const { events } = await allAfter(gw);
    expect(events.map((e) => [e.type, e.source, e.key_id, e.request_id])).toEqual([
      ['extension.created', 'gateway', 'ops', 'req-create-1'],
      ['extension.updated', 'gateway', 'ops', 'req-patch-1'],
      ['extension.deleted', 'gateway', 'ops', 'req-delete-1'],
    ]);
    expect(events[1].changed_fields).toEqual(['name', 'password']);
    expect(events[1].data).toMatchObject({ id: created.body.id, extension: '2001', name: 'Lobby' });
    expect(events[2].data).toMatchObject({ id: created.body.id, extension: '2001', name: 'Lobby' });
    const text = JSON.stringify(events);
    expect(text).not.toContain('Secret-Pass-2001-abc');
    expect(text).not.toContain('Other-Pass-2001-xyz');
    expect(text).not.toContain('"password":');
    expect(text).not.toContain('"vendor"');
    noSecrets(gw, 'Secret-Pass-2001-abc', 'Other-Pass-2001-xyz');

    // What the gateway wrote does not come back as a change found on the PBX.
    expect(await gw.events.detector.compare('acme')).toMatchObject({ status: 'baseline' });
    await request(gw.app).post('/v1/tenants/acme/extensions').set(auth).send({ extension: '2002', name: 'Second' }).expect(201);
    expect(await gw.events.detector.compare('acme')).toEqual({ status: 'compared', objects: expect.any(Number), events: 0 });
    expect((await allAfter(gw)).events.filter((e) => e.source === 'pbx')).toEqual([]);
  });

  it('a batch delete is one event per deleted id; an update that changes nothing is none', async () => {
    const { url } = await voipbin();
    const gw = buildTestGateway(config({ acme: voipbinTenant(url) }));
    const ids: string[] = [];
    for (const n of ['2101', '2102']) ids.push((await request(gw.app).post('/v1/tenants/acme/extensions').set(auth).send({ extension: n, name: `N ${n}` }).expect(201)).body.id);
    const { next } = await allAfter(gw);
    await request(gw.app).patch(`/v1/tenants/acme/extensions/${ids[0]}`).set(auth).send({ name: 'N 2101' }).expect(200);
    const missing = randomUUID();
    await request(gw.app).delete(`/v1/tenants/acme/extensions?ids=${ids.join(',')},${missing}`).set(auth).expect(200);
    const after = (await allAfter(gw, next)).events;
    expect(after.map((e) => [e.type, e.data.id])).toEqual([
      ['extension.deleted', ids[0]],
      ['extension.deleted', ids[1]],
    ]);
  });

  it('rows written by a job are events of the key that started it, with the job as request', async () => {
    const { url } = await voipbin();
    const gw = buildTestGateway(config({ acme: voipbinTenant(url) }));
    const res = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send('extension,name\n2201,Row one\n2202,Row two\n').expect(202);
    const job = res.body.id as string;
    let events: ChangeEvent[] = [];
    // Bounded wait for the job's two rows.
    for (let i = 0; i < 200 && events.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 25));
      events = (await allAfter(gw)).events;
    }
    expect(events.map((e) => [e.type, e.data.extension, e.key_id, e.request_id])).toEqual([
      ['extension.created', '2201', 'ops', `job-${job}`],
      ['extension.created', '2202', 'ops', `job-${job}`],
    ]);
    await gw.app.locals.jobs.close?.();
  });

  it('ring groups written through the gateway are ring_group events; one made on the PBX is found', async () => {
    const { sim, server } = await startIssabelSimulator();
    servers.push(server);
    sim.seed([{ extension: '1000', name: 'A' }, { extension: '1001', name: 'B' }]);
    const gw = buildTestGateway(config({ acme: { backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: ISSABEL_USER, pacing: false } }));
    expect(await gw.events.detector.compare('acme')).toMatchObject({ status: 'baseline', objects: 2 });
    const rg = await request(gw.app).post('/v1/tenants/acme/ring-groups').set(auth).send({ extension: '610', name: 'Sales', members: ['1000'] }).expect(201);
    await request(gw.app).patch(`/v1/tenants/acme/ring-groups/${rg.body.id}`).set(auth).send({ members: ['1000', '1001'] }).expect(200);
    sim.seedRingGroups([{ extension: '611', name: 'Support', extension_list: ['1001'] }]);
    expect(await gw.events.detector.compare('acme')).toMatchObject({ status: 'compared', events: 1 });
    const { events } = await allAfter(gw);
    expect(events.map((e) => [e.type, e.source, e.data.extension])).toEqual([
      ['ring_group.created', 'gateway', '610'],
      ['ring_group.updated', 'gateway', '610'],
      ['ring_group.created', 'pbx', '611'],
    ]);
    expect(events[1].changed_fields).toEqual(['members']);
  });
});

describe('changes made on the PBX', () => {
  it('the first comparison is a baseline; each change after it is one pbx event at the next comparison, and only once', async () => {
    const { url } = await voipbin();
    const existing = await direct(url, 'POST', '/extensions', { extension: '3001', name: 'Existing', password: 'pbx-side-pass-1' });
    const gw = buildTestGateway(config({ acme: voipbinTenant(url) }));
    expect(await gw.events.detector.compare('acme')).toMatchObject({ status: 'baseline' });
    expect((await allAfter(gw)).events).toEqual([]);

    const added = await direct(url, 'POST', '/extensions', { extension: '3002', name: 'Added on the PBX', password: 'pbx-side-pass-2' });
    await direct(url, 'PUT', `/extensions/${existing.id}`, { name: 'Renamed on the PBX', detail: '', password: 'pbx-side-pass-1b' });
    expect(await gw.events.detector.compare('acme')).toMatchObject({ status: 'compared', events: 2 });
    const { events, next } = await allAfter(gw);
    expect(events.map((e) => [e.type, e.source, e.data.id])).toEqual([
      ['extension.created', 'pbx', added.id],
      ['extension.updated', 'pbx', existing.id],
    ]);
    expect(events[1].changed_fields).toEqual(expect.arrayContaining(['name', 'password']));
    expect(events[0].key_id).toBeUndefined();
    expect(JSON.stringify(events)).not.toMatch(/pbx-side-pass/);

    await direct(url, 'DELETE', `/extensions/${added.id}`);
    expect(await gw.events.detector.compare('acme')).toMatchObject({ events: 1 });
    expect(await gw.events.detector.compare('acme')).toMatchObject({ events: 0 });
    const deleted = (await allAfter(gw, next)).events;
    expect(deleted.map((e) => [e.type, e.source, e.data.id, e.data.name])).toEqual([['extension.deleted', 'pbx', added.id, 'Added on the PBX']]);
  });

  it('after a restart (same Redis), what was seen is not emitted again and what changed meanwhile is emitted once', async () => {
    await requireRedis();
    const { url } = await voipbin();
    const prefix = `events-${randomUUID()}:`;
    const instance = () => {
      const store = new RedisStore(TEST_REDIS_URL, { prefix });
      stores.push(store);
      return buildTestGateway(config({ acme: voipbinTenant(url) }), { store });
    };
    await direct(url, 'POST', '/extensions', { extension: '3201', name: 'One', password: 'pbx-side-pass-4' });
    const first = instance();
    expect(await first.events.detector.compare('acme')).toMatchObject({ status: 'baseline' });
    const made = await request(first.app).post('/v1/tenants/acme/extensions').set(auth).send({ extension: '3202', name: 'Two' }).expect(201);

    // A new instance on the same store: nothing new, nothing again.
    const second = instance();
    expect(await second.events.detector.compare('acme')).toMatchObject({ status: 'compared', events: 0 });
    await direct(url, 'PUT', `/extensions/${made.body.id}`, { name: 'Two, renamed', detail: '', password: 'pbx-side-pass-5' });
    const third = instance();
    expect(await third.events.detector.compare('acme')).toMatchObject({ events: 1 });
    expect(await second.events.detector.compare('acme')).toMatchObject({ events: 0 });
    const { events } = await allAfter(third);
    expect(events.map((e) => [e.type, e.source, e.data.name])).toEqual([
      ['extension.created', 'gateway', 'Two'],
      ['extension.updated', 'pbx', 'Two, renamed'],
    ]);
    // Only one instance compares a tenant at a time.
    const [a, b] = await Promise.all([first.events.detector.compare('acme'), third.events.detector.compare('acme')]);
    expect([a.status, b.status].sort()).toEqual(['busy', 'compared']);
  });
});

describe('the feed', () => {
  it('pages with next, filters by tenant and type, and a key sees only its tenants', async () => {
    const { url } = await voipbin();
    const { url: url2 } = await voipbin();
    const gw = buildTestGateway(config({ acme: voipbinTenant(url), other: voipbinTenant(url2) }));
    for (const [t, n] of [['acme', '4001'], ['other', '4002'], ['acme', '4003']]) await request(gw.app).post(`/v1/tenants/${t}/extensions`).set(auth).send({ extension: n, name: `N ${n}` }).expect(201);
    const first = await feed(gw, '?limit=2');
    expect(first.events.map((e) => e.data.extension)).toEqual(['4001', '4002']);
    const second = await feed(gw, `?limit=2&after=${first.next}`);
    expect(second.events.map((e) => e.data.extension)).toEqual(['4003']);
    expect(await feed(gw, `?after=${second.next}`)).toEqual({ events: [], next: second.next });

    expect((await feed(gw, '?tenant=other')).events.map((e) => e.data.extension)).toEqual(['4002']);
    expect((await feed(gw, '?tenant=acme&tenant=other')).events).toHaveLength(3);
    expect((await feed(gw, '?type=extension.deleted')).events).toEqual([]);
    expect((await feed(gw, '', NARROW_KEY)).events.map((e) => e.tenant)).toEqual(['acme', 'acme']);
    await request(gw.app).get('/v1/events?tenant=other').set({ Authorization: `Bearer ${NARROW_KEY}` }).expect(403);

    const bad = await request(gw.app).get('/v1/events?after=yesterday&limit=5000&type=extension.moved').set(auth).expect(400);
    expect(bad.body.errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['/query/after', '/query/limit', '/query/type']);
  });

  it('wait holds an empty page until an event comes', async () => {
    const { url } = await voipbin();
    const gw = buildTestGateway(config({ acme: voipbinTenant(url) }));
    const { next } = await feed(gw);
    const waiting = request(gw.app).get(`/v1/events?after=${next}&wait=20`).set(auth);
    const answer = waiting.then((r) => r);
    await new Promise((r) => setTimeout(r, 100));
    await request(gw.app).post('/v1/tenants/acme/extensions').set(auth).send({ extension: '4101', name: 'Late' }).expect(201);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.events.map((e: ChangeEvent) => e.data.extension)).toEqual(['4101']);
  });

  it('a cursor older than the retention is 410 cursor-expired with where to resume', async () => {
    let clock = Date.now();
    const log = createEventLog(new MemoryStore(), { retentionMs: 60_000, now: () => clock });
    const app = createApp({ tenants: new Map(), apiKeys: config({}).api_keys as unknown as Parameters<typeof createApp>[0]['apiKeys'], logger: pino({ level: 'silent' }), events: log });
    const [old] = await log.append([{ type: 'extension.created', tenant: 'acme', backend: 'voipbin', source: 'pbx', data: { id: 'x' } as ChangeEvent['data'] }]);
    clock += 120_000;
    await log.append([{ type: 'extension.created', tenant: 'acme', backend: 'voipbin', source: 'pbx', data: { id: 'y' } as ChangeEvent['data'] }]);
    const res = await request(app).get('/v1/events?after=1-0').set(auth).expect(410);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ type: '/problems/cursor-expired', status: 410 });
    expect(res.body.detail).toMatch(/Resynchronise from a full list/);
    const resumed = await request(app).get(`/v1/events?after=${res.body.resume_after}`).set(auth).expect(200);
    expect(resumed.body.events).toEqual([]);
    // A cursor after what was dropped still reads on.
    expect((await request(app).get(`/v1/events?after=${old.cursor}`).set(auth).expect(200)).body.events.map((e: ChangeEvent) => e.data.id)).toEqual(['y']);
  });
});
