import { once } from 'node:events';
import { remainingBudgetMs } from '../../request-context';
import { type IRouter } from 'express';
import type { ExportQuery, ImportQuery } from '../../../schemas/types';
import { applyPlan, existingByNumber, planItems, summarize, unacceptedLoss, type ItemResult } from '../../bulk/plan';
import { csvHeader, exportRow, parseImport } from '../../bulk/records';
import { asGatewayError, UnprocessableError, ValidationError } from '../../errors';
import * as ops from '../../extensions';
import type { Tenant } from '../../extensions';
import { idempotent, sendOutcome, type Outcome, type StoredAnswer } from '../../idempotency';
import type { Jobs } from '../../jobs';
import { allExtensions } from '../../paging';
import { check, validators } from '../../schemas';
import type { StateStore } from '../../state/store';
import { requireScope } from '../auth';
import { audit, auditsItselfWhenClientLeaves } from '../guards';
import { toProblem } from '../problems';
import { tenantFrom } from './tenants';

/** Export streams every extension window by window (memory does not grow with the count); import plans a file
 * against the tenant and, unless it is a dry run, applies the plan with per-row results. */
/** Time kept back from an import's budget for its last read-backs, the batch's apply-changes and the answer. */
const IMPORT_RESERVE_MS = 1000;
/** Rows written within the request before their pace decides whether the rest would fit in its budget. */
const SAMPLE_ROWS = 10;
const HANDED_OFF = 'handed over to the job';
const BUDGET_SPENT = "the request's time budget was spent before this row was started; send the rows not done again (with a new Idempotency-Key)";

export function bulkRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>, store: StateStore, jobs: Jobs): void {

  router.get('/v1/tenants/:tenant/extensions/export', async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<ExportQuery>(validators.query.exportExtensions, { ...req.query }, '/query');
    const withPassword = q.include === 'password';
    if (withPassword) requireScope(req, 'secrets');
    ops.requireOp(tenant, 'list');
    const format = q.format ?? 'ndjson';
    const walk = allExtensions(req.ctx, tenant.adapter);
    // Fetch the first window before answering, so a backend that fails at once is an ordinary problem answer.
    let next = await walk.next();
    res.status(200).type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    res.setHeader('Content-Disposition', `attachment; filename="${tenant.name}-extensions.${format === 'csv' ? 'csv' : 'ndjson'}"`);
    if (format === 'csv') res.write(csvHeader(withPassword));
    try {
      while (!next.done) {
        if (!res.write(exportRow(next.value, format, withPassword))) await once(res, 'drain');
        next = await walk.next();
      }
      res.end();
    } catch (err) {
      // Headers are gone: NDJSON ends with an error line; CSV has no way to say it, so the connection is cut and
      // the client sees an incomplete transfer rather than a short file that looks whole.
      req.log?.warn({ err }, 'export failed part-way');
      if (format === 'ndjson') res.end(JSON.stringify({ error: toProblem(asGatewayError(err)) }) + '\n');
      else res.destroy();
    }
  });

  router.post('/v1/tenants/:tenant/extensions/import', async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<ImportQuery>(validators.query.importExtensions, { ...req.query }, '/query');
    const dryRun = q.dry_run ?? true;
    audit(res, dryRun ? 'extension.import_plan' : 'extension.import');
    auditsItselfWhenClientLeaves(res);
    ops.requireOp(tenant, 'create');
    const type = req.get('content-type') ?? '';
    const format = /csv/.test(type) ? 'csv' : /ndjson|jsonl/.test(type) ? 'ndjson' : undefined;
    if (!format || typeof req.body !== 'string') {
      throw new ValidationError([{ pointer: '', detail: 'send CSV (text/csv) or NDJSON (application/x-ndjson)' }]);
    }
    const desired = parseImport(req.body, format);
    // An import stops starting rows when its time budget is spent, when the caller goes away, and when the process
    // is asked to stop: the rows not started are answered `not_done`, and the answer (with its audit line) is
    // written whatever happened.
    const stop = new AbortController();
    let left = false;
    let counts: Record<string, number> | undefined;
    const onClose = () => {
      if (res.writableFinished) return;
      left = true;
      stop.abort('the client closed the connection before the import finished; this row was not started');
    };
    const onSigterm = () => stop.abort('the gateway is shutting down; this row was not started');
    res.on('close', onClose);
    // Only beside a shutdown handler of the process's own (main.ts): a listener of ours alone would keep it alive.
    if (process.listenerCount('SIGTERM') > 0) process.once('SIGTERM', onSigterm);
    const work = async (): Promise<StoredAnswer> => {
      const existing = await existingByNumber(req.ctx, tenant);
      const plan = planItems(desired, existing, tenant.adapter.capabilities, q.on_conflict ?? 'fail');
      if (dryRun) return { status: 200, headers: {}, body: { dry_run: true, summary: summarize(plan), items: plan } };
      const accepted = (q.accept_loss ?? '').split(',').filter(Boolean);
      const refused = unacceptedLoss(plan, accepted);
      if (refused.length) {
        throw new UnprocessableError(
          `Backend '${tenant.backend}' cannot store ${refused.join(', ')}; accept the loss with accept_loss=${refused.join(',')}, or leave the fields out.`,
          refused.map((f) => ({ pointer: `/query/accept_loss`, detail: `${f} would be lost` })),
        );
      }
      const by = { key_id: req.apiKey?.id, request_id: req.ctx.requestId };
      const asJob = async (done: ItemResult[] = []) => {
        const job = await jobs.start({ kind: 'import', tenant: tenant.name, options: { on_conflict: q.on_conflict ?? 'fail', accept_loss: accepted } }, tenant, plan, desired, by, desired, done);
        audit(res, 'extension.import', job.id);
        return { status: 202, headers: { location: `/v1/jobs/${job.id}` }, body: job };
      };
      if (q.async === true) return asJob();
      // Unless the caller said (async=false), an import that cannot finish in what is left of the request's budget
      // goes on as a job: from its first rows on, the time the rows took so far, per row, stands for each row
      // left; when they would not fit (or the budget is spent), no further row is started here and the job takes
      // the rest (202 with its Location; the rows done here are its first results).
      const auto = q.async === undefined;
      const writes = plan.filter((i) => i.action === 'create' || i.action === 'update').length;
      const applying = Date.now();
      let written = 0;
      let handOff = false;
      const results = await applyPlan(
        req.ctx,
        tenant,
        plan,
        new Map(desired.map((d) => [d.row, d])),
        (r) => {
          if ((r.action === 'create' || r.action === 'update') && r.status !== 'not_done') written++;
        },
        accepted,
        ({ slowestMs }) => {
          if (stop.signal.aborted) return String(stop.signal.reason);
          // A row is started only when it can finish in the budget (half as long again as the slowest row so far),
          // with time kept for the batch's apply-changes and the answer.
          const spent = remainingBudgetMs(req.ctx) < Math.max(IMPORT_RESERVE_MS, slowestMs * 1.5);
          const wouldNotFit = written >= SAMPLE_ROWS && ((Date.now() - applying) / written) * (writes - written) > remainingBudgetMs(req.ctx) - IMPORT_RESERVE_MS;
          if (auto && (spent || wouldNotFit)) {
            handOff = true;
            return HANDED_OFF;
          }
          if (spent) return BUDGET_SPENT;
          return undefined;
        },
      );
      if (handOff) return asJob(results.filter((r) => r.status !== 'not_done'));
      counts = { done: 0, failed: 0, skipped: 0 };
      for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (stop.signal.aborted) req.log?.warn({ outcome: counts, reason: String(stop.signal.reason) }, 'import stopped early');
      return { status: 200, headers: {}, body: { dry_run: false, summary: summarize(plan), outcome: counts, items: results } };
    };
    let outcome: Outcome;
    try {
      // A first run whose outcome was lost is run again: a re-run plans against what is there now, so nothing is
      // created twice.
      outcome = await idempotent(req, tenant.name, store, work, { resume: async () => 'run' });
    } finally {
      process.off('SIGTERM', onSigterm);
      res.off('close', onClose);
      // The caller left: no answer will be sent, so the usual audit line (written with the answer) would not be.
      // Say what the import did here, once, when it has stopped.
      if (left) {
        req.log?.info(
          { audit: true, key_id: req.apiKey?.id, tenant: tenant.name, operation: dryRun ? 'extension.import_plan' : 'extension.import', status: 499, outcome: 'client_closed', rows: counts },
          'audit',
        );
      }
    }
    // A job's answer, replayed, shows the job as it is now.
    if (outcome.replayed && outcome.answer.status === 202) {
      const id = (outcome.answer.body as { id?: string }).id;
      const kept = outcome.answer;
      if (id) outcome = { replayed: true, answer: { ...kept, body: await jobs.get(id).catch(() => kept.body) } };
    }
    sendOutcome(res, outcome);
  });

}
