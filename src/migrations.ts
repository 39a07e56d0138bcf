/**
 * Migrations between any two tenants, whatever their backends: plan every selected extension of `from` against
 * `to` (with `lossy` fields the target cannot hold), then apply it as a job (src/jobs.ts: in the background, with
 * per-item results kept in the shared store, a lease, resume after a crash or a backend fault, cancel). Taken up
 * again, a migration reads its source again: the rows are the source's values of now.
 */
import type { Logger } from 'pino';
import type { MigrationCreate } from '../schemas/types';
import { existingByNumber, planItems, unacceptedLoss, type Desired, type PlanItem } from './bulk/plan';
import { matches } from './directory';
import { NotFoundError, UnprocessableError, UnsupportedError, ValidationError } from './errors';
import type { Tenant } from './extensions';
import { Jobs, type JobState, type StartedBy } from './jobs';
import { allExtensions } from './paging';
import type { RequestContext } from './request-context';
import type { StateStore } from './state/store';

/** A migration is a job of kind `migration`, with `from` and `to`. */
export type MigrationState = JobState & { from: string; to: string };

export interface PlannedMigration {
  source: Tenant;
  target: Tenant;
  desired: Desired[];
  items: PlanItem[];
}

export class Migrations {
  readonly jobs: Jobs;

  constructor(
    store: StateStore,
    private readonly tenants: () => ReadonlyMap<string, Tenant>,
    logger: Logger,
    jobs?: Jobs,
  ) {
    this.jobs = jobs ?? new Jobs(store, tenants, logger);
    this.jobs.register('migration', {
      reload: async (ctx, state) => {
        const source = this.tenant(state.from!, '/from');
        const target = this.tenant(state.to!, '/to');
        const desired = await this.desired(ctx, source, { from: state.from!, to: state.to!, ...(state.options as Pick<MigrationCreate, 'passwords' | 'select'>) });
        // Rows are the plan's: give each item the values the source has now.
        const byNumber = new Map(desired.map((d) => [d.extension, d]));
        const byRow = new Map<number, Desired>();
        for (const item of state.items) {
          const d = item.extension ? byNumber.get(item.extension) : undefined;
          if (d) byRow.set(item.row, { ...d, row: item.row });
        }
        return { target, desired: byRow };
      },
    });
  }

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
  async start(req: MigrationCreate, planned: PlannedMigration, by: StartedBy = {}): Promise<MigrationState> {
    const refused = unacceptedLoss(planned.items, req.accept_loss ?? []);
    if (refused.length) {
      throw new UnprocessableError(
        `Backend '${planned.target.backend}' cannot store ${refused.join(', ')}: accept the loss by naming the fields in accept_loss, or the migration does not run.`,
        refused.map((f) => ({ pointer: '/accept_loss', detail: `${f} would be lost` })),
      );
    }
    const options = { on_conflict: req.on_conflict ?? 'fail', passwords: req.passwords ?? 'keep', select: req.select, accept_loss: req.accept_loss };
    return (await this.jobs.start({ kind: 'migration', tenant: req.to, from: req.from, to: req.to, options }, planned.target, planned.items, planned.desired, by)) as MigrationState;
  }

  /** A migration (a job of another kind is not one). */
  async get(id: string): Promise<MigrationState> {
    const state = await this.jobs.get(id);
    if (state.kind !== 'migration') throw new NotFoundError(`No migration '${id}'.`);
    return state as MigrationState;
  }

  /** Take up an interrupted or failed migration: items already done are skipped; a create that landed before the
   * interruption (but was not recorded) is recognised on the target and counted done. */
  async resume(ctx: RequestContext, id: string, by: StartedBy = {}): Promise<MigrationState> {
    await this.get(id);
    return (await this.jobs.resume(id, by, ctx)) as MigrationState;
  }

  async cancel(id: string, by: StartedBy = {}): Promise<MigrationState> {
    await this.get(id);
    return (await this.jobs.cancel(id, by)) as MigrationState;
  }
}
