/**
 * Configuration: YAML, `${ENV}` interpolation, validation against schemas/config.schema.json and then each
 * tenant against its adapter's own schema. Every fault is collected and reported at once with its path, so an
 * operator fixes a file in one pass; a config with any fault is refused whole.
 */
import fs from 'node:fs';
import type { ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { createHash } from 'node:crypto';
import type { ApiKeyConfig, GatewayConfig, RateLimitConfig, TenantConfig } from '../schemas/types';
import type { AdapterFactory } from './contract';
import type { FieldFault } from './errors';
import { ajv, escapePointer, toFieldFaults, validators } from './schemas';
import { webhookFaults, webhookSecrets, webhookSettings, type WebhookSettings } from './events/webhooks-config';

export type Registry = Readonly<Record<string, AdapterFactory>>;

export interface Config {
  server: { host: string; port: number; request_budget_ms: number; body_limit: string; shutdown_grace_ms: number; heap_growing_percent: number; rate_limit: RateLimitConfig };
  state: { redis_url?: string; encryption_key?: string };
  logging: { level: string };
  api_keys: ApiKeyConfig[];
  tenants: Record<string, TenantConfig>;
  /** Change events: how long the log keeps them (`events.retention_days`, default 7). */
  events: { retention_ms: number };
  /** Webhook subscriptions and their delivery settings, defaults filled in (none when the file has no `webhooks`). */
  webhooks: WebhookSettings;
  /** Where it was read from (the file's path), for naming it in faults found after loading. */
  source?: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly faults: FieldFault[],
  ) {
    super(`${source}: ${faults.length} fault(s) in the configuration:\n` + faults.map((f) => `  ${f.pointer || '/'}: ${f.detail}`).join('\n'));
    this.name = 'ConfigError';
  }
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replace `${NAME}` and `${NAME:-default}` in every string value; `$${` stays a literal `${`. */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, faults: FieldFault[], pointer = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const v = env[name!];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      faults.push({ pointer, detail: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, faults, `${pointer}/${i}`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, faults, `${pointer}/${escapePointer(k)}`)]));
  }
  return value;
}

const adapterValidators = new WeakMap<AdapterFactory, ValidateFunction>();
function adapterValidator(factory: AdapterFactory): ValidateFunction {
  let v = adapterValidators.get(factory);
  if (!v) adapterValidators.set(factory, (v = ajv.compile(factory.configSchema)));
  return v;
}

export function parseConfig(text: string, opts: { env?: NodeJS.ProcessEnv; registry: Registry; source?: string }): Config {
  const source = opts.source ?? 'config';
  const doc = YAML.parseDocument(text, { prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(source, doc.errors.map((e) => ({ pointer: '', detail: `YAML: ${e.message.split('\n')[0]}` })));
  }
  const faults: FieldFault[] = [];
  const raw = interpolate(doc.toJS(), opts.env ?? process.env, faults);
  if (!validators.config(raw)) faults.push(...toFieldFaults(validators.config.errors));
  const cfg = (raw ?? {}) as GatewayConfig;
  const tenants = (cfg.tenants && typeof cfg.tenants === 'object' ? cfg.tenants : {}) as Record<string, TenantConfig>;

  for (const [name, tenant] of Object.entries(tenants)) {
    if (!tenant || typeof tenant.backend !== 'string') continue; // already reported by the base schema
    const at = `/tenants/${escapePointer(name)}`;
    const factory = Object.hasOwn(opts.registry, tenant.backend) ? opts.registry[tenant.backend] : undefined;
    if (!factory) {
      faults.push({ pointer: `${at}/backend`, detail: `unknown backend; known: ${Object.keys(opts.registry).join(', ')}` });
      continue;
    }
    if (tenant.simulator && !factory.startSimulator) faults.push({ pointer: `${at}/simulator`, detail: `backend '${tenant.backend}' has no simulator` });
    const validate = adapterValidator(factory);
    if (!validate(tenant)) faults.push(...toFieldFaults(validate.errors, at));
    // The schemas see the start of a URL only (`^https?://`); what the gateway will connect to must parse whole.
    for (const [k, v] of Object.entries(tenant)) {
      if (typeof v === 'string' && TENANT_URL_FIELD.test(k)) urlFault(v, HTTP_SCHEMES, `${at}/${escapePointer(k)}`, faults);
    }
  }
  if (cfg.state && typeof cfg.state === 'object' && typeof cfg.state.redis_url === 'string') urlFault(cfg.state.redis_url, REDIS_SCHEMES, '/state/redis_url', faults);

  const keyIds = new Set<string>();
  const keys = new Set<string>();
  (Array.isArray(cfg.api_keys) ? cfg.api_keys : []).forEach((k, i) => {
    if (!k || typeof k !== 'object') return;
    if (keyIds.has(k.id)) faults.push({ pointer: `/api_keys/${i}/id`, detail: `duplicate key id '${k.id}'` });
    if ((k.key === undefined) === (k.key_sha256 === undefined)) faults.push({ pointer: `/api_keys/${i}`, detail: 'give exactly one of key and key_sha256' });
    const digest = keyDigest(k);
    if (digest && keys.has(digest)) faults.push({ pointer: `/api_keys/${i}/${k.key !== undefined ? 'key' : 'key_sha256'}`, detail: 'the same key is configured twice' });
    keyIds.add(k.id);
    if (digest) keys.add(digest);
    (Array.isArray(k.tenants) ? k.tenants : []).forEach((t, j) => {
      if (t !== '*' && !Object.hasOwn(tenants, t)) faults.push({ pointer: `/api_keys/${i}/tenants/${j}`, detail: `unknown tenant '${t}'` });
    });
  });

  webhookFaults(cfg.webhooks, new Set(Object.keys(tenants)), faults);

  if (faults.length) throw new ConfigError(source, dedupe(faults));
  return Object.freeze({
    server: {
      host: cfg.server?.host ?? '127.0.0.1',
      port: cfg.server?.port ?? 8080,
      request_budget_ms: cfg.server?.request_budget_ms ?? 15000,
      body_limit: cfg.server?.body_limit ?? '1mb',
      shutdown_grace_ms: cfg.server?.shutdown_grace_ms ?? 10000,
      heap_growing_percent: cfg.server?.heap_growing_percent ?? 50,
      rate_limit: cfg.server?.rate_limit ?? { requests: 600, window_s: 60 },
    },
    state: cfg.state ?? {},
    logging: { level: cfg.logging?.level ?? 'info' },
    api_keys: cfg.api_keys,
    tenants,
    events: { retention_ms: Math.round((cfg.events?.retention_days ?? 7) * 86_400_000) },
    webhooks: webhookSettings(cfg.webhooks),
    source,
  });
}

/** Tenant fields holding a URL the gateway connects to: `base_url`, `login_url`, any other `*_url`, `proxy`. */
const TENANT_URL_FIELD = /(?:^|_)url$|^proxy$/;
const HTTP_SCHEMES = ['http:', 'https:'];
const REDIS_SCHEMES = ['redis:', 'rediss:'];

/** A URL the gateway can connect to: it parses whole (WHATWG), with one of the schemes and a host after `//`. */
export function urlProblem(value: string, schemes: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a usable URL (it does not parse)';
  }
  if (!schemes.includes(url.protocol)) return `must be a ${schemes.map((p) => p.slice(0, -1)).join(' or ')} URL`;
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]/i.test(value.trim()) || !url.hostname) return 'must name a host (scheme://host[:port]/...)';
  return undefined;
}

function urlFault(value: string, schemes: readonly string[], pointer: string, faults: FieldFault[]): void {
  const problem = urlProblem(value, schemes);
  if (problem) faults.push({ pointer, detail: problem });
}

export function loadConfigFile(path: string, opts: { env?: NodeJS.ProcessEnv; registry: Registry }): Config {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ pointer: '', detail: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})` }]);
  }
  return parseConfig(text, { ...opts, source: path });
}

const SECRET_KEY = /key|password|secret|token|pass/i;

/** The values of secret-named fields (password, app_key, accesskey, token...) anywhere in an object. */
export function secretValues(v: unknown, out: string[] = []): string[] {
  if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      if (typeof child === 'string' && SECRET_KEY.test(k)) out.push(child);
      else secretValues(child, out);
    }
  }
  return out;
}

/** Every credential value in the config (API keys, backend credentials), so the logger can scrub them from any
 * line. Names such as a backend tenant or a login user are not secrets and stay readable. */
export function configSecrets(config: Config): string[] {
  const keys = config.api_keys.map((k) => k.key).filter((k): k is string => k !== undefined);
  const redis = config.state.redis_url ? [new URL(config.state.redis_url).password].filter(Boolean) : [];
  const sealing = config.state.encryption_key ? [config.state.encryption_key] : [];
  return [...keys, ...redis, ...sealing, ...Object.values(config.tenants).flatMap((t) => secretValues(t.auth)), ...webhookSecrets(config.webhooks?.subscriptions ?? [])];
}

/** SHA-256 of an API key, from the key itself or as configured (`key_sha256`), lower-case hex. */
export function keyDigest(k: Pick<ApiKeyConfig, 'key' | 'key_sha256'>): string | undefined {
  if (typeof k.key === 'string') return createHash('sha256').update(k.key, 'utf8').digest('hex');
  return typeof k.key_sha256 === 'string' ? k.key_sha256.toLowerCase() : undefined;
}

function dedupe(faults: FieldFault[]): FieldFault[] {
  const seen = new Set<string>();
  return faults.filter((f) => {
    const k = `${f.pointer}\u0000${f.detail}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}
