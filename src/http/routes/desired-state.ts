import type { IRouter, Request } from 'express';
import type { DesiredState } from '../../../schemas/types';
import { driftOf, type DesiredStates } from '../../desired-state';
import { check, validators } from '../../schemas';
import { assertTenantAccess, requireScope } from '../auth';
import { audit } from '../guards';
import { startedBy } from './jobs';
import { tenantFrom } from './tenants';
import type { Tenant } from '../../extensions';

/**
 * The file in the body, validated whole before anything is read; the key must may use each tenant it names. A
 * file with passwords needs the `secrets` scope: a plan says whether each one differs from the PBX's, which
 * would otherwise let a key test guesses of passwords it may not read.
 */
function fileOf(req: Request): DesiredState {
  const file = check<DesiredState>(validators.desiredState, req.body ?? {});
  for (const name of Object.keys(file.tenants)) assertTenantAccess(req, name);
  if (Object.values(file.tenants).some((t) => (t?.extensions ?? []).some((e) => e.password !== undefined))) requireScope(req, 'secrets');
  return file;
}

export function desiredStateRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>, desired: DesiredStates): void {
  router.post('/v1/desired-state/plan', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const file = fileOf(req);
    res.json((await desired.plan(req.ctx, file)).plan);
  });

  router.post('/v1/desired-state/drift', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const file = fileOf(req);
    res.json(driftOf((await desired.plan(req.ctx, file)).plan));
  });

  router.post('/v1/desired-state/apply', async (req, res) => {
    audit(res, 'desired_state.apply');
    const q = check<{ fingerprint: string; accept_loss?: string; max_prune_share: number }>(validators.query.desiredStateApply, { ...req.query }, '/query');
    const file = fileOf(req);
    const { plan, jobs } = await desired.apply(req.ctx, file, { fingerprint: q.fingerprint, acceptLoss: (q.accept_loss ?? '').split(',').filter(Boolean), maxPruneShare: q.max_prune_share }, startedBy(req));
    audit(res, 'desired_state.apply', jobs.map((j) => j.id).join(','));
    res.status(jobs.length ? 202 : 200).json({ fingerprint: plan.fingerprint, jobs });
  });

  router.get('/v1/tenants/:tenant/desired-state', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const tenant = tenantFrom(req, tenants);
    res.json(await desired.export(req.ctx, tenant));
  });
}
