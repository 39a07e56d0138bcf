/**
 * Tenant routing: each configured tenant gets its adapter, built once at start-up from the registry, with its
 * own backend HTTP client (so one tenant's sockets, timeouts and logs never mix with another's).
 */
import type { Logger } from 'pino';
import { BackendHttp, type ResilienceOptions } from './backend-http';
import type { LimitsConfig, PacingConfig, ResilienceConfig } from '../schemas/types';
import type { Config, Registry } from './config';
import type { Tenant } from './extensions';
import { registerSecret } from './log';
import type { Metrics } from './metrics';
import { observeWrites, type ChangeRecorder } from './events/observe';
import { accountKey, Pacers, pacingSettings } from './pacing';
import { RedisStore } from './state/redis';
import { MemoryStore, type StateStore } from './state/store';

export interface BuildOptions {
  /** Overrides per tenant: the demo points simulated tenants at their running simulators. */
  resolved?: Record<string, { base_url: string; auth?: Record<string, unknown> }>;
  /** Retry-After waits (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
  /** Shared state for adapters (backend sessions); default in memory. */
  store?: StateStore;
  metrics?: Metrics;
  /** Change events: every tenant's writes are observed (src/events/observe.ts); none when absent. */
  events?: ChangeRecorder;
}

export function buildTenants(config: Config, registry: Registry, logger: Logger, opts: BuildOptions = {}): Map<string, Tenant> {
  const tenants = new Map<string, Tenant>();
  const store = opts.store ?? new MemoryStore();
  // One outbound token bucket per vendor account, in the state store's Redis when there is one (every instance
  // then paces the account together), else in this instance.
  const pacers = new Pacers({ logger, redis: store instanceof RedisStore ? { client: store.client, prefix: store.prefix } : undefined });
  for (const [name, entry] of Object.entries(config.tenants)) {
    const factory = registry[entry.backend];
    const override = opts.resolved?.[name];
    const tenantConfig = { ...entry, ...(override ?? {}), base_url: override?.base_url ?? entry.base_url ?? '' };
    const tenantLogger = logger.child({ tenant: name, backend: entry.backend });
    const tls = entry.tls as { verify?: boolean } | undefined;
    const limits = entry.limits as LimitsConfig | undefined;
    const proxy = entry.proxy as string | false | undefined;
    if (typeof proxy === 'string') registerProxySecret(proxy);
    const pacing = pacingSettings(entry.pacing as PacingConfig | false | undefined, factory.pacing);
    const pacer = pacing && pacers.for(accountKey(entry.backend, tenantConfig.base_url, tenantConfig.auth), pacing);
    const http = new BackendHttp({
      backend: entry.backend,
      baseUrl: tenantConfig.base_url,
      timeoutMs: entry.timeout_ms ?? 10_000,
      logger: tenantLogger,
      requestIdHeader: 'x-request-id',
      tlsVerify: tls?.verify ?? true,
      maxListBytes: limits?.list_bytes,
      maxOtherBytes: limits?.other_bytes,
      proxy,
      sleep: opts.sleep,
      resilience: resilienceOf(entry.resilience as ResilienceConfig | undefined),
      metrics: opts.metrics?.forBackend(name, entry.backend),
      pacer: pacer || undefined,
    });
    const backendAdapter = factory.create({ tenant: name, config: tenantConfig, http, logger: tenantLogger, state: namespaced(store, `tenant:${name}:`) });
    const adapter = opts.events ? observeWrites(backendAdapter, name, opts.events) : backendAdapter;
    tenants.set(name, { name, backend: entry.backend, adapter, http });
  }
  return tenants;
}

/** A view of the store whose keys all start with a prefix, so one tenant's state never meets another's. */
export function namespaced(store: StateStore, prefix: string): StateStore {
  return {
    kind: store.kind,
    get: (k) => store.get(prefix + k),
    set: (k, v, ttl) => store.set(prefix + k, v, ttl),
    setIfAbsent: (k, v, ttl) => store.setIfAbsent(prefix + k, v, ttl),
    delete: (k) => store.delete(prefix + k),
    increment: (k, ttl) => store.increment(prefix + k, ttl),
    close: async () => undefined,
  };
}

/** A proxy URL's password is a credential: kept out of every log line like the backends' own. */
function registerProxySecret(proxy: string): void {
  try {
    const password = decodeURIComponent(new URL(proxy).password);
    if (password) registerSecret(password);
  } catch {
    // not a URL: the schema refuses it before this runs
  }
}

function resilienceOf(r: ResilienceConfig | undefined): ResilienceOptions {
  return {
    retries: r?.retries,
    breakerFailures: r?.breaker_failures,
    breakerOpenMs: r?.breaker_open_ms,
    maxConcurrent: r?.max_concurrent,
    maxQueued: r?.max_queued,
  };
}
