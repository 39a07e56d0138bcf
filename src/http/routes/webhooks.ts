import type { IRouter, Request } from 'express';
import { NotFoundError } from '../../errors';
import { Webhooks } from '../../events/webhooks';
import { check, validators } from '../../schemas';
import { audit } from '../guards';

/**
 * `/v1/webhooks`: each subscription's state and recent attempts, and enabling one again. A key sees a subscription
 * only when every tenant it covers is the key's (`*` sees all); enabling needs `write`, as every POST does.
 */
export function webhookRoutes(router: IRouter, webhooks: () => Webhooks | undefined): void {
  const find = (req: Request) => {
    const id = String(req.params.id);
    const w = webhooks();
    if (!w) throw new NotFoundError(`No webhook subscription '${id}'.`);
    return { w, sub: w.subscription(id, req.apiKey!) };
  };

  router.get('/v1/webhooks', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const w = webhooks();
    const visible = (w?.subscriptions ?? []).filter((s) => Webhooks.visibleTo(req.apiKey!, s));
    res.json({ items: await Promise.all(visible.map((s) => w!.view(s))) });
  });

  router.get('/v1/webhooks/:id/deliveries', async (req, res) => {
    check(validators.query.none, req.query, '/query');
    const { w, sub } = find(req);
    res.json({ items: await w.deliveries(sub) });
  });

  router.post('/v1/webhooks/:id/enable', async (req, res) => {
    audit(res, 'webhook.enable', String(req.params.id));
    check(validators.query.none, req.query, '/query');
    const { w, sub } = find(req);
    res.json(await w.enable(sub));
  });
}
