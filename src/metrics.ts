/**
 * Prometheus metrics (prom-client), one registry per gateway. Labels are bounded sets only: route patterns,
 * methods, status codes, configured tenant and backend names, outcomes. Never an id or an extension number.
 */
import client from 'prom-client';

export type BackendOutcome = 'success' | 'client_error' | 'server_error' | 'timeout' | 'network_error';
export type BreakerState = 'closed' | 'half_open' | 'open';
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export class Metrics {
  readonly registry = new client.Registry();
  // Per request and per backend call: counted in series of our own, rendered by prom-client's registry on scrape.
  private readonly requestSeries = new SeriesHistogram(
    { name: 'pbxgw_http_requests_total', help: 'API requests answered' },
    { name: 'pbxgw_http_request_duration_seconds', help: 'API request latency' },
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    this.registry,
  );
  private readonly backendSeries = new SeriesHistogram(
    { name: 'pbxgw_backend_calls_total', help: 'Calls to PBX backends' },
    { name: 'pbxgw_backend_call_duration_seconds', help: 'Latency of calls to PBX backends' },
    [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );
  private readonly breaker = new client.Gauge({ name: 'pbxgw_backend_circuit_state', help: 'Circuit breaker per tenant backend: 0 closed, 1 half-open, 2 open', labelNames: ['tenant', 'backend'], registers: [this.registry] });
  private readonly sessions = new client.Counter({ name: 'pbxgw_backend_session_events_total', help: 'Backend logins and token renewals', labelNames: ['tenant', 'backend', 'event'], registers: [this.registry] });

  private readonly webhookDeliveries = new client.Counter({ name: 'pbxgw_webhook_deliveries_total', help: 'Webhook delivery attempts by subscription and outcome (delivered, failed, given_up)', labelNames: ['subscription', 'outcome'], registers: [this.registry] });
  private readonly webhookLagSeconds = new client.Histogram({ name: 'pbxgw_webhook_delivery_lag_seconds', help: 'From an event to its delivery to a webhook subscription', labelNames: ['subscription'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21600, 86400], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.registry, prefix: 'pbxgw_' });
  }

  request(labels: { route: string; method: string; status: number; tenant: string }, seconds: number): void {
    const { route, method, status, tenant } = labels;
    const key = `${route}\0${method}\0${status}\0${tenant}`;
    const series = this.requestSeries.find(key) ?? this.requestSeries.add(key, { route, method, status: String(status), tenant });
    this.requestSeries.observe(series, seconds);
  }

  /** Hooks for one tenant's backend: calls, breaker changes, session events. */
  forBackend(tenant: string, backend: string): BackendMetrics {
    this.breaker.set({ tenant, backend }, 0);
    return {
      call: (outcome, seconds) => {
        const key = `${tenant}\0${backend}\0${outcome}`;
        this.backendSeries.observe(this.backendSeries.find(key) ?? this.backendSeries.add(key, { tenant, backend, outcome }), seconds);
      },
      breaker: (state) => this.breaker.set({ tenant, backend }, BREAKER_VALUE[state]),
      session: (event) => this.sessions.inc({ tenant, backend, event }),
    };
  }

  /** One webhook delivery attempt; the subscription is a configured id. */
  webhookDelivery(subscription: string, outcome: 'delivered' | 'failed' | 'given_up'): void {
    this.webhookDeliveries.inc({ subscription, outcome });
  }

  webhookLag(subscription: string, seconds: number): void {
    this.webhookLagSeconds.observe({ subscription }, seconds);
  }

  private readonly events = new client.Counter({ name: 'pbxgw_events_total', help: 'Change events emitted, by source (gateway, pbx) and type', labelNames: ['source', 'type'], registers: [this.registry] });
  /** One change event emitted (src/events). */
  event(source: 'gateway' | 'pbx', type: string): void {
    this.events.inc({ source, type });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export interface BackendMetrics {
  call(outcome: BackendOutcome, seconds: number): void;
  breaker(state: BreakerState): void;
  session(event: 'login' | 'renewal'): void;
}

export const noBackendMetrics: BackendMetrics = { call: () => undefined, breaker: () => undefined, session: () => undefined };

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), then sum and count. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * A counter and a histogram over the same observations, kept as plain series looked up by a key string the
 * caller builds, and handed to prom-client's registry as two custom metrics that it renders on scrape like its
 * own. prom-client's Counter and Histogram check, sort and hash the label object on every observation, which
 * every request and every backend call would pay twice; a scrape pays for rendering instead.
 */
class SeriesHistogram {
  private readonly series = new Map<string, Series>();

  constructor(
    counter: { name: string; help: string },
    histogram: { name: string; help: string },
    private readonly bounds: readonly number[],
    registry: client.Registry,
  ) {
    const all = () => [...this.series.values()];
    registry.registerMetric({
      name: counter.name,
      get: async () => ({ name: counter.name, help: counter.help, type: 'counter', aggregator: 'sum', values: all().map((s) => ({ labels: s.labels, value: s.count })) }),
    } as unknown as client.Metric);
    registry.registerMetric({
      name: histogram.name,
      get: async () => ({
        name: histogram.name,
        help: histogram.help,
        type: 'histogram',
        aggregator: 'sum',
        values: all().flatMap((s) => {
          let cumulative = 0;
          return [
            ...this.bounds.map((le, i) => ({ metricName: `${histogram.name}_bucket`, labels: { le, ...s.labels }, value: (cumulative += s.buckets[i]) })),
            { metricName: `${histogram.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count },
            { metricName: `${histogram.name}_sum`, labels: s.labels, value: s.sum },
            { metricName: `${histogram.name}_count`, labels: s.labels, value: s.count },
          ];
        }),
      }),
    } as unknown as client.Metric);
  }

  find(key: string): Series | undefined {
    return this.series.get(key);
  }

  add(key: string, labels: Record<string, string>): Series {
    const s: Series = { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
    this.series.set(key, s);
    return s;
  }

  observe(s: Series, value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        s.buckets[i]++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }
}
