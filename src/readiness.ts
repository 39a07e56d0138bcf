/**
 * Readiness, for anyone who asks (no key): per tenant, up or down and the problem type when down, nothing more.
 * A failure's detail text may name what the backend said (a database URL in a vendor's reason): it goes to the
 * log, never to /readyz.
 *
 * Readiness: the config is loaded (or the process would not serve), and for each tenant, whether its backend
 * answered an authenticated call recently. A tenant whose backend has been quiet is probed with the cheapest
 * authenticated read (a one-item list), at most once per `probeEveryMs`, with a short budget of its own.
 */
import type { Tenant } from './extensions';
import { asGatewayError } from './errors';
import { newRequestContext } from './request-context';

export interface TenantReadiness {
  name: string;
  backend: string;
  ready: boolean;
  checked_at: string;
  /** Only the problem's type: its detail is for the log. */
  problem?: { type: string };
}

export interface ReadinessReport {
  status: 'ready' | 'degraded' | 'unready';
  tenants: TenantReadiness[];
}

export class Readiness {
  private readonly probes = new Map<string, { at: number; result: Promise<TenantReadiness> }>();

  constructor(
    private readonly tenants: () => ReadonlyMap<string, Tenant>,
    private readonly opts: { freshMs?: number; probeEveryMs?: number; probeTimeoutMs?: number; logger?: { warn(obj: object, msg: string): void } } = {},
  ) {}

  async report(): Promise<ReadinessReport> {
    const results = await Promise.all([...this.tenants().values()].map((t) => this.check(t)));
    const ready = results.filter((r) => r.ready).length;
    return { status: ready === results.length ? 'ready' : ready > 0 ? 'degraded' : 'unready', tenants: results };
  }

  private check(t: Tenant): Promise<TenantReadiness> {
    const now = Date.now();
    const answered = t.http?.lastAnsweredAt ?? 0;
    if (now - answered < (this.opts.freshMs ?? 30_000)) {
      return Promise.resolve({ name: t.name, backend: t.backend, ready: true, checked_at: new Date(answered).toISOString() });
    }
    const cached = this.probes.get(t.name);
    if (cached && now - cached.at < (this.opts.probeEveryMs ?? 10_000)) return cached.result;
    const result = this.probe(t);
    this.probes.set(t.name, { at: now, result });
    return result;
  }

  private async probe(t: Tenant): Promise<TenantReadiness> {
    const base = { name: t.name, backend: t.backend };
    try {
      await t.adapter.listExtensions(newRequestContext(`readyz-${t.name}`, this.opts.probeTimeoutMs ?? 3000), { cursor: null, limit: 1 });
      return { ...base, ready: true, checked_at: new Date().toISOString() };
    } catch (err) {
      const e = asGatewayError(err);
      this.opts.logger?.warn({ tenant: t.name, backend: t.backend, problem: e.slug, err }, 'readiness probe failed');
      return { ...base, ready: false, checked_at: new Date().toISOString(), problem: { type: `/problems/${e.slug}` } };
    }
  }
}
