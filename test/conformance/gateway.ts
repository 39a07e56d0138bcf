/**
 * The gateway under test, built in this process from a config file the way `src/main.ts` builds it for
 * `serve --config` (the same config loader, simulator start-up, tenant and app builders), limited to the one
 * tenant under test, and served on a loopback port for the suite.
 *
 * Two deliberate differences from a serving instance, so a run never disturbs one:
 * - The API key is the suite's own, made up for this run and held only in memory (the config's keys are not
 *   used): scoped to the one tenant, `read` only unless writes were asked for, no rate limit.
 * - State (backend sessions, counters) is kept in memory even when the config names Redis, so the run shares
 *   no session with serving instances (the suite moves its own clock to force renewals).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { registry } from '../../adapters';
import { configSecrets, loadConfigFile, parseConfig, secretValues, type Config } from '../../src/config';
import { createApp } from '../../src/http/app';
import { createLogger, registerSecret } from '../../src/log';
import { startSimulators } from '../../src/main';
import { Metrics } from '../../src/metrics';
import { MemoryStore } from '../../src/state/store';
import { buildTenants } from '../../src/tenants';

/** Where the gateway's config comes from: a file (operators), or text (the suite's own targets). */
export interface GatewaySpec {
  /** Shown in test names and messages. */
  label: string;
  configPath?: string;
  configText?: string;
  tenant: string;
}

export type Scope = 'read' | 'write' | 'secrets';

/**
 * The gateway's clock. Every backend client reads `Date.now` when it is built; the suite replaces `Date.now`
 * before building, so moving `offsetMs` ahead makes the gateway believe its backend tokens are due for renewal.
 */
const realNow = Date.now.bind(Date);
export const clock = {
  offsetMs: 0,
  now: (): number => realNow() + clock.offsetMs,
};
export function installClock(): void {
  Date.now = clock.now;
}
export function uninstallClock(): void {
  clock.offsetMs = 0;
  Date.now = realNow;
}

export interface ConformanceGateway {
  /** Base URL of the gateway on its loopback port. */
  url: string;
  tenant: string;
  backend: string;
  /** `Authorization` header of the suite's key. */
  auth: { Authorization: string };
  /** Captured log lines (the gateway logs nothing to the terminal during a run). */
  logs(): string;
  close(): Promise<void>;
}

const MAX_LOG = 4 * 1024 * 1024;

export function loadSpecConfig(spec: GatewaySpec): Config {
  if (spec.configPath) return loadConfigFile(spec.configPath, { registry });
  return parseConfig(spec.configText ?? '', { registry, source: spec.label });
}

export async function buildGateway(spec: GatewaySpec, scopes: Scope[]): Promise<ConformanceGateway> {
  installClock();
  const full = loadSpecConfig(spec);
  const entry = full.tenants[spec.tenant];
  if (!entry) {
    const known = Object.keys(full.tenants).join(', ') || '(none)';
    throw new Error(`${spec.label}: no tenant named '${spec.tenant}' in the configuration; it has: ${known}`);
  }
  const key = `pbxgw_conformance_${randomBytes(24).toString('hex')}`;
  const config: Config = {
    ...full,
    api_keys: [{ id: 'conformance-suite', key, tenants: [spec.tenant], scopes, rate_limit: { requests: 0, window_s: 60 } }],
    tenants: { [spec.tenant]: entry },
  };

  let lines = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines += chunk.toString();
      if (lines.length > MAX_LOG) lines = lines.slice(-MAX_LOG / 2);
      cb();
    },
  });
  const logger = createLogger({ level: config.logging.level, destination: sink });
  configSecrets(config).forEach(registerSecret);
  registerSecret(key);
  const { running, resolved } = await startSimulators(config, registry);
  Object.values(resolved).forEach((r) => secretValues(r.auth).forEach(registerSecret));
  const store = new MemoryStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const tenants = buildTenants(config, registry, logger, { resolved, store, metrics });
  const app = createApp({
    tenants,
    apiKeys: config.api_keys,
    logger,
    store,
    metrics,
    requestBudgetMs: config.server.request_budget_ms,
    bodyLimit: config.server.body_limit,
    rateLimit: config.server.rate_limit,
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tenant: spec.tenant,
    backend: entry.backend,
    auth: { Authorization: `Bearer ${key}` },
    logs: () => lines,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...tenants.values()].map((t) => t.adapter.close?.()));
      await Promise.all([...running.values()].map((s) => s.sim.close()));
      await store.close();
    },
  };
}

/** Backend logins and renewals so far, from the gateway's own /metrics (pbxgw_backend_session_events_total). */
export function sessionEvents(metricsText: string, tenant: string): { login: number; renewal: number } {
  const out = { login: 0, renewal: 0 };
  for (const line of metricsText.split('\n')) {
    const m = /^pbxgw_backend_session_events_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.tenant !== tenant) continue;
    if (labels.event === 'login' || labels.event === 'renewal') out[labels.event] += Number(m[2]);
  }
  return out;
}

/** How far the clock is moved to force a renewal: past an hour-long access token first, then past a day. */
export const CLOCK_JUMPS_MS = [65 * 60_000, 25 * 3600_000];
