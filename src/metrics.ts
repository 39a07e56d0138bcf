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
  private readonly requests = new client.Counter({ name: 'pbxgw_http_requests_total', help: 'API requests answered', labelNames: ['route', 'method', 'status', 'tenant'], registers: [this.registry] });
  private readonly requestSeconds = new client.Histogram({
    name: 'pbxgw_http_request_duration_seconds',
    help: 'API request latency',
    labelNames: ['route', 'method', 'status', 'tenant'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [this.registry],
  });
  private readonly backendCalls = new client.Counter({ name: 'pbxgw_backend_calls_total', help: 'Calls to PBX backends', labelNames: ['tenant', 'backend', 'outcome'], registers: [this.registry] });
  private readonly backendSeconds = new client.Histogram({
    name: 'pbxgw_backend_call_duration_seconds',
    help: 'Latency of calls to PBX backends',
    labelNames: ['tenant', 'backend', 'outcome'],
    buckets: [0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly breaker = new client.Gauge({ name: 'pbxgw_backend_circuit_state', help: 'Circuit breaker per tenant backend: 0 closed, 1 half-open, 2 open', labelNames: ['tenant', 'backend'], registers: [this.registry] });
  private readonly sessions = new client.Counter({ name: 'pbxgw_backend_session_events_total', help: 'Backend logins and token renewals', labelNames: ['tenant', 'backend', 'event'], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.registry, prefix: 'pbxgw_' });
  }

  request(labels: { route: string; method: string; status: number; tenant: string }, seconds: number): void {
    const l = { ...labels, status: String(labels.status) };
    this.requests.inc(l);
    this.requestSeconds.observe(l, seconds);
  }

  /** Hooks for one tenant's backend: calls, breaker changes, session events. */
  forBackend(tenant: string, backend: string): BackendMetrics {
    this.breaker.set({ tenant, backend }, 0);
    return {
      call: (outcome, seconds) => {
        this.backendCalls.inc({ tenant, backend, outcome });
        this.backendSeconds.observe({ tenant, backend, outcome }, seconds);
      },
      breaker: (state) => this.breaker.set({ tenant, backend }, BREAKER_VALUE[state]),
      session: (event) => this.sessions.inc({ tenant, backend, event }),
    };
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
