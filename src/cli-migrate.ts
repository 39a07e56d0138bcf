/**
 * `pbx-gateway migrate --from A --to B [--apply]`: the plan as a table and a summary (the default, as the API's),
 * or with --apply the run (a job) with a progress bar and the per-item outcome counts at the end. Any item that
 * conflicted, was invalid, failed or was not done is named on stderr and the exit code is 1. Works through
 * whichever client the command uses.
 */
import type { MigrationCreate } from '../schemas/types';
import type { PlanItem } from './bulk/plan';
import * as fmt from './cli-format';
import type { MigrationState } from './migrations';

export interface PlanAnswer {
  dry_run: true;
  summary: Record<string, number>;
  items: PlanItem[];
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
  detail: i.changes ? Object.entries(i.changes).map(([f, c]) => `${f}: ${String(c.from)} -> ${String(c.to)}`).join('; ') : (i.reason ?? ''),
});

export async function migrate(client: MigrationClient, body: MigrationCreate, out: fmt.OutStream, err: fmt.OutStream, opts: MigrateOptions): Promise<number> {
  const answer = await client.migrate(body);
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
      state = await client.migration(state.id);
    }
  } finally {
    meter.done();
  }
  if (opts.json) out.write(fmt.json(state));
  else {
    const failed = state.results.filter((r) => r.status === 'failed').map((r) => ({ row: r.row, extension: r.extension, error: r.error ? `${r.error.title}: ${r.error.detail}` : '' }));
    if (failed.length) out.write(fmt.table(failed, ['row', 'extension', 'error'], { bold: opts.bold }) + '\n');
    const notDone = state.progress.not_done ? `, ${state.progress.not_done} not done` : '';
    out.write(`migration ${state.id} ${state.status}: ${state.progress.done} done, ${state.progress.failed} failed, ${state.progress.skipped} skipped${notDone} of ${state.progress.total}\n`);
    if (state.problem) out.write(`stopped: ${state.problem.title}: ${state.problem.detail}\n`);
    // A job stopped by a backend fault, or by the gateway running it, is taken up again where it stopped.
    if (state.status === 'failed' || state.status === 'interrupted') out.write(`resume it with POST /v1/jobs/${state.id}/resume (rows done are skipped)\n`);
  }
  // A conflict or an invalid row is not written (the job reports it `skipped`): it is not a success either.
  const unmigrated = state.results.filter((r) => r.status === 'failed' || r.status === 'not_done' || (r.status === 'skipped' && (r.action === 'conflict' || r.action === 'invalid')));
  for (const r of unmigrated) {
    const what = r.status === 'skipped' ? r.action : r.status;
    const why = r.error ? `${r.error.title}: ${r.error.detail}` : (r.reason ?? (r.action === 'conflict' ? 'the extension exists in the target (see --on-conflict)' : undefined));
    err.write(`${what}: row ${r.row}${r.extension ? ` (extension ${r.extension})` : ''}${why ? `: ${why}` : ''}\n`);
  }
  if (unmigrated.length) err.write(`migration ${state.id}: ${unmigrated.length} item(s) not migrated\n`);
  return state.status === 'done' && !unmigrated.length ? 0 : 1;
}
