/**
 * Detection of changes made outside the gateway: each tenant's lists are walked at its interval and compared with
 * its last snapshot (src/events/snapshot.ts); what differs is emitted as `pbx` events and the snapshot updated.
 *
 * - One instance at a time per tenant: a lease in the state store, renewed while the walk runs; and one comparison
 *   per interval across instances (a claim of the period, `events:due:<tenant>`, expiring with it).
 * - The walk is background work: its calls wait their turn in the vendor's pacing like a job's.
 * - The first comparison of a tenant records a baseline and emits nothing. A failed walk emits nothing and keeps
 *   the old snapshot. The snapshot lives in the state store, so a restart neither repeats nor misses a change.
 * - Events are appended before the snapshot is saved: a crash between the two repeats them at the next
 *   comparison (at least once) rather than losing them.
 * - Entries written through the gateway since the comparison started, or being written, are left alone (their
 *   events are the gateway's); new ids are left to the next comparison while a gateway create is in flight.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TenantEventsConfig } from '../../schemas/types';
import type { Extension, RingGroup } from '../contract';
import type { Tenant } from '../extensions';
import { allExtensions } from '../paging';
import { newRequestContext } from '../request-context';
import type { StateStore } from '../state/store';
import type { ChangeRecorder } from './observe';
import { changedFields, fieldOf, fingerprint, parseField, withoutSecrets, type Entry, type EntryBody } from './snapshot';
import type { EventObject, NewEvent } from './types';

export const DEFAULT_POLL_INTERVAL_S = 300;
/** A write marked longer ago than this has ended, whatever its mark says (its process may have died). */
const WRITE_MARK_MS = 120_000;

export type ComparisonResult =
  | { status: 'baseline'; objects: number }
  | { status: 'compared'; objects: number; events: number }
  | { status: 'busy' }
  | { status: 'failed'; error: unknown };

export interface DetectorDeps {
  tenants: () => ReadonlyMap<string, Tenant>;
  /** Each tenant's `events` setting (absent: the default interval; false: no detection). */
  settings: () => Readonly<Record<string, TenantEventsConfig | false | undefined>>;
  recorder: ChangeRecorder;
  store: StateStore;
  logger: Logger;
  /** Time budget of one walk (default 10 minutes: a large tenant at a slow vendor's pace). */
  walkBudgetMs?: number;
  /** How long a lease lasts without renewal (default 60 s). */
  leaseMs?: number;
  /** How often each tenant is looked at (whether its period is due); default 15 s. */
  tickMs?: number;
  now?: () => number;
}

export class ChangeDetector {
  readonly instance = randomUUID();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly running = new Map<string, Promise<ComparisonResult>>();
  private readonly now: () => number;

  constructor(private readonly deps: DetectorDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Compare every tenant whose period is due, now and then every tick, until stopped. */
  start(): this {
    const tick = async () => {
      if (this.stopped) return;
      await this.dueTenants().catch((err: unknown) => this.deps.logger.warn({ err }, 'change detection could not run'));
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.deps.tickMs ?? 15_000).unref();
    };
    // The first look soon after start (a new tenant's baseline), not a whole tick later.
    this.timer = setTimeout(() => void tick(), Math.min(1000, this.deps.tickMs ?? 1000)).unref();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled(this.running.values());
  }

  intervalMs(tenant: string): number | false {
    const s = this.deps.settings()[tenant];
    if (s === false) return false;
    return (s?.poll_interval_s ?? DEFAULT_POLL_INTERVAL_S) * 1000;
  }

  private async dueTenants() {
    for (const name of this.deps.tenants().keys()) {
      const interval = this.intervalMs(name);
      if (interval === false || this.running.has(name) || this.stopped) continue;
      if (!(await this.deps.store.setIfAbsent(`events:due:${name}`, this.instance, interval))) continue;
      void this.compare(name);
    }
  }

  /** One comparison of a tenant, now (tests call it; the schedule calls it when the tenant's period is due). */
  compare(name: string): Promise<ComparisonResult> {
    const running = this.running.get(name);
    if (running) return running;
    const run = this.leased(name).finally(() => this.running.delete(name));
    this.running.set(name, run);
    return run;
  }

  private async leased(name: string): Promise<ComparisonResult> {
    const { store, logger } = this.deps;
    const leaseMs = this.deps.leaseMs ?? 60_000;
    const leaseKey = `events:lease:${name}`;
    try {
      if (!(await store.setIfAbsent(leaseKey, this.instance, leaseMs))) return { status: 'busy' };
    } catch (error) {
      return { status: 'failed', error };
    }
    const renew = setInterval(() => {
      void store
        .get(leaseKey)
        .then((holder) => (holder === this.instance ? store.set(leaseKey, this.instance, leaseMs) : undefined))
        .catch(() => undefined);
    }, leaseMs / 3).unref();
    try {
      return await this.compareOnce(name);
    } catch (error) {
      logger.warn({ err: error, tenant: name }, 'change detection: the comparison failed; nothing emitted, the snapshot is kept');
      return { status: 'failed', error };
    } finally {
      clearInterval(renew);
      await (store.deleteIfEquals?.(leaseKey, this.instance) ?? Promise.resolve()).catch(() => undefined);
    }
  }

  private async compareOnce(name: string): Promise<ComparisonResult> {
    const tenant = this.deps.tenants().get(name);
    if (!tenant) throw new Error(`no tenant '${name}'`);
    const { recorder } = this.deps;
    const { snapshots } = recorder;
    const snap = await snapshots.read(name);
    const ctx = newRequestContext(`events-${name}-${randomUUID()}`, this.deps.walkBudgetMs ?? 600_000, { background: true });

    // One walk of the tenant's lists.
    const listed = new Map<string, { kind: EventObject; body: EntryBody }>();
    const add = async (kind: EventObject, obj: Extension | RingGroup) => {
      const field = fieldOf(kind, obj.id);
      const password = (obj as Extension).password;
      const p = password !== undefined ? await snapshots.hmac(password) : snap.entries.get(field)?.body?.p;
      const o = withoutSecrets(obj);
      listed.set(field, { kind, body: { o, f: fingerprint(kind, o, p), ...(p ? { p } : {}) } });
    };
    for await (const ext of allExtensions(ctx, tenant.adapter)) await add('extension', ext);
    if (tenant.adapter.capabilities.ring_groups && tenant.adapter.listRingGroups) {
      for (const g of await tenant.adapter.listRingGroups(ctx)) await add('ring_group', g);
    }

    const now = this.now();
    const leftAlone = (e: Entry | undefined) => !!e && (e.gen > snap.gen || (e.writing > 0 && now - e.writing < WRITE_MARK_MS));
    const creating = snap.creating.some((t) => now - t < WRITE_MARK_MS);
    const changes = new Map<string, EntryBody | null>();
    const events = new Map<string, NewEvent>();
    const pbx = (kind: EventObject, action: 'created' | 'updated' | 'deleted', data: Record<string, unknown>, changed?: string[]): NewEvent => ({
      type: `${kind}.${action}`,
      tenant: name,
      backend: tenant.backend,
      source: 'pbx',
      ...(changed ? { changed_fields: changed } : {}),
      data: data as unknown as NewEvent['data'],
    });

    for (const [field, { kind, body }] of listed) {
      const entry = snap.entries.get(field);
      if (leftAlone(entry)) continue;
      const before = entry?.body;
      if (!before || before.d) {
        if (!before && creating) continue;
        changes.set(field, body);
        events.set(field, pbx(kind, 'created', body.o));
      } else if (before.f !== body.f || JSON.stringify(before.o) !== JSON.stringify(body.o)) {
        changes.set(field, body);
        const changed = changedFields(kind, before, body);
        if (changed.length) events.set(field, pbx(kind, 'updated', body.o, changed));
      }
    }
    for (const [field, entry] of snap.entries) {
      if (listed.has(field) || leftAlone(entry)) continue;
      const key = parseField(field);
      changes.set(field, null);
      if (key && entry.body && !entry.body.d) events.set(field, pbx(key.kind, 'deleted', entry.body.o));
    }

    if (!snap.baseline) {
      await snapshots.apply(name, snap.gen, changes);
      return { status: 'baseline', objects: listed.size };
    }

    // Written through the gateway while this comparison ran: theirs, not ours.
    const again = await snapshots.entries(name, [...events.keys()]);
    for (const [field, entry] of again) {
      if (entry && (leftAlone(entry) || entry.gen !== snap.entries.get(field)?.gen)) {
        events.delete(field);
        changes.delete(field);
      }
    }
    if (!(await recorder.emit([...events.values()]))) throw new Error('change events could not be appended');
    await snapshots.apply(name, snap.gen, changes);
    return { status: 'compared', objects: listed.size, events: events.size };
  }
}
