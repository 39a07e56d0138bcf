import { type IRouter, type Request } from 'express';
import type { Tenant as TenantView } from '../../../schemas/types';
import { NotFoundError } from '../../errors';
import type { Tenant } from '../../extensions';
import { check, validators } from '../../schemas';
import { assertTenantAccess, mayUseTenant } from '../auth';

export function describeTenant(t: Tenant): TenantView {
  return { name: t.name, backend: t.backend, capabilities: t.adapter.capabilities };
}

/** The tenant named in the path, if this key may use it: 403 outside the key's list (before existence, so a
 * limited key learns nothing of other tenants), 404 when a key that may see every tenant names an unknown one. */
export function tenantFrom(req: Request, tenants: ReadonlyMap<string, Tenant>): Tenant {
  const name = String(req.params.tenant);
  assertTenantAccess(req, name);
  const tenant = tenants.get(name);
  if (!tenant) throw new NotFoundError(`No tenant named '${name}'.`);
  // Only a configured tenant's name reaches metric labels and audit lines.
  if (req.res) req.res.locals.tenant = tenant.name;
  return tenant;
}

export function tenantRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>): void {
  router.get('/v1/tenants', (req, res) => {
    check(validators.query.none, req.query, '/query');
    const items = [...tenants.values()].filter((t) => mayUseTenant(req.apiKey!, t.name)).map(describeTenant);
    res.json({ items });
  });
  router.get('/v1/tenants/:tenant', (req, res) => {
    check(validators.query.none, req.query, '/query');
    res.json(describeTenant(tenantFrom(req, tenants)));
  });
}
