/** The event log, in memory and on Redis: order, paging, filters, retention, long polling. */
import { randomUUID } from 'node:crypto';
import { CursorExpiredError } from '../errors';
import { RedisStore } from '../state/redis';
import { MemoryStore, type StateStore } from '../state/store';
import { dropKeys, requireRedis, TEST_REDIS_URL } from '../../test/helpers';
import { compareCursors, createEventLog } from './log';
import type { NewEvent } from './types';

function ev(tenant: string, extension: string, type: NewEvent['type'] = 'extension.created'): NewEvent {
  return { type, tenant, backend: 'sim', source: 'gateway', key_id: 'k', request_id: 'r', data: { id: extension, extension, name: `N ${extension}` } as NewEvent['data'] };
}

const stores: StateStore[] = [];
afterAll(() => Promise.all(stores.map(async (s) => (await dropKeys(s), s.close()))));

describe.each(['memory', 'redis'] as const)('on %s', (kind) => {
  let clock = Date.now();
  const now = () => clock;
  function makeStore(): StateStore {
    const store = kind === 'memory' ? new MemoryStore() : new RedisStore(TEST_REDIS_URL, { prefix: `evlog-${randomUUID()}:` });
    stores.push(store);
    return store;
  }
  beforeAll(async () => {
    if (kind === 'redis') await requireRedis();
  });
  beforeEach(() => (clock = Date.now()));

  it('keeps events in order and pages through them with next', async () => {
    const log = createEventLog(makeStore(), { now });
    const stored = await log.append(Array.from({ length: 7 }, (_, i) => ev('a', String(1000 + i))));
    expect(stored.map((e) => e.data.extension)).toEqual(['1000', '1001', '1002', '1003', '1004', '1005', '1006']);
    for (let i = 1; i < stored.length; i++) expect(compareCursors(stored[i].cursor, stored[i - 1].cursor)).toBe(1);
    expect(new Set(stored.map((e) => e.id)).size).toBe(7);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await log.read({ after, limit: 3 });
      seen.push(...page.events.map((e) => e.data.extension));
      if (!page.events.length) break;
      expect(page.next).toBe(page.events.at(-1)!.cursor);
      after = page.next;
    }
    expect(seen).toEqual(stored.map((e) => e.data.extension));
    const empty = await log.read({ after, limit: 3 });
    expect(empty).toEqual({ events: [], next: after });
  });

  it('filters by tenant and type, and still moves next past what it skipped', async () => {
    const log = createEventLog(makeStore(), { now });
    await log.append([ev('a', '1'), ev('b', '2'), ev('a', '3', 'extension.deleted'), ev('b', '4')]);
    const page = await log.read({ limit: 10, tenants: new Set(['a']) });
    expect(page.events.map((e) => e.data.extension)).toEqual(['1', '3']);
    const deleted = await log.read({ limit: 10, types: new Set(['extension.deleted']) });
    expect(deleted.events.map((e) => e.data.extension)).toEqual(['3']);
    const all = await log.read({ limit: 10 });
    expect(page.next).toBe(all.next);
  });

  it('drops events past the retention; a cursor before a dropped event is expired, a newer one is not', async () => {
    const log = createEventLog(makeStore(), { now, retentionMs: 60_000 });
    const [old] = await log.append([ev('a', '1')]);
    const start = await log.read({ limit: 10 });
    clock += 61_000;
    const [fresh] = await log.append([ev('a', '2')]);
    const page = await log.read({ limit: 10 });
    expect(page.events.map((e) => e.id)).toEqual([fresh.id]);
    await expect(log.read({ after: '0-0', limit: 10 })).rejects.toBeInstanceOf(CursorExpiredError);
    // After the dropped event: nothing was missed.
    expect((await log.read({ after: old.cursor, limit: 10 })).events.map((e) => e.id)).toEqual([fresh.id]);
    const err = await log.read({ after: '1-0', limit: 10 }).catch((e: CursorExpiredError) => e);
    expect(err).toBeInstanceOf(CursorExpiredError);
    expect((err as CursorExpiredError).extra.resume_after).toBe(fresh.cursor);
    expect(start.events).toHaveLength(1);
  });

  it('waitFor returns when an event is appended, and after its time when none is', async () => {
    const log = createEventLog(makeStore(), { now });
    const page = await log.read({ limit: 10 });
    const before = Date.now();
    await log.waitFor!(page.next, 50);
    expect(Date.now() - before).toBeGreaterThanOrEqual(40);
    const waiting = log.waitFor!(page.next, 10_000);
    await log.append([ev('a', '1')]);
    await waiting;
    expect((await log.read({ after: page.next, limit: 10 })).events).toHaveLength(1);
  });
});
