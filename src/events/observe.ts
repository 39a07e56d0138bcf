/**
 * Gateway-write events: every tenant's adapter is wrapped where tenants are built (src/tenants.ts), so every
 * write path (API calls, batch deletes, imports, migrations, jobs) emits one event per changed object after a
 * successful write, with the key id and request id of its context, and updates the tenant's snapshot at once.
 *
 * Order per write: mark the entry as being written (a comparison running meanwhile leaves it alone), write,
 * append the event, then record the entry. An event that cannot be appended leaves the snapshot as it was, so
 * the next comparison reports the change as `pbx` instead of losing it; the write itself is never failed by it.
 *
 * A deleted object's `data` is the object as the snapshot last held it (every object of a compared tenant, and
 * every object the gateway wrote); one the gateway never saw is `{ id, tenant, backend }` only: no extra read is
 * sent before a delete (a batch of 500 would cost 500 paced calls).
 */
import type { Logger } from 'pino';
import type { BatchDeleteItem, Extension, ExtensionPatch, NewExtension, PbxAdapter, RequestContext, RingGroup, WriteOptions } from '../contract';
import type { Metrics } from '../metrics';
import { changedFields, fieldOf, fingerprint, withoutSecrets, type EntryBody, type Snapshots } from './snapshot';
import type { EventLog, EventObject, NewEvent } from './types';

export interface ChangeRecorderDeps {
  log: EventLog;
  snapshots: Snapshots;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export class ChangeRecorder {
  readonly log: EventLog;
  readonly snapshots: Snapshots;
  private readonly logger: Logger;
  private readonly now: () => number;
  constructor(private readonly deps: ChangeRecorderDeps) {
    this.log = deps.log;
    this.snapshots = deps.snapshots;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
  }

  /** Append events and count them; true when they are in the log. */
  async emit(events: NewEvent[]): Promise<boolean> {
    if (!events.length) return true;
    try {
      await this.log.append(events);
      for (const e of events) this.deps.metrics?.event(e.source, e.type);
      return true;
    } catch (err) {
      this.logger.warn({ err, tenant: events[0].tenant, events: events.length }, 'change events not recorded; the next comparison reports them');
      return false;
    }
  }

  /** Run one write of one object: mark, write, emit, record. */
  async write<T extends Extension | RingGroup>(ctx: RequestContext, t: { tenant: string; backend: string }, kind: EventObject, id: string | undefined, op: () => Promise<T>, opts: { password?: string; fields?: string[] } = {}): Promise<T> {
    const field = id === undefined ? undefined : fieldOf(kind, id);
    const mark = await this.snapshots.begin(t.tenant, field, this.now()).catch((err: unknown) => {
      this.logger.warn({ err, tenant: t.tenant }, 'snapshot not marked before a write');
      return undefined;
    });
    let result: T;
    try {
      result = await op();
    } catch (err) {
      if (mark) await this.snapshots.settle(t.tenant, field, mark.createToken).catch(() => undefined);
      throw err;
    }
    await this.afterWrite(ctx, t, kind, result, id === undefined, opts, mark?.createToken).catch((err: unknown) => this.logger.warn({ err, tenant: t.tenant }, 'change event not recorded'));
    return result;
  }

  private async afterWrite(ctx: RequestContext, t: { tenant: string; backend: string }, kind: EventObject, result: Extension | RingGroup, created: boolean, opts: { password?: string; fields?: string[] }, createToken: string | undefined) {
    const field = fieldOf(kind, result.id);
    const known = (await this.snapshots.entries(t.tenant, [field])).get(field)?.body;
    const before = known && !known.d ? known : undefined;
    const written = opts.password ?? (result as Extension).password;
    const p = written !== undefined ? await this.snapshots.hmac(written) : before?.p;
    const o = withoutSecrets(result);
    const after: EntryBody = { o, f: fingerprint(kind, o, p), ...(p ? { p } : {}) };
    let event: NewEvent | undefined;
    if (created) event = this.event(ctx, t, kind, 'created', o);
    else {
      // Against the object as last seen; one never seen changed at most the fields this write set.
      const changed = before ? changedFields(kind, before, after) : (opts.fields ?? []).filter((f) => f !== 'password');
      if (opts.password !== undefined && !changed.includes('password') && (!before?.p || before.p !== p)) changed.push('password');
      if (changed.length) event = { ...this.event(ctx, t, kind, 'updated', o), changed_fields: changed };
    }
    if (event && !(await this.emit([event]))) {
      await this.snapshots.settle(t.tenant, field, createToken);
      return;
    }
    await this.snapshots.record(t.tenant, field, after, createToken);
  }

  /** Deletes that succeeded: one event each, with the object as last seen. */
  async deleted(ctx: RequestContext, t: { tenant: string; backend: string }, kind: EventObject, ids: string[]): Promise<void> {
    await this.recordDeletes(ctx, t, kind, ids).catch((err: unknown) => this.logger.warn({ err, tenant: t.tenant }, 'change events of deletes not recorded'));
  }

  private async recordDeletes(ctx: RequestContext, t: { tenant: string; backend: string }, kind: EventObject, ids: string[]): Promise<void> {
    if (!ids.length) return;
    const fields = ids.map((id) => fieldOf(kind, id));
    const known = await this.snapshots.entries(t.tenant, fields);
    const events = ids.map((id, i) => {
      const last = known.get(fields[i])?.body;
      const data = last && !last.d ? last.o : { id, tenant: t.tenant, backend: t.backend };
      return this.event(ctx, t, kind, 'deleted', data);
    });
    if (!(await this.emit(events))) {
      await Promise.all(fields.map((f) => this.snapshots.settle(t.tenant, f)));
      return;
    }
    await Promise.all(
      ids.map((id, i) => {
        const last = known.get(fields[i])?.body;
        const o = last?.o ?? { id };
        return this.snapshots.record(t.tenant, fields[i], { o, f: '', d: true });
      }),
    );
  }

  event(ctx: RequestContext, t: { tenant: string; backend: string }, kind: EventObject, action: 'created' | 'updated' | 'deleted', data: Record<string, unknown>): NewEvent {
    return {
      type: `${kind}.${action}`,
      tenant: t.tenant,
      backend: t.backend,
      source: 'gateway',
      ...(ctx.keyId ? { key_id: ctx.keyId } : {}),
      request_id: ctx.requestId,
      data: data as unknown as NewEvent['data'],
    };
  }
}

/** The adapter with every write observed: same capabilities, same reads, same errors. */
export function observeWrites(adapter: PbxAdapter, tenant: string, recorder: ChangeRecorder): PbxAdapter {
  const t = { tenant, backend: adapter.backend };
  const overrides: Partial<PbxAdapter> = {};
  const observed = overrides as PbxAdapter;
  const bind = <K extends keyof PbxAdapter>(k: K) => (adapter[k] as (...a: unknown[]) => unknown).bind(adapter) as NonNullable<PbxAdapter[K]>;
  observed.createExtension = (ctx: RequestContext, input: NewExtension, opts?: WriteOptions) => recorder.write(ctx, t, 'extension', undefined, () => adapter.createExtension(ctx, input, opts), { password: input.password });
  observed.updateExtension = (ctx: RequestContext, id: string, patch: ExtensionPatch, opts?: WriteOptions) => recorder.write(ctx, t, 'extension', id, () => adapter.updateExtension(ctx, id, patch, opts), { password: patch.password, fields: Object.keys(patch) });
  observed.deleteExtension = async (ctx: RequestContext, id: string) => {
    await deleteOne(recorder, t, 'extension', id, () => adapter.deleteExtension(ctx, id), ctx);
  };
  if (adapter.deleteExtensions) {
    const batch = bind('deleteExtensions');
    observed.deleteExtensions = async (ctx: RequestContext, ids: string[]): Promise<BatchDeleteItem[]> => {
      const marks = await Promise.all(ids.map((id) => recorder.snapshots.begin(tenant, fieldOf('extension', id), Date.now()).catch(() => undefined)));
      let results: BatchDeleteItem[];
      try {
        results = await batch(ctx, ids);
      } catch (err) {
        await Promise.all(ids.map((id, i) => (marks[i] ? recorder.snapshots.settle(tenant, fieldOf('extension', id)) : undefined))).catch(() => undefined);
        throw err;
      }
      const deleted = results.filter((r) => r.status === 'deleted').map((r) => r.id);
      const others = ids.filter((id) => !deleted.includes(id));
      await Promise.all(others.map((id) => recorder.snapshots.settle(tenant, fieldOf('extension', id)))).catch(() => undefined);
      await recorder.deleted(ctx, t, 'extension', deleted);
      return results;
    };
  }
  if (adapter.regenerateDirectHash) {
    const regenerate = bind('regenerateDirectHash');
    observed.regenerateDirectHash = (ctx: RequestContext, id: string) => recorder.write(ctx, t, 'extension', id, () => regenerate(ctx, id), { fields: ['direct_uri'] });
  }
  if (adapter.createRingGroup) {
    const create = bind('createRingGroup');
    observed.createRingGroup = (ctx, input, opts) => recorder.write(ctx, t, 'ring_group', undefined, () => create(ctx, input, opts));
  }
  if (adapter.updateRingGroup) {
    const update = bind('updateRingGroup');
    observed.updateRingGroup = (ctx, id, patch, opts) => recorder.write(ctx, t, 'ring_group', id, () => update(ctx, id, patch, opts), { fields: Object.keys(patch) });
  }
  if (adapter.deleteRingGroup) {
    const del = bind('deleteRingGroup');
    observed.deleteRingGroup = (ctx, id, opts) => deleteOne(recorder, t, 'ring_group', id, () => del(ctx, id, opts), ctx);
  }
  // Everything else is the adapter itself, called on itself (its own state, its private fields).
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof PbxAdapter];
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function deleteOne(recorder: ChangeRecorder, t: { tenant: string; backend: string }, kind: EventObject, id: string, op: () => Promise<void>, ctx: RequestContext): Promise<void> {
  const field = fieldOf(kind, id);
  const mark = await recorder.snapshots.begin(t.tenant, field, Date.now()).catch(() => undefined);
  try {
    await op();
  } catch (err) {
    if (mark) await recorder.snapshots.settle(t.tenant, field).catch(() => undefined);
    throw err;
  }
  await recorder.deleted(ctx, t, kind, [id]);
}
