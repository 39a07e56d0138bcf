/**
 * The unified extension operations on one tenant: capability checks (501 and 422 decided from the adapter's
 * flags, in one place), password generation, output shaping, and the one-by-one batch delete for backends
 * without a native one. Routes parse and validate; this file decides; adapters talk to backends.
 */
import { randomInt } from 'node:crypto';
import type { BatchDeleteItem, Capabilities, Extension, ExtensionPatch, PbxAdapter, RingGroupCreate, RingGroupPatch, WriteOptions } from './contract';
import { asGatewayError, BackendTimeoutError, BackendUnavailableError, CircuitOpenError, ConflictError, NotFoundError, OutcomeUncertainError, UnprocessableError, UnsupportedError, type FieldFault } from './errors';
import { numberIndexOf } from './number-index';
import { allExtensions } from './paging';
import { newRequestContext, remainingBudgetMs, type RequestContext } from './request-context';
import type { ExtensionCreate } from '../schemas/types';
import type { BackendHttp } from './backend-http';

export interface Tenant {
  name: string;
  backend: string;
  adapter: PbxAdapter;
  /** The tenant's backend client, for readiness (when it last answered); absent in unit tests. */
  http?: BackendHttp;
}

type ExtensionOp = keyof Capabilities['extensions'];
type Feature = Exclude<keyof Capabilities, 'extensions' | 'writable_fields'>;

export function requireOp(tenant: Tenant, op: ExtensionOp): void {
  if (!tenant.adapter.capabilities.extensions[op]) throw new UnsupportedError(tenant.backend, `extensions.${op}`);
}

export function requireFeature(tenant: Tenant, feature: Feature): void {
  if (!tenant.adapter.capabilities[feature]) throw new UnsupportedError(tenant.backend, feature);
}

/** Every field of a write that this backend cannot store is a 422 with its pointer: nothing is dropped silently. */
function requireWritable(tenant: Tenant, body: object): void {
  const writable = new Set<string>(tenant.adapter.capabilities.writable_fields);
  const faults: FieldFault[] = Object.keys(body)
    .filter((field) => !writable.has(field))
    .map((field) => ({ pointer: `/${field}`, detail: `backend '${tenant.backend}' cannot store this field` }));
  if (faults.length) throw new UnprocessableError(`Backend '${tenant.backend}' cannot store some fields of this request.`, faults);
}

const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A strong SIP secret: 24 characters from a 57-letter alphabet without look-alikes, about 140 bits. */
export function generateSipPassword(length = 24): string {
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return out;
}

export interface OutputOptions {
  includePassword?: boolean;
  full?: boolean;
}

/** Drop what the caller did not ask for: the password unless asked, the vendor fields unless view=full. */
export function shape(ext: Extension, opts: OutputOptions): Extension {
  const { password, vendor, ...rest } = ext;
  const out: Extension = { ...rest };
  if (opts.includePassword && password !== undefined) out.password = password;
  if (opts.full && vendor !== undefined) out.vendor = vendor;
  return out;
}

/**
 * Create one extension. The answer carries the password the create set (the caller sent it, or the gateway
 * generated it: `password` lets a caller fix it beforehand, e.g. to keep it with an idempotency claim), never a
 * password read from the backend: an extension that turns out to be someone else's is a 409, not its secret.
 *
 * When the create fails in a way that may hide a carried-out create (a timeout, a reset, a 5xx), the gateway
 * reads the backend before answering. A 201 needs proof that this request created the extension: the number
 * holds the name and the password this request sent (a generated one has about 140 bits). Otherwise:
 * - the error says nothing that writes was sent (`writeSent === false`): the failure, as it is;
 * - the number exists but is not ours: 409;
 * - the number is free: the failure (a timeout, whose create may still land, is `outcome-uncertain`);
 * - no number to look for (auto-numbering), or the backend could not be read: 502 `outcome-uncertain`.
 */
export async function createExtension(ctx: RequestContext, tenant: Tenant, body: ExtensionCreate, opts?: WriteOptions, password = body.password ?? generateSipPassword()): Promise<Extension> {
  requireOp(tenant, 'create');
  if (body.extension === undefined) requireOp(tenant, 'auto_number');
  // A generated password is the gateway's own choice, so only what the caller sent must be storable.
  requireWritable(tenant, body);
  // A backend whose circuit is open is not called at all: say so before the adapter is asked, so the failure
  // is known to have written nothing (the adapter's own failures may come after a write it sent).
  const breaker = tenant.http?.breaker;
  if (breaker?.state === 'open' && breaker.msUntilProbe > 0) {
    const err = new CircuitOpenError(tenant.backend, Math.max(1, Math.ceil(breaker.msUntilProbe / 1000)));
    err.writeSent = false;
    throw err;
  }
  // The tenant's index of numbers (src/number-index.ts) answers an adapter that would otherwise walk the whole
  // list before each create; a batch that checked its numbers against its own walk says so instead.
  const index = numberIndexOf(tenant);
  const writeOpts: WriteOptions = opts?.numberChecked ? opts : { ...opts, numbers: index };
  try {
    // A context object of this create's own (same id, same deadline): whatever the backend client notes per
    // context (whether a write was sent with it, see GatewayError.writeSent) is about this create alone.
    const created = await tenant.adapter.createExtension({ ...ctx }, { ...body, password }, writeOpts);
    index.added(created.extension, created.id);
    return { ...created, password };
  } catch (err) {
    if (err instanceof ConflictError && body.extension !== undefined) index.takenBySomeone(body.extension);
    if (!(err instanceof BackendTimeoutError || err instanceof BackendUnavailableError) || err instanceof OutcomeUncertainError) throw err;
    if (err.writeSent === false) throw err;
    if (body.extension === undefined) {
      throw new OutcomeUncertainError(
        tenant.backend,
        "The backend's answer to this create was lost, and an auto-numbered extension cannot be looked up: it may have been created. Check the tenant's extensions (by name) before creating it again.",
        { cause: err },
      );
    }
    const found = await reconcile(ctx, tenant, body.extension);
    if (found === 'unreadable') {
      throw new OutcomeUncertainError(tenant.backend, `The backend's answer to this create was lost and the backend could not be read to check it: extension ${body.extension} may have been created. Check before creating it again.`, { cause: err });
    }
    if (found === undefined) {
      index.removedNumber(body.extension);
      if (err instanceof BackendTimeoutError) {
        throw new OutcomeUncertainError(tenant.backend, `The backend did not answer this create in time and does not show extension ${body.extension} yet: it may still be created. Check before creating it again.`, { cause: err });
      }
      throw err;
    }
    index.added(found.extension, found.id);
    const ours = found.password !== undefined && found.password === password && found.name === body.name && (body.description === undefined || (found.description ?? '') === (body.description ?? ''));
    if (ours) return { ...found, password };
    if (found.password === undefined) {
      throw new OutcomeUncertainError(tenant.backend, `The backend's answer to this create was lost; extension ${body.extension} exists, but whether this request created it cannot be told. Check it before trying again.`, { cause: err });
    }
    throw new ConflictError(`Extension ${body.extension} already exists in this tenant and was not created by this request.`, [{ pointer: '/extension', detail: 'already exists' }], { cause: err });
  }
}

/**
 * Whether a create is known to have carried out `body` with `password`: the extension on the backend if it holds
 * what was sent, 'absent' when the number is free, 'other' when it holds something else, 'unreadable' when the
 * backend could not be read. Used to settle a create whose outcome was lost (an idempotent retry).
 */
export async function findOwnCreate(ctx: RequestContext, tenant: Tenant, body: ExtensionCreate, password: string): Promise<Extension | 'absent' | 'other' | 'unreadable'> {
  if (body.extension === undefined) return 'unreadable';
  const found = await reconcile(ctx, tenant, body.extension);
  if (found === 'unreadable') return found;
  if (found === undefined) return 'absent';
  const ours = found.password === password && found.name === body.name && (body.description === undefined || (found.description ?? '') === (body.description ?? ''));
  return ours ? { ...found, password } : found.password === undefined ? 'unreadable' : 'other';
}

/**
 * Look for an extension by number. Its budget is what is left of the request's, but at least 2 s (a create that
 * timed out has spent it all, and a lost answer is worth one look) and at most RECONCILE_BUDGET_MS.
 */
async function reconcile(ctx: RequestContext, tenant: Tenant, number: string): Promise<Extension | undefined | 'unreadable'> {
  const own = newRequestContext(ctx.requestId, Math.min(RECONCILE_BUDGET_MS, Math.max(remainingBudgetMs(ctx), 2000)));
  try {
    for await (const ext of allExtensions(own, tenant.adapter)) if (ext.extension === number) return await tenant.adapter.getExtension(own, ext.id);
    return undefined;
  } catch {
    return 'unreadable';
  }
}

/** The budget of the read that settles a lost create's outcome (on top of the request's own). */
export const RECONCILE_BUDGET_MS = 5000;

export async function updateExtension(ctx: RequestContext, tenant: Tenant, id: string, patch: ExtensionPatch, opts?: WriteOptions): Promise<Extension> {
  requireOp(tenant, 'update');
  requireWritable(tenant, patch);
  return tenant.adapter.updateExtension(ctx, id, patch, opts);
}

export async function deleteExtension(ctx: RequestContext, tenant: Tenant, id: string): Promise<void> {
  requireOp(tenant, 'delete');
  try {
    await tenant.adapter.deleteExtension(ctx, id);
  } catch (err) {
    if (err instanceof NotFoundError) numberIndexOf(tenant).removed(id);
    throw err;
  }
  numberIndexOf(tenant).removed(id);
}

/** Ids are checked before any backend call: nothing outside the extension path it names can reach a backend. */
const SAFE_ID = /^(?!\.{1,2}$)[A-Za-z0-9._:@+-]{1,128}$/;

export function safeId(id: string): string {
  if (!SAFE_ID.test(id)) throw new NotFoundError('No extension has this id.');
  return id;
}

/**
 * One result per id, in the order given, whatever happens to each: an id that cannot exist is `not_found`
 * without a backend call, and an id given twice is sent once and answered the same both times.
 */
export async function deleteExtensions(ctx: RequestContext, tenant: Tenant, ids: string[], concurrency = 4): Promise<BatchDeleteItem[]> {
  requireOp(tenant, 'batch_delete');
  const unique = [...new Set(ids.filter((id) => SAFE_ID.test(id)))];
  const results = new Map((await deleteMany(ctx, tenant, unique, concurrency)).map((r) => [r.id, r]));
  const index = numberIndexOf(tenant);
  for (const r of results.values()) if (r.status === 'deleted' || r.status === 'not_found') index.removed(r.id);
  return ids.map((id) => results.get(id) ?? { id, status: 'not_found' as const });
}

/** The backend's own batch delete, or one delete per id with bounded concurrency. */
async function deleteMany(ctx: RequestContext, tenant: Tenant, ids: string[], concurrency: number): Promise<BatchDeleteItem[]> {
  if (ids.length === 0) return [];
  if (tenant.adapter.deleteExtensions) return tenant.adapter.deleteExtensions(ctx, ids);
  const results: BatchDeleteItem[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      results[i] = await tenant.adapter.deleteExtension(ctx, ids[i]).then(
        (): BatchDeleteItem => ({ id: ids[i], status: 'deleted' }),
        (err): BatchDeleteItem => batchFailure(ids[i], err),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return results;
}

export function batchFailure(id: string, err: unknown): BatchDeleteItem {
  if (err instanceof NotFoundError) return { id, status: 'not_found' };
  const e = asGatewayError(err);
  return { id, status: 'failed', error: { type: `/problems/${e.slug}`, title: e.title, status: e.status, detail: e.message } };
}

export async function regenerateDirectHash(ctx: RequestContext, tenant: Tenant, id: string): Promise<Extension> {
  requireFeature(tenant, 'direct_uri');
  if (!tenant.adapter.regenerateDirectHash) throw new UnsupportedError(tenant.backend, 'direct_uri');
  return tenant.adapter.regenerateDirectHash(ctx, id);
}

/** The detail sub-resources of an extension: one capability flag and one optional adapter method each. */
export const details = {
  devices: (ctx: RequestContext, t: Tenant, id: string) => call(ctx, t, 'devices', t.adapter.listDevices, id),
  queues: (ctx: RequestContext, t: Tenant, id: string) => call(ctx, t, 'queues', t.adapter.listQueues, id),
  call_summary: (ctx: RequestContext, t: Tenant, id: string) => call(ctx, t, 'call_summary', t.adapter.getCallSummary, id),
  voicemail: (ctx: RequestContext, t: Tenant, id: string) => call(ctx, t, 'voicemail', t.adapter.listVoicemail, id),
};

function call<R>(ctx: RequestContext, tenant: Tenant, feature: Feature, method: ((ctx: RequestContext, id: string) => Promise<R>) | undefined, id: string): Promise<R> {
  requireFeature(tenant, feature);
  if (!method) throw new UnsupportedError(tenant.backend, feature);
  return method.call(tenant.adapter, ctx, id);
}

/** Ring groups: one capability flag, five optional adapter methods. */
export function ringGroups(ctx: RequestContext, tenant: Tenant) {
  requireFeature(tenant, 'ring_groups');
  const a = tenant.adapter;
  const need = <F>(f: F | undefined): F => {
    if (!f) throw new UnsupportedError(tenant.backend, 'ring_groups');
    return f;
  };
  return {
    list: () => need(a.listRingGroups).call(a, ctx),
    get: (id: string) => need(a.getRingGroup).call(a, ctx, id),
    create: (input: RingGroupCreate, opts?: WriteOptions) => need(a.createRingGroup).call(a, ctx, input, opts),
    update: (id: string, patch: RingGroupPatch, opts?: WriteOptions) => need(a.updateRingGroup).call(a, ctx, id, patch, opts),
    delete: (id: string, opts?: WriteOptions) => need(a.deleteRingGroup).call(a, ctx, id, opts),
  };
}
