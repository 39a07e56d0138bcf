/**
 * Running a desired-state job: the plan's writing items of one tenant in the plan's order (src/desired-state/plan.ts
 * says why that order), each reported done only when the backend answered it, with the PBX's apply-changes held
 * back to one at the end, and a resume that plans again against the tenant as it is now.
 */
import type { DesiredExtension, DesiredTenant } from '../../schemas/types';
import type { Extension, RequestContext, RingGroup, WriteOptions } from '../contract';
import { failure, type ItemResult, type PlanItem } from '../bulk/plan';
import { VerificationFailedError } from '../errors';
import * as ops from '../extensions';
import type { Tenant } from '../extensions';
import type { JobState } from '../jobs';
import { effectiveAction, planTenant, toJobRow } from './plan';
import { readTenant } from './read';

export async function applyDesired(
  ctx: RequestContext,
  tenant: Tenant,
  items: PlanItem[],
  want: DesiredTenant,
  onResult: (r: ItemResult) => Promise<void>,
  acceptLoss: readonly string[],
  stopBefore: () => string | undefined,
): Promise<ItemResult[]> {
  const extensions = new Map((want.extensions ?? []).map((d) => [d.extension, d]));
  const groups = new Map((want.ring_groups ?? []).map((d) => [d.extension, d]));
  const deferred: WriteOptions = { deferApply: true, acceptLoss };
  const results: ItemResult[] = [];
  let wrote = false;
  try {
    for (const item of items) {
      const base = { row: item.row, kind: item.kind ?? 'extension', extension: item.extension, action: item.action };
      const stopped = stopBefore();
      let result: ItemResult;
      if (stopped) {
        result = { ...base, status: 'not_done', reason: stopped };
      } else {
        try {
          const id = item.kind === 'ring_group' ? await writeGroup(ctx, tenant, item, groups, deferred) : await writeExtension(ctx, tenant, item, extensions.get(item.extension!), deferred);
          wrote = true;
          result = { ...base, status: 'done', ...(id ? { id } : {}) };
        } catch (err) {
          result = { ...base, status: 'failed', error: failure(err) };
        }
      }
      results.push(result);
      await onResult(result);
    }
  } finally {
    // One apply-changes for the tenant's whole apply: a PBX with that step reloads once.
    if (wrote && tenant.adapter.applyChanges) await tenant.adapter.applyChanges(ctx);
  }
  return results;
}

/** One extension row; the fields the caller accepted to lose (the item's `lossy`) are left out. */
async function writeExtension(ctx: RequestContext, tenant: Tenant, item: PlanItem, d: DesiredExtension | undefined, opts: WriteOptions): Promise<string | undefined> {
  if (item.action === 'delete') {
    await ops.deleteExtension(ctx, tenant, item.target_id!);
    return item.target_id;
  }
  if (!d) throw new Error(`row ${item.row}: the file has no extension ${item.extension}`);
  const keep = (f: 'description' | 'password') => d[f] !== undefined && !(item.lossy ?? []).includes(f);
  let written: Extension;
  if (item.action === 'create') {
    written = await ops.createExtension(
      ctx,
      tenant,
      { extension: d.extension, name: d.name, ...(keep('description') && d.description !== null ? { description: d.description } : {}), ...(keep('password') ? { password: d.password } : {}) },
      { ...opts, numberChecked: true },
    );
    if (written.extension !== d.extension || written.name !== d.name) throw verificationFailed();
    return written.id;
  }
  const changed = Object.keys(item.changes ?? {});
  const patch = Object.fromEntries(changed.filter((f) => f === 'name' || keep(f as 'description' | 'password')).map((f) => [f, d[f as keyof DesiredExtension]]));
  written = await ops.updateExtension(ctx, tenant, item.target_id!, patch, opts);
  // An update's answer may be computed from the record before it (a backend whose update answers no body): read back.
  const check = await tenant.adapter.getExtension(ctx, written.id);
  if (check.name !== d.name) throw verificationFailed();
  return written.id;
}

async function writeGroup(ctx: RequestContext, tenant: Tenant, item: PlanItem, groups: Map<string, NonNullable<DesiredTenant['ring_groups']>[number]>, opts: WriteOptions): Promise<string | undefined> {
  const rg = ops.ringGroups(ctx, tenant);
  if (item.action === 'delete') {
    await rg.delete(item.target_id!, opts);
    return item.target_id;
  }
  const d = groups.get(item.extension!);
  if (!d) throw new Error(`row ${item.row}: the file has no ring group ${item.extension}`);
  let written: RingGroup;
  if (item.action === 'create') {
    written = await rg.create({ extension: d.extension, name: d.name, members: d.members, ...(d.strategy ? { strategy: d.strategy } : {}), ...(d.ring_time !== undefined ? { ring_time: d.ring_time } : {}) }, opts);
  } else {
    const patch = Object.fromEntries(Object.keys(item.changes ?? {}).map((f) => [f, d[f as keyof typeof d]]));
    written = await rg.update(item.target_id!, patch, opts);
  }
  if (written.extension !== d.extension || written.name !== d.name || JSON.stringify(written.members) !== JSON.stringify(d.members)) throw verificationFailed();
  return written.id;
}

const verificationFailed = () => new VerificationFailedError('Read back after writing, the object differs from what was written.');

/**
 * Taken up again (a resume, another instance): the tenant is read and planned again with the same file section.
 * A row of the job whose item now plans unchanged (or, for a delete, is gone) was done before the interruption;
 * any other row runs as the new plan has it. What the new plan has beyond the job's rows is not the job's: it
 * needs a new plan.
 */
export async function replanDesired(ctx: RequestContext, state: JobState, tenant: Tenant, want: DesiredTenant): Promise<{ results: ItemResult[]; toRun: PlanItem[] }> {
  const plan = planTenant(tenant.name, tenant.backend, tenant.adapter.capabilities, want, await readTenant(ctx, tenant, want));
  const now = new Map(plan.items.map((i) => [`${i.kind}:${i.extension}`, i]));
  const finished = new Set(state.results.map((r) => r.row));
  const results: ItemResult[] = [];
  const toRun: PlanItem[] = [];
  for (const item of state.items) {
    if (finished.has(item.row)) continue;
    const base = { row: item.row, kind: item.kind ?? 'extension', extension: item.extension, action: item.action };
    const again = now.get(`${item.kind ?? 'extension'}:${item.extension}`);
    const action = again ? effectiveAction(again) : item.action === 'delete' ? 'unchanged' : undefined;
    if (action === 'unchanged') {
      results.push({ ...base, status: 'done', ...(again?.target_id ?? item.target_id ? { id: again?.target_id ?? item.target_id } : {}), reason: 'found done on the tenant when the job was taken up again' });
    } else if (!again || action === 'invalid') {
      results.push({ ...base, status: 'failed', error: { type: '/problems/plan-stale', title: 'The plan is stale', status: 409, detail: again?.reason ?? 'the tenant changed since the plan: plan again' } });
    } else {
      toRun.push(toJobRow(again, item.row));
    }
  }
  return { results, toRun };
}
