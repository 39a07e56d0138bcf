/**
 * The Redis StateStore: the same contract as MemoryStore, shared by every gateway instance using the URL.
 *
 * Redis trouble must cost a request at most a short, fixed time, never its whole budget:
 * - every command has a timeout (`commandTimeoutMs`, default 500 ms: Redis answers in well under a millisecond
 *   on a working network, and half a second leaves a 15 s request budget nearly whole even when a request makes
 *   a few store calls), enforced by ioredis and by a race of our own;
 * - nothing is queued while the connection is down (`enableOfflineQueue: false`) or retried
 *   (`maxRetriesPerRequest: 0`): a command fails at once, and the client reconnects in the background every
 *   100-500 ms, so the first request after Redis returns finds a live connection (no slow first request);
 * - a failure is a `StateUnavailableError` (503 with Retry-After), never a 500;
 * - rate-limit counting (`increment`) falls back to a per-instance counter while Redis fails (said in the log
 *   once per outage), so requests that do not need shared state keep being served; after a failure the store is
 *   not asked again for `increment` for a second, so a paused Redis does not add its timeout to every request.
 */
import Redis from 'ioredis';
import { StateUnavailableError } from '../errors';
import { MemoryStore, type StateStore } from './store';

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface RedisStoreOptions {
  /** Prefix of every key (default `pbxgw:`). */
  prefix?: string;
  /** Longest wait for one command, in ms (default 500). */
  commandTimeoutMs?: number;
  /** The operator's secret (`state.encryption_key`), mixed into the keys that seal stored answers. */
  encryptionKey?: string;
  /** Where the fallback to per-instance counting is said; default one JSON line on stdout. */
  logger?: StoreLogger;
}

/** A pino-shaped line on stdout, for a store built without a logger. */
const stdoutLogger: StoreLogger = {
  warn: (obj, msg) => void process.stdout.write(JSON.stringify({ level: 40, time: Date.now(), ...obj, msg }) + '\n'),
  info: (obj, msg) => void process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), ...obj, msg }) + '\n'),
};

const DELETE_IF_EQUALS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisStore implements StateStore {
  readonly kind = 'redis' as const;
  readonly encryptionKey?: string;
  private readonly redis: Redis;
  /** Prefix of every key this store writes (pacing's shared buckets use it too). */
  readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly logger: StoreLogger;
  /** Per-instance counters while Redis fails. */
  private readonly local = new MemoryStore();
  /** Until when `increment` does not ask Redis (set after a failure). */
  private skipUntil = 0;
  private degraded = false;

  constructor(url: string, options: RedisStoreOptions | string = {}) {
    const opts = typeof options === 'string' ? { prefix: options } : options;
    this.prefix = opts.prefix ?? 'pbxgw:';
    this.timeoutMs = opts.commandTimeoutMs ?? 500;
    this.logger = opts.logger ?? stdoutLogger;
    if (opts.encryptionKey) this.encryptionKey = opts.encryptionKey;
    this.redis = new Redis(url, {
      commandTimeout: this.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: Math.max(1000, this.timeoutMs * 2),
      retryStrategy: (times) => Math.min(100 * times, 500),
      lazyConnect: false,
    });
    this.redis.on('error', () => undefined); // surfaced per command; the client reconnects on its own
  }

  /** The connection, for shared state that is more than a key and a value (pacing's token buckets, one Lua script
   * each): same timeouts, no offline queue, so a command fails at once while Redis is down. */
  get client(): Redis {
    return this.redis;
  }

  private ready?: Promise<void>;
  /** One promise (one listener) for every command waiting for the connection. */
  private whenReady(): Promise<void> {
    return (this.ready ??= new Promise<void>((resolve) =>
      this.redis.once('ready', () => {
        this.ready = undefined;
        resolve();
      }),
    ));
  }

  /**
   * Run one command within the timeout. While the first connection is being made the command waits for it (up
   * to the same timeout); once Redis is known to be down, it fails at once.
   */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis command timed out')), this.timeoutMs);
    });
    try {
      const status = this.redis.status;
      if (status !== 'ready') {
        if (status !== 'wait' && status !== 'connecting' && status !== 'connect') throw new Error(`Redis is ${status}`);
        await Promise.race([deadline, this.whenReady()]);
      }
      return await Promise.race([deadline, command()]);
    } catch (err) {
      throw new StateUnavailableError(undefined, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string) {
    return this.run(() => this.redis.get(this.prefix + key));
  }
  async set(key: string, value: string, ttlMs: number) {
    await this.run(() => this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    return (await this.run(() => this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))) === 'OK';
  }
  async delete(key: string) {
    await this.run(() => this.redis.del(this.prefix + key));
  }
  /** Delete the key only while it still holds `value` (a claim that is still ours). Sent on the same connection
   * as the commands before it, so it runs after them even when they timed out and Redis runs them late. */
  async deleteIfEquals(key: string, value: string) {
    await this.run(() => this.redis.eval(DELETE_IF_EQUALS, 1, this.prefix + key, value));
  }

  async increment(key: string, ttlMs: number) {
    if (Date.now() < this.skipUntil) return this.local.increment(key, ttlMs);
    try {
      const result = await this.run(() => this.incrementShared(key, ttlMs));
      if (this.degraded) {
        this.degraded = false;
        this.logger.info({ store: 'redis' }, 'state store answers again: rate limits are shared between instances again');
      }
      return result;
    } catch {
      this.skipUntil = Date.now() + 1000;
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn({ store: 'redis' }, 'state store unavailable: rate limits are counted per instance until it answers again');
      }
      return this.local.increment(key, ttlMs);
    }
  }

  private async incrementShared(key: string, ttlMs: number) {
    const k = this.prefix + key;
    // One round trip, atomic: the window starts with the first hit (SET NX creates it with its expiry).
    const replies = await this.redis
      .multi()
      .set(k, '0', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')
      .incr(k)
      .pttl(k)
      .exec();
    if (!replies) throw new Error('Redis transaction aborted');
    for (const [err] of replies) if (err) throw err;
    return { count: Number(replies[1][1]), resetMs: Math.max(0, Number(replies[2][1])) };
  }

  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect());
    await this.local.close();
  }
}
