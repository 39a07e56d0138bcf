/**
 * `pbx-gateway plan|apply|drift -f <file>` and `export --desired-state --tenant <t>`: the desired-state workflow
 * for CI pipelines. Exit codes (the convention of infrastructure-as-code tools): 0 nothing would change (or the
 * apply finished), 2 something would change (plan) or has drifted (drift), 1 an error: the file, the gateway, an
 * invalid item, a refused or failed apply.
 *
 * `${NAME}` in a password is resolved here, from this command's environment (a CI secret): the gateway takes
 * only literal passwords, so that no API key can have the gateway's own environment read into a PBX.
 */
import fs from 'node:fs';
import { createInterface } from 'node:readline/promises';
import YAML from 'yaml';
import type { DesiredDrift, DesiredItem, DesiredState, DesiredStatePlan } from '../schemas/types';
import * as fmt from './cli-format';
import type { JobState } from './jobs';

export interface DesiredStateClient {
  plan(file: DesiredState): Promise<DesiredStatePlan>;
  drift(file: DesiredState): Promise<DesiredDrift>;
  apply(file: DesiredState, q: { fingerprint: string; accept_loss?: string; max_prune_share?: string }): Promise<{ fingerprint: string; jobs: JobState[] }>;
  export(tenant: string): Promise<DesiredState>;
  job(id: string): Promise<JobState>;
}

export interface DesiredOptions {
  json: boolean;
  bold: boolean;
  /** Show unchanged items too. */
  all?: boolean;
  pollMs?: number;
}

/** A file's fault (unreadable, not YAML, an unset variable): exit 1 with this message. */
export class DesiredFileError extends Error {}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Read a desired-state file (YAML or JSON) and resolve `${NAME}` in its passwords from `env`. */
export function loadDesiredFile(path: string, env: NodeJS.ProcessEnv): DesiredState {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new DesiredFileError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new DesiredFileError(`${path} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new DesiredFileError(`${path} is not a desired-state file: it should hold a mapping with \`tenants\` (pbx-gateway export --desired-state writes one)`);
  const missing: string[] = [];
  const tenants = (doc as { tenants?: Record<string, { extensions?: unknown }> } | null)?.tenants;
  if (tenants && typeof tenants === 'object') {
    for (const [name, t] of Object.entries(tenants)) {
      const list = t && typeof t === 'object' && Array.isArray(t.extensions) ? (t.extensions as Record<string, unknown>[]) : [];
      list.forEach((e, i) => {
        if (!e || typeof e !== 'object' || typeof e.password !== 'string') return;
        e.password = e.password.replace(ENV_REF, (_m, v: string) => {
          const value = env[v];
          if (value === undefined || value === '') missing.push(`/tenants/${name}/extensions/${i}/password: \${${v}} is not set`);
          return value ?? '';
        });
      });
    }
  }
  if (missing.length) throw new DesiredFileError(`${path}: ${missing.length} password variable(s) not set in this environment:\n  ${missing.join('\n  ')}`);
  return doc as DesiredState;
}

const detail = (i: DesiredItem) => {
  if (i.action === 'invalid') return i.reason ?? '';
  const changes = Object.entries(i.changes ?? {}).map(([f, c]) => `${f}: ${show(c?.from)} -> ${show(c?.to)}`);
  const lossy = i.lossy?.length ? [`cannot hold ${i.lossy.join(', ')}${i.then ? ` (then ${i.then})` : ''}`] : [];
  return [...changes, ...lossy].join('; ');
};
const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : v === null || v === undefined ? '(none)' : String(v));

function printPlan(plan: DesiredStatePlan, out: fmt.OutStream, opts: DesiredOptions): void {
  const rows = plan.tenants.flatMap((t) =>
    t.items.filter((i) => opts.all || i.action !== 'unchanged').map((i) => ({ tenant: t.tenant, kind: i.kind === 'ring_group' ? 'ring group' : 'extension', number: i.extension, action: i.action, detail: detail(i) })),
  );
  if (rows.length) out.write(fmt.table(rows, ['tenant', 'kind', 'number', 'action', 'detail'], { bold: opts.bold }) + '\n');
  for (const t of plan.tenants) {
    const s = t.summary;
    const prune = t.prune ? `; prunes ${Math.round((t.prune_share ?? 0) * 1000) / 10} %` : '';
    out.write(`${t.tenant} (${t.backend}): ${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged, ${s.lossy} lossy, ${s.invalid} invalid${prune}\n`);
  }
  out.write(`fingerprint: ${plan.fingerprint}\n`);
}

const codeOf = (valid: boolean, changes: boolean) => (!valid ? 1 : changes ? 2 : 0);

export async function planCommand(client: DesiredStateClient, file: DesiredState, out: fmt.OutStream, err: fmt.OutStream, opts: DesiredOptions): Promise<number> {
  const plan = await client.plan(file);
  if (opts.json) out.write(fmt.json(plan));
  else printPlan(plan, out, opts);
  if (!plan.valid) err.write('plan: the file has invalid items (see above); an apply would refuse it\n');
  return codeOf(plan.valid, plan.changes);
}

export async function driftCommand(client: DesiredStateClient, file: DesiredState, out: fmt.OutStream, err: fmt.OutStream, opts: DesiredOptions): Promise<number> {
  const drift = await client.drift(file);
  if (opts.json) out.write(fmt.json(drift));
  else {
    const rows = drift.tenants.flatMap((t) => t.drift.map((d) => ({ tenant: t.tenant, kind: d.kind === 'ring_group' ? 'ring group' : 'extension', number: d.extension, state: d.state, detail: d.fields?.join(', ') ?? d.reason ?? '' })));
    if (rows.length) out.write(fmt.table(rows, ['tenant', 'kind', 'number', 'state', 'detail'], { bold: opts.bold }) + '\n');
    for (const t of drift.tenants) out.write(`${t.tenant} (${t.backend}): ${t.drift.filter((d) => d.state !== 'invalid').length} drifted, ${t.in_sync} in sync\n`);
  }
  if (!drift.valid) err.write('drift: the file has invalid items\n');
  return codeOf(drift.valid, drift.drifted);
}

/** Ask on a terminal; anything but "yes" declines. */
async function confirm(input: NodeJS.ReadableStream, out: fmt.OutStream): Promise<boolean> {
  const rl = createInterface({ input, output: out as NodeJS.WritableStream, terminal: false });
  try {
    const answer = await rl.question('Apply these changes? Only "yes" applies: ');
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

export async function applyCommand(
  client: DesiredStateClient,
  file: DesiredState,
  out: fmt.OutStream,
  err: fmt.OutStream,
  opts: DesiredOptions & { yes: boolean; acceptLoss?: string; maxPruneShare?: string; stdin?: NodeJS.ReadableStream & { isTTY?: boolean } },
): Promise<number> {
  const plan = await client.plan(file);
  if (!opts.json) printPlan(plan, out, opts);
  if (!plan.valid) {
    err.write('apply: the file has invalid items (see above); nothing was applied\n');
    return 1;
  }
  if (!plan.changes) {
    if (opts.json) out.write(fmt.json({ fingerprint: plan.fingerprint, jobs: [] }));
    else out.write('No changes: the tenants match the file.\n');
    return 0;
  }
  if (!opts.yes) {
    if (!opts.stdin?.isTTY) {
      err.write('apply: not a terminal to ask on; review the plan and run again with --yes\n');
      return 1;
    }
    if (!(await confirm(opts.stdin, out))) {
      err.write('apply: declined; nothing was applied\n');
      return 1;
    }
  }
  const started = await client.apply(file, { fingerprint: plan.fingerprint, ...(opts.acceptLoss ? { accept_loss: opts.acceptLoss } : {}), ...(opts.maxPruneShare ? { max_prune_share: opts.maxPruneShare } : {}) });
  const finished: JobState[] = [];
  for (let job of started.jobs) {
    while (job.status === 'running') {
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
      job = await client.job(job.id);
    }
    finished.push(job);
  }
  if (opts.json) out.write(fmt.json({ fingerprint: started.fingerprint, jobs: finished }));
  let bad = 0;
  for (const job of finished) {
    const failed = job.results.filter((r) => r.status === 'failed' || r.status === 'not_done');
    bad += failed.length + (job.status === 'done' ? 0 : 1);
    if (opts.json) continue;
    if (failed.length) out.write(fmt.table(failed.map((r) => ({ kind: r.kind === 'ring_group' ? 'ring group' : 'extension', number: r.extension, action: r.action, status: r.status, error: r.error ? `${r.error.title}: ${r.error.detail}` : (r.reason ?? '') })), ['kind', 'number', 'action', 'status', 'error'], { bold: opts.bold }) + '\n');
    out.write(`${job.tenant}: job ${job.id} ${job.status}: ${job.progress.done} done, ${job.progress.failed} failed, ${job.progress.not_done} not done of ${job.progress.total}\n`);
    if (job.problem) out.write(`stopped: ${job.problem.title}: ${job.problem.detail}\n`);
    if (job.status === 'failed' || job.status === 'interrupted') out.write(`resume it with POST /v1/jobs/${job.id}/resume (rows done are kept; the rest is planned again)\n`);
  }
  return bad ? 1 : 0;
}

/** Tenants as one desired-state file, in YAML (or JSON with --json). */
export async function exportCommand(client: DesiredStateClient, tenants: string[], out: fmt.OutStream, opts: DesiredOptions): Promise<number> {
  const file: DesiredState = { version: 1, tenants: {} };
  for (const t of tenants) Object.assign(file.tenants, (await client.export(t)).tenants);
  out.write(opts.json ? fmt.json(file) : `# pbx-gateway desired state, exported ${new Date().toISOString()}\n# Passwords are left out: a password left out is left alone. Add one as \${ENV_NAME} to manage it.\n${YAML.stringify(file)}`);
  return 0;
}
