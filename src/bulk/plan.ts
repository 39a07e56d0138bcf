/**
 * Plans and applies many extensions into one tenant: the shared core of import and migration. A plan says, per
 * item, what would happen (create, update with a field diff, skip, conflict, invalid) and which fields the target
 * cannot hold (lossy). Applying follows the plan item by item, holds back the PBX's apply-changes until the end
 * (one reload per batch), reads each written extension back, and never reports an item done that is not.
 */
import type { Capabilities, Extension, RequestContext, WriteOptions } from '../contract';
import { asGatewayError } from '../errors';
import * as ops from '../extensions';
import type { Tenant } from '../extensions';
import { numberIndexOf } from '../number-index';
import { allExtensions } from '../paging';
import { toFieldFaults, validators } from '../schemas';

export type Field = 'extension' | 'name' | 'description' | 'password';
const FIELDS: Field[] = ['extension', 'name', 'description', 'password'];

/** One wanted extension, as read from a file or a source tenant. */
export interface Desired {
  /** 1-based position in the input. */
  row: number;
  extension?: string;
  name?: string;
  description?: string | null;
  password?: string;
}

/** `delete`: only a desired-state apply's (a prune). */
export type Action = 'create' | 'update' | 'skip' | 'conflict' | 'invalid' | 'delete';
export type OnConflict = 'skip' | 'update' | 'fail';

export interface PlanItem {
  row: number;
  /** What the row is about: an extension (the default) or a ring group (a desired-state apply's). */
  kind?: 'extension' | 'ring_group';
  extension: string | null;
  action: Action;
  reason?: string;
  /** For updates: field -> { from, to } (passwords show as "(hidden)"). */
  changes?: Record<string, { from: unknown; to: unknown } | undefined>;
  /** Fields with a value that the target backend cannot store. */
  lossy?: string[];
  /** The target's id of the extension this item updates, skips or conflicts with. */
  target_id?: string;
}

export interface ItemResult {
  row: number;
  kind?: 'extension' | 'ring_group';
  extension: string | null;
  action: Action;
  /** `not_done`: never started (the request's time ran out, or the caller left): nothing was written for it. */
  status: 'done' | 'failed' | 'skipped' | 'not_done';
  id?: string;
  reason?: string;
  error?: { type: string; title: string; status: number; detail: string };
}

/** Every extension of the target by number: one walk, whatever its paging. The walk also refreshes the tenant's
 * index of numbers (src/number-index.ts), so single creates right after a batch walk nothing. */
export async function existingByNumber(ctx: RequestContext, tenant: Tenant): Promise<Map<string, Extension>> {
  const index = numberIndexOf(tenant);
  const walk = index.startWalk();
  const out = new Map<string, Extension>();
  try {
    for await (const e of allExtensions(ctx, tenant.adapter)) out.set(e.extension, e);
  } catch (err) {
    index.abandonWalk(walk);
    throw err;
  }
  index.finishWalk(walk, out.values());
  return out;
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

export function planItems(desired: Desired[], existing: Map<string, Extension>, caps: Capabilities, onConflict: OnConflict): PlanItem[] {
  const seen = new Set<string>();
  const writable = new Set<string>(caps.writable_fields);
  return desired.map((d): PlanItem => {
    const extension = d.extension ?? null;
    const base = { row: d.row, extension };
    const body = Object.fromEntries(FIELDS.filter((f) => present(d[f])).map((f) => [f, d[f]]));
    if (!present(d.extension)) return { ...base, action: 'invalid', reason: 'extension is required' };
    if (!validators.extensionCreate(body)) {
      const [fault] = toFieldFaults(validators.extensionCreate.errors);
      return { ...base, action: 'invalid', reason: `${fault.pointer.slice(1) || 'row'} ${fault.detail}` };
    }
    if (seen.has(d.extension!)) return { ...base, action: 'invalid', reason: 'the same extension appears earlier in the input' };
    seen.add(d.extension!);
    const lossy = FIELDS.filter((f) => f !== 'extension' && present(d[f]) && !writable.has(f));
    const withLoss = (item: PlanItem): PlanItem => (lossy.length ? { ...item, lossy } : item);
    const current = existing.get(d.extension!);
    if (!current) {
      if (!caps.extensions.create) return { ...base, action: 'invalid', reason: 'the target cannot create extensions' };
      return withLoss({ ...base, action: 'create' });
    }
    if (onConflict === 'skip') return { ...base, action: 'skip', reason: 'exists', target_id: current.id };
    if (onConflict === 'fail') return { ...base, action: 'conflict', reason: 'exists', target_id: current.id };
    if (!caps.extensions.update) return { ...base, action: 'conflict', reason: 'exists and the target cannot update', target_id: current.id };
    const changes: PlanItem['changes'] = {};
    for (const f of ['name', 'description', 'password'] as const) {
      if (!present(d[f]) || !writable.has(f)) continue;
      const from = current[f] ?? null;
      if (from !== d[f]) changes[f] = f === 'password' ? { from: '(hidden)', to: '(hidden)' } : { from, to: d[f] };
    }
    if (Object.keys(changes).length === 0) return withLoss({ ...base, action: 'skip', reason: 'unchanged', target_id: current.id });
    return withLoss({ ...base, action: 'update', changes, target_id: current.id });
  });
}

export function summarize(items: { action: Action }[]): Record<Exclude<Action, 'delete'>, number> & { delete?: number } {
  const out: Record<Exclude<Action, 'delete'>, number> & { delete?: number } = { create: 0, update: 0, skip: 0, conflict: 0, invalid: 0 };
  for (const i of items) out[i.action] = (out[i.action] ?? 0) + 1;
  return out;
}

/** Lossy fields the caller has not accepted by name, across the plan. */
export function unacceptedLoss(items: PlanItem[], accepted: string[]): string[] {
  const ok = new Set(accepted);
  return [...new Set(items.filter((i) => i.action === 'create' || i.action === 'update').flatMap((i) => i.lossy ?? []))].filter((f) => !ok.has(f));
}

/** A failed item's error: the problem of what was thrown (never a backend's own text: GatewayError messages are ours). */
export const failure = (err: unknown): ItemResult['error'] => {
  const e = asGatewayError(err);
  return { type: `/problems/${e.slug}`, title: e.title, status: e.status, detail: e.message };
};

/**
 * Apply a plan in order. `desired` gives each row's values (by row); fields listed as lossy are left out (the
 * caller accepted their loss). `onResult` is told after each item, so progress can be kept (and resumed).
 *
 * Backend calls: the plan's walk (existingByNumber) is the batch's one read of the tenant; a create row is then
 * sent with `numberChecked` (the plan found its number free), so an adapter whose duplicate check is a walk of the
 * whole list does not walk again per row (a stale plan still ends in the backend's refusal and a 409).
 */
export async function applyPlan(
  ctx: RequestContext,
  tenant: Tenant,
  items: PlanItem[],
  desired: Map<number, Desired>,
  onResult: (r: ItemResult) => Promise<void> | void = () => undefined,
  /** Settings of the target's records an update may lose (the adapter refuses an update that would lose others). */
  acceptLoss: readonly string[] = [],
  /** Asked before each row: a reason to start no more rows (they are reported `not_done`), or undefined. */
  stopBefore: (row: { slowestMs: number }) => string | undefined = () => undefined,
): Promise<ItemResult[]> {
  const results: ItemResult[] = [];
  const deferred: WriteOptions = { deferApply: true, acceptLoss };
  const creating: WriteOptions = { ...deferred, numberChecked: true };
  let wrote = false;
  let slowestMs = 0;
  let stopped: string | undefined;
  try {
    for (const item of items) {
      const d = desired.get(item.row)!;
      const base = { row: item.row, extension: item.extension, action: item.action };
      let result: ItemResult;
      const writes = item.action === 'create' || item.action === 'update';
      if (writes) stopped ??= stopBefore({ slowestMs });
      const started = Date.now();
      if (writes && stopped) {
        result = { ...base, status: 'not_done', reason: stopped };
      } else if (item.action !== 'create' && item.action !== 'update') {
        result = { ...base, status: 'skipped', ...(item.target_id ? { id: item.target_id } : {}) };
      } else {
        const keep = (f: Field) => present(d[f]) && !(item.lossy ?? []).includes(f);
        try {
          let written: Extension;
          if (item.action === 'create') {
            written = await ops.createExtension(
              ctx,
              tenant,
              { extension: d.extension!, name: d.name ?? d.extension!, ...(keep('description') ? { description: d.description } : {}), ...(keep('password') ? { password: d.password } : {}) },
              creating,
            );
          } else {
            const patch = Object.fromEntries((['name', 'description', 'password'] as const).filter((f) => keep(f) && item.changes?.[f]).map((f) => [f, d[f]]));
            written = await ops.updateExtension(ctx, tenant, item.target_id!, patch, deferred);
          }
          wrote = true;
          // An item is reported done only when the target shows it. A create's answer is what the target shows:
          // the record the backend answered the create with, or the adapter's own read-back of a create answered
          // without a body; reading it again would be a call per row for nothing. An update's answer may be
          // computed from the record before it (a backend whose update answers no body), so it is read back.
          const check = item.action === 'create' ? written : await tenant.adapter.getExtension(ctx, written.id);
          const ok = check.extension === d.extension && (!keep('name') || check.name === d.name);
          result = ok ? { ...base, status: 'done', id: written.id } : { ...base, status: 'failed', id: written.id, error: { type: '/problems/verification-failed', title: 'The target does not show the change', status: 502, detail: 'Read back after writing, the extension differs from what was written.' } };
        } catch (err) {
          result = { ...base, status: 'failed', error: failure(err) };
        }
      }
      if (writes && !stopped) slowestMs = Math.max(slowestMs, Date.now() - started);
      results.push(result);
      await onResult(result);
    }
  } finally {
    // One apply-changes for the whole batch: a PBX with that step reloads once, not once per row.
    if (wrote && tenant.adapter.applyChanges) await tenant.adapter.applyChanges(ctx);
  }
  return results;
}
