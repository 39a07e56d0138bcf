/**
 * Migrations between any two tenants, whatever their backends: plan every selected extension of `from` against
 * `to` (with `lossy` fields the target cannot hold), then apply in the background with per-item results kept in
 * the shared store. A run holds a lease that it renews while it works; a run whose lease lapsed (the process
 * stopped) shows as `interrupted` and can be resumed, skipping what is done.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { MigrationCreate } from '../schemas/types';
import { applyPlan, existingByNumber, planItems, summarize, unacceptedLoss, type Desired, type ItemResult, type PlanItem } from './bulk/plan';
import { matches } from './directory';
import { asGatewayError, ConflictError, NotFoundError, UnprocessableError, UnsupportedError, ValidationError } from './errors';
import type { Tenant } from './extensions';
import { toProblem } from './http/problems';
import { allExtensions } from './paging';
import { newRequestContext, type RequestContext } from './request-context';
import type { StateStore } from './state/store';

const KEEP_MS = 30 * 24 * 3600_000;
const LEASE_MS = 15_000;
/** A migration is long work: each backend call still has its tenant's timeout, the run as a whole has this. */
const RUN_BUDGET_MS = 6 * 3600_000;

export interface MigrationState {
  id: string;
  from: string;
  to: string;
  status: 'running' | 'done' | 'failed' | 'interrupted';
  options: Required<Pick<MigrationCreate, 'on_conflict' | 'passwords'>> & Pick<MigrationCreate, 'select' | 'accept_loss'>;
  created_at: string;
  updated_at: string;
  summary: ReturnType<typeof summarize>;
  progress: { total: number; done: number; failed: number; skipped: number };
  items: PlanItem[];
  results: ItemResult[];
  problem?: ReturnType<typeof toProblem>;
}

export interface PlannedMigration {
  source: Tenant;
  target: Tenant;
  desired: Desired[];
  items: PlanItem[];
}

export class Migrations {
  private readonly running = new Set<string>();

  constructor(
    private readonly store: StateStore,
    private readonly tenants: () => ReadonlyMap<string, Tenant>,
    private readonly logger: Logger,
  ) {}

  private tenant(name: string, pointer: string): Tenant {
    const t = this.tenants().get(name);
    if (!t) throw new ValidationError([{ pointer, detail: `no tenant named '${name}'` }]);
    return t;
  }

  /** What would happen: refuses a read-only target and a source it cannot list, before reading anything. */
  /** Reads both tenants on the calling request's context. */
  async plan(ctx: RequestContext, req: MigrationCreate): Promise<PlannedMigration> {
    const source = this.tenant(req.from, '/from');
    const target = this.tenant(req.to, '/to');
    if (source.name === target.name) throw new ValidationError([{ pointer: '/to', detail: 'must be another tenant than from' }]);
    if (!source.adapter.capabilities.extensions.list) throw new UnsupportedError(source.backend, 'extensions.list');
    if (!target.adapter.capabilities.extensions.create) throw new UnsupportedError(target.backend, 'extensions.create');
    const desired = await this.desired(ctx, source, req);
    const items = planItems(desired, await existingByNumber(ctx, target), target.adapter.capabilities, req.on_conflict ?? 'fail');
    return { source, target, desired, items };
  }

  private async desired(ctx: RequestContext, source: Tenant, req: MigrationCreate): Promise<Desired[]> {
    const sel = req.select;
    const inRange = (n: string) => !sel?.range || (/^\d+$/.test(n) && BigInt(n) >= BigInt(sel.range.from) && BigInt(n) <= BigInt(sel.range.to));
    const wanted = sel?.extensions ? new Set(sel.extensions) : undefined;
    const out: Desired[] = [];
    for await (const e of allExtensions(ctx, source.adapter)) {
      if ((wanted && !wanted.has(e.extension)) || !inRange(e.extension) || !matches(e, sel?.q)) continue;
      out.push({
        row: out.length + 1,
        extension: e.extension,
        name: e.name,
        description: e.description,
        password: req.passwords === 'generate' ? undefined : e.password,
      });
    }
    return out;
  }

  /** Check the loss is accepted, store the migration, and start applying it in the background. */
  async start(req: MigrationCreate, planned: PlannedMigration): Promise<MigrationState> {
    const refused = unacceptedLoss(planned.items, req.accept_loss ?? []);
    if (refused.length) {
      throw new UnprocessableError(
        `Backend '${planned.target.backend}' cannot store ${refused.join(', ')}: accept the loss by naming the fields in accept_loss, or the migration does not run.`,
        refused.map((f) => ({ pointer: '/accept_loss', detail: `${f} would be lost` })),
      );
    }
    const now = new Date().toISOString();
    const state: MigrationState = {
      id: randomUUID(),
      from: req.from,
      to: req.to,
      status: 'running',
      options: { on_conflict: req.on_conflict ?? 'fail', passwords: req.passwords ?? 'keep', select: req.select, accept_loss: req.accept_loss },
      created_at: now,
      updated_at: now,
      summary: summarize(planned.items),
      progress: { total: planned.items.length, done: 0, failed: 0, skipped: 0 },
      items: planned.items,
      results: [],
    };
    await this.save(state);
    this.run(state, planned);
    return state;
  }

  async get(id: string): Promise<MigrationState> {
    const raw = await this.store.get(`migration:${id}`);
    if (!raw) throw new NotFoundError(`No migration '${id}'.`);
    const state = JSON.parse(raw) as MigrationState;
    if (state.status === 'running' && !this.running.has(id) && !(await this.store.get(`migration:${id}:lease`))) state.status = 'interrupted';
    return state;
  }

  /** Take up an interrupted migration: items already done are skipped; a create that landed before the
   * interruption (but was not recorded) is recognised on the target and counted done. */
  async resume(ctx: RequestContext, id: string): Promise<MigrationState> {
    const state = await this.get(id);
    if (state.status !== 'interrupted') throw new ConflictError(`Migration '${id}' is ${state.status}; only an interrupted migration can be resumed.`);
    if (!(await this.store.setIfAbsent(`migration:${id}:lease`, 'resuming', LEASE_MS))) throw new ConflictError(`Migration '${id}' is being resumed already.`);
    const source = this.tenant(state.from, '/from');
    const target = this.tenant(state.to, '/to');
    const desired = await this.desired(ctx, source, { from: state.from, to: state.to, ...state.options });
    const byNumber = new Map(desired.map((d) => [d.extension, d]));
    const finished = new Set(state.results.map((r) => r.row));
    const existing = await existingByNumber(ctx, target);
    const remaining: PlanItem[] = [];
    for (const item of state.items.filter((i) => !finished.has(i.row))) {
      const found = item.extension ? existing.get(item.extension) : undefined;
      if (item.action === 'create' && found && found.name === byNumber.get(item.extension!)?.name) {
        state.results.push({ row: item.row, extension: item.extension, action: item.action, status: 'done', id: found.id });
        state.progress.done++;
      } else {
        remaining.push(item);
      }
    }
    state.status = 'running';
    await this.save(state);
    // Rows are the plan's: give each remaining item the values the source has now.
    const desiredByRow = new Map<number, Desired>();
    for (const item of remaining) {
      const d = item.extension ? byNumber.get(item.extension) : undefined;
      if (d) desiredByRow.set(item.row, { ...d, row: item.row });
    }
    this.run(state, { source, target, desired: [...desiredByRow.values()], items: remaining.filter((i) => desiredByRow.has(i.row) || (i.action !== 'create' && i.action !== 'update')) });
    return state;
  }

  private run(state: MigrationState, planned: PlannedMigration): void {
    this.running.add(state.id);
    const lease = setInterval(() => void this.store.set(`migration:${state.id}:lease`, 'running', LEASE_MS).catch(() => undefined), LEASE_MS / 3);
    lease.unref();
    void this.store.set(`migration:${state.id}:lease`, 'running', LEASE_MS).catch(() => undefined);
    const desired = new Map(planned.desired.map((d) => [d.row, d]));
    // A run outlives the request that started it: it has its own id and budget.
    const ctx = newRequestContext(`migration-${state.id}`, RUN_BUDGET_MS);
    const work = applyPlan(ctx, planned.target, planned.items, desired, async (r) => {
      state.results.push(r);
      state.progress[r.status === 'done' ? 'done' : r.status === 'failed' ? 'failed' : 'skipped']++;
      await this.save(state);
    }, state.options.accept_loss ?? []);
    work
      .then(
        () => {
          state.status = state.progress.failed ? 'failed' : 'done';
        },
        (err: unknown) => {
          state.status = 'failed';
          state.problem = toProblem(asGatewayError(err));
          this.logger.warn({ err, migration: state.id }, 'migration stopped');
        },
      )
      .then(async () => {
        clearInterval(lease);
        this.running.delete(state.id);
        await this.save(state);
        await this.store.delete(`migration:${state.id}:lease`).catch(() => undefined);
      });
  }

  private async save(state: MigrationState): Promise<void> {
    state.updated_at = new Date().toISOString();
    state.results.sort((a, b) => a.row - b.row);
    await this.store.set(`migration:${state.id}`, JSON.stringify(state), KEEP_MS);
  }
}
