#!/usr/bin/env node
/**
 * The admin CLI, `pbx-gateway <command>`. Each command reaches its tenants one of two ways: over the unified API
 * of a running gateway (default: --url / PBX_GATEWAY_URL, --key / PBX_GATEWAY_KEY), or with --config <file>
 * directly, in this process, through the same operations the routes call. Both print through src/cli-format.ts.
 * Exit codes: 0 done, 1 an operation failed (API problem, gateway error, a batch item not deleted), 2 usage or
 * configuration error.
 */
import { randomUUID } from 'node:crypto';
import type { ExtensionCreate, MigrationCreate, Tenant as TenantView } from '../schemas/types';
import { summarize } from './bulk/plan';
import fs from 'node:fs';
import { applyPlan, existingByNumber, planItems, unacceptedLoss } from './bulk/plan';
import { parseImport } from './bulk/records';
import { migrate, report, type AppliedAnswer, type MigrationClient, type PlanAnswer } from './cli-migrate';
import { applyCommand, DesiredFileError, driftCommand, exportCommand, loadDesiredFile, planCommand, type DesiredStateClient } from './cli-desired-state';
import { DesiredStates, driftOf } from './desired-state';
import type { DesiredState } from '../schemas/types';
import { webhooksCommand, type ApiCall } from './cli-webhooks';
import { eventsCommand } from './cli-events';
import type { JobState } from './jobs';
import { Migrations } from './migrations';
import { MemoryStore } from './state/store';
import { registry } from '../adapters';
import * as fmt from './cli-format';
import { ConfigError, loadConfigFile } from './config';
import type { BatchDeleteItem, Extension } from './contract';
import { GatewayError, NotFoundError, UnprocessableError } from './errors';
import * as ops from './extensions';
import { toProblem } from './http/problems';
import { createLogger, urlWithoutCredentials } from './log';
import { buildTenantsChecked, main, startSimulators } from './main';
import { readPage, type Page } from './paging';
import { newRequestContext, type RequestContext } from './request-context';
import { check, validators } from './schemas';

export interface CliIo {
  stdout: fmt.OutStream;
  stderr: fmt.OutStream;
  env: NodeJS.ProcessEnv;
  /** Where `apply` asks for confirmation (default process.stdin). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

class UsageError extends Error {}
class ProblemError extends Error {
  constructor(readonly problem: fmt.ProblemLike) {
    super(problem.title);
  }
}

/** The operations every command needs, over HTTP or in-process. */
interface Client {
  tenants(): Promise<TenantView[]>;
  list(tenant: string, pageSize: number, token?: string): Promise<Page>;
  get(tenant: string, id: string, password: boolean): Promise<Extension>;
  create(tenant: string, body: ExtensionCreate): Promise<Extension>;
  remove(tenant: string, id: string): Promise<void>;
  removeMany(tenant: string, ids: string[]): Promise<BatchDeleteItem[]>;
  migrate: MigrationClient['migrate'];
  migration: MigrationClient['migration'];
  importRows(tenant: string, text: string, format: 'csv' | 'ndjson', q: ImportOptions): Promise<PlanAnswer | AppliedAnswer | JobState>;
  job(id: string): Promise<JobState>;
  desired: DesiredStateClient;
  /** A tenant on a simulator started for this one command: its writes vanish when the command ends. */
  ephemeral(tenant: string): boolean;
  /** Any API call, for what only a running gateway has (webhooks); absent with --config. */
  api?: ApiCall;
  close(): Promise<void>;
}

const VALUE_FLAGS = ['file', 'config', 'url', 'key', 'page-size', 'page-token', 'extension', 'name', 'description', 'password', 'from', 'to', 'on-conflict', 'passwords', 'accept-loss', 'extensions', 'after', 'tenant', 'type', 'max-prune-share'];
const REACH = ['config', 'url', 'key', 'json', 'help'];
/** Each command's options and how many operands it takes (after `extensions <sub>`), checked before any work. */
const COMMANDS: Record<string, { flags: string[]; operands: [number, number] }> = {
  serve: { flags: ['config', 'help'], operands: [0, 0] },
  'check-config': { flags: ['help'], operands: [1, 1] },
  help: { flags: ['help'], operands: [0, 2] },
  tenants: { flags: REACH, operands: [0, 0] },
  'extensions list': { flags: [...REACH, 'page-size', 'page-token', 'all', 'progress'], operands: [1, 1] },
  'extensions get': { flags: [...REACH, 'show-password'], operands: [2, 2] },
  'extensions create': { flags: [...REACH, 'extension', 'name', 'description', 'password'], operands: [1, 1] },
  // The gateway's batch limit, kept in direct mode too so a command behaves the same both ways.
  'extensions delete': { flags: REACH, operands: [2, 500] },
  import: { flags: [...REACH, 'file', 'dry-run', 'apply', 'on-conflict', 'accept-loss', 'progress'], operands: [1, 1] },
  migrate: { flags: [...REACH, 'from', 'to', 'dry-run', 'apply', 'on-conflict', 'passwords', 'accept-loss', 'extensions', 'progress'], operands: [0, 0] },
  plan: { flags: [...REACH, 'file', 'all'], operands: [0, 0] },
  drift: { flags: [...REACH, 'file'], operands: [0, 0] },
  apply: { flags: [...REACH, 'file', 'all', 'yes', 'accept-loss', 'max-prune-share'], operands: [0, 0] },
  export: { flags: [...REACH, 'desired-state', 'tenant'], operands: [0, 0] },
  events: { flags: [...REACH, 'follow', 'after', 'tenant', 'type'], operands: [0, 0] },
  'webhooks list': { flags: REACH, operands: [0, 0] },
  'webhooks deliveries': { flags: REACH, operands: [1, 1] },
  'webhooks enable': { flags: REACH, operands: [1, 1] },
};

interface ImportOptions {
  dry_run: boolean;
  on_conflict?: string;
  accept_loss?: string;
}

interface Args {
  pos: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const pos: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      pos.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') flags.set('help', true);
    else if (a === '-f' || a === '-y') {
      if (a === '-y') flags.set('yes', true);
      else if (argv[i + 1] === undefined) throw new UsageError('-f needs a value');
      else flags.set('file', argv[++i]);
    }
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!VALUE_FLAGS.includes(name)) {
        if (eq > 0) throw new UsageError(`--${name} takes no value`);
        flags.set(name, true);
        continue;
      }
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else pos.push(a);
  }
  return { pos, flags };
}

const str = (args: Args, name: string) => {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};

function pageSizeOf(args: Args, fallback: number): number {
  const raw = str(args, 'page-size');
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 500) throw new UsageError('--page-size must be a whole number from 1 to 500');
  return n;
}

/** The gateway's root URL from --url / PBX_GATEWAY_URL: a trailing `/v1` (the API's prefix, as users copy it) and
 * trailing slashes are dropped, since every path below starts with `/v1`. A key belongs in --key, not the URL. */
export function gatewayBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url ${safeUrl(url)} is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url must be an http:// or https:// URL, not ${u.protocol}`);
  if (u.username || u.password) throw new UsageError('--url must not hold credentials: give the API key with --key or PBX_GATEWAY_KEY');
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '').replace(/\/v1$/i, '').replace(/\/+$/, '');
}

/** A URL fit to print: no user, password, query or fragment (a key may sit in any of them). */
export function safeUrl(url: string): string {
  return urlWithoutCredentials(url).replace(/\/$/, '');
}

/** Why a fetch failed, in words: undici's "fetch failed" hides the cause (a code, possibly in an AggregateError). */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  if (e?.name === 'TimeoutError') return 'timed out (no answer within 60 s)';
  if (e?.name === 'AbortError') return 'aborted';
  let cause = e?.cause as (Error & { code?: string; errors?: (Error & { code?: string })[] }) | undefined;
  if (cause && !cause.code && cause.errors?.length) cause = cause.errors[0];
  const code = cause?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed (temporary DNS failure)',
    ECONNRESET: 'connection reset',
    ETIMEDOUT: 'connection timed out',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  if (code && words[code]) return `${code} (${words[code]})`;
  const tls = code && /CERT|SSL|TLS|SELF_SIGNED|ERR_SSL/i.test(code);
  // OpenSSL's messages run over lines with file names: the reason is the part before the source file.
  const said = cause?.message?.includes('routines:') ? /routines:[^:]*:([^:]+):/.exec(cause.message)?.[1] : cause?.message?.split('\n')[0];
  if (code) return `${tls ? 'TLS error: ' : ''}${code}${said && said !== code ? ` (${said})` : ''}`;
  if (cause?.message) return cause.message;
  return e?.message ?? String(err);
}

function httpClient(baseUrl: string, key: string | undefined): Client {
  const base = gatewayBase(baseUrl);
  const call = async <T>(method: string, path: string, body?: unknown, raw?: { type: string; text: string }): Promise<T> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    // A write sent as a file carries an Idempotency-Key: the gateway answers a retry of it with the first answer.
    if (raw) Object.assign(headers, { 'content-type': raw.type, 'idempotency-key': randomUUID() });
    let res: Response;
    try {
      res = await fetch(base + path, { method, headers, body: raw ? raw.text : body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new ProblemError({ title: 'Cannot reach the gateway', detail: `${safeUrl(base)}: ${fetchFailure(err)}` });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const p = parsed as fmt.ProblemLike | undefined;
      // The gateway speaks of HTTP headers; the CLI's user gives a key with a flag or a variable.
      if (res.status === 401) {
        throw new ProblemError({
          title: p && typeof p.title === 'string' ? p.title : 'Authentication required',
          detail: key ? 'the gateway refused the API key given (--key or PBX_GATEWAY_KEY)' : 'no API key given: pass --key <key> or set PBX_GATEWAY_KEY',
        });
      }
      throw new ProblemError(p && typeof p.title === 'string' ? p : { title: `HTTP ${res.status}`, detail: res.statusText });
    }
    return parsed as T;
  };
  const ext = (t: string, rest = '') => `/v1/tenants/${encodeURIComponent(t)}/extensions${rest}`;
  return {
    tenants: async () => (await call<{ items: TenantView[] }>('GET', '/v1/tenants')).items,
    list: (t, size, token) => call('GET', ext(t, `?${new URLSearchParams({ page_size: String(size), ...(token ? { page_token: token } : {}) })}`)),
    get: (t, id, password) => call('GET', ext(t, `/${encodeURIComponent(id)}${password ? '?include=password' : ''}`)),
    create: (t, body) => call('POST', ext(t), body),
    remove: async (t, id) => void (await call('DELETE', ext(t, `/${encodeURIComponent(id)}`))),
    removeMany: async (t, ids) => (await call<{ results: BatchDeleteItem[] }>('DELETE', ext(t, `?ids=${ids.map(encodeURIComponent).join(',')}`))).results,
    migrate: (body) => call('POST', '/v1/migrations', body),
    migration: (id) => call('GET', `/v1/migrations/${encodeURIComponent(id)}`),
    importRows: (t, text, format, q) =>
      call('POST', ext(t, `/import?${new URLSearchParams({ dry_run: String(q.dry_run), ...(q.on_conflict ? { on_conflict: q.on_conflict } : {}), ...(q.accept_loss ? { accept_loss: q.accept_loss } : {}) })}`), undefined, {
        type: format === 'csv' ? 'text/csv' : 'application/x-ndjson',
        text,
      }),
    job: (id) => call('GET', `/v1/jobs/${encodeURIComponent(id)}`),
    desired: {
      plan: (file) => call('POST', '/v1/desired-state/plan', file),
      drift: (file) => call('POST', '/v1/desired-state/drift', file),
      apply: (file, q) => call('POST', `/v1/desired-state/apply?${new URLSearchParams(q)}`, file),
      export: (t) => call('GET', `/v1/tenants/${encodeURIComponent(t)}/desired-state`),
      job: (id) => call('GET', `/v1/jobs/${encodeURIComponent(id)}`),
    },
    ephemeral: () => false,
    api: (method, path) => call(method, path),
    close: async () => undefined,
  };
}


async function directClient(file: string, env: NodeJS.ProcessEnv): Promise<Client> {
  const config = loadConfigFile(file, { registry, env });
  const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });
  const { running, resolved } = await startSimulators(config, registry);
  let tenants: Map<string, ops.Tenant>;
  try {
    tenants = await buildTenantsChecked(config, registry, logger, { resolved });
  } catch (err) {
    await Promise.all([...running.values()].map((s) => s.sim.close()));
    throw err;
  }
  // Each operation gets the request budget a route would have, and a request id for the backend's logs.
  const run = <T>(fn: (ctx: RequestContext) => Promise<T>) => fn(newRequestContext(`cli-${randomUUID()}`, config.server.request_budget_ms));
  const store = new MemoryStore();
  const migrations = new Migrations(store, () => tenants, logger);
  const desired = new DesiredStates(store, () => tenants, migrations.jobs);
  const desiredFile = (file: DesiredState) => check<DesiredState>(validators.desiredState, file);
  const tenant = (name: string) => {
    const t = tenants.get(name);
    if (!t) throw new NotFoundError(`No tenant named '${name}'.`);
    return t;
  };
  return {
    tenants: async () => [...tenants.values()].map((t) => ({ name: t.name, backend: t.backend, capabilities: t.adapter.capabilities })),
    list: (name, size, token) =>
      run(async (ctx) => {
        const t = tenant(name);
        ops.requireOp(t, 'list');
        const page = await readPage(ctx, t.adapter, t.name, size, token);
        return { items: page.items.map((e) => ops.shape(e, {})), next_page_token: page.next_page_token };
      }),
    get: (name, id, password) =>
      run(async (ctx) => {
        const t = tenant(name);
        ops.requireOp(t, 'get');
        return ops.shape(await t.adapter.getExtension(ctx, ops.safeId(id)), { includePassword: password });
      }),
    create: (name, body) => run(async (ctx) => ops.shape(await ops.createExtension(ctx, tenant(name), check<ExtensionCreate>(validators.extensionCreate, body)), { includePassword: true })),
    remove: (name, id) => run((ctx) => ops.deleteExtension(ctx, tenant(name), ops.safeId(id))),
    removeMany: (name, ids) => run((ctx) => ops.deleteExtensions(ctx, tenant(name), ids)),
    migrate: (body) =>
      run(async (ctx) => {
        const planned = await migrations.plan(ctx, check<MigrationCreate>(validators.migrationCreate, body));
        if (body.dry_run ?? true) return { dry_run: true as const, summary: summarize(planned.items), items: planned.items };
        return migrations.start(body, planned);
      }),
    migration: (id) => migrations.get(id),
    // As the import route does, but applied here in full (a command has no request to answer within).
    importRows: (name, text, format, q) =>
      run(async (ctx): Promise<PlanAnswer | AppliedAnswer> => {
        const t = tenant(name);
        ops.requireOp(t, 'create');
        const desired = parseImport(text, format);
        const plan = planItems(desired, await existingByNumber(ctx, t), t.adapter.capabilities, (q.on_conflict ?? 'fail') as 'fail');
        if (q.dry_run) return { dry_run: true, summary: summarize(plan), items: plan };
        const accepted = (q.accept_loss ?? '').split(',').filter(Boolean);
        const refused = unacceptedLoss(plan, accepted);
        if (refused.length) throw new UnprocessableError(`Backend '${t.backend}' cannot store ${refused.join(', ')}; accept the loss with --accept-loss ${refused.join(',')}, or leave the fields out.`, refused.map((f) => ({ pointer: '/query/accept_loss', detail: `${f} would be lost` })));
        const results = await applyPlan(ctx, t, plan, new Map(desired.map((d) => [d.row, d])), undefined, accepted);
        const outcome: Record<string, number> = { done: 0, failed: 0, skipped: 0 };
        for (const r of results) outcome[r.status] = (outcome[r.status] ?? 0) + 1;
        return { dry_run: false, summary: summarize(plan), outcome, items: results };
      }),
    job: (id) => migrations.jobs.get(id),
    desired: {
      plan: (file) => run(async (ctx) => (await desired.plan(ctx, desiredFile(file))).plan),
      drift: (file) => run(async (ctx) => driftOf((await desired.plan(ctx, desiredFile(file))).plan)),
      apply: (file, q) =>
        run(async (ctx) => {
          const { plan, jobs } = await desired.apply(ctx, desiredFile(file), { fingerprint: q.fingerprint, acceptLoss: (q.accept_loss ?? '').split(',').filter(Boolean), maxPruneShare: q.max_prune_share === undefined ? 0.1 : Number(q.max_prune_share) }, {});
          return { fingerprint: plan.fingerprint, jobs };
        }),
      export: (name) => run((ctx) => desired.export(ctx, tenant(name))),
      job: (id) => migrations.jobs.get(id),
    },
    ephemeral: (name) => Boolean(config.tenants[name]?.simulator),
    async close() {
      await Promise.all([...tenants.values()].map((t) => t.adapter.close?.()));
      await Promise.all([...running.values()].map((s) => s.sim.close()));
    },
  };
}

function migrationBody(args: Args): MigrationCreate {
  // A plan unless --apply, as the API's own default; --dry-run is the plan asked for by name.
  const body: MigrationCreate = { from: str(args, 'from')!, to: str(args, 'to')!, dry_run: !args.flags.has('apply') };
  const onConflict = str(args, 'on-conflict');
  if (onConflict) body.on_conflict = onConflict as MigrationCreate['on_conflict'];
  const passwords = str(args, 'passwords');
  if (passwords) body.passwords = passwords as MigrationCreate['passwords'];
  const loss = str(args, 'accept-loss');
  if (loss) body.accept_loss = loss.split(',') as MigrationCreate['accept_loss'];
  const only = str(args, 'extensions');
  if (only) body.select = { extensions: only.split(',') as [string, ...string[]] };
  return body;
}

/** The same checks as `serve`: the file loaded and validated, then every tenant built as the gateway builds it
 * (and closed again), so a config check-config accepts is one the gateway starts with. Tenants on a simulator are
 * built from the simulator's own address at start, so they are not built here. */
async function checkConfig(file: string, io: CliIo): Promise<number> {
  const config = loadConfigFile(file, { registry, env: io.env });
  const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });
  const tenants = await buildTenantsChecked(config, registry, logger, {}, (name) => !config.tenants[name].simulator);
  await Promise.all([...tenants.values()].map((t) => t.adapter.close?.()));
  io.stdout.write(`ok: ${file}: ${Object.keys(config.tenants).length} tenant(s), ${config.api_keys.length} API key(s)\n`);
  return 0;
}

function configFaults(err: ConfigError): string {
  if (err.faults.length === 1 && !err.faults[0].pointer) return `error: ${err.source}: ${err.faults[0].detail}\n`;
  return `error: ${err.source}: ${err.faults.length} fault(s) in the configuration\n` + err.faults.map((f) => `  ${f.pointer || '/'}: ${f.detail}\n`).join('');
}

async function listAll(client: Client, tenant: string, args: Args, io: CliIo): Promise<Extension[]> {
  const meter = fmt.progress(io.stderr, Boolean(io.stderr.isTTY) || args.flags.has('progress'));
  const items: Extension[] = [];
  const seen = new Set<string>();
  let token = str(args, 'page-token');
  try {
    do {
      const page: Page = await client.list(tenant, pageSizeOf(args, 500), token);
      items.push(...page.items);
      meter.update(items.length);
      token = page.next_page_token ?? undefined;
      if (token && seen.has(token)) break; // a token seen before would walk the same pages forever
      if (token) seen.add(token);
    } while (token);
  } finally {
    meter.done();
  }
  return items;
}

async function extensions(sub: string, [tenant, ...ids]: string[], args: Args, client: Client, io: CliIo): Promise<number> {
  const asJson = args.flags.has('json');
  const bold = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  const out = (s: string) => io.stdout.write(s);
  const note = (what: string) => client.ephemeral(tenant) && io.stderr.write(`note: tenant '${tenant}' runs on a simulator started for this command; ${what} is gone when it exits\n`);
  if (sub === 'list' && args.flags.has('all')) {
    const items = await listAll(client, tenant, args, io);
    out(asJson ? fmt.json({ items }) : fmt.table(items, fmt.EXTENSION_COLUMNS, { bold }));
  } else if (sub === 'list') {
    const page = await client.list(tenant, pageSizeOf(args, 50), str(args, 'page-token'));
    out(asJson ? fmt.json(page) : fmt.table(page.items, fmt.EXTENSION_COLUMNS, { bold }));
    if (!asJson && page.next_page_token) io.stderr.write(`more: --page-token ${page.next_page_token}\n`);
  } else if (sub === 'get') {
    const ext = await client.get(tenant, ids[0], args.flags.has('show-password'));
    out(asJson ? fmt.json(ext) : fmt.extensionRecord(ext));
  } else if (sub === 'create') {
    const body: ExtensionCreate = { name: str(args, 'name')! };
    for (const k of ['extension', 'description', 'password'] as const) if (args.flags.has(k)) body[k] = str(args, k);
    const ext = await client.create(tenant, body);
    out(asJson ? fmt.json(ext) : fmt.extensionRecord(ext));
    if (body.password === undefined) io.stderr.write('note: the password was generated by the gateway and is shown only this once\n');
    note('the new extension');
  } else if (ids.length === 1) {
    await client.remove(tenant, ids[0]);
    out(asJson ? fmt.json({ id: ids[0], status: 'deleted' }) : `deleted ${ids[0]}\n`);
    note('the deletion');
  } else {
    const results = await client.removeMany(tenant, ids);
    const rows = results.map((r) => ({ ...r, detail: r.error ? `${r.error.title}: ${r.error.detail}` : null }));
    out(asJson ? fmt.json({ results }) : fmt.table(rows, ['id', 'status', 'detail'], { bold }));
    note('the deletion');
    return results.every((r) => r.status === 'deleted') ? 0 : 1;
  }
  return 0;
}

/** The help of the command named by these words (`extensions list`, `migrate`, `help migrate`), or undefined. */
function helpFor(words: string[]): string | undefined {
  const [first, second] = words[0] === 'help' && words.length > 1 ? words.slice(1) : words;
  if (!first) return undefined;
  const key = (first === 'extensions' || first === 'webhooks') && second !== undefined && fmt.COMMAND_HELP[`${first} ${second}`] ? `${first} ${second}` : first;
  return fmt.COMMAND_HELP[key];
}

/** Parse and check the whole command line before doing anything: a usage error starts no simulator. */
function commandOf(args: Args): { key: string; operands: string[] } {
  const [command, sub] = args.pos;
  const key = (command === 'extensions' || command === 'webhooks') && sub !== undefined ? `${command} ${sub}` : command;
  if (!key || !Object.hasOwn(COMMANDS, key)) throw new UsageError(key ? `unknown command: ${key}` : 'no command given');
  const spec = COMMANDS[key];
  const unknown = [...args.flags.keys()].find((f) => !spec.flags.includes(f));
  if (unknown) throw new UsageError(`${key} does not take --${unknown}`);
  const operands = args.pos.slice(key.split(' ').length);
  const [min, max] = spec.operands;
  if (operands.length < min || operands.length > max) throw new UsageError(`${key} takes ${min === max ? min : `${min} to ${max}`} argument(s), not ${operands.length}`);
  if (key === 'extensions create' && !str(args, 'name')) throw new UsageError('extensions create needs --name');
  if (key === 'extensions list') pageSizeOf(args, 0);
  if (args.flags.has('config') && (args.flags.has('url') || args.flags.has('key'))) throw new UsageError('give either --config or --url/--key, not both');
  if (args.flags.has('apply') && args.flags.has('dry-run')) throw new UsageError(`${key} takes --apply or --dry-run, not both`);
  if (key === 'help' && operands.length && !helpFor(operands)) throw new UsageError(`unknown command: ${operands.join(' ')}`);
  return { key, operands };
}

/** plan, drift and apply keep exit code 2 for "something would change": every error of theirs is 1. */
const DESIRED_STATE = new Set(['plan', 'drift', 'apply']);

export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  let client: Client | undefined;
  const usageCode = DESIRED_STATE.has(argv.find((a) => !a.startsWith('-')) ?? '') ? 1 : 2;
  try {
    const args = parseArgs(argv);
    if (args.flags.has('help')) {
      io.stdout.write(helpFor(args.pos) ?? fmt.USAGE);
      return 0;
    }
    const { key, operands } = commandOf(args);
    if (key === 'help') {
      io.stdout.write(helpFor(operands) ?? fmt.USAGE);
      return 0;
    }
    const config = str(args, 'config');
    if (key === 'serve') {
      await main(config ? ['--config', config] : []);
      return 0;
    }
    if (key === 'check-config') return await checkConfig(operands[0], io);
    if (key === 'migrate' && (!str(args, 'from') || !str(args, 'to'))) throw new UsageError('migrate needs --from and --to');
    if (key === 'import' && !str(args, 'file')) throw new UsageError('import needs --file <rows.csv|rows.ndjson>');
    if ((key === 'plan' || key === 'apply' || key === 'drift') && !str(args, 'file')) throw new UsageError(`${key} needs -f <desired-state.yaml>`);
    if (key === 'export' && (!args.flags.has('desired-state') || !str(args, 'tenant'))) throw new UsageError('export needs --desired-state and --tenant <name>[,<name>...]');
    const maxShare = str(args, 'max-prune-share');
    if (maxShare !== undefined && !(/^(0(\.\d+)?|1(\.0+)?)$/.test(maxShare))) throw new UsageError('--max-prune-share takes a share from 0 to 1 (0.25 for 25 %)');
    // Read before any client is made: a file fault reaches no gateway and starts no simulator.
    const desiredFile = key === 'plan' || key === 'apply' || key === 'drift' ? loadDesiredFile(str(args, 'file')!, io.env) : undefined;
    if (key === 'events' && config) throw new UsageError('events works against a running gateway (--url and --key): the events are kept there, not in a config file');
    if (key.startsWith('webhooks ') && config) throw new UsageError('webhooks works against a running gateway (--url and --key): its deliveries are kept there, not in a config file');
    client = config
      ? await directClient(config, io.env)
      : httpClient(str(args, 'url') ?? io.env.PBX_GATEWAY_URL ?? 'http://127.0.0.1:8080', str(args, 'key') ?? io.env.PBX_GATEWAY_KEY);
    if (key === 'import') {
      const file = str(args, 'file')!;
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read --file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const format = /\.(ndjson|jsonl)$/i.test(file) ? 'ndjson' : 'csv';
      const q: ImportOptions = { dry_run: !args.flags.has('apply'), on_conflict: str(args, 'on-conflict'), accept_loss: str(args, 'accept-loss') };
      const opts = { json: args.flags.has('json'), bold: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR, progress: Boolean(io.stderr.isTTY) || args.flags.has('progress') };
      const c = client;
      const code = await report(await c.importRows(operands[0], text, format, q), (id) => c.job(id), io.stdout, io.stderr, opts);
      if (!q.dry_run) c.ephemeral(operands[0]) && io.stderr.write(`note: tenant '${operands[0]}' runs on a simulator started for this command; the import is gone when it exits\n`);
      return code;
    }
    const dsOpts = { json: args.flags.has('json'), bold: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR, all: args.flags.has('all') };
    if (key === 'plan') return await planCommand(client.desired, desiredFile!, io.stdout, io.stderr, dsOpts);
    if (key === 'drift') return await driftCommand(client.desired, desiredFile!, io.stdout, io.stderr, dsOpts);
    if (key === 'apply') return await applyCommand(client.desired, desiredFile!, io.stdout, io.stderr, { ...dsOpts, yes: args.flags.has('yes'), acceptLoss: str(args, 'accept-loss'), maxPruneShare: maxShare, stdin: io.stdin ?? process.stdin });
    if (key === 'export') return await exportCommand(client.desired, str(args, 'tenant')!.split(',').filter(Boolean), io.stdout, dsOpts);
    // A follow ends with the process (Ctrl-C): nothing of it needs finishing.
    if (key === 'events') return await eventsCommand(client.api!, io.stdout, { follow: args.flags.has('follow'), json: args.flags.has('json'), after: str(args, 'after'), tenant: str(args, 'tenant'), type: str(args, 'type') });
    if (key.startsWith('webhooks ')) return await webhooksCommand(key.slice('webhooks '.length), operands, client.api!, io.stdout, { json: args.flags.has('json'), bold: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR });
    if (key === 'migrate') return await migrate(client, migrationBody(args), io.stdout, io.stderr, { json: args.flags.has('json'), bold: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR, progress: Boolean(io.stderr.isTTY) || args.flags.has('progress') });
    if (key !== 'tenants') return await extensions(key.slice('extensions '.length), operands, args, client, io);
    const items = await client.tenants();
    const rows = items.map((t) => ({ name: t.name, backend: t.backend, ...fmt.capabilitySummary(t.capabilities) }));
    io.stdout.write(args.flags.has('json') ? fmt.json({ items }) : fmt.table(rows, ['name', 'backend', 'extensions', 'features'], { bold: Boolean(io.stdout.isTTY) && !io.env.NO_COLOR }));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${fmt.USAGE}`);
      return usageCode;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(configFaults(err));
      return usageCode;
    }
    if (err instanceof DesiredFileError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof ProblemError || err instanceof GatewayError) io.stderr.write(fmt.problemText(err instanceof ProblemError ? err.problem : toProblem(err)));
    else io.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await client?.close();
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
