/**
 * `pbx-gateway events [--follow]`: the change feed of a running gateway, oldest first, page after page; with
 * --follow it then waits for more (long polls of the feed's `wait`) until interrupted. One line per event (a
 * table row, or one JSON object a line with --json, so a script can read it as it comes).
 */
import type { ChangeEvent, EventPage } from './events/types';
import type { ApiCall } from './cli-webhooks';
import type * as fmt from './cli-format';

export interface EventsOptions {
  follow: boolean;
  json: boolean;
  after?: string;
  tenant?: string;
  type?: string;
  /** Ends a follow (the CLI's SIGINT; a test's stop). */
  signal?: AbortSignal;
  /** Seconds each long poll waits (default 25: under the CLI's 60 s request timeout). */
  waitSeconds?: number;
}

export const EVENTS_HELP = `Usage: pbx-gateway events [--follow] [--after <cursor>] [--tenant a,b] [--type extension.updated,...]
                         [--url <url> --key <key>] [--json]

The change events of the tenants this key may use, oldest first: extensions and ring groups created, updated
(with the fields that changed) and deleted, through the gateway (source gateway, with the key id) or on the PBX
itself (source pbx, found by the gateway's periodic comparison). Without --after, from the oldest kept.
--follow keeps waiting for new events until interrupted (Ctrl-C). --json prints one JSON event a line.
A cursor older than the events kept is refused (cursor-expired): resynchronise from a full list, then follow
from the resume_after it names.

Against a running gateway only (--url, --key).
`;

function line(e: ChangeEvent): string {
  const who = e.source === 'gateway' ? `gateway${e.key_id ? ` key=${e.key_id}` : ''}` : 'pbx';
  const what = [e.data.extension, 'name' in e.data ? JSON.stringify(e.data.name) : undefined].filter(Boolean).join(' ');
  const changed = e.changed_fields?.length ? ` changed=${e.changed_fields.join(',')}` : '';
  return `${e.time}  ${e.tenant}  ${e.type.padEnd(18)}  ${what || e.data.id}  (${who})${changed}  cursor=${e.cursor}\n`;
}

export async function eventsCommand(api: ApiCall, out: fmt.OutStream, opts: EventsOptions): Promise<number> {
  let after = opts.after;
  const filters = new URLSearchParams({ ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.type ? { type: opts.type } : {}) });
  let caughtUp = false;
  while (!opts.signal?.aborted) {
    const q = new URLSearchParams(filters);
    q.set('limit', '500');
    if (after) q.set('after', after);
    // Once the backlog is read, each ask waits for the next event instead of asking again and again.
    if (opts.follow && caughtUp) q.set('wait', String(opts.waitSeconds ?? 25));
    let page: EventPage;
    try {
      page = await api<EventPage>('GET', `/v1/events?${q}`);
    } catch (err) {
      if (opts.signal?.aborted) break;
      throw err;
    }
    for (const e of page.events) out.write(opts.json ? JSON.stringify(e) + '\n' : line(e));
    after = page.next;
    if (!page.events.length) {
      if (!opts.follow) break;
      caughtUp = true;
    }
  }
  return 0;
}
