/**
 * The event log: change events in order, kept for a retention time, read page by page after a cursor.
 *
 * Cursors are `<ms>-<seq>` (the form of a Redis stream id): ordered by time, then by a sequence within the same
 * millisecond, so one format serves both stores and compares the same way. On Redis the log is one stream
 * (`XADD` assigns the cursor, so every instance appends to one total order, whatever their clocks; `XRANGE` reads
 * a page in one command); in memory it is an array in the process. Retention is by age: events older than it are
 * dropped, and the newest dropped cursor is remembered, so a reader whose cursor is older than that has missed
 * events and is told so (CursorExpiredError, a 410 problem) rather than silently skipping them. A reader whose
 * cursor is merely old, with nothing dropped after it, goes on normally.
 */
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { CursorExpiredError, StateUnavailableError } from '../errors';
import type { RedisStore } from '../state/redis';
import type { StateStore } from '../state/store';
import type { ChangeEvent, EventLog, EventPage, NewEvent } from './types';

export { CursorExpiredError } from '../errors';

export const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;

export interface EventLogOptions {
  /** How long events are kept (default 7 days). */
  retentionMs?: number;
  /** The clock (tests move it forward to see retention at work). */
  now?: () => number;
}

/** The cursor before every event: what `next` is on an empty log. */
export const START_CURSOR = '0-0';

const CURSOR = /^(\d{1,15})-(\d{1,19})$/;

export function isCursor(s: string): boolean {
  return CURSOR.test(s);
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareCursors(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const byMs = Number(am) - Number(bm);
  if (byMs) return Math.sign(byMs);
  const x = BigInt(as ?? 0);
  const y = BigInt(bs ?? 0);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A log on the given store: a Redis stream when the store is Redis (shared by every instance), else in memory. */
export function createEventLog(store: StateStore, opts: EventLogOptions = {}): EventLog & { head(): Promise<string> } {
  const retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
  const now = opts.now ?? Date.now;
  if (store.kind === 'redis') {
    const redis = store as RedisStore;
    return new RedisEventLog(redis.client, redis.prefix, retentionMs, now);
  }
  return new MemoryEventLog(retentionMs, now);
}

type ReadOptions = Parameters<EventLog['read']>[0];

function matches(e: ChangeEvent, opts: ReadOptions): boolean {
  return (!opts.tenants || opts.tenants.has(e.tenant)) && (!opts.types || opts.types.has(e.type));
}

function stamp(e: NewEvent, cursor: string, time: string): ChangeEvent {
  const { type, ...rest } = stripUndefined(e);
  return { id: `evt_${randomUUID()}`, cursor, type, time, ...rest };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Wakes long-polling readers of this process when it appends (other instances' appends are seen by polling). */
class Waiters {
  private readonly waiting = new Set<() => void>();
  notify() {
    for (const wake of [...this.waiting]) wake();
  }
  /** Resolves on the next notify, after `ms`, or when aborted. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiting.add(done);
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }
}

/** Trimming is a sweep over the oldest events: done on append at most this often. */
const TRIM_EVERY_MS = 60_000;

class MemoryEventLog implements EventLog {
  private events: ChangeEvent[] = [];
  private lastMs = 0;
  private lastSeq = 0;
  private trimmedThrough?: string;
  private lastTrim = -Infinity;
  private readonly waiters = new Waiters();

  constructor(
    private readonly retentionMs: number,
    private readonly now: () => number,
  ) {}

  private nextCursor(ms: number): string {
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.lastSeq = 0;
    } else this.lastSeq++;
    return `${this.lastMs}-${this.lastSeq}`;
  }

  private trim() {
    const cutoff = this.now() - this.retentionMs;
    let drop = 0;
    while (drop < this.events.length && Date.parse(this.events[drop].time) < cutoff) drop++;
    if (drop) {
      this.trimmedThrough = this.events[drop - 1].cursor;
      this.events = this.events.slice(drop);
    }
    this.lastTrim = this.now();
  }

  async head(): Promise<string> {
    return this.events.at(-1)?.cursor ?? this.trimmedThrough ?? START_CURSOR;
  }

  async append(news: NewEvent[]): Promise<ChangeEvent[]> {
    if (this.now() - this.lastTrim >= Math.min(TRIM_EVERY_MS, this.retentionMs)) this.trim();
    const t = this.now();
    const time = new Date(t).toISOString();
    const stored = news.map((e) => stamp(e, this.nextCursor(t), time));
    this.events.push(...stored);
    if (stored.length) this.waiters.notify();
    return stored.map((e) => structuredClone(e));
  }

  async read(opts: ReadOptions): Promise<EventPage> {
    this.trim();
    const { after } = opts;
    if (after && this.trimmedThrough && compareCursors(after, this.trimmedThrough) < 0) throw new CursorExpiredError(await this.head());
    let i = after ? this.firstAfter(after) : 0;
    const events: ChangeEvent[] = [];
    let next = after ?? (i > 0 ? this.events[i - 1].cursor : (this.trimmedThrough ?? START_CURSOR));
    for (; i < this.events.length && events.length < opts.limit; i++) {
      const e = this.events[i];
      next = e.cursor;
      if (matches(e, opts)) events.push(structuredClone(e));
    }
    return { events, next };
  }

  private firstAfter(cursor: string): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareCursors(this.events[mid].cursor, cursor) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async waitFor(after: string | undefined, ms: number, signal?: AbortSignal): Promise<void> {
    const head = this.events.at(-1)?.cursor;
    if (head && (!after || compareCursors(head, after) > 0)) return;
    await this.waiters.wait(ms, signal);
  }
}

/** Drops the events older than ARGV[1] (a cursor) and records the newest one dropped, in one step. */
const TRIM_SCRIPT = `
local below = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #below == 0 then return 0 end
redis.call('SET', KEYS[2], below[1][1])
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])`;

/** Entries read per XRANGE while filtering, and at most this many per read, so one read stays short. */
const SCAN_BATCH = 500;
const SCAN_MAX = 5000;
/** How often a long-polling reader looks for appends made by other instances. */
const POLL_MS = 200;

function connected(redis: Redis): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, FIRST_CONNECT_MS);
    redis.once('ready', done);
  });
}
const FIRST_CONNECT_MS = 1000;

class RedisEventLog implements EventLog {
  private readonly streamKey: string;
  private readonly trimmedKey: string;
  private lastTrim = -Infinity;
  private readonly waiters = new Waiters();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly retentionMs: number,
    private readonly now: () => number,
  ) {
    this.streamKey = `${prefix}events:log`;
    this.trimmedKey = `${prefix}events:trimmed`;
  }

  /** One command, as the store runs its own: waiting (briefly) for a first connection, failing at once while
   * Redis is known to be down (no offline queue), within the connection's command timeout. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      if (['wait', 'connecting', 'connect'].includes(this.redis.status)) await connected(this.redis);
      return await command();
    } catch (err) {
      throw new StateUnavailableError(undefined, { cause: err });
    }
  }

  private async trim() {
    this.lastTrim = this.now();
    const cutoff = `${Math.max(0, this.now() - this.retentionMs)}-0`;
    await this.run(() => this.redis.eval(TRIM_SCRIPT, 2, this.streamKey, this.trimmedKey, cutoff));
  }

  async head(): Promise<string> {
    const [last, trimmed] = await this.run(() => Promise.all([this.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1), this.redis.get(this.trimmedKey)]));
    return last[0]?.[0] ?? trimmed ?? START_CURSOR;
  }

  async append(news: NewEvent[]): Promise<ChangeEvent[]> {
    if (!news.length) return [];
    if (this.now() - this.lastTrim >= Math.min(TRIM_EVERY_MS, this.retentionMs)) await this.trim();
    const time = new Date(this.now()).toISOString();
    // The id is the cursor Redis assigns; the rest is stored as one JSON field.
    const bodies = news.map((e) => stamp(e, '', time));
    const tx = this.redis.multi();
    for (const { cursor: _unassigned, ...body } of bodies) tx.xadd(this.streamKey, '*', 'e', JSON.stringify(body));
    const replies = await this.run(() => tx.exec());
    if (!replies) throw new StateUnavailableError();
    const stored = bodies.map((e, i) => {
      const [err, id] = replies[i];
      if (err) throw new StateUnavailableError(undefined, { cause: err });
      return { ...e, cursor: String(id) };
    });
    this.waiters.notify();
    return stored;
  }

  async read(opts: ReadOptions): Promise<EventPage> {
    if (this.now() - this.lastTrim >= Math.min(TRIM_EVERY_MS, this.retentionMs)) await this.trim();
    const { after } = opts;
    const trimmed = await this.run(() => this.redis.get(this.trimmedKey));
    if (after && trimmed && compareCursors(after, trimmed) < 0) throw new CursorExpiredError(await this.head());
    const events: ChangeEvent[] = [];
    let next = after ?? trimmed ?? START_CURSOR;
    let start = after ? `(${after}` : '-';
    for (let scanned = 0; scanned < SCAN_MAX && events.length < opts.limit; ) {
      const count = opts.tenants || opts.types ? SCAN_BATCH : opts.limit - events.length;
      const entries = await this.run(() => this.redis.xrange(this.streamKey, start, '+', 'COUNT', count));
      for (const [id, fields] of entries) {
        if (events.length >= opts.limit) break;
        next = id;
        scanned++;
        const e = { ...(JSON.parse(fields[1]) as Omit<ChangeEvent, 'cursor'>), cursor: id } as ChangeEvent;
        if (matches(e, opts)) events.push(e);
      }
      if (entries.length < count) break;
      start = `(${next}`;
    }
    return { events, next };
  }

  async waitFor(after: string | undefined, ms: number, signal?: AbortSignal): Promise<void> {
    const until = Date.now() + ms;
    while (!signal?.aborted) {
      const head = await this.head();
      if (head !== START_CURSOR && (!after || compareCursors(head, after) > 0)) return;
      const left = until - Date.now();
      if (left <= 0) return;
      await this.waiters.wait(Math.min(POLL_MS, left), signal);
    }
  }
}
