import { type IRouter } from 'express';
import type { DevicesQuery } from '../../../schemas/types';
import { details, type Tenant } from '../../extensions';
import { check, validators } from '../../schemas';
import { idFrom } from './extensions';
import { requireScope } from '../auth';
import { tenantFrom } from './tenants';

/** Extension details: devices, queues, call summary, voicemail. 501 where the backend has no such notion. */
export function detailRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>): void {
  const base = '/v1/tenants/:tenant/extensions/:id';

  router.get(`${base}/devices`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<DevicesQuery>(validators.query.devices, { ...req.query }, '/query');
    if (q.include === 'password') requireScope(req, 'secrets');
    const devices = await details.devices(req.ctx, tenant, idFrom(req));
    // Device passwords are SIP secrets: shown only when asked for.
    res.json({ items: devices.map(({ password, ...d }) => (q.include === 'password' && password !== undefined ? { ...d, password } : d)) });
  });
  router.get(`${base}/queues`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    check(validators.query.none, req.query, '/query');
    res.json({ items: await details.queues(req.ctx, tenant, idFrom(req)) });
  });
  router.get(`${base}/call-summary`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    check(validators.query.none, req.query, '/query');
    res.json(await details.call_summary(req.ctx, tenant, idFrom(req)));
  });
  router.get(`${base}/voicemail`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    check(validators.query.none, req.query, '/query');
    res.json({ items: await details.voicemail(req.ctx, tenant, idFrom(req)) });
  });
}
