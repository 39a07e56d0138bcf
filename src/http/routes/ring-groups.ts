import { type IRouter } from 'express';
import type { RingGroup, RingGroupCreate, RingGroupPatch } from '../../../schemas/types';
import { ringGroups, type Tenant } from '../../extensions';
import { check, validators } from '../../schemas';
import { idFrom } from './extensions';
import { audit } from '../guards';
import { tenantFrom } from './tenants';

type View = { view?: 'full' };
const shape = (g: RingGroup, full: boolean): RingGroup => {
  const { vendor, ...rest } = g;
  return full && vendor !== undefined ? { ...rest, vendor } : rest;
};

/** Ring groups, validated in the gateway (strategy, ring_time, members) before any backend call. */
export function ringGroupRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>): void {
  const base = '/v1/tenants/:tenant/ring-groups';

  router.get(base, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<View>(validators.query.view, { ...req.query }, '/query');
    const items = await ringGroups(req.ctx, tenant).list();
    res.json({ items: items.map((g) => shape(g, q.view === 'full')) });
  });
  router.post(base, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'ring_group.create');
    check(validators.query.none, req.query, '/query');
    const ops = ringGroups(req.ctx, tenant);
    const created = await ops.create(check<RingGroupCreate>(validators.ringGroupCreate, req.body ?? {}));
    audit(res, 'ring_group.create', created.id);
    res.status(201).location(`/v1/tenants/${encodeURIComponent(tenant.name)}/ring-groups/${encodeURIComponent(created.id)}`).json(shape(created, false));
  });
  router.get(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<View>(validators.query.view, { ...req.query }, '/query');
    res.json(shape(await ringGroups(req.ctx, tenant).get(idFrom(req)), q.view === 'full'));
  });
  router.patch(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'ring_group.update', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    const ops = ringGroups(req.ctx, tenant);
    const patch = check<RingGroupPatch>(validators.ringGroupPatch, req.body ?? {});
    res.json(shape(await ops.update(idFrom(req), patch), false));
  });
  router.delete(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'ring_group.delete', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    await ringGroups(req.ctx, tenant).delete(idFrom(req));
    res.status(204).end();
  });
}
