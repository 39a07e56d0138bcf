import { type IRouter, type Request } from 'express';
import type { BatchDeleteQuery, ExtensionCreate, ExtensionPatch, GetExtensionQuery, ListExtensionsQuery, UpdateExtensionQuery } from '../../../schemas/types';
import { ConflictError, GatewayError, IdempotencyOutcomeUnknownError, ValidationError } from '../../errors';
import type { Extension } from '../../contract';
import * as ops from '../../extensions';
import type { Tenant } from '../../extensions';
import { readPage } from '../../paging';
import { check, validators } from '../../schemas';
import { requireScope } from '../auth';
import { audit } from '../guards';
import { idempotent, sendOutcome, type StoredAnswer } from '../../idempotency';
import type { StateStore } from '../../state/store';
import { tenantFrom } from './tenants';

const MAX_BATCH = 500;

export function idFrom(req: Request): string {
  return ops.safeId(String(req.params.id));
}

function body<T>(req: Request, validate: typeof validators.extensionCreate): T {
  return check<T>(validate, req.body ?? {});
}

/**
 * A retry of a numbered create whose first outcome was lost: the number holds what the first request sent (its
 * answer, now), someone else's extension (409, as the first request would have been answered), or nothing (the
 * create runs again: a number exists once, so it cannot be made twice).
 */
async function settleLostCreate(req: Request, tenant: Tenant, input: ExtensionCreate, password: string, created: (ext: Extension) => StoredAnswer): Promise<StoredAnswer | 'run'> {
  const found = await ops.findOwnCreate(req.ctx, tenant, input, password);
  if (found === 'absent') return 'run';
  if (found === 'other') throw new ConflictError(`Extension ${input.extension} already exists in this tenant and was not created by this Idempotency-Key's request.`, [{ pointer: '/extension', detail: 'already exists' }]);
  if (found === 'unreadable') {
    throw new IdempotencyOutcomeUnknownError(`The first request with this Idempotency-Key ended without a known outcome, and the backend could not be read to settle it: extension ${input.extension} may exist. Retry later, or check the tenant.`);
  }
  return created(found);
}

export function extensionRoutes(router: IRouter, tenants: ReadonlyMap<string, Tenant>, store: StateStore): void {
  const base = '/v1/tenants/:tenant/extensions';
  const location = (t: Tenant, id: string) => `/v1/tenants/${encodeURIComponent(t.name)}/extensions/${encodeURIComponent(id)}`;

  router.get(base, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<ListExtensionsQuery>(validators.query.listExtensions, { ...req.query }, '/query');
    if (q.include === 'password') requireScope(req, 'secrets');
    ops.requireOp(tenant, 'list');
    const page = await readPage(req.ctx, tenant.adapter, tenant.name, q.page_size ?? 50, q.page_token);
    const opts = { includePassword: q.include === 'password', full: q.view === 'full' };
    res.json({ items: page.items.map((e) => ops.shape(e, opts)), next_page_token: page.next_page_token });
  });

  router.post(base, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'extension.create');
    check(validators.query.none, req.query, '/query');
    const input = body<ExtensionCreate>(req, validators.extensionCreate);
    // The password is fixed before the key is claimed and kept (sealed) with the claim: a retry that meets a lost
    // outcome can then tell, by reading the number, whether the extension there is the one this request made.
    let password = input.password ?? ops.generateSipPassword();
    const created = (ext: Extension) => ({ status: 201, headers: { location: location(tenant, ext.id) }, body: ops.shape(ext, { includePassword: true }) });
    const outcome = await idempotent<{ password: string }>(
      req,
      tenant.name,
      store,
      // The one answer that carries the password unasked: the caller has no other way to learn a generated one.
      async () => created(await ops.createExtension(req.ctx, tenant, input, undefined, password)),
      {
        intent: { password },
        // A create whose backend answer was lost may have happened; nothing but a refusal is known for sure.
        uncertain: (err) => !(err instanceof GatewayError) || (err.status >= 500 && err.writeSent !== false),
        // A numbered create settles a lost outcome by reading its number; an auto-numbered one cannot.
        ...(input.extension !== undefined ? { resume: (earlier) => settleLostCreate(req, tenant, input, (password = earlier?.password ?? password), created) } : {}),
      },
    );
    audit(res, 'extension.create', (outcome.answer.body as { id?: string }).id);
    sendOutcome(res, outcome);
  });

  router.delete(base, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'extension.batch_delete', typeof req.query.ids === 'string' ? req.query.ids.slice(0, 2000) : undefined);
    const q = check<BatchDeleteQuery>(validators.query.batchDelete, { ...req.query }, '/query');
    const ids = q.ids.split(',').map((s) => s.trim());
    const bad = ids.findIndex((id) => id === '');
    if (bad >= 0) throw new ValidationError([{ pointer: '/query/ids', detail: `id number ${bad + 1} is empty` }]);
    if (ids.length > MAX_BATCH) throw new ValidationError([{ pointer: '/query/ids', detail: `at most ${MAX_BATCH} ids per call` }]);
    // Deleting again is harmless: a first run whose outcome was lost is simply run again.
    const outcome = await idempotent(req, tenant.name, store, async () => ({ status: 200, headers: {}, body: { results: await ops.deleteExtensions(req.ctx, tenant, ids) } }), { resume: async () => 'run' });
    sendOutcome(res, outcome);
  });

  router.get(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    const q = check<GetExtensionQuery>(validators.query.getExtension, { ...req.query }, '/query');
    if (q.include === 'password') requireScope(req, 'secrets');
    const id = idFrom(req);
    ops.requireOp(tenant, 'get');
    const ext = await tenant.adapter.getExtension(req.ctx, id);
    res.json(ops.shape(ext, { includePassword: q.include === 'password', full: q.view === 'full' }));
  });

  router.patch(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'extension.update', String(req.params.id));
    const q = check<UpdateExtensionQuery>(validators.query.updateExtension, { ...req.query }, '/query');
    const patch = body<ExtensionPatch>(req, validators.extensionPatch);
    const acceptLoss = q.accept_loss ? q.accept_loss.split(',') : undefined;
    const updated = await ops.updateExtension(req.ctx, tenant, idFrom(req), patch, acceptLoss ? { acceptLoss } : undefined);
    res.json(ops.shape(updated, {}));
  });

  router.delete(`${base}/:id`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'extension.delete', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    await ops.deleteExtension(req.ctx, tenant, idFrom(req));
    res.status(204).end();
  });

  router.post(`${base}/:id/direct-hash/regenerate`, async (req, res) => {
    const tenant = tenantFrom(req, tenants);
    audit(res, 'extension.direct_hash_regenerate', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    const ext = await ops.regenerateDirectHash(req.ctx, tenant, idFrom(req));
    res.json(ops.shape(ext, {}));
  });

}
