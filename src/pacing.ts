/**
 * Pacing per vendor account: each backend account (one base_url + one credential) gets an outbound token bucket
 * at the vendor's own limit (each adapter declares its default, e.g. 16.7 calls/s with a burst of 33), so bulk work fits the budget instead
 * of learning it from 429s. Shared by every gateway instance through Redis when `state.redis_url` names one.
 *
 * Why not rate-limiter-flexible (the well-kept library for this): its limiters (RateLimiterMemory,
 * RateLimiterRedis, and BurstyRateLimiter built from two of them) count `points` per fixed window of `duration`
 * that starts at the first hit. A vendor token bucket (capacity B = 33, refill r = 16.7/s) admits at most
 * B + r*t calls in any t seconds. A fixed window of p points admits 2p calls around a window boundary (the end of
 * one window and the start of the next, t ≈ 0), so never exceeding the vendor needs 2p ≤ 33: p ≤ 16, and with
 * BurstyRateLimiter both windows can turn over at once, so again p + p_burst ≤ 16. The best safe setting is then
 * 16 points per 16/16.7 = 0.958 s, and a 111-call job takes 6 windows after the first: 6 × 0.958 = 5.75 s, where
 * the vendor's bucket itself allows 33 at once and 78 more at 16.7/s = 4.67 s: 23 % longer (19 % of the
 * throughput lost), past the 10 % we allow. RateLimiterQueue adds waiting but only in one process's memory.
 * So: a small token bucket of our own, in its GCRA form (one number per account, the "theoretical arrival time"
 * of the next call, which makes the Redis version one atomic Lua script on Redis' own clock), at the vendor's
 * rate, with its burst less a quarter second's worth of calls: 28 at once, then one call every 1/16.7 s (111
 * calls: 4.97 s, 6.4 % over the vendor's own 4.67 s). What is kept back absorbs the difference in latency between
 * calls: the vendor's bucket starts when the first call of a burst arrives, and a later call that travels faster
 * than that first one (which opened the connection: a TLS handshake, or here a cold start) arrives early by the
 * difference. With one call kept back (60 ms), a burst of 100 through one gateway drew a 429 from the simulator in
 * one of our first two runs (the slower one, under jest --detectOpenHandles); none since with a quarter second.
 * Measured here (2-core host): 111 calls at once through one gateway to a simulator enforcing 16.7/s, burst 33, took
 * 5.0 s in two runs, all 200, no 429; without pacing the same burst drew 223 429s and 74 of the 111 were 503.
 *
 * A call reserves its slot (the time it may go) and waits for it; an interactive call whose wait would exceed what
 * is left of its budget reserves nothing and is refused at once (503 rate-limited with Retry-After). Background
 * work (migrations, jobs) waits whatever the wait, in steps of at most a second of reservation so that it never
 * books the account far ahead of interactive calls. A 429 that still arrives empties the bucket for its
 * Retry-After (up to the longest wait the gateway takes itself, 2 s by default: a backend's 60 s is passed on to
 * the caller, not imposed on every call of the account) and halves the account's rate for 30 s (bounded: half,
 * whatever the number of 429s).
 */
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

export interface PacingSettings {
  /** Calls per second the account sustains. */
  ratePerS: number;
  /** Calls it may make at once after a quiet spell (the bucket's capacity). */
  burst: number;
}

/** The answer to a reservation: `granted` calls go after `waitMs`; a refused one would have had to wait `waitMs`. */
export interface Reservation {
  granted: boolean;
  waitMs: number;
}

/** One account's bucket, wherever it is kept. */
export interface Bucket {
  /** Reserve the next slot if its wait is at most `maxWaitMs`; otherwise reserve nothing. */
  reserve(maxWaitMs: number): Promise<Reservation>;
  /** A 429 arrived anyway: nothing goes for `retryAfterMs`, and the rate is halved for a while. */
  slowDown(retryAfterMs: number): Promise<void>;
}

/** Latency differences between calls the bucket absorbs (see the top of this file). */
export const JITTER_MS = 250;

/** The calls admitted at once: the vendor's burst less JITTER_MS' worth of calls (at least one less), and at
 * least one. */
export function capacityOf(settings: PacingSettings): number {
  return Math.max(1, settings.burst - Math.max(1, Math.ceil((settings.ratePerS * JITTER_MS) / 1000)));
}

/** How long a 429 halves an account's rate after it arrived. */
export const SLOW_MS = 30_000;
/** The slowed rate is the configured one divided by this (fixed: bounded whatever the number of 429s). */
export const SLOW_FACTOR = 2;

/**
 * GCRA, one account: `tat` is the time debt of the calls already admitted (when the bucket would be full again).
 * A call is admitted once `max(tat, now) + interval - now` is at most `burst × interval` (the base interval: a
 * slowed rate spends more debt per call, it does not widen the burst). The Redis bucket runs the same in Lua.
 */
export class MemoryBucket implements Bucket {
  private tat = 0;
  private slowUntil = 0;
  private readonly intervalMs: number;

  private readonly capacity: number;

  /** A monotonic clock by default: a wall clock that jumps (NTP, or a test moving Date.now to expire tokens) would
   * book the bucket hours ahead or let a burst through. */
  constructor(
    settings: PacingSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.intervalMs = 1000 / settings.ratePerS;
    this.capacity = capacityOf(settings);
  }

  async reserve(maxWaitMs: number): Promise<Reservation> {
    const now = this.now();
    const step = this.intervalMs * (this.slowUntil > now ? SLOW_FACTOR : 1);
    const next = Math.max(this.tat, now) + step;
    const waitMs = Math.max(0, next - this.capacity * this.intervalMs - now);
    if (waitMs > maxWaitMs) return { granted: false, waitMs };
    this.tat = next;
    return { granted: true, waitMs };
  }

  async slowDown(retryAfterMs: number): Promise<void> {
    const now = this.now();
    this.slowUntil = now + SLOW_MS;
    // The next call's wait becomes retryAfterMs (at the slowed step), unless the bucket was already further behind.
    const step = this.intervalMs * SLOW_FACTOR;
    this.tat = Math.max(this.tat, now + retryAfterMs + this.capacity * this.intervalMs - step);
  }
}

/**
 * The same in Redis, on Redis' clock (TIME), so that every instance sees one bucket whatever its own clock.
 * KEYS[1] the account's hash; ARGV: op (`reserve` | `slow`), interval ms, burst, max wait ms (reserve) or
 * Retry-After ms (slow), slow ms, slow factor. Reserve answers {granted 0|1, wait ms rounded up}.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local h = redis.call('HMGET', KEYS[1], 'tat', 'su')
local tat = tonumber(h[1]) or 0
local su = tonumber(h[2]) or 0
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local slowms = tonumber(ARGV[5])
local factor = tonumber(ARGV[6])
local ttl
if ARGV[1] == 'reserve' then
  local step = interval
  if su > now then step = interval * factor end
  local nxt = math.max(tat, now) + step
  local wait = nxt - burst * interval - now
  if wait < 0 then wait = 0 end
  if wait > tonumber(ARGV[4]) then return {0, math.ceil(wait)} end
  redis.call('HSET', KEYS[1], 'tat', tostring(nxt))
  ttl = math.max(nxt - now, su - now, 0) + 1000
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl))
  return {1, math.ceil(wait)}
end
su = now + slowms
tat = math.max(tat, now + tonumber(ARGV[4]) + burst * interval - interval * factor)
redis.call('HSET', KEYS[1], 'tat', tostring(tat), 'su', tostring(su))
ttl = math.max(tat - now, slowms) + 1000
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl))
return {1, 0}
`;

export interface PacingLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Where shared buckets live: the state store's Redis connection and key prefix. */
export interface SharedRedis {
  client: Redis;
  prefix: string;
}

/**
 * The account's bucket in Redis, falling back to a bucket of this instance's own while Redis fails (said in the
 * log once per outage, and again when it answers); after a failure Redis is not asked again for a second, so a
 * paused Redis does not add its command timeout to every call. While on the fallback, each instance paces on its
 * own: several instances together may exceed the vendor's rate, and its 429s then slow each one down.
 */
export class RedisBucket implements Bucket {
  private readonly local: MemoryBucket;
  private readonly intervalMs: number;
  private skipUntil = 0;
  private degraded = false;

  constructor(
    private readonly redis: SharedRedis,
    private readonly key: string,
    private readonly settings: PacingSettings,
    private readonly logger: PacingLogger,
  ) {
    this.local = new MemoryBucket(settings);
    this.intervalMs = 1000 / settings.ratePerS;
  }

  private async run(op: 'reserve' | 'slow', arg: number): Promise<[number, number] | undefined> {
    if (Date.now() < this.skipUntil) return undefined;
    try {
      await this.connected();
      const args = [op, String(this.intervalMs), String(capacityOf(this.settings)), String(Number.isFinite(arg) ? arg : 1e15), String(SLOW_MS), String(SLOW_FACTOR)];
      const reply = (await this.redis.client.eval(GCRA, 1, this.redis.prefix + this.key, ...args)) as [number, number];
      if (this.degraded) {
        this.degraded = false;
        this.logger.info({ store: 'redis' }, 'state store answers again: backend calls are paced together with the other instances again');
      }
      return reply;
    } catch {
      this.skipUntil = Date.now() + 1000;
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn({ store: 'redis' }, 'state store unavailable: backend calls are paced per instance until it answers again');
      }
      return undefined;
    }
  }

  /** While the first connection is being made, wait for it (up to 1 s), as the store's own commands do; once Redis
   * is known to be down, the command fails at once (no offline queue). */
  private async connected(): Promise<void> {
    const client = this.redis.client;
    const status = client.status;
    if (status !== 'wait' && status !== 'connecting' && status !== 'connect') return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([whenReady(client), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  async reserve(maxWaitMs: number): Promise<Reservation> {
    const reply = await this.run('reserve', maxWaitMs);
    if (!reply) return this.local.reserve(maxWaitMs);
    return { granted: Number(reply[0]) === 1, waitMs: Number(reply[1]) };
  }

  async slowDown(retryAfterMs: number): Promise<void> {
    await this.local.slowDown(retryAfterMs);
    await this.run('slow', retryAfterMs);
  }
}

/** One promise (one listener) per connection for every bucket waiting for it to be ready. */
const readyOf = new WeakMap<Redis, Promise<void>>();
function whenReady(client: Redis): Promise<void> {
  let p = readyOf.get(client);
  if (!p) {
    p = new Promise<void>((resolve) =>
      client.once('ready', () => {
        readyOf.delete(client);
        resolve();
      }),
    );
    readyOf.set(client, p);
  }
  return p;
}

/** Background work reserves at most this far ahead at a time, so it never books an account far ahead of others. */
const BACKGROUND_STEP_MS = 1000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The outcome of waiting for a turn: went (after `waitedMs`), or refused (the wait would have been `waitMs`). */
export type Turn = { ok: true; waitedMs: number } | { ok: false; waitMs: number };

/** One account's pacer, as backend-http uses it: the settings (for messages) and the bucket. */
export class Pacer {
  constructor(
    readonly settings: PacingSettings,
    readonly bucket: Bucket,
    private readonly sleep: (ms: number) => Promise<void> = realSleep,
  ) {}

  /**
   * Wait for this account's next slot. `maxWaitMs` finite (an interactive call): refused without reserving when
   * the wait would be longer. Infinite (background work): waits whatever the wait, in steps.
   */
  async turn(maxWaitMs: number): Promise<Turn> {
    let waited = 0;
    for (;;) {
      const limit = Number.isFinite(maxWaitMs) ? Math.max(0, maxWaitMs - waited) : BACKGROUND_STEP_MS;
      const r = await this.bucket.reserve(limit);
      if (r.granted) {
        if (r.waitMs > 0) await this.sleep(r.waitMs);
        return { ok: true, waitedMs: waited + r.waitMs };
      }
      if (Number.isFinite(maxWaitMs)) return { ok: false, waitMs: r.waitMs };
      // Background: sleep until the slot would be within one step, then ask again.
      const pause = Math.max(50, r.waitMs - BACKGROUND_STEP_MS / 2);
      await this.sleep(pause);
      waited += pause;
    }
  }

  slowDown(retryAfterMs: number): Promise<void> {
    return this.bucket.slowDown(retryAfterMs);
  }
}

/** The pacing a tenant gets: its own `pacing` (settings or false), else its backend's default; undefined when off. */
export function pacingSettings(own: { rate_per_s: number; burst: number } | false | undefined, backendDefault: { rate_per_s: number; burst: number } | false | undefined): PacingSettings | undefined {
  const chosen = own === undefined ? backendDefault : own;
  if (!chosen) return undefined;
  return { ratePerS: chosen.rate_per_s, burst: chosen.burst };
}

/** The account a tenant calls as: its backend, base URL and credentials (hashed: the key names no secret). Tenants
 * with the same account share one bucket. */
export function accountKey(backend: string, baseUrl: string, auth: unknown): string {
  const h = createHash('sha256').update(JSON.stringify([backend, baseUrl.replace(/\/+$/, ''), canonical(auth)])).digest('hex');
  return `pace:${backend}:${h.slice(0, 32)}`;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

/**
 * The pacers of one gateway instance, one per account: tenants of one account get the same pacer (and so share a
 * bucket even without Redis). With `redis`, each bucket is in Redis, shared with the other instances.
 */
export class Pacers {
  private readonly byKey = new Map<string, Pacer>();

  constructor(private readonly opts: { redis?: SharedRedis; logger: PacingLogger; sleep?: (ms: number) => Promise<void> }) {}

  for(key: string, settings: PacingSettings): Pacer {
    // Keyed by the account alone: tenants of one account share one bucket, with the first one's settings (give
    // them the same `pacing`).
    const k = key;
    let p = this.byKey.get(k);
    if (!p) {
      const bucket = this.opts.redis ? new RedisBucket(this.opts.redis, k, settings, this.opts.logger) : new MemoryBucket(settings);
      p = new Pacer(settings, bucket, this.opts.sleep);
      this.byKey.set(k, p);
    }
    return p;
  }
}
