import { type IRouter } from 'express';
import type { DirectoryQuery } from '../../../schemas/types';
import { DirectorySnapshots, searchDirectory } from '../../directory';
import * as ops from '../../extensions';
import type { Tenant } from '../../extensions';
import { check, validators } from '../../schemas';
import { mayUseTenant } from '../auth';

/** GET /v1/extensions: search every tenant this key may see. */
export function directoryRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>): void {
  const snapshots = new DirectorySnapshots();
  router.get('/v1/extensions', async (req, res) => {
    const q = check<DirectoryQuery>(validators.query.directory, { ...req.query }, '/query');
    const visible = [...tenants.values()].filter(
      (t) => mayUseTenant(req.apiKey!, t.name) && t.adapter.capabilities.extensions.list && (!q.tenant || t.name === q.tenant) && (!q.backend || t.backend === q.backend),
    );
    const page = await searchDirectory(req.ctx, visible, { q: q.q, page_size: q.page_size ?? 50, page_token: q.page_token }, { tenant: q.tenant, backend: q.backend }, snapshots);
    res.json({ ...page, items: page.items.map((e) => ops.shape(e, {})) });
  });
}
