/** One contract for both stores; the Redis half runs against the real server on 127.0.0.1:6379. */
import net from 'node:net';
import { RedisStore } from './redis';
import { MemoryStore, type StateStore } from './store';

const REDIS_URL = process.env.PBX_GATEWAY_TEST_REDIS ?? 'redis://127.0.0.1:6379/15';

function redisReachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: hostname, port: Number(port || 6379) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

function storeContract(name: string, make: () => Promise<StateStore | null>) {
  describe(`${name} store`, () => {
    let store: StateStore;
    const ns = `test:${process.pid}:${Date.now()}:`;
    beforeAll(async () => {
      const s = await make();
      if (!s) throw new Error(`${name}: no server reachable at ${REDIS_URL}; start one (see .ci/run) to run these tests`);
      store = s;
    });
    afterAll(() => store?.close());

    it('gets what was set, until it expires', async () => {
      await store.set(`${ns}a`, 'one', 60_000);
      expect(await store.get(`${ns}a`)).toBe('one');
      await store.set(`${ns}short`, 'x', 30);
      await new Promise((r) => setTimeout(r, 80));
      expect(await store.get(`${ns}short`)).toBeNull();
      await store.delete(`${ns}a`);
      expect(await store.get(`${ns}a`)).toBeNull();
    });

    it('lets exactly one of many concurrent claims win', async () => {
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.setIfAbsent(`${ns}lock`, String(i), 60_000)));
      expect(wins.filter(Boolean)).toHaveLength(1);
    });

    it('counts hits in a window that resets', async () => {
      const hits = [];
      for (let i = 0; i < 3; i++) hits.push(await store.increment(`${ns}rl`, 100));
      expect(hits.map((h) => h.count)).toEqual([1, 2, 3]);
      expect(hits[2].resetMs).toBeGreaterThan(0);
      expect(hits[2].resetMs).toBeLessThanOrEqual(100);
      await new Promise((r) => setTimeout(r, 150));
      expect((await store.increment(`${ns}rl`, 100)).count).toBe(1);
    });
  });
}

storeContract('memory', async () => new MemoryStore());
storeContract('redis', async () => ((await redisReachable(REDIS_URL)) ? new RedisStore(REDIS_URL) : null));
