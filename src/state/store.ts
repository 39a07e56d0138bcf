/**
 * Shared state: idempotency records, backend sessions, rate-limit counters. One small interface, two
 * implementations: in memory (one process, the default) and Redis (`state: { redis_url }`), so several gateway
 * instances behind a load balancer act as one. Keys are namespaced by the caller; values are strings.
 */
export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** The operator's secret (`state.encryption_key`) mixed into the keys that seal stored answers; optional. */
  readonly encryptionKey?: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Set only if the key does not exist; true when this call set it (a lock, a first claim). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Delete the key only while it holds `value` (releasing a claim that is still one's own). */
  deleteIfEquals?(key: string, value: string): Promise<void>;
  /** Count one more hit in a window that starts at the first hit and lasts ttlMs. */
  increment(key: string, ttlMs: number): Promise<{ count: number; resetMs: number }>;
  close(): Promise<void>;
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { value: string; expires: number }>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private live(key: string) {
    const e = this.entries.get(key);
    if (e && e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Expired entries are dropped as they are met, and in a sweep every 1000 writes so memory stays bounded. */
  private sweep() {
    if (++this.sweeps % 1000) return;
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expires <= now) this.entries.delete(k);
  }

  async get(key: string) {
    return this.live(key)?.value ?? null;
  }
  async set(key: string, value: string, ttlMs: number) {
    this.sweep();
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    if (this.live(key)) return false;
    await this.set(key, value, ttlMs);
    return true;
  }
  async delete(key: string) {
    this.entries.delete(key);
  }
  async deleteIfEquals(key: string, value: string) {
    if (this.live(key)?.value === value) this.entries.delete(key);
  }
  async increment(key: string, ttlMs: number) {
    const e = this.live(key);
    if (!e) {
      await this.set(key, '1', ttlMs);
      return { count: 1, resetMs: ttlMs };
    }
    e.value = String(Number(e.value) + 1);
    return { count: Number(e.value), resetMs: e.expires - this.now() };
  }
  async close() {
    this.entries.clear();
  }
}
