#!/usr/bin/env node
/**
 * Entry point. With `--config <file>` (or PBX_GATEWAY_CONFIG) the gateway serves that file's tenants; with
 * neither it serves the embedded demo (config/demo.yaml), whose tenants run on in-process simulators.
 */
import http, { type RequestListener, type Server } from 'node:http';
import path from 'node:path';
import v8 from 'node:v8';
import { registry } from '../adapters';
import { ConfigError, configSecrets, loadConfigFile, secretValues, type Config, type Registry } from './config';
import type { SimulatedBackend } from './contract';
import { createApp } from './http/app';
import { createLogger, registerSecret } from './log';
import type { Logger } from 'pino';
import { escapePointer } from './schemas';
import { Metrics } from './metrics';
import { MemoryStore, type StateStore } from './state/store';
import { buildTenants, type BuildOptions } from './tenants';
import { projectRoot } from './project-root';
import type { Tenant } from './extensions';
import { startChangeEvents } from './events/setup';

export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv): { path: string; demo: boolean } {
  const i = argv.indexOf('--config');
  const given = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  const file = given ?? env.PBX_GATEWAY_CONFIG;
  if (file) return { path: path.resolve(file), demo: false };
  return { path: path.join(projectRoot(), 'config', 'demo.yaml'), demo: true };
}

/** Start the simulators of tenants that ask for one (the demo), and say where each tenant should point. Running
 * simulators from a previous generation are reused for a tenant of the same name and backend. */
export async function startSimulators(config: Config, reg: Registry, reuse: Map<string, { backend: string; sim: SimulatedBackend }> = new Map()) {
  const running = new Map<string, { backend: string; sim: SimulatedBackend }>();
  const resolved: Record<string, { base_url: string; auth: Record<string, unknown> }> = {};
  for (const [name, tenant] of Object.entries(config.tenants)) {
    if (!tenant.simulator) continue;
    const previous = reuse.get(name);
    const sim = previous && previous.backend === tenant.backend ? previous.sim : await reg[tenant.backend].startSimulator!();
    running.set(name, { backend: tenant.backend, sim });
    resolved[name] = { base_url: sim.baseUrl, auth: sim.auth };
  }
  return { running, resolved };
}

/**
 * Every tenant of a config built (adapter and backend client), each on its own, so that what a schema cannot see
 * (a value an adapter refuses when it is built) is a configuration fault with its tenant's path, not a crash. On
 * any fault, what was built is closed again and one ConfigError lists them all: a config is taken whole or not
 * at all. `only` limits the build to some tenants (check-config leaves out those that run on a simulator).
 */
export async function buildTenantsChecked(config: Config, reg: Registry, logger: Logger, opts: BuildOptions = {}, only: (name: string) => boolean = () => true): Promise<Map<string, Tenant>> {
  const built = new Map<string, Tenant>();
  const faults: { pointer: string; detail: string }[] = [];
  for (const [name, tenant] of Object.entries(config.tenants)) {
    if (!only(name)) continue;
    try {
      for (const [k, t] of buildTenants({ ...config, tenants: { [name]: tenant } }, reg, logger, opts)) built.set(k, t);
    } catch (err) {
      faults.push({ pointer: `/tenants/${escapePointer(name)}`, detail: `cannot be served: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  if (!faults.length) return built;
  await Promise.all([...built.values()].map((t) => t.adapter.close?.()));
  throw new ConfigError(config.source ?? 'configuration', faults);
}

export interface RunningGateway {
  server: Server;
  url: string;
  /** The root logger (its level is the served config's). */
  logger: Logger;
  /** The configuration being served. */
  readonly config: Config;
  /**
   * Serve a new configuration, all of it or none of it: everything it needs is built first and swapped in at the
   * end, so a fault (a ConfigError, with its path) leaves the previous one serving untouched. Requests in flight
   * finish on the old one, new requests get the new one.
   */
  reload(config: Config): Promise<void>;
  /** Stop accepting, let in-flight requests finish for up to `graceMs`, then cut what is left and clean up. */
  close(graceMs?: number): Promise<void>;
}

/** Redis when the config names one (several instances act as one), else memory (one process). */
export async function createStore(config: Config, logger?: Logger): Promise<StateStore> {
  if (!config.state.redis_url) return new MemoryStore();
  // Loaded only when a config names Redis: its client is several megabytes of resident memory otherwise unused.
  const { RedisStore } = await import('./state/redis');
  return new RedisStore(config.state.redis_url, { encryptionKey: config.state.encryption_key, logger });
}

interface Generation {
  config: Config;
  tenants: Map<string, Tenant>;
  app: RequestListener;
  simulators: Map<string, { backend: string; sim: SimulatedBackend }>;
}

/**
 * Under load, objects that are alive across young collections (the requests in flight at each) are promoted at a
 * steady pace (about 1.8 MB a scavenge at 2,000 req/s, by --trace-gc-nvp), so the old generation fills with
 * garbage; V8's default lets it grow to about four times what survived the last full collection before
 * collecting again (20 MB live, 95 MB before each collection here), and the peak resident size follows. A lower growing factor
 * collects earlier: measured in bench/README.md (peak RSS for get one at saturation 176-179 MB -> 116-121 MB at 50 %, same CPU per request).
 * V8 reads this flag at every full collection, so setting it at start takes effect without a command-line flag.
 */
function applyHeapGrowth(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

export async function startGateway(config: Config, reg: Registry = registry, env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  applyHeapGrowth(config.server.heap_growing_percent);
  const logger = createLogger({ level: config.logging.level });
  const store = await createStore(config, logger);
  const metrics = new Metrics();
  // Change events outlive config reloads: one log and one detector, reading the generation being served.
  const events = startChangeEvents({ store, logger, metrics, retentionMs: config.events.retention_ms, tenants: () => current.tenants, config: () => current.config });

  /** Everything that follows from one config: simulators, tenants with their backend clients, the app. Nothing
   * of it is in use until the caller swaps it in; on a fault, what it started is stopped again. */
  async function generation(cfg: Config, previous?: Generation): Promise<Generation> {
    configSecrets(cfg).forEach(registerSecret);
    const { running, resolved } = await startSimulators(cfg, reg, previous?.simulators);
    const reused = new Set([...(previous?.simulators.values() ?? [])].map((s) => s.sim));
    try {
      Object.values(resolved).forEach((r) => secretValues(r.auth).forEach(registerSecret));
      const tenants = await buildTenantsChecked(cfg, reg, logger, { resolved, store, metrics, events: events.recorder });
      const app = createApp({
        tenants,
        apiKeys: cfg.api_keys,
        logger,
        store,
        metrics,
        requestBudgetMs: cfg.server.request_budget_ms,
        bodyLimit: cfg.server.body_limit,
        rateLimit: cfg.server.rate_limit,
        events: events.log,
        webhooks: cfg.webhooks,
      });
      return { config: cfg, tenants, app, simulators: running };
    } catch (err) {
      await Promise.all([...running.values()].filter((s) => !reused.has(s.sim)).map((s) => s.sim.close()));
      throw err;
    }
  }

  async function retire(old: Generation, next: Generation | undefined, graceMs: number) {
    // After the grace period no request of the old generation is still running: release what it alone held.
    await new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.all([...old.tenants.values()].map((t) => t.adapter.close?.()));
    const kept = new Set([...(next?.simulators.values() ?? [])].map((s) => s.sim));
    await Promise.all([...old.simulators.values()].filter((s) => !kept.has(s.sim)).map((s) => s.sim.close()));
  }

  let current: Generation;
  try {
    current = await generation(config);
  } catch (err) {
    await events.stop();
    await store.close();
    throw err;
  }
  events.start();
  const server = http.createServer((req, res) => current.app(req, res));
  const port = env.PORT !== undefined ? Number(env.PORT) : config.server.port;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.server.host, () => resolve());
    });
  } catch (err) {
    await retire(current, undefined, 0);
    await events.stop();
    await store.close();
    throw listenFault(err, config, env);
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host}:${actualPort}`;
  logger.info({ url, tenants: [...current.tenants.keys()] }, 'pbx-gateway listening');
  /** Build the new generation first (a fault throws here, with nothing applied), then swap everything at once. */
  let reloading: Promise<unknown> = Promise.resolve();
  async function swapIn(next: Config): Promise<void> {
    const old = current;
    // Build first (a fault throws here, with nothing applied), then swap everything at once.
    const built = await generation(next, old);
    if (next.server.host !== old.config.server.host || next.server.port !== old.config.server.port || next.state.redis_url !== old.config.state.redis_url || next.server.heap_growing_percent !== old.config.server.heap_growing_percent) {
      logger.warn('server host, port, heap_growing_percent and state take effect at the next restart');
    }
    logger.level = next.logging.level;
    current = built;
    // The new app's deliverer (if it has subscriptions) took over the old one's; without any, the old one stops.
    void webhooksOf(old).close();
    logger.info({ tenants: [...current.tenants.keys()] }, 'configuration reloaded');
    void retire(old, current, old.config.server.shutdown_grace_ms);
  }

  return {
    server,
    url,
    logger,
    get config() {
      return current.config;
    },
    reload(next) {
      // One reload at a time: a second SIGHUP during a first builds on what the first swapped in.
      const run = reloading.then(() => swapIn(next));
      reloading = run.catch(() => undefined);
      return run;
    },
    async close(graceMs = current.config.server.shutdown_grace_ms) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      // A kept-alive connection whose request was in flight turns idle once its answer is sent: close those as
      // they come (a sweep while closing, rather than a listener on every request's answer all the time).
      const sweep = setInterval(() => server.closeIdleConnections(), 20);
      const cut = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearInterval(sweep);
      clearTimeout(cut);
      await webhooksOf(current).close();
      await events.stop();
      await retire(current, undefined, 0);
      await store.close();
      logger.flush();
    },
  };
}

/** The webhook deliverer a generation's app runs (a no-op when it has no subscriptions). */
function webhooksOf(g: Generation): { close(): Promise<void> } {
  return ((g.app as { locals?: { webhooks?: { close(): Promise<void> } } }).locals?.webhooks) ?? { close: async () => undefined };
}

/** The listening address refused (in use, not permitted, not this host's): a fault of the config (or PORT). */
function listenFault(err: unknown, config: Config, env: NodeJS.ProcessEnv): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  const port = env.PORT !== undefined ? `PORT=${env.PORT}` : `port ${config.server.port}`;
  const source = config.source ?? 'configuration';
  if (code === 'EADDRINUSE') return new ConfigError(source, [{ pointer: env.PORT !== undefined ? '' : '/server/port', detail: `${port} on ${config.server.host} is in use (EADDRINUSE)` }]);
  if (code === 'EACCES') return new ConfigError(source, [{ pointer: env.PORT !== undefined ? '' : '/server/port', detail: `${port} may not be listened on by this user (EACCES)` }]);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ConfigError(source, [{ pointer: '/server/host', detail: `${config.server.host} is not an address of this host (${code})` }]);
  return err;
}

function demoBanner(config: Config, url: string): string {
  const key = config.api_keys[0].key;
  const tenant = Object.keys(config.tenants)[0];
  return [
    '',
    'pbx-gateway is running the embedded demo: every tenant is an in-process simulator.',
    `  URL:      ${url}`,
    `  API key:  ${key}`,
    `  Tenants:  ${Object.keys(config.tenants).join(', ')}`,
    '',
    'Try:',
    `  curl -s -H 'Authorization: Bearer ${key}' ${url}/v1/tenants/${tenant}/extensions`,
    `  ${url}/console/  (the web console; sign in with the key above)`,
    `  ${url}/docs      (the API, from its OpenAPI document)`,
    '',
  ].join('\n');
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { path: file, demo } = configPathFrom(argv, process.env);
  let config: Config;
  try {
    config = loadConfigFile(file, { registry });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  let gateway: RunningGateway;
  try {
    gateway = await startGateway(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  if (demo) process.stdout.write(demoBanner(config, gateway.url) + '\n');
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`${signal}: finishing in-flight requests, then exiting\n`);
    // A last guard in case cleanup itself hangs: in-flight requests had their grace period already.
    const force = setTimeout(() => process.exit(1), config.server.shutdown_grace_ms + 5000);
    force.unref();
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: read the config file again; a faulty one is refused with its faults and the old one keeps serving.
  process.on('SIGHUP', () => {
    let next: Config;
    try {
      next = loadConfigFile(file, { registry });
    } catch (err) {
      process.stderr.write(`SIGHUP: configuration refused, still serving the previous one.\n${err instanceof Error ? err.message : String(err)}\n`);
      return;
    }
    gateway.reload(next).then(
      () => process.stderr.write('SIGHUP: configuration reloaded\n'),
      (err: unknown) =>
        process.stderr.write(
          err instanceof ConfigError
            ? `SIGHUP: configuration refused, still serving the previous one.\n${err.message}\n`
            : `SIGHUP: reload failed, still serving the previous configuration: ${err instanceof Error ? err.message : String(err)}\n`,
        ),
    );
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`pbx-gateway failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
