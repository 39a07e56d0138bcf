/** Building a gateway in-process for tests: config from an object, log lines captured, Retry-After waits recorded. */
import net from 'node:net';
import { Writable } from 'node:stream';
import { registry as defaultRegistry } from '../adapters';
import { configSecrets, parseConfig, type Config, type Registry } from '../src/config';
import { createApp } from '../src/http/app';
import { createLogger, registerSecret } from '../src/log';
import { Metrics } from '../src/metrics';
import { RedisStore } from '../src/state/redis';
import { MemoryStore, type StateStore } from '../src/state/store';
import { buildTenants } from '../src/tenants';
import { startChangeEvents, type ChangeEvents } from '../src/events/setup';

export interface TestGateway {
  app: ReturnType<typeof createApp>;
  config: Config;
  /** Every log line written so far. */
  logs(): string;
  /** Retry-After waits the gateway took, in ms. */
  waits: number[];
  /** Change events: the log (also `app.locals.events`) and the detector (not started: `events.detector.compare(tenant)`). */
  events: ChangeEvents;
}

export function buildTestGateway(config: object, opts: { registry?: Registry; requestBudgetMs?: number; env?: NodeJS.ProcessEnv; store?: StateStore } = {}): TestGateway {
  const registry = opts.registry ?? defaultRegistry;
  const parsed = parseConfig(JSON.stringify(config), { registry, env: opts.env ?? {} });
  let lines = '';
  const sink = new Writable({ write: (chunk, _enc, cb) => ((lines += chunk.toString()), cb()) });
  const logger = createLogger({ level: 'debug', destination: sink });
  configSecrets(parsed).forEach(registerSecret);
  const waits: number[] = [];
  const store = opts.store ?? new MemoryStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const events = startChangeEvents({ store, logger, metrics, retentionMs: parsed.events.retention_ms, tenants: () => tenants, config: () => parsed });
  const tenants = buildTenants(parsed, registry, logger, { sleep: async (ms) => void waits.push(ms), store, metrics, events: events.recorder });
  const app = createApp({
    tenants,
    apiKeys: parsed.api_keys,
    logger,
    store,
    metrics,
    requestBudgetMs: opts.requestBudgetMs ?? 5000,
    bodyLimit: parsed.server.body_limit,
    rateLimit: parsed.server.rate_limit,
    events: events.log,
  });
  return { app, config: parsed, logs: () => lines, waits, events };
}

export const TEST_REDIS_URL = process.env.PBX_GATEWAY_TEST_REDIS ?? 'redis://127.0.0.1:6379/15';

/** Fail loudly (never pass silently) when the Redis these tests need is not there. */
export async function requireRedis(url = TEST_REDIS_URL): Promise<void> {
  const { hostname, port } = new URL(url);
  const ok = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: hostname, port: Number(port || 6379) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
  if (!ok) throw new Error(`These tests need Redis at ${url} and none answers. Start one (.ci/run does) or set PBX_GATEWAY_TEST_REDIS.`);
}

/** Remove what a test's Redis store wrote under its own random prefix (streams and hashes do not expire). */
export async function dropKeys(store: StateStore): Promise<void> {
  if (!(store instanceof RedisStore) || store.prefix === 'pbxgw:') return;
  const keys = await store.client.keys(`${store.prefix}*`);
  if (keys.length) await store.client.del(...keys);
}

/** Wait, for at most `ms`, until `probe` answers something truthy (a condition another part brings about). */
export async function until<T>(what: string, probe: () => T | Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
