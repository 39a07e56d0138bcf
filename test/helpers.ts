/** Building a gateway in-process for tests: config from an object, log lines captured, Retry-After waits recorded. */
import { Writable } from 'node:stream';
import { registry as defaultRegistry } from '../adapters';
import { configSecrets, parseConfig, type Config, type Registry } from '../src/config';
import { createApp } from '../src/http/app';
import { createLogger, registerSecret } from '../src/log';
import { MemoryStore, type StateStore } from '../src/state/store';
import { buildTenants } from '../src/tenants';

export interface TestGateway {
  app: ReturnType<typeof createApp>;
  config: Config;
  /** Every log line written so far. */
  logs(): string;
  /** Retry-After waits the gateway took, in ms. */
  waits: number[];
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
  const tenants = buildTenants(parsed, registry, logger, { sleep: async (ms) => void waits.push(ms), store });
  const app = createApp({
    tenants,
    apiKeys: parsed.api_keys,
    logger,
    store,
    requestBudgetMs: opts.requestBudgetMs ?? 5000,
    bodyLimit: parsed.server.body_limit,
    rateLimit: parsed.server.rate_limit,
  });
  return { app, config: parsed, logs: () => lines, waits };
}
