/**
 * `pbx-gateway migrate --from A --to B [--apply]`: the plan as a table and a summary (the default, as the API's),
 * or with --apply the run (a job) with a progress bar and the per-item outcome counts at the end. Any item that
 * conflicted, was invalid, failed or was not done is named on stderr and the exit code is 1. Works through
 * whichever client the command uses.
 */
import type { MigrationCreate } from '../schemas/types';
import type { ItemResult, PlanItem } from './bulk/plan';
import type { JobState } from './jobs';
import * as fmt from './cli-format';
import type { MigrationState } from './migrations';

export interface PlanAnswer {
  dry_run: true;
  summary: Record<string, number>;
  items: PlanItem[];
}

/** An import applied within its request (200): its per-row results. */
export interface AppliedAnswer {
  dry_run: false;
  summary: Record<string, number>;
  outcome: Record<string, number>;
  items: ItemResult[];
}

export interface MigrationClient {
  migrate(body: MigrationCreate): Promise<PlanAnswer | MigrationState>;
  migration(id: string): Promise<MigrationState>;
}

export interface MigrateOptions {
  json: boolean;
  bold: boolean;
  progress: boolean;
  pollMs?: number;
}

const planRow = (i: PlanItem) => ({
  row: i.row,
  extension: i.extension,
  action: i.action,
  lossy: i.lossy?.join(' ') ?? '',
  detail: i.changes ? Object.entries(i.changes).map(([f, c]) => `${f}: ${String(c?.from)} -> ${String(c?.to)}`).join('; ') : (i.reason ?? ''),
});

export async function migrate(client: MigrationClient, body: MigrationCreate, out: fmt.OutStream, err: fmt.OutStream, opts: MigrateOptions): Promise<number> {
  return report(await client.migrate(body), (id) => client.migration(id), out, err, opts);
}

/** Name each item not written (conflict, invalid, failed, not done) on stderr; how many there were. */
function nameUnmigrated(results: readonly ItemResult[], err: fmt.OutStream, plan: readonly PlanItem[] = []): number {
  const planned = new Map(plan.map((i) => [i.row, i]));
  // A conflict or an invalid row is not written (reported `skipped`): it is not a success either.
  const unmigrated = results.filter((r) => r.status === 'failed' || r.status === 'not_done' || (r.status === 'skipped' && (r.action === 'conflict' || r.action === 'invalid')));
  for (const r of unmigrated) {
    const what = r.status === 'skipped' ? r.action : r.status;
    const why = r.error ? `${r.error.title}: ${r.error.detail}` : (r.reason ?? planned.get(r.row)?.reason ?? (r.action === 'conflict' ? 'the extension exists in the target (see --on-conflict)' : undefined));
    err.write(`${what}: row ${r.row}${r.extension ? ` (extension ${r.extension})` : ''}${why ? `: ${why}` : ''}\n`);
  }
  return unmigrated.length;
}

/** A plan, an import's results, or a job (followed to its end with `poll`), printed; the exit code. */
export async function report(answer: PlanAnswer | AppliedAnswer | JobState, poll: (id: string) => Promise<JobState>, out: fmt.OutStream, err: fmt.OutStream, opts: MigrateOptions): Promise<number> {
  if ('dry_run' in answer && answer.dry_run === false) {
    const results = answer.items;
    if (opts.json) out.write(fmt.json(answer));
    else {
      const failed = results.filter((r) => r.status === 'failed').map((r) => ({ row: r.row, extension: r.extension, error: r.error ? `${r.error.title}: ${r.error.detail}` : '' }));
      if (failed.length) out.write(fmt.table(failed, ['row', 'extension', 'error'], { bold: opts.bold }) + '\n');
      const count = (s: string) => results.filter((r) => r.status === s).length;
      const notDone = count('not_done') ? `, ${count('not_done')} not done` : '';
      out.write(`import: ${count('done')} done, ${count('failed')} failed, ${count('skipped')} skipped${notDone} of ${results.length}\n`);
    }
    const n = nameUnmigrated(results, err);
    if (n) err.write(`import: ${n} item(s) not imported\n`);
    return n ? 1 : 0;
  }
  if ('dry_run' in answer) {
    if (opts.json) out.write(fmt.json(answer));
    else {
      out.write(fmt.table(answer.items.map(planRow), ['row', 'extension', 'action', 'lossy', 'detail'], { bold: opts.bold }));
      out.write(`\nplan: ${Object.entries(answer.summary).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
    }
    const refused = answer.items.filter((i) => i.action === 'invalid' || i.action === 'conflict');
    for (const i of refused) err.write(`${i.action}: row ${i.row}${i.extension ? ` (extension ${i.extension})` : ''}${i.reason ? `: ${i.reason}` : ''}\n`);
    if (refused.length) err.write(`plan: ${refused.length} item(s) would not be migrated (conflict or invalid); see --on-conflict\n`);
    return refused.length ? 1 : 0;
  }
  const meter = fmt.progress(err, opts.progress);
  let state = answer;
  try {
    while (state.status === 'running') {
      meter.update(state.progress.done + state.progress.failed + state.progress.skipped + (state.progress.not_done ?? 0));
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
      state = await poll(state.id);
    }
  } finally {
    meter.done();
  }
  if (opts.json) out.write(fmt.json(state));
  else {
    const failed = state.results.filter((r) => r.status === 'failed').map((r) => ({ row: r.row, extension: r.extension, error: r.error ? `${r.error.title}: ${r.error.detail}` : '' }));
    if (failed.length) out.write(fmt.table(failed, ['row', 'extension', 'error'], { bold: opts.bold }) + '\n');
    const notDone = state.progress.not_done ? `, ${state.progress.not_done} not done` : '';
    out.write(`${state.kind} ${state.id} ${state.status}: ${state.progress.done} done, ${state.progress.failed} failed, ${state.progress.skipped} skipped${notDone} of ${state.progress.total}\n`);
    if (state.problem) out.write(`stopped: ${state.problem.title}: ${state.problem.detail}\n`);
    // A job stopped by a backend fault, or by the gateway running it, is taken up again where it stopped.
    if (state.status === 'failed' || state.status === 'interrupted') out.write(`resume it with POST /v1/jobs/${state.id}/resume (rows done are skipped)\n`);
  }
  const unmigrated = nameUnmigrated(state.results, err, state.items);
  if (unmigrated) err.write(`${state.kind} ${state.id}: ${unmigrated} item(s) not ${state.kind === 'import' ? 'imported' : 'migrated'}\n`);
  return state.status === 'done' && !unmigrated ? 0 : 1;
}
