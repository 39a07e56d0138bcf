/**
 * Desired state: a file of extensions and ring groups per tenant, planned (what would change), applied (as one
 * job per tenant that has changes: in the background, resumable, within the vendor's pacing), checked for drift,
 * and exported from a tenant as it is (a file that plans to no changes).
 *
 * An apply plans again first and refuses, before writing anything: a file or tenants that differ from what the
 * plan read (its fingerprint), an invalid item, a lossy field not accepted by name, and a prune of more than
 * `max_prune_share` of a tenant.
 */
import type { DesiredDrift, DesiredState, DesiredStatePlan, DesiredTenant, DesiredTenantPlan } from '../../schemas/types';
import type { RequestContext } from '../contract';
import { NotFoundError, PlanStaleError, PruneTooLargeError, UnprocessableError, UnsupportedError, ValidationError, type FieldFault } from '../errors';
import type { Tenant } from '../extensions';
import type { Jobs, JobState, StartedBy } from '../jobs';
import { escapePointer } from '../schemas';
import type { StateStore } from '../state/store';
import { applyDesired, replanDesired } from './apply';
import { byNumber, effectiveAction, planTenant, toJobRow, writes, type TenantReading } from './plan';
import { fingerprint, fingerprintKey, readTenant } from './read';

export interface ApplyOptions {
  fingerprint: string;
  acceptLoss: string[];
  maxPruneShare: number;
}

export class DesiredStates {
  constructor(
    private readonly store: StateStore,
    private readonly tenants: () => ReadonlyMap<string, Tenant>,
    private readonly jobs: Jobs,
  ) {
    jobs.register('desired-state', {
      reload: async (_ctx, state, kept) => {
        const target = jobs.tenant(state.tenant);
        if (!target) throw new NotFoundError(`Job '${state.id}' writes to tenant '${state.tenant}', which this gateway does not serve.`);
        return { target, desired: new Map(), payload: kept };
      },
      apply: (ctx, target, items, _desired, onResult, acceptLoss, stopBefore, payload) => applyDesired(ctx, target, items, payload as DesiredTenant, onResult, acceptLoss, stopBefore),
      replan: (ctx, state, target, payload) => replanDesired(ctx, state, target, payload as DesiredTenant),
    });
  }

  /** The tenants a file names, each served here (400 with the file's pointer otherwise). */
  tenantsOf(file: DesiredState): Tenant[] {
    const all = this.tenants();
    const faults: FieldFault[] = [];
    const out: Tenant[] = [];
    for (const name of Object.keys(file.tenants)) {
      const t = all.get(name);
      if (t) out.push(t);
      else faults.push({ pointer: `/tenants/${escapePointer(name)}`, detail: `no tenant named '${name}'` });
    }
    if (faults.length) throw new ValidationError(faults);
    return out;
  }

  /** Read every tenant the file names, all at once (each has its own backend and pacing), and plan each. */
  async plan(ctx: RequestContext, file: DesiredState): Promise<{ plan: DesiredStatePlan; readings: Map<string, TenantReading> }> {
    const tenants = this.tenantsOf(file);
    for (const t of tenants) if (!t.adapter.capabilities.extensions.list) throw new UnsupportedError(t.backend, 'extensions.list');
    const read = await Promise.all(tenants.map((t) => readTenant(ctx, t, file.tenants[t.name])));
    const readings = new Map(tenants.map((t, i) => [t.name, read[i]]));
    const plans: DesiredTenantPlan[] = tenants.map((t, i) => planTenant(t.name, t.backend, t.adapter.capabilities, file.tenants[t.name]!, read[i]));
    const items = plans.flatMap((p) => p.items);
    const plan: DesiredStatePlan = {
      fingerprint: fingerprint(file, readings, await fingerprintKey(this.store)),
      // A lossy item that would write nothing (its only difference is a field the backend cannot hold) is shown, not a change.
      changes: items.some((i) => i.action !== 'invalid' && writes(i)),
      valid: !items.some((i) => i.action === 'invalid'),
      tenants: plans,
    };
    return { plan, readings };
  }

  /** Plan again, refuse what the plan does not allow, and start one job per tenant that has writes. */
  async apply(ctx: RequestContext, file: DesiredState, opts: ApplyOptions, by: StartedBy): Promise<{ plan: DesiredStatePlan; jobs: JobState[] }> {
    const { plan } = await this.plan(ctx, file);
    if (plan.fingerprint !== opts.fingerprint) {
      throw new PlanStaleError('The file or the tenants changed since the plan was made (its fingerprint differs): plan again, review the plan, and apply it with its fingerprint. Nothing was written.');
    }
    const invalid = plan.tenants.flatMap((t) => t.items.filter((i) => i.action === 'invalid').map((i) => ({ pointer: i.pointer ?? `/tenants/${escapePointer(t.tenant)}`, detail: `${i.kind} ${i.extension}: ${i.reason}` })));
    if (invalid.length) throw new UnprocessableError(`The plan has ${invalid.length} invalid item${invalid.length > 1 ? 's' : ''}; nothing was written.`, invalid);
    const accepted = new Set(opts.acceptLoss);
    const refused = plan.tenants.flatMap((t) => t.items.filter((i) => i.action === 'lossy' && writes(i)).flatMap((i) => (i.lossy ?? []).filter((f) => !accepted.has(f)).map((f) => ({ t, i, f }))));
    if (refused.length) {
      const fields = [...new Set(refused.map((r) => r.f))];
      throw new UnprocessableError(
        `Some fields cannot be held by their tenant's backend (${fields.join(', ')}): accept the loss by naming them in accept_loss, or leave them out of the file. Nothing was written.`,
        refused.slice(0, 100).map((r) => ({ pointer: r.i.pointer ? `${r.i.pointer}/${r.f}` : '/query/accept_loss', detail: `backend '${r.t.backend}' cannot hold ${r.f}` })),
      );
    }
    const tooLarge = plan.tenants.filter((t) => (t.prune_share ?? 0) > opts.maxPruneShare);
    if (tooLarge.length) {
      const err = new PruneTooLargeError(
        `The prune would delete ${tooLarge.map((t) => `${Math.round((t.prune_share ?? 0) * 1000) / 10} % of tenant '${t.tenant}'`).join(', ')}, more than the ${opts.maxPruneShare * 100} % allowed: raise max_prune_share to allow it. Nothing was written.`,
      );
      err.extra.tenants = tooLarge.map((t) => ({ tenant: t.tenant, prune_share: t.prune_share }));
      throw err;
    }
    const started: JobState[] = [];
    for (const t of plan.tenants) {
      const items = t.items.filter(writes).map((i) => toJobRow(i));
      if (!items.length) continue;
      const target = this.tenants().get(t.tenant)!;
      started.push(await this.jobs.start({ kind: 'desired-state', tenant: t.tenant, options: { on_conflict: 'update', accept_loss: opts.acceptLoss } }, target, items, [], by, file.tenants[t.tenant]));
    }
    return { plan, jobs: started };
  }

  /** A tenant as a desired-state file: what it holds (read as a plan reads it), without passwords (left alone), not pruning. */
  async export(ctx: RequestContext, tenant: Tenant): Promise<DesiredState> {
    if (!tenant.adapter.capabilities.extensions.list) throw new UnsupportedError(tenant.backend, 'extensions.list');
    const have = await readTenant(ctx, tenant, undefined);
    const section: DesiredTenant = {
      prune: false,
      extensions: [...have.extensions.values()]
        .sort((a, b) => byNumber(a.extension, b.extension))
        .map((e) => ({ extension: e.extension, name: e.name, ...(e.description ? { description: e.description } : {}) })),
    };
    if (have.ringGroups) {
      section.ring_groups = [...have.ringGroups.values()]
        .filter((g) => g.members.length > 0)
        .sort((a, b) => byNumber(a.extension, b.extension))
        .map((g) => ({ extension: g.extension, name: g.name, strategy: g.strategy, ...(g.ring_time !== null ? { ring_time: g.ring_time } : {}), members: g.members as [string, ...string[]] }));
    }
    return { version: 1, tenants: { [tenant.name]: section } };
  }
}


/** The plan seen as drift: what differs on the PBXes from the file. */
export function driftOf(plan: DesiredStatePlan): DesiredDrift {
  const tenants = plan.tenants.map((t) => {
    const drift: DesiredDrift['tenants'][number]['drift'] = [];
    let inSync = 0;
    for (const i of t.items) {
      const action = effectiveAction(i);
      const base = { kind: i.kind, extension: i.extension };
      if (i.action === 'invalid') drift.push({ ...base, state: 'invalid', reason: i.reason ?? 'invalid' });
      else if (action === 'create') drift.push({ ...base, state: 'missing' });
      else if (action === 'update') drift.push({ ...base, state: 'changed', fields: Object.keys(i.changes ?? {}) });
      else if (action === 'delete') drift.push({ ...base, state: 'extra' });
      else inSync++;
    }
    return { tenant: t.tenant, backend: t.backend, in_sync: inSync, drift };
  });
  return { drifted: tenants.some((t) => t.drift.some((d) => d.state !== 'invalid')), valid: plan.valid, tenants };
}
