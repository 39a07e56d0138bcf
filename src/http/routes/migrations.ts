import { type IRouter, type Request } from 'express';
import type { MigrationCreate } from '../../../schemas/types';
import { summarize } from '../../bulk/plan';
import type { Migrations, MigrationState } from '../../migrations';
import { check, validators } from '../../schemas';
import { requireScope } from '../auth';
import { audit } from '../guards';
import { assertJobAccess, startedBy } from './jobs';

/** A key sees a migration only if it may use both of its tenants: a job's rule, with the target as its tenant. */
const visible = (req: Request, state: Pick<MigrationState, 'from' | 'to'>): void => assertJobAccess(req, { tenant: state.to, from: state.from });

export function migrationRoutes(router: IRouter, migrations: Migrations): void {

  router.post('/v1/migrations', async (req, res) => {
    audit(res, 'migration.create');
    check(validators.query.none, req.query, '/query');
    const body = check<MigrationCreate>(validators.migrationCreate, req.body ?? {});
    visible(req, body);
    // Copying passwords means reading them.
    if ((body.passwords ?? 'keep') === 'keep') requireScope(req, 'secrets');
    const planned = await migrations.plan(req.ctx, body);
    if (body.dry_run ?? true) {
      res.json({ dry_run: true, from: body.from, to: body.to, summary: summarize(planned.items), items: planned.items });
      return;
    }
    const state = await migrations.start(body, planned, startedBy(req));
    audit(res, 'migration.create', state.id);
    res.status(202).location(`/v1/migrations/${state.id}`).json(state);
  });

  router.get('/v1/migrations/:id', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const state = await migrations.get(String(req.params.id));
    visible(req, state);
    res.json(state);
  });

  router.post('/v1/migrations/:id/resume', async (req, res) => {
    audit(res, 'migration.resume', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    visible(req, await migrations.get(String(req.params.id)));
    const state = await migrations.resume(req.ctx, String(req.params.id), startedBy(req));
    res.status(202).location(`/v1/migrations/${state.id}`).json(state);
  });

  router.post('/v1/migrations/:id/cancel', async (req, res) => {
    audit(res, 'migration.cancel', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    visible(req, await migrations.get(String(req.params.id)));
    const state = await migrations.cancel(String(req.params.id), startedBy(req));
    res.status(state.status === 'running' ? 202 : 200).json(state);
  });

}
