/**
 * Webhooks on the whole gateway (main.ts' startGateway, a simulated PBX): a write through the API reaches the
 * receiver as one signed event with source `gateway`, the key id and request id; a password change as a changed
 * field name only.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { registry } from '../../adapters';
import { parseConfig, type Config } from '../../src/config';
import { startGateway, type RunningGateway } from '../../src/main';
import { until } from '../helpers';

const KEY = 'webhooks-gateway-key-0001';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Delivery {
  body: string;
  headers: Record<string, string>;
}
const received: Delivery[] = [];
let receiver: http.Server;
let gateway: RunningGateway;
let config: Config;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/in`;
  config = parseConfig(
    JSON.stringify({
      logging: { level: 'silent' },
      api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
      tenants: { hq: { backend: 'issabel', simulator: true } },
      webhooks: { allow_http_loopback: true, subscriptions: [{ id: 'crm', url, secret: '${CRM_SECRET}' }] },
    }),
    { registry, env: { CRM_SECRET: SECRET } },
  );
  gateway = await startGateway(config, registry, { PORT: '0' });
}, 60_000);

afterAll(async () => {
  await gateway?.close(0);
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

const api = (method: string, path: string, body?: object, requestId?: string) =>
  fetch(`${gateway.url}${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) }, body: body && JSON.stringify(body) });


type Payload = { type: string; data: { id: string; source: string; key_id?: string; request_id?: string; changed_fields?: string[]; tenant: string; data: { id: string; name: string } } };
const payloads = () => received.map((d) => new Webhook(SECRET).verify(d.body, d.headers) as Payload);

it('a write through the gateway is delivered once, signed, as source gateway; a password change as a field name only', async () => {
  await until('the subscription to start', async () => ((await (await api('GET', '/v1/webhooks')).json()) as { items: { since?: string }[] }).items[0]?.since);
  const created = (await (await api('POST', '/v1/tenants/hq/extensions', { extension: '7100', name: 'Hook Desk', password: 'Created-Secret-91' }, 'req-hook-create')).json()) as { id: string };
  const update = await api('PATCH', `/v1/tenants/hq/extensions/${created.id}`, { password: 'Changed-Secret-92' }, 'req-hook-password');
  expect(update.status).toBe(200);
  await until('the update', () => payloads().some((p) => p.type === 'extension.updated' && p.data.data.id === created.id));

  const mine = payloads().filter((p) => p.data.data.id === created.id);
  expect(mine.map((p) => p.type)).toEqual(['extension.created', 'extension.updated']);
  expect(mine[0].data).toMatchObject({ source: 'gateway', key_id: 'ops', request_id: 'req-hook-create', tenant: 'hq', data: expect.objectContaining({ name: 'Hook Desk' }) });
  expect(mine[1].data).toMatchObject({ source: 'gateway', request_id: 'req-hook-password', changed_fields: ['password'] });
  expect(new Set(received.map((d) => d.headers['webhook-id'])).size).toBe(received.length);
  const all = received.map((d) => d.body).join('\n');
  expect(all).not.toContain('Created-Secret-91');
  expect(all).not.toContain('Changed-Secret-92');
  expect(all).not.toContain(SECRET.slice(6));

  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  expect(metrics).toMatch(/pbxgw_webhook_deliveries_total\{subscription="crm",outcome="delivered"\} [1-9]/);
});

it('a config reload hands the deliveries over: the next write is delivered once, nothing before it again', async () => {
  const before = received.length;
  await gateway.reload(config);
  const created = (await (await api('POST', '/v1/tenants/hq/extensions', { extension: '7101', name: 'After Reload' })).json()) as { id: string };
  await until('the event after the reload', () => payloads().some((p) => p.data.data.id === created.id));
  const after = payloads().slice(before);
  expect(after.map((p) => [p.type, p.data.data.id])).toEqual([['extension.created', created.id]]);
  expect(new Set(received.map((d) => d.headers['webhook-id'])).size).toBe(received.length);
});
