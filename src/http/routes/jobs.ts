import { type IRouter, type Request } from 'express';
import type { Jobs, JobState, StartedBy } from '../../jobs';
import { check, validators } from '../../schemas';
import { assertTenantAccess } from '../auth';
import { audit } from '../guards';

/** A key sees a job only if it may use every tenant it touches (a migration's two, an import's one). */
export function assertJobAccess(req: Request, state: Pick<JobState, 'tenant' | 'from'>): void {
  assertTenantAccess(req, state.tenant);
  if (state.from) assertTenantAccess(req, state.from);
}

export const startedBy = (req: Request): StartedBy => ({ key_id: req.apiKey?.id, request_id: req.ctx.requestId });

/** `/v1/jobs/{id}`: every job (imports run as jobs, migrations), its progress and per-row results; resume, cancel. */
export function jobRoutes(router: IRouter, jobs: Jobs): void {

  router.get('/v1/jobs/:id', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const state = await jobs.get(String(req.params.id));
    assertJobAccess(req, state);
    res.json(state);
  });

  router.post('/v1/jobs/:id/resume', async (req, res) => {
    const id = String(req.params.id);
    audit(res, 'job.resume', id);
    check(validators.query.none, req.query, '/query');
    const found = await jobs.get(id);
    assertJobAccess(req, found);
    res.locals.tenant = found.tenant;
    const state = await jobs.resume(id, startedBy(req), req.ctx);
    res.status(202).location(`/v1/jobs/${state.id}`).json(state);
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const id = String(req.params.id);
    audit(res, 'job.cancel', id);
    check(validators.query.none, req.query, '/query');
    const found = await jobs.get(id);
    assertJobAccess(req, found);
    res.locals.tenant = found.tenant;
    const state = await jobs.cancel(id, startedBy(req));
    res.status(state.status === 'running' ? 202 : 200).json(state);
  });

}
