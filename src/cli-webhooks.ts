/**
 * `pbx-gateway webhooks list|deliveries <id>|enable <id>`: the webhook subscriptions of a running gateway, their
 * recent attempts, and enabling one again. Only over the API: delivery state lives with the gateway that delivers.
 */
import type { Webhook, WebhookDelivery } from '../schemas/types';
import * as fmt from './cli-format';

/** One call to the gateway's API, answering its parsed JSON (a problem is thrown by the caller's client). */
export type ApiCall = <T>(method: string, path: string) => Promise<T>;

const WEBHOOK_FIELDS = ['id', 'url', 'state', 'since', 'tenants', 'types', 'consecutive_failures', 'cursor', 'lag_seconds', 'next_attempt_at', 'disabled_at', 'disabled_reason', 'skipped', 'last_attempt'] as const;

/** What an attempt came to, in one cell: `delivered 204`, `failed 500`, `failed timeout`, `given_up 503`. */
function attemptCell(a: WebhookDelivery | null | undefined): string {
  if (!a) return '-';
  return `${a.outcome} ${a.status_code ?? a.failure ?? ''}`.trim();
}

export async function webhooksCommand(sub: string, operands: string[], api: ApiCall, out: fmt.OutStream, opts: { json: boolean; bold: boolean }): Promise<number> {
  if (sub === 'list') {
    const { items } = await api<{ items: Webhook[] }>('GET', '/v1/webhooks');
    const rows = items.map((w) => ({
      ...w,
      tenants: w.tenants?.join(',') ?? '*',
      types: w.types?.join(',') ?? '*',
      failures: w.consecutive_failures,
      lag_s: Math.round(w.lag_seconds),
      last_attempt: w.last_attempt ? `${attemptCell(w.last_attempt)} at ${w.last_attempt.at}` : '-',
    }));
    out.write(opts.json ? fmt.json({ items }) : fmt.table(rows, ['id', 'state', 'url', 'tenants', 'types', 'failures', 'lag_s', 'last_attempt'], { bold: opts.bold }));
    return 0;
  }
  const id = encodeURIComponent(operands[0]);
  if (sub === 'deliveries') {
    const { items } = await api<{ items: WebhookDelivery[] }>('GET', `/v1/webhooks/${id}/deliveries`);
    const rows = items.map((d) => ({ ...d, answer: d.status_code ?? d.failure }));
    out.write(opts.json ? fmt.json({ items }) : fmt.table(rows, ['at', 'event_id', 'event_type', 'tenant', 'attempt', 'outcome', 'answer', 'duration_ms'], { bold: opts.bold }));
    return 0;
  }
  const w = await api<Webhook>('POST', `/v1/webhooks/${id}/enable`);
  out.write(opts.json ? fmt.json(w) : fmt.record({ ...w, last_attempt: attemptCell(w.last_attempt) }, WEBHOOK_FIELDS));
  return 0;
}
