/**
 * The gateway's index of each tenant's extension numbers, so that a single create does not walk the tenant's
 * whole list to learn whether its number is free (a backend with no lookup by number and pages of 100 would
 * spend 11 calls on a tenant of 1,000 before every create).
 *
 * - Built from one walk of the list on first need (an adapter asks `taken`), or taken in from a batch's own walk
 *   (`existingByNumber` in src/bulk/plan.ts reads the whole list anyway, for its plan).
 * - Kept up to date by the gateway's own writes: creates, deletes, batch deletes, and the rows of imports and
 *   migrations (they create through the same `createExtension`). A write that lands while a walk is running is
 *   applied again on top of that walk when it ends, so a walk that started before it cannot undo it.
 * - Read again when older than NUMBER_INDEX_MAX_AGE_MS: other clients write to the PBX too.
 * - Kept in memory, per gateway instance, never in the shared store. That is safe because the index only decides
 *   whether an adapter may skip its own look before writing, never the answer itself:
 *   - "free" may be stale (another client or another gateway instance took the number since): the create is sent,
 *     and the backend still refuses a duplicate (where a backend refuses it with an unexplained error, its adapter
 *     looks the number up afterwards and answers 409). The cost of a stale "free" is
 *     the failed create's calls, not a duplicate.
 *   - "taken" is answered only from a list read during the asking call: an older "taken" (the number may have
 *     been deleted elsewhere since) is read again before the adapter answers 409, so a stale index never refuses a
 *     free number. A conflict costs one walk; the common case, a free number, costs none.
 *   Sharing it between instances would cost a store round trip per create to save calls in a case (another
 *   instance's write in the last 30 s) that is already answered right.
 */
import type { Extension, PbxAdapter, RequestContext } from './contract';
import { allExtensions } from './paging';

/**
 * How long a walk of the list is trusted for "free". Short, because it is the window in which another client's
 * create of the same number is found by the backend's refusal (a failed create and a look-up: a few more calls)
 * instead of by the index; long enough that a burst of single creates walks the list once.
 */
export const NUMBER_INDEX_MAX_AGE_MS = 30_000;

export interface NumberIndexOptions {
  maxAgeMs?: number;
  clock?: () => number;
}

interface Snapshot {
  /** number -> id ('' when only the number is known: a 409 said it is taken). */
  byNumber: Map<string, string>;
  /** id -> number. */
  byId: Map<string, string>;
  /** When the walk it comes from started: its age is counted from there. */
  readAt: number;
}

type Change = { at: number; add: { number: string; id: string } } | { at: number; removeId: string } | { at: number; removeNumber: string };

type Held = Pick<Extension, 'extension' | 'id'>;

/** A walk of the list whose result the index takes in when it ends. */
export interface Walk {
  readonly readAt: number;
}

export class NumberIndex {
  private snap: Snapshot | undefined;
  private build: Promise<Snapshot> | undefined;
  private readonly walks = new Set<Walk>();
  /** The gateway's own writes since the oldest running walk started (empty while none runs). */
  private journal: Change[] = [];
  private readonly maxAgeMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly adapter: PbxAdapter,
    opts: NumberIndexOptions = {},
  ) {
    this.maxAgeMs = opts.maxAgeMs ?? NUMBER_INDEX_MAX_AGE_MS;
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * Whether `number` is taken. Walks the list when the index is cold or older than its age; a "taken" found in a
   * list read before this call is read again before it is answered: a walk that stops where it finds the number
   * (the backend lists newest first, where a number just taken is), or, not finding it, becomes the new index.
   */
  async taken(ctx: RequestContext, number: string): Promise<boolean> {
    const askedAt = this.clock();
    const snap = this.snap && askedAt - this.snap.readAt < this.maxAgeMs ? this.snap : await this.refresh(ctx);
    if (!snap.byNumber.has(number)) return false;
    if (snap.readAt >= askedAt) return true;
    return this.recheck(ctx, number);
  }

  private async recheck(ctx: RequestContext, number: string): Promise<boolean> {
    const walk = this.startWalk();
    const seen: Held[] = [];
    try {
      for await (const e of allExtensions(ctx, this.adapter)) {
        if (e.extension === number) {
          this.abandonWalk(walk);
          this.added(e.extension, e.id);
          return true;
        }
        seen.push({ extension: e.extension, id: e.id });
      }
    } catch (err) {
      this.abandonWalk(walk);
      throw err;
    }
    return this.finishWalk(walk, seen).byNumber.has(number);
  }

  /** Whether the index holds a walk younger than its age (tests, and callers deciding whether to warm it). */
  get warm(): boolean {
    return this.snap !== undefined && this.clock() - this.snap.readAt < this.maxAgeMs;
  }

  /** One walk at a time: concurrent callers share it. */
  private refresh(ctx: RequestContext): Promise<Snapshot> {
    if (this.build) return this.build;
    const walk = this.startWalk();
    const build = (async () => {
      // Number and id only: nothing else of a record (a SIP password) is kept.
      const seen: Held[] = [];
      try {
        for await (const e of allExtensions(ctx, this.adapter)) seen.push({ extension: e.extension, id: e.id });
      } catch (err) {
        this.abandonWalk(walk);
        throw err;
      }
      return this.finishWalk(walk, seen);
    })();
    this.build = build;
    void build.then(
      () => (this.build === build ? (this.build = undefined) : undefined),
      () => (this.build === build ? (this.build = undefined) : undefined),
    );
    return build;
  }

  /** Say a walk of the whole list starts now: writes from here on are kept to be applied on top of it. */
  startWalk(): Walk {
    const walk = { readAt: this.clock() };
    this.walks.add(walk);
    return walk;
  }

  /** Take in a whole walk's result (unless a younger one is in already), with the own writes made during it. */
  finishWalk(walk: Walk, extensions: Iterable<Held>): Snapshot {
    this.walks.delete(walk);
    let snap = this.snap;
    if (!snap || snap.readAt <= walk.readAt) {
      snap = { byNumber: new Map(), byId: new Map(), readAt: walk.readAt };
      for (const e of extensions) {
        snap.byNumber.set(e.extension, e.id);
        snap.byId.set(e.id, e.extension);
      }
      for (const c of this.journal) if (c.at >= walk.readAt) apply(snap, c);
      this.snap = snap;
    }
    this.trimJournal();
    return snap;
  }

  abandonWalk(walk: Walk): void {
    this.walks.delete(walk);
    this.trimJournal();
  }

  /** The gateway created `number` as `id`. */
  added(number: string, id: string): void {
    this.record({ at: this.clock(), add: { number, id } });
  }

  /** The backend says `number` is taken, by an extension whose id the caller does not know. */
  takenBySomeone(number: string): void {
    if (!this.snap?.byNumber.has(number)) this.record({ at: this.clock(), add: { number, id: '' } });
  }

  /** The extension `id` is gone (deleted by the gateway, or found missing). */
  removed(id: string): void {
    this.record({ at: this.clock(), removeId: id });
  }

  /** A read of the backend found `number` free. */
  removedNumber(number: string): void {
    this.record({ at: this.clock(), removeNumber: number });
  }

  private record(change: Change): void {
    if (this.snap) apply(this.snap, change);
    if (this.walks.size > 0) this.journal.push(change);
  }

  private trimJournal(): void {
    const oldest = Math.min(...[...this.walks].map((w) => w.readAt));
    this.journal = this.walks.size === 0 ? [] : this.journal.filter((c) => c.at >= oldest);
  }
}

function apply(snap: Snapshot, c: Change): void {
  if ('add' in c) {
    const before = snap.byNumber.get(c.add.number);
    if (before) snap.byId.delete(before);
    snap.byNumber.set(c.add.number, c.add.id);
    if (c.add.id) snap.byId.set(c.add.id, c.add.number);
  } else if ('removeNumber' in c) {
    const id = snap.byNumber.get(c.removeNumber);
    if (id === undefined) return;
    snap.byNumber.delete(c.removeNumber);
    if (id) snap.byId.delete(id);
  } else {
    const number = snap.byId.get(c.removeId);
    if (number === undefined) return;
    snap.byId.delete(c.removeId);
    if (snap.byNumber.get(number) === c.removeId) snap.byNumber.delete(number);
  }
}

/** One index per tenant, keyed by its adapter (built once per tenant and config load), so nothing else holds it. */
const indexes = new WeakMap<PbxAdapter, NumberIndex>();

export function numberIndexOf(tenant: { adapter: PbxAdapter }): NumberIndex {
  let index = indexes.get(tenant.adapter);
  if (!index) indexes.set(tenant.adapter, (index = new NumberIndex(tenant.adapter)));
  return index;
}
