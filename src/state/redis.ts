/** The Redis StateStore: the same contract as MemoryStore, shared by every gateway instance using the URL. */
import Redis from 'ioredis';
import type { StateStore } from './store';

export class RedisStore implements StateStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix = 'pbxgw:') {
    // Fail fast rather than queue forever: a request waiting on a dead Redis would hang past its budget.
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2000, lazyConnect: false });
    this.redis.on('error', () => undefined); // surfaced per command; the client reconnects on its own
  }

  async get(key: string) {
    return this.redis.get(this.prefix + key);
  }
  async set(key: string, value: string, ttlMs: number) {
    await this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs)));
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    return (await this.redis.set(this.prefix + key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
  }
  async delete(key: string) {
    await this.redis.del(this.prefix + key);
  }
  async increment(key: string, ttlMs: number) {
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
  }
}
