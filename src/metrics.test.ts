import { Metrics } from './metrics';

describe('Metrics: request and backend-call series', () => {
  it('renders counts, cumulative buckets, sums and escaped labels as Prometheus text', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const labels = { route: '/v1/tenants/:tenant/extensions/:id', method: 'GET', status: 200, tenant: 'a"b' };
    m.request(labels, 0.003);
    m.request(labels, 0.3);
    m.request({ ...labels, status: 404 }, 20);
    const backend = m.forBackend('a', 'backend-a');
    backend.call('success', 0.004);
    backend.call('timeout', 11);
    const text = await m.text();
    const l = 'route="/v1/tenants/:tenant/extensions/:id",method="GET",status="200",tenant="a\\"b"';
    expect(text).toContain(`pbxgw_http_requests_total{${l}} 2\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="0.0025",${l}} 0\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="0.005",${l}} 1\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="0.25",${l}} 1\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="0.5",${l}} 2\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="+Inf",${l}} 2\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_sum{${l}} 0.303\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_count{${l}} 2\n`);
    // Above the last bound: only +Inf counts it.
    const l404 = l.replace('"200"', '"404"');
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="15",${l404}} 0\n`);
    expect(text).toContain(`pbxgw_http_request_duration_seconds_bucket{le="+Inf",${l404}} 1\n`);
    expect(text).toContain('pbxgw_backend_calls_total{tenant="a",backend="backend-a",outcome="success"} 1\n');
    expect(text).toContain('pbxgw_backend_calls_total{tenant="a",backend="backend-a",outcome="timeout"} 1\n');
    expect(text).toContain('pbxgw_backend_call_duration_seconds_bucket{le="10",tenant="a",backend="backend-a",outcome="timeout"} 0\n');
    expect(text).toContain('# TYPE pbxgw_http_request_duration_seconds histogram');
    expect(text).toContain('# TYPE pbxgw_backend_calls_total counter');
  });
});
