/** The comparison against gateway writes that happen while it walks: theirs, never reported again as `pbx`. */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { dropKeys, requireRedis, TEST_REDIS_URL } from '../../test/helpers';
import type { Capabilities, Extension, PbxAdapter } from '../contract';
import { newRequestContext } from '../request-context';
import { RedisStore } from '../state/redis';
import { MemoryStore, type StateStore } from '../state/store';
import { ChangeDetector } from './detect';
import { createEventLog } from './log';
import { ChangeRecorder, observeWrites } from './observe';
import { createSnapshots } from './snapshot';

/** A backend that lists, reads and updates extensions, and nothing else. */
const capabilities = {
  extensions: { list: true, get: true, create: false, update: true, delete: false, batch_delete: false, auto_number: false },
  writable_fields: ['name'],
  direct_uri: false,
  devices: false,
  queues: false,
  call_summary: false,
  voicemail: false,
  ring_groups: false,
} as Capabilities;
const ext = (id: string, name: string): Extension => ({ id, tenant: 't', backend: 'fake', extension: id, name, description: null, username: id, domain: null, direct_uri: null, created_at: null, updated_at: null });

interface Hold {
  entered: () => void;
  release: Promise<void>;
}
function holder(): { hold: Hold; entered: Promise<void>; release: () => void } {
  let release!: () => void;
  let entered!: () => void;
  const enteredP = new Promise<void>((r) => (entered = r));
  return { hold: { entered, release: new Promise<void>((r) => (release = r)) }, entered: enteredP, release };
}

/** A PBX in memory whose next list, or next update's answer, can be held until released. */
function fakePbx() {
  const records = new Map<string, Extension>();
  let listHold: Hold | undefined;
  let updateHold: Hold | undefined;
  let failing = false;
  const wait = async (h: Hold | undefined) => {
    if (!h) return;
    h.entered();
    await h.release;
  };
  const adapter = {
    backend: 'fake',
    capabilities,
    async listExtensions() {
      if (failing) throw new Error('the PBX is down');
      const h = listHold;
      listHold = undefined;
      await wait(h); // the comparison read the snapshot before this, the records after
      return { items: [...records.values()].map((e) => ({ ...e })), next: null };
    },
    async getExtension(_ctx: unknown, id: string) {
      return { ...records.get(id)! };
    },
    async updateExtension(_ctx: unknown, id: string, patch: Partial<Extension>) {
      records.set(id, { ...records.get(id)!, ...patch });
      const h = updateHold;
      updateHold = undefined;
      await wait(h); // written on the PBX, its answer not yet back
      return { ...records.get(id)! };
    },
  } as unknown as PbxAdapter;
  return {
    records,
    adapter,
    fail(on: boolean) {
      failing = on;
    },
    holdNextList() {
      const h = holder();
      listHold = h.hold;
      return h;
    },
    holdNextUpdate() {
      const h = holder();
      updateHold = h.hold;
      return h;
    },
  };
}

const stores: StateStore[] = [];
afterAll(() => Promise.all(stores.map(async (s) => (await dropKeys(s), s.close()))));
let kind: 'memory' | 'redis' = 'memory';

function setup(opts: { store?: StateStore; settings?: Record<string, { poll_interval_s: number }>; tickMs?: number } = {}) {
  const store = opts.store ?? (kind === 'memory' ? new MemoryStore() : new RedisStore(TEST_REDIS_URL, { prefix: `detect-${randomUUID()}:` }));
  stores.push(store);
  const log = createEventLog(store);
  const recorder = new ChangeRecorder({ log, snapshots: createSnapshots(store), logger: pino({ level: 'silent' }) });
  const pbx = fakePbx();
  const tenant = { name: 't', backend: 'fake', adapter: observeWrites(pbx.adapter, 't', recorder) };
  const detector = (tickMs?: number) => new ChangeDetector({ tenants: () => new Map([['t', tenant]]), settings: () => opts.settings ?? {}, recorder, store, logger: pino({ level: 'silent' }), tickMs });
  return { log, pbx, tenant, detector: detector(opts.tickMs), another: detector, store };
}

describe.each(['memory', 'redis'] as const)('on %s', (k) => {
  beforeAll(async () => {
    kind = k;
    if (k === 'redis') await requireRedis();
  });

  it('a gateway write that lands after the comparison read its snapshot is reported once, as the gateway’s', async () => {
    const { log, pbx, tenant, detector } = setup();
    pbx.records.set('1', ext('1', 'Before'));
    expect(await detector.compare('t')).toMatchObject({ status: 'baseline' });

    const held = pbx.holdNextList();
    const comparing = detector.compare('t');
    await held.entered; // the comparison holds the snapshot with "Before"; its walk will read "After"
    await tenant.adapter.updateExtension({ ...newRequestContext('r1', 5000), keyId: 'k' }, '1', { name: 'After' });
    held.release();
    expect(await comparing).toMatchObject({ status: 'compared', events: 0 });
    expect(await detector.compare('t')).toMatchObject({ status: 'compared', events: 0 });

    const { events } = await log.read({ limit: 10 });
    expect(events.map((e) => [e.type, e.source, e.key_id, e.data.name])).toEqual([['extension.updated', 'gateway', 'k', 'After']]);
  });

  it('a gateway write still in flight during a whole comparison is left to the gateway', async () => {
    const { log, pbx, tenant, detector } = setup();
    pbx.records.set('1', ext('1', 'Before'));
    await detector.compare('t');
    const held = pbx.holdNextUpdate();
    const writing = tenant.adapter.updateExtension(newRequestContext('r1', 5000), '1', { name: 'After' });
    await held.entered; // on the PBX already, not yet answered
    expect(await detector.compare('t')).toMatchObject({ status: 'compared', events: 0 });
    held.release();
    await writing;
    expect(await detector.compare('t')).toMatchObject({ status: 'compared', events: 0 });
    const { events } = await log.read({ limit: 10 });
    expect(events.map((e) => [e.source, e.data.name])).toEqual([['gateway', 'After']]);
  });

  it('a change on the PBX next to a gateway write is still found', async () => {
    const { log, pbx, tenant, detector } = setup();
    pbx.records.set('1', ext('1', 'One'));
    pbx.records.set('2', ext('2', 'Two'));
    await detector.compare('t');
    await tenant.adapter.updateExtension(newRequestContext('r1', 5000), '1', { name: 'One, by the gateway' });
    pbx.records.set('2', { ...pbx.records.get('2')!, name: 'Two, on the PBX' });
    expect(await detector.compare('t')).toMatchObject({ events: 1 });
    const { events } = await log.read({ limit: 10 });
    expect(events.map((e) => [e.source, e.data.name, e.changed_fields])).toEqual([
      ['gateway', 'One, by the gateway', ['name']],
      ['pbx', 'Two, on the PBX', ['name']],
    ]);
  });
});

it('once started, compares each tenant at its interval, one instance per period, until stopped', async () => {
  kind = 'memory';
  const a = setup({ settings: { t: { poll_interval_s: 3600 } }, tickMs: 10 });
  a.pbx.records.set('1', ext('1', 'One'));
  const b = a.another(10);
  const compared: string[] = [];
  for (const [name, d] of [['a', a.detector], ['b', b]] as const) {
    const original = d.compare.bind(d);
    d.compare = (t: string) => (compared.push(name), original(t));
  }
  a.detector.start();
  b.start();
  // A bounded wait for the first comparison, then a few more ticks of both: the hour's period is claimed once.
  for (let i = 0; i < 200 && !compared.length; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  await Promise.all([a.detector.stop(), b.stop()]);
  expect(compared).toHaveLength(1);
  expect((await a.log.read({ limit: 10 })).events).toEqual([]);
  a.pbx.records.set('2', ext('2', 'Two'));
  expect(await a.detector.compare('t')).toMatchObject({ status: 'compared', events: 1 });
});

it('a failed walk emits nothing and keeps the snapshot: the change is found by the next one', async () => {
  kind = 'memory';
  const { log, pbx, detector } = setup();
  pbx.records.set('1', ext('1', 'One'));
  await detector.compare('t');
  pbx.records.set('1', ext('1', 'One, renamed'));
  pbx.fail(true);
  expect(await detector.compare('t')).toMatchObject({ status: 'failed' });
  expect((await log.read({ limit: 10 })).events).toEqual([]);
  pbx.fail(false);
  expect(await detector.compare('t')).toMatchObject({ status: 'compared', events: 1 });
  expect((await log.read({ limit: 10 })).events.map((e) => e.changed_fields)).toEqual([['name']]);
});
