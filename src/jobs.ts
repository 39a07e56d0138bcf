/**
 * Jobs: bulk work into one tenant (a migration, an import too large for its request) applied in the background,
 * with per-row results kept in the shared store.
 *
 * - A run holds a lease (`job:<id>:lease`, holding the instance's id) that it renews while it works. A job whose
 *   lease lapsed while it was `running` (its process died) shows as `interrupted`; one stopped by its process
 *   shutting down is stored as `interrupted` at once and its lease released.
 * - With Redis, every instance looks every few seconds at the jobs that are not finished (`jobs:active`) and takes
 *   up an interrupted one (the lease decides who): a job survives a restart without anyone asking.
 * - A run stops starting rows at the first backend fault (the backend is down, slow, busy or refusing): the job
 *   is `failed` with that problem and the rows not started are `not_done`. `resume` takes up a failed or an
 *   interrupted job: rows done or skipped stay as they are, every other row is planned again against what the
 *   target holds now (a create that landed unrecorded is recognised by its number and name and counted done).
 * - `cancel` stops a run from starting more rows (on whichever instance runs it): the job is `cancelled` and the
 *   rows not started are `not_done`, with the reason.
 * - Every run writes an audit line when it starts and one when it ends (with its counts), on the gateway's own
 *   logger: whatever became of the request that started it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { applyPlan, existingByNumber, planItems, summarize, type Desired, type ItemResult, type OnConflict, type PlanItem } from './bulk/plan';
import { asGatewayError, ConflictError, NotFoundError } from './errors';
import type { Tenant } from './extensions';
import { toProblem } from './http/problems';
import { newRequestContext, type RequestContext } from './request-context';
import type { StateStore } from './state/store';
import type { Job, JobProgress } from '../schemas/types';

export type { JobProgress };
export type JobKind = Job['kind'];
export type JobStatus = Job['status'];

const KEEP_MS = 30 * 24 * 3600_000;
export const LEASE_MS = 15_000;
/** A job is long work: each backend call still has its tenant's timeout, the run as a whole has this. */
const RUN_BUDGET_MS = 6 * 3600_000;
/** Taking a job up again reads the target (and a migration's source) before the run starts. */
const RELOAD_BUDGET_MS = 120_000;
/** How often an instance looks for interrupted jobs to take up (with Redis). */
const PICKUP_EVERY_MS = 5_000;
const ACTIVE = 'jobs:active';

export const CANCELLED = 'the job was cancelled before this row was started; nothing was written for it';
const SHUTDOWN = 'the gateway running the job stopped before this row was started; the job is taken up again where it stopped';
const faultReason = (title: string) => `the backend failed (${title}) before this row was started; nothing was written for it: resume the job when the backend is back`;

/** Problems that say the backend (not the row) is at fault: a run stops starting rows at the first. */
const BACKEND_FAULTS = new Set(['backend-unavailable', 'backend-timeout', 'backend-circuit-open', 'backend-busy', 'rate-limited', 'backend-auth-failed', 'outcome-uncertain', 'state-unavailable']);
const isBackendFault = (r: ItemResult) => r.status === 'failed' && r.error !== undefined && BACKEND_FAULTS.has(r.error.type.replace('/problems/', ''));

export interface JobState {
  id: string;
  kind: JobKind;
  status: JobStatus;
  /** The tenant written to. */
  tenant: string;
  /** A migration's source and target (`to` is `tenant`). */
  from?: string;
  to?: string;
  options: { on_conflict: OnConflict; accept_loss?: string[]; passwords?: 'keep' | 'generate'; select?: unknown };
  created_at: string;
  updated_at: string;
  /** Who started it: the API key's id and the request id. */
  started_by: { key_id?: string; request_id?: string };
  /** How many times a run of it started (1 at first, one more per resume or take-up). */
  runs: number;
  summary: ReturnType<typeof summarize>;
  progress: JobProgress;
  items: PlanItem[];
  results: ItemResult[];
  problem?: ReturnType<typeof toProblem>;
  /** A cancel was asked for while another instance runs the job. */
  cancel_requested?: boolean;
}

/** Applies a job's items: `applyPlan` (extension rows) unless the kind has its own. */
export type JobApply = (
  ctx: RequestContext,
  target: Tenant,
  items: PlanItem[],
  desired: Map<number, Desired>,
  onResult: (r: ItemResult) => Promise<void>,
  acceptLoss: readonly string[],
  stopBefore: () => string | undefined,
  payload: unknown,
) => Promise<ItemResult[]>;

/** How a kind of job finds its rows again when it is taken up (a migration reads its source again). */
export interface JobKindSpec {
  /** `kept`: what the job was started with and keeps sealed (an import's rows, a desired state's tenant section). */
  reload(ctx: RequestContext, state: JobState, kept: unknown): Promise<{ target: Tenant; desired: Map<number, Desired>; payload?: unknown }>;
  /** A kind whose items are not `applyPlan`'s extension rows applies them itself. */
  apply?: JobApply;
  /** Taken up again (`state.results`: the rows done or skipped): which other rows are found done on the target and
   * which to run, from a fresh read. Default: `applyPlan`'s extension rows (replanRows). */
  replan?(ctx: RequestContext, state: JobState, target: Tenant, payload: unknown): Promise<{ results: ItemResult[]; toRun: PlanItem[] }>;
}

export interface StartedBy {
  key_id?: string;
  request_id?: string;
}

interface Active {
  stop: AbortController;
  done: Promise<void>;
}

const TERMINAL: JobStatus[] = ['done', 'cancelled'];

/** The newest Jobs of each store: an app built again on the same store (a config reload) takes over the runs. */
const newest = new WeakMap<StateStore, Jobs>();

function progressOf(items: PlanItem[], results: ItemResult[]): JobProgress {
  const p: JobProgress = { total: items.length, done: 0, failed: 0, skipped: 0, not_done: 0 };
  for (const r of results) p[r.status]++;
  return p;
}

/**
 * Extension rows (`applyPlan`'s) taken up again: of the rows not done, a create that landed unrecorded is found on
 * the target by number and name and counted done; a create whose number is now taken is planned again; a row
 * whose source is gone is skipped; the others run as planned.
 */
async function replanRows(ctx: RequestContext, state: JobState, target: Tenant, desired: Map<number, Desired>): Promise<{ results: ItemResult[]; toRun: PlanItem[] }> {
  const existing = await existingByNumber(ctx, target);
  const finished = new Set(state.results.map((r) => r.row));
  const results: ItemResult[] = [];
  const toRun: PlanItem[] = [];
  for (const item of state.items) {
    if (finished.has(item.row)) continue;
    const d = desired.get(item.row);
    const base = { row: item.row, extension: item.extension, action: item.action };
    const found = item.extension ? existing.get(item.extension) : undefined;
    if (item.action !== 'create' && item.action !== 'update') toRun.push(item);
    else if (!d) results.push({ ...base, status: 'skipped', reason: 'no longer in the source' });
    else if (item.action === 'create' && found && found.name === (d.name ?? d.extension)) results.push({ ...base, status: 'done', id: found.id, reason: 'found on the target when the job was taken up again' });
    else if (item.action === 'create' && found) toRun.push(planItems([d], existing, target.adapter.capabilities, state.options.on_conflict)[0]);
    else toRun.push(item);
  }
  return { results, toRun };
}

/** A background context: a run outlives the request that started it, with an id and a budget of its own. */
function backgroundContext(requestId: string, budgetMs: number): RequestContext {
  return newRequestContext(requestId, budgetMs, { background: true });
}

export class Jobs {
  /** This instance, as a lease holder. */
  readonly instance = randomUUID();
  private readonly active = new Map<string, Active>();
  private readonly kinds = new Map<JobKind, JobKindSpec>();
  private pickup?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly store: StateStore,
    private readonly tenants: () => ReadonlyMap<string, Tenant>,
    private readonly logger: Logger,
    opts: { pickupEveryMs?: number } = {},
  ) {
    // A config reload builds the app again on the same store: the runs of the one before are handed over to this
    // one (with the new tenants), as another instance would take them up.
    const previous = newest.get(store);
    newest.set(store, this);
    if (previous) void previous.close().then(() => this.takeUpInterrupted()).catch((err: unknown) => this.logger.warn({ err }, 'jobs not taken over'));
    // Only a shared store can hold another process's job.
    if (store.kind === 'redis') {
      this.pickup = setInterval(() => void this.takeUpInterrupted().catch(() => undefined), opts.pickupEveryMs ?? PICKUP_EVERY_MS);
      this.pickup.unref();
    }
    // An import's rows are the ones it was sent (kept sealed with the job).
    this.register('import', {
      reload: async (_ctx, state, rows) => {
        const target = this.tenant(state.tenant);
        if (!target) throw new ConflictError(`Job '${state.id}' writes to tenant '${state.tenant}', which this gateway does not serve.`);
        return { target, desired: new Map(((rows as Desired[] | undefined) ?? []).map((d) => [d.row, d])) };
      },
    });
  }

  register(kind: JobKind, spec: JobKindSpec): void {
    this.kinds.set(kind, spec);
  }

  tenant(name: string): Tenant | undefined {
    return this.tenants().get(name);
  }

  /** Store a planned job and start it in the background. `rows` (an import's rows, a desired state's section: the
   * kind's payload) are kept, sealed, to take it up again. */
  async start(
    init: Pick<JobState, 'kind' | 'tenant' | 'from' | 'to' | 'options'>,
    target: Tenant,
    items: PlanItem[],
    desired: Desired[],
    startedBy: StartedBy,
    rows?: unknown,
    /** Rows already applied (an import begun within its request): the job starts the others. */
    done: ItemResult[] = [],
  ): Promise<JobState> {
    const now = new Date().toISOString();
    const state: JobState = {
      id: randomUUID(),
      ...init,
      status: 'running',
      created_at: now,
      updated_at: now,
      started_by: startedBy,
      runs: 1,
      summary: summarize(items),
      progress: progressOf(items, done),
      items,
      results: [...done],
    };
    if (rows) await this.store.set(`job:${state.id}:rows`, this.seal(state.id, rows), KEEP_MS);
    await this.store.set(`job:${state.id}:lease`, this.instance, LEASE_MS);
    await this.save(state);
    await this.markActive(state.id, true);
    const finished = new Set(done.map((r) => r.row));
    this.run(state, target, items.filter((i) => !finished.has(i.row)), new Map(desired.map((d) => [d.row, d])), startedBy, rows);
    return state;
  }

  async get(id: string): Promise<JobState> {
    const raw = await this.store.get(`job:${id}`);
    if (!raw) throw new NotFoundError(`No job '${id}'.`);
    const state = JSON.parse(raw) as JobState;
    if (state.status === 'running' && !this.active.has(id) && !(await this.store.get(`job:${id}:lease`))) state.status = 'interrupted';
    return state;
  }

  /**
   * Take up a failed or interrupted job: rows done or skipped stay; the others are planned again against what the
   * target holds now, a create that landed unrecorded counted done.
   */
  async resume(id: string, by: StartedBy, ctx?: RequestContext): Promise<JobState> {
    const state = await this.get(id);
    if (state.status !== 'interrupted' && state.status !== 'failed') {
      throw new ConflictError(`Job '${id}' is ${state.status}; only a failed or interrupted job can be resumed.`);
    }
    const spec = this.kinds.get(state.kind);
    if (!spec) throw new ConflictError(`Job '${id}' is of a kind this gateway cannot run.`);
    if (!(await this.store.setIfAbsent(`job:${id}:lease`, this.instance, LEASE_MS))) throw new ConflictError(`Job '${id}' is being resumed already.`);
    try {
      const readCtx = ctx ?? backgroundContext(`job-${id}`, RELOAD_BUDGET_MS);
      const rows = state.kind !== 'migration' ? await this.rows(id) : undefined;
      const { target, desired, payload } = await spec.reload(readCtx, state, rows);
      const kept = { ...state, results: state.results.filter((r) => r.status === 'done' || r.status === 'skipped') };
      const again = spec.replan ? await spec.replan(readCtx, kept, target, payload) : await replanRows(readCtx, kept, target, desired);
      state.results = [...kept.results, ...again.results];
      const toRun = again.toRun;
      state.runs = (state.runs ?? 1) + 1;
      state.status = 'running';
      state.cancel_requested = undefined;
      state.problem = undefined;
      await this.store.delete(`job:${id}:cancel`).catch(() => undefined);
      await this.save(state);
      await this.markActive(id, true);
      this.run(state, target, toRun, desired, by, payload);
      return state;
    } catch (err) {
      await this.store.delete(`job:${id}:lease`).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Stop a job from starting more rows. A run here stops at once (the row in flight finishes); a run on another
   * instance is told through the store and stops at its next row; a job not running is cancelled here.
   */
  async cancel(id: string, by: StartedBy): Promise<JobState> {
    const state = await this.get(id);
    if (state.status === 'cancelled') return state;
    if (state.status === 'done') throw new ConflictError(`Job '${id}' is done; there is nothing left to cancel.`);
    const here = this.active.get(id);
    if (here) {
      here.stop.abort(CANCELLED);
      await here.done;
      return this.get(id);
    }
    if (state.status === 'running') {
      await this.store.set(`job:${id}:cancel`, JSON.stringify(by), LEASE_MS * 4);
      return { ...state, cancel_requested: true };
    }
    // Failed or interrupted: nobody runs it (the lease says so, and taking it keeps a resume out meanwhile).
    if (!(await this.store.setIfAbsent(`job:${id}:lease`, this.instance, LEASE_MS))) throw new ConflictError(`Job '${id}' is being taken up; cancel it again.`);
    try {
      const finished = new Set(state.results.filter((r) => r.status !== 'not_done').map((r) => r.row));
      state.results = [
        ...state.results.filter((r) => r.status !== 'not_done'),
        ...state.items.filter((i) => !finished.has(i.row)).map((i): ItemResult => ({ row: i.row, extension: i.extension, action: i.action, status: 'not_done', reason: CANCELLED })),
      ];
      state.status = 'cancelled';
      await this.save(state);
      this.auditEnd(state, by, 'cancelled');
      await this.markActive(id, false);
    } finally {
      await this.store.delete(`job:${id}:lease`).catch(() => undefined);
    }
    return state;
  }

  /** Stop every run of this instance from starting rows (each is left `interrupted`, its lease released, for
   * another instance or a restart to take up), and stop looking for jobs to take up. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pickup) clearInterval(this.pickup);
    const runs = [...this.active.values()];
    for (const r of runs) r.stop.abort(SHUTDOWN);
    await Promise.all(runs.map((r) => r.done));
  }

  /** Take up every job whose run stopped (its process died or shut down); the lease decides which instance. */
  async takeUpInterrupted(): Promise<string[]> {
    if (this.closed) return [];
    const ids = JSON.parse((await this.store.get(ACTIVE)) ?? '[]') as string[];
    const taken: string[] = [];
    for (const id of ids) {
      if (this.closed) break;
      let state: JobState;
      try {
        state = await this.get(id);
      } catch (err) {
        if (err instanceof NotFoundError) await this.markActive(id, false);
        continue;
      }
      if (TERMINAL.includes(state.status) || state.status === 'failed') {
        await this.markActive(id, false);
        continue;
      }
      if (state.status !== 'interrupted') continue;
      // A job over tenants this instance does not serve is left to one that does.
      if (!this.tenant(state.tenant) || (state.from && !this.tenant(state.from))) continue;
      try {
        await this.resume(id, { request_id: `job-${id}` });
        this.logger.info({ job: id, kind: state.kind }, 'job taken up');
        taken.push(id);
      } catch (err) {
        if (!(err instanceof ConflictError)) this.logger.warn({ err, job: id }, 'job could not be taken up');
      }
    }
    return taken;
  }

  private run(state: JobState, target: Tenant, items: PlanItem[], desired: Map<number, Desired>, by: StartedBy, payload?: unknown): void {
    const id = state.id;
    const stop = new AbortController();
    let handedOver = false;
    const leaseKey = `job:${id}:lease`;
    const renew = async () => {
      const holder = await this.store.get(leaseKey);
      if (holder && holder !== this.instance) {
        // The lease lapsed (this process stalled) and another instance took the job: leave it to that one.
        handedOver = true;
        stop.abort('the job was taken up by another instance');
        return;
      }
      await this.store.set(leaseKey, this.instance, LEASE_MS);
      if (await this.store.get(`job:${id}:cancel`)) stop.abort(CANCELLED);
    };
    const lease = setInterval(() => void renew().catch(() => undefined), LEASE_MS / 3);
    lease.unref();
    void this.store.set(leaseKey, this.instance, LEASE_MS).catch(() => undefined);
    const onSigterm = () => stop.abort(SHUTDOWN);
    // Only beside a shutdown handler of the process's own (main.ts): a listener of ours alone would keep it alive.
    if (process.listenerCount('SIGTERM') > 0) process.once('SIGTERM', onSigterm);

    state.progress = progressOf(state.items, state.results);
    this.auditStart(state, by);
    // Its writes are the starting key's (change events name it), whichever instance runs them.
    const keyId = by.key_id ?? state.started_by.key_id;
    const ctx: RequestContext = { ...backgroundContext(`job-${id}`, RUN_BUDGET_MS), ...(keyId ? { keyId } : {}) };
    let fault: ItemResult['error'];
    let rowsSinceCheck = 0;
    const apply: JobApply = this.kinds.get(state.kind)?.apply ?? ((c, t, i, d, on, loss, stopBefore) => applyPlan(c, t, i, d, on, loss, stopBefore));
    const work = apply(
      ctx,
      target,
      items,
      desired,
      async (r) => {
        state.results.push(r);
        state.progress = progressOf(state.items, state.results);
        if (!fault && isBackendFault(r)) fault = r.error;
        await this.save(state).catch((err: unknown) => this.logger.warn({ err, job: id }, 'job progress not recorded'));
        // A cancel asked of another instance reaches this one through the store: look every few rows.
        if (++rowsSinceCheck >= 5 && !stop.signal.aborted) {
          rowsSinceCheck = 0;
          if (await this.store.get(`job:${id}:cancel`).catch(() => null)) stop.abort(CANCELLED);
        }
      },
      state.options.accept_loss ?? [],
      () => (stop.signal.aborted ? String(stop.signal.reason) : fault ? faultReason(fault.title) : undefined),
      payload,
    );
    const done = work
      .then(
        () => undefined,
        (err: unknown) => err,
      )
      .then(async (err) => {
        clearInterval(lease);
        process.off('SIGTERM', onSigterm);
        const reason = stop.signal.aborted ? String(stop.signal.reason) : undefined;
        if (handedOver) return;
        if (reason === SHUTDOWN) {
          // Rows not started go back to the plan: the run that takes the job up starts them.
          state.results = state.results.filter((r) => r.status !== 'not_done');
          state.status = 'interrupted';
        } else if (reason === CANCELLED) {
          state.status = 'cancelled';
        } else if (err !== undefined || fault) {
          state.status = 'failed';
          state.problem = err !== undefined ? toProblem(asGatewayError(err)) : { ...fault! };
          if (err !== undefined) this.logger.warn({ err, job: id }, 'job stopped');
        } else {
          state.status = state.results.some((r) => r.status === 'failed') ? 'failed' : 'done';
        }
        state.progress = progressOf(state.items, state.results);
        await this.save(state).catch((e: unknown) => this.logger.warn({ err: e, job: id }, 'job outcome not recorded'));
        this.auditEnd(state, by, state.status);
        if (state.status === 'done' || state.status === 'cancelled') {
          await this.markActive(id, false).catch(() => undefined);
          await this.store.delete(`job:${id}:rows`).catch(() => undefined);
          await this.store.delete(`job:${id}:cancel`).catch(() => undefined);
        }
        await this.store.deleteIfEquals?.(leaseKey, this.instance).catch(() => undefined);
        if (!this.store.deleteIfEquals) await this.store.delete(leaseKey).catch(() => undefined);
      })
      .finally(() => this.active.delete(id));
    this.active.set(id, { stop, done });
  }

  private auditStart(state: JobState, by: StartedBy): void {
    this.logger.info(
      { audit: true, key_id: by.key_id ?? state.started_by.key_id, req_id: by.request_id, tenant: state.tenant, operation: `${state.kind}.job_start`, target: state.id, job: state.id, kind: state.kind, run: state.runs, ...(state.from ? { from: state.from } : {}), rows: state.items.length },
      'audit',
    );
  }

  private auditEnd(state: JobState, by: StartedBy, status: JobStatus): void {
    const { done, failed, skipped, not_done } = state.progress;
    this.logger.info(
      { audit: true, key_id: by.key_id ?? state.started_by.key_id, req_id: by.request_id, tenant: state.tenant, operation: `${state.kind}.job_end`, target: state.id, job: state.id, kind: state.kind, run: state.runs, ...(state.from ? { from: state.from } : {}), status, outcome: status === 'done' ? 'success' : status, rows: { done, failed, skipped, not_done } },
      'audit',
    );
  }

  /** Keep the list of jobs not finished (what `takeUpInterrupted` looks through), under a short lock. */
  private async markActive(id: string, on: boolean): Promise<void> {
    const lock = `${ACTIVE}:lock`;
    const token = randomUUID();
    let locked = false;
    for (let i = 0; i < 20 && !(locked = await this.store.setIfAbsent(lock, token, 2000)); i++) await new Promise((r) => setTimeout(r, 25));
    try {
      const ids = new Set(JSON.parse((await this.store.get(ACTIVE)) ?? '[]') as string[]);
      if (on === ids.has(id)) return;
      if (on) ids.add(id);
      else ids.delete(id);
      await this.store.set(ACTIVE, JSON.stringify([...ids]), KEEP_MS);
    } finally {
      if (locked) await (this.store.deleteIfEquals ? this.store.deleteIfEquals(lock, token) : this.store.delete(lock));
    }
  }

  private async save(state: JobState): Promise<void> {
    state.updated_at = new Date().toISOString();
    state.results.sort((a, b) => a.row - b.row);
    await this.store.set(`job:${state.id}`, JSON.stringify(state), KEEP_MS);
  }

  /**
   * An import's rows (passwords included) are kept until the job is done or cancelled, so that any instance can
   * take it up: sealed (AES-256-GCM) with a key derived from the operator's `state.encryption_key` when set.
   */
  private sealingKey(id: string): Buffer {
    return Buffer.from(hkdfSync('sha256', Buffer.from(this.store.encryptionKey ?? '', 'utf8'), 'pbx-gateway job rows v1', id, 32));
  }

  private seal(id: string, rows: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealingKey(id), iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(rows), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  }

  private async rows(id: string): Promise<unknown> {
    const sealed = await this.store.get(`job:${id}:rows`);
    if (!sealed) throw new ConflictError(`Job '${id}' no longer has its rows; send the rows not done as a new import.`);
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.sealingKey(id), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as unknown;
  }
}
