import type { IRouter, Request } from 'express';
import type { EventsQuery } from '../../../schemas/types';
import type { EventLog } from '../../events/types';
import { check, validators } from '../../schemas';
import { assertTenantAccess } from '../auth';

/** A parameter given several times (`tenant=a&tenant=b`) is read as the comma list `a,b`. */
function joined(query: Request['query']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
}

/**
 * GET /v1/events: the change feed, a page after a cursor, of the tenants this key may use. With `wait`, an empty
 * page waits (up to that many seconds) for the next event, so a follower can ask again at once.
 */
export function eventRoutes(router: IRouter, events: () => EventLog): void {
  router.get('/v1/events', async (req, res) => {
    const q = check<EventsQuery>(validators.query.events, joined(req.query), '/query');
    const key = req.apiKey!;
    const asked = q.tenant ? q.tenant.split(',') : undefined;
    asked?.forEach((t) => assertTenantAccess(req, t));
    // A key of every tenant sees every tenant's events, those of tenants since removed from the config included.
    const tenants = asked ? new Set(asked) : key.tenants.includes('*') ? undefined : new Set(key.tenants);
    const types = q.type ? new Set(q.type.split(',')) : undefined;
    const log = events();
    const read = () => log.read({ after: q.after, limit: q.limit ?? 100, tenants, types });
    let page = await read();
    if (!page.events.length && q.wait && log.waitFor) {
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const until = Date.now() + q.wait * 1000;
      // A filtered feed may wake for an event it does not show: wait again for the rest of the time.
      while (!page.events.length && !gone.signal.aborted && Date.now() < until) {
        await log.waitFor(page.next, until - Date.now(), gone.signal);
        page = await log.read({ after: page.next, limit: q.limit ?? 100, tenants, types });
      }
    }
    res.json(page);
  });
}
