/**
 * The unified extension operations on one tenant: capability checks (501 and 422 decided from the adapter's
 * flags, in one place), password generation, output shaping, and the one-by-one batch delete for backends
 * without a native one. Routes parse and validate; this file decides; adapters talk to backends.
 */
import { randomInt } from 'node:crypto';
import type { BatchDeleteItem, Capabilities, Extension, ExtensionPatch, PbxAdapter, RingGroupCreate, RingGroupPatch, WriteOptions } from './contract';
import { asGatewayError, BackendTimeoutError, BackendUnavailableError, NotFoundError, UnprocessableError, UnsupportedError, type FieldFault } from './errors';
import { allExtensions } from './paging';
import { newRequestContext, type RequestContext } from './request-context';
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

export async function createExtension(ctx: RequestContext, tenant: Tenant, body: ExtensionCreate, opts?: WriteOptions): Promise<Extension> {
  requireOp(tenant, 'create');
  if (body.extension === undefined) requireOp(tenant, 'auto_number');
  // A generated password is the gateway's own choice, so only what the caller sent must be storable.
  requireWritable(tenant, body);
  const password = body.password ?? generateSipPassword();
  try {
    const created = await tenant.adapter.createExtension(ctx, { ...body, password }, opts);
    return { ...created, password: created.password ?? password };
  } catch (err) {
    // The create may have been carried out although its answer was lost (timeout, reset after sending).
    // Read the backend before answering, so the caller learns whether the extension exists.
    if (!(err instanceof BackendTimeoutError || err instanceof BackendUnavailableError) || body.extension === undefined) throw err;
    const found = await reconcile(ctx, tenant, body.extension);
    if (!found) throw err;
    return { ...found, password: found.password ?? password };
  }
}

/** Look for an extension by number, with a short budget of its own (the request's may be spent). */
async function reconcile(ctx: RequestContext, tenant: Tenant, number: string): Promise<Extension | undefined> {
  const own = newRequestContext(ctx.requestId, 5000);
  try {
    for await (const ext of allExtensions(own, tenant.adapter)) if (ext.extension === number) return await tenant.adapter.getExtension(own, ext.id);
  } catch {
    // Could not find out: the caller gets the original failure, which says the outcome is unknown.
  }
  return undefined;
}

export async function updateExtension(ctx: RequestContext, tenant: Tenant, id: string, patch: ExtensionPatch, opts?: WriteOptions): Promise<Extension> {
  requireOp(tenant, 'update');
  requireWritable(tenant, patch);
  return tenant.adapter.updateExtension(ctx, id, patch, opts);
}

export async function deleteExtension(ctx: RequestContext, tenant: Tenant, id: string): Promise<void> {
  requireOp(tenant, 'delete');
  await tenant.adapter.deleteExtension(ctx, id);
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
    create: (input: RingGroupCreate) => need(a.createRingGroup).call(a, ctx, input),
    update: (id: string, patch: RingGroupPatch) => need(a.updateRingGroup).call(a, ctx, id, patch),
    delete: (id: string) => need(a.deleteRingGroup).call(a, ctx, id),
  };
}
