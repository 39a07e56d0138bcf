/**
 * Tenant routing: each configured tenant gets its adapter, built once at start-up from the registry, with its
 * own backend HTTP client (so one tenant's sockets, timeouts and logs never mix with another's).
 */
import type { Logger } from 'pino';
import { BackendHttp } from './backend-http';
import type { Config, Registry } from './config';
import type { Tenant } from './extensions';

export interface BuildOptions {
  /** Overrides per tenant: the demo points simulated tenants at their running simulators. */
  resolved?: Record<string, { base_url: string; auth?: Record<string, unknown> }>;
  /** Retry-After waits (tests shorten them). */
  sleep?: (ms: number) => Promise<void>;
}

export function buildTenants(config: Config, registry: Registry, logger: Logger, opts: BuildOptions = {}): Map<string, Tenant> {
  const tenants = new Map<string, Tenant>();
  for (const [name, entry] of Object.entries(config.tenants)) {
    const factory = registry[entry.backend];
    const override = opts.resolved?.[name];
    const tenantConfig = { ...entry, ...(override ?? {}), base_url: override?.base_url ?? entry.base_url ?? '' };
    const tenantLogger = logger.child({ tenant: name, backend: entry.backend });
    const tls = entry.tls as { verify?: boolean } | undefined;
    const http = new BackendHttp({
      backend: entry.backend,
      baseUrl: tenantConfig.base_url,
      timeoutMs: entry.timeout_ms ?? 10_000,
      logger: tenantLogger,
      requestIdHeader: 'x-request-id',
      tlsVerify: tls?.verify ?? true,
      sleep: opts.sleep,
    });
    const adapter = factory.create({ tenant: name, config: tenantConfig, http, logger: tenantLogger });
    tenants.set(name, { name, backend: entry.backend, adapter });
  }
  return tenants;
}
