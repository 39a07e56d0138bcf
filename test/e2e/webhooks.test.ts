/**
 * Webhooks (src/events/webhooks.ts): change events pushed to a real HTTP receiver on a random port, signed with
 * the Standard Webhooks scheme and checked with its own verifier; retried until the receiver recovers, given up
 * after their retry time, disabled after consecutive failures and enabled again; one delivery per event across two
 * instances on one Redis and across a restart.
 */
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import request from 'supertest';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import webhookSchema from '../../schemas/webhook.schema.json';
import webhookDeliverySchema from '../../schemas/webhook-delivery.schema.json';
import { Webhook } from 'standardwebhooks';
import { registry } from '../../adapters';
import { runCli } from '../../src/cli';
import { parseConfig } from '../../src/config';
import { createEventLog } from '../../src/events/log';
import type { ChangeEvent, EventLog, NewEvent } from '../../src/events/types';
import type { Webhooks } from '../../src/events/webhooks';
import { createApp } from '../../src/http/app';
import { createLogger } from '../../src/log';
import { Metrics } from '../../src/metrics';
import { RedisStore } from '../../src/state/redis';
import { MemoryStore, type StateStore } from '../../src/state/store';
import { buildTenants } from '../../src/tenants';
import { requireRedis, TEST_REDIS_URL, until } from '../helpers';

const KEY = 'webhooks-test-key-00000001';
const READER = 'webhooks-test-reader-0001';
const OTHER = 'webhooks-test-other-00001';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const auth = (key = KEY) => ({ Authorization: `Bearer ${key}` });

/** The answers are what schemas/ (and so the OpenAPI document) say they are. */
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
ajv.addSchema(webhookDeliverySchema);
const validWebhook = ajv.compile(webhookSchema) as ValidateFunction;
const validDelivery = ajv.getSchema(webhookDeliverySchema.$id) as ValidateFunction;
function conforms(validate: ValidateFunction, items: unknown[]) {
  for (const item of items) expect([validate(item), validate.errors]).toEqual([true, null]);
}

interface Received {
  id: string;
  body: string;
  headers: Record<string, string>;
  status: number;
}

/** A receiver that answers each request with what `answer` says (a status code), recording everything. */
async function receiver(answer: (n: number, id: string) => number) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const status = answer(got.length, headers['webhook-id']);
      got.push({ id: headers['webhook-id'], body, headers, status });
      res.writeHead(status).end(status < 300 ? '' : 'receiver body that is never kept');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`;
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return { url, got, accepted: () => got.filter((g) => g.status < 300) };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function gatewayConfig(url: string, webhooks: object = {}) {
  return {
    api_keys: [
      { id: 'ops', key: KEY, tenants: ['*'], rate_limit: { requests: 0 } },
      { id: 'reader', key: READER, tenants: ['acme'], scopes: ['read'], rate_limit: { requests: 0 } },
      { id: 'other', key: OTHER, tenants: ['globex'], rate_limit: { requests: 0 } },
    ],
    tenants: {
      acme: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', auth: { accesskey: 'vb_unused' } },
      globex: { backend: 'voipbin', base_url: 'http://127.0.0.1:9/v1.0', auth: { accesskey: 'vb_unused' } },
    },
    webhooks: {
      allow_http_loopback: true,
      retry: { initial_ms: 5, max_ms: 20 },
      subscriptions: [{ id: 'crm', url: `${url}?token=receiver-credential-123`, secret: '${CRM_SECRET}', tenants: ['acme'] }],
      ...webhooks,
    },
  };
}

/** An app as main.ts builds it, on `store`, with the event log the app holds (or the one given). */
function gateway(config: object, store: StateStore = new MemoryStore(), log?: EventLog) {
  const parsed = parseConfig(JSON.stringify(config), { registry, env: { CRM_SECRET: SECRET } });
  let lines = '';
  const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => ((lines += c.toString()), cb()) }) });
  const metrics = new Metrics({ defaultMetrics: false });
  const app = createApp({ tenants: buildTenants(parsed, registry, logger, { store, metrics }), apiKeys: parsed.api_keys, logger, store, metrics, webhooks: parsed.webhooks, webhookOptions: { idleMs: 20 } });
  // The log on the app's store (Redis: shared by the instances), as main.ts gives it.
  app.locals.events = log ?? createEventLog(store);
  cleanups.push(() => (app.locals.webhooks as Webhooks | undefined)?.close() ?? Promise.resolve());
  return { app, events: app.locals.events as EventLog, logs: () => lines, metrics };
}

let seq = 0;
function change(extension: string, tenant = 'acme', name = `Name ${++seq}`): NewEvent {
  return { type: 'extension.updated', tenant, backend: 'voipbin', source: 'pbx', changed_fields: ['name'], data: { id: extension, extension, name } as NewEvent['data'] };
}


/** Every accepted delivery verifies with the Standard Webhooks verifier; the payloads, in the order received. */
function verified(got: Received[]) {
  const wh = new Webhook(SECRET);
  return got.map((g) => {
    const payload = wh.verify(g.body, g.headers) as { type: string; timestamp: string; data: { id: string; tenant: string; data: { extension: string; name: string } } };
    expect(g.headers['webhook-id']).toBe(payload.data.id);
    return payload;
  });
}

it('a receiver that fails then recovers gets every event once, signed, in log order; the attempts and state show it', async () => {
  const rx = await receiver((n) => (n < 3 ? 500 : 204));
  const { app, events, logs, metrics } = gateway(gatewayConfig(rx.url));
  // Known to the subscription before the events: it starts after the newest event it finds.
  await until('the subscription to start', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
  const appended = await events.append([change('1000'), change('1001'), change('9999', 'globex'), change('1000'), change('1001')]);
  const acme = appended.filter((e) => e.tenant === 'acme');
  // Done when the state says so (it is saved after the receiver's answer).
  await until('four deliveries', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0].cursor === acme[3].cursor);

  const payloads = verified(rx.accepted());
  expect(payloads.map((p) => p.data.id)).toEqual(acme.map((e) => e.id));
  expect(payloads.map((p) => p.data.data.name)).toEqual(acme.map((e) => (e.data as { name: string }).name));
  expect(payloads[0]).toMatchObject({ type: 'extension.updated', timestamp: acme[0].time });
  // The three failures were the first event, sent again each time with the same id.
  expect(rx.got.slice(0, 4).map((g) => g.id)).toEqual(Array(4).fill(acme[0].id));

  const deliveries = (await request(app).get('/v1/webhooks/crm/deliveries').set(auth()).expect(200)).body.items as { event_id: string; attempt: number; outcome: string; status_code: number }[];
  expect(deliveries.slice().reverse().map((d) => [d.attempt, d.outcome, d.status_code])).toEqual([
    [1, 'failed', 500],
    [2, 'failed', 500],
    [3, 'failed', 500],
    [4, 'delivered', 204],
    [1, 'delivered', 204],
    [1, 'delivered', 204],
    [1, 'delivered', 204],
  ]);
  const list = await request(app).get('/v1/webhooks').set(auth()).expect(200);
  conforms(validWebhook, list.body.items);
  conforms(validDelivery, deliveries);
  expect(list.body.items).toEqual([
    expect.objectContaining({ id: 'crm', url: rx.url, tenants: ['acme'], types: null, state: 'enabled', consecutive_failures: 0, cursor: acme[3].cursor, lag_seconds: 0, last_attempt: expect.objectContaining({ event_id: acme[3].id, outcome: 'delivered' }) }),
  ]);
  // Neither the signing secret nor the receiver's answer body nor the URL's credential is shown or logged.
  for (const text of [JSON.stringify(list.body), JSON.stringify(deliveries), logs()]) {
    expect(text).not.toContain(SECRET.slice(6));
    expect(text).not.toContain('receiver-credential-123');
    expect(text).not.toContain('never kept');
  }
  expect(rx.got.every((g) => g.headers['content-type'] === 'application/json')).toBe(true);
  const text = await metrics.text();
  expect(text).toMatch(/pbxgw_webhook_deliveries_total\{subscription="crm",outcome="failed"\} 3/);
  expect(text).toMatch(/pbxgw_webhook_deliveries_total\{subscription="crm",outcome="delivered"\} 4/);
  expect(text).toMatch(/pbxgw_webhook_delivery_lag_seconds_count\{subscription="crm"\} 4/);
});

it('an event still failing after its retry time is given up (recorded so) and the next one is sent', async () => {
  let poisoned = '';
  const rx = await receiver((_n, id) => (id === poisoned ? 500 : 200));
  const { app, events } = gateway(gatewayConfig(rx.url, { retry: { initial_ms: 5, max_ms: 10, give_up_after_ms: 60 } }));
  await until('the subscription to start', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
  const [bad, good] = await events.append([change('1000'), change('1001')]);
  poisoned = bad.id;
  await until('the next event', () => rx.accepted().some((g) => g.id === good.id));
  expect(rx.accepted().map((g) => g.id)).toEqual([good.id]);
  const deliveries = (await request(app).get('/v1/webhooks/crm/deliveries').set(auth())).body.items as { event_id: string; outcome: string }[];
  expect(deliveries.filter((d) => d.event_id === bad.id).at(0)).toMatchObject({ outcome: 'given_up' });
  expect(deliveries.filter((d) => d.event_id === bad.id).slice(1).every((d) => d.outcome === 'failed')).toBe(true);
});

it('disabled after consecutive failures; enabled again (write scope, visible keys only) it gets what it missed, in order', async () => {
  let up = false;
  const rx = await receiver(() => (up ? 200 : 503));
  const { app, events } = gateway(gatewayConfig(rx.url, { max_consecutive_failures: 3 }));
  await until('the subscription to start', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
  const first = await events.append([change('1000'), change('1001')]);
  const disabled = await until('the subscription to be disabled', async () => {
    const item = (await request(app).get('/v1/webhooks').set(auth())).body.items[0];
    return item.state === 'disabled' && item;
  });
  expect(disabled).toMatchObject({ consecutive_failures: 3, disabled_reason: '3 consecutive failed attempts', lag_seconds: expect.any(Number) });
  const attemptsWhenDisabled = rx.got.length;
  expect(attemptsWhenDisabled).toBe(3);
  const missed = await events.append([change('1000'), change('1002')]);
  up = true;

  // A key of another tenant does not see it; a read-only key sees it but may not enable it.
  expect((await request(app).get('/v1/webhooks').set(auth(OTHER)).expect(200)).body.items).toEqual([]);
  await request(app).post('/v1/webhooks/crm/enable').set(auth(OTHER)).expect(404);
  expect((await request(app).get('/v1/webhooks').set(auth(READER)).expect(200)).body.items).toHaveLength(1);
  const refused = await request(app).post('/v1/webhooks/crm/enable').set(auth(READER)).expect(403);
  expect(refused.body).toMatchObject({ type: '/problems/forbidden', scope: 'write' });
  await request(app).post('/v1/webhooks/nope/enable').set(auth()).expect(404);
  expect(rx.got.length).toBe(attemptsWhenDisabled); // nothing is sent while disabled

  const enabled = await request(app).post('/v1/webhooks/crm/enable').set(auth()).expect(200);
  expect(enabled.body).toMatchObject({ id: 'crm', state: 'enabled', consecutive_failures: 0 });
  conforms(validWebhook, [disabled, enabled.body]);
  expect(enabled.body.disabled_at).toBeUndefined();
  await until('every missed event', () => rx.accepted().length >= 4);
  expect(verified(rx.accepted()).map((p) => p.data.id)).toEqual([...first, ...missed].map((e) => e.id));
});

it('a subscription whose cursor is older than the events kept goes on from the oldest kept, and says so', async () => {
  let now = Date.now();
  const store = new MemoryStore();
  const log = createEventLog(store, { retentionMs: 60_000, now: () => now });
  let up = false;
  const rx = await receiver(() => (up ? 200 : 500));
  const { app, events } = gateway(gatewayConfig(rx.url, { max_consecutive_failures: 1 }), store, log);
  await until('the subscription to start', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
  await events.append([change('1000')]);
  await until('the subscription to be disabled', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0].state === 'disabled');
  now += 120_000; // the first event is past the retention now
  const kept = await events.append([change('1001')]);
  up = true;
  await request(app).post('/v1/webhooks/crm/enable').set(auth()).expect(200);
  await until('the kept event', () => rx.accepted().length >= 1);
  expect(rx.accepted().map((g) => g.id)).toEqual([kept[0].id]);
  const item = (await request(app).get('/v1/webhooks').set(auth())).body.items[0];
  expect(item.skipped.detail).toMatch(/no longer kept/);
});

it('the CLI lists subscriptions, shows their attempts and enables one again, against a running gateway', async () => {
  let up = false;
  const rx = await receiver(() => (up ? 204 : 500));
  const { app, events } = gateway(gatewayConfig(rx.url, { max_consecutive_failures: 2 }));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const cli = async (...argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const sink = (add: (s: string) => void) => new Writable({ write: (c, _e, cb) => (add(c.toString()), cb()) });
    const code = await runCli(argv, { stdout: sink((t) => (stdout += t)), stderr: sink((t) => (stderr += t)), env: { PBX_GATEWAY_URL: url, PBX_GATEWAY_KEY: KEY } });
    return { code, stdout, stderr };
  };
  await until('the subscription to start', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
  const [event] = await events.append([change('1000')]);
  await until('the subscription to be disabled', async () => (await request(app).get('/v1/webhooks').set(auth())).body.items[0].state === 'disabled');

  const list = await cli('webhooks', 'list');
  expect(list).toMatchObject({ code: 0, stderr: '' });
  expect(list.stdout.split('\n')[1]).toMatch(new RegExp(`^crm\\s+disabled\\s+${rx.url.replace(/[.]/g, '\\.')}\\s+acme\\s+\\*\\s+2\\s+\\d+\\s+failed 500 at `));
  expect(list.stdout).not.toContain('receiver-credential-123');
  const deliveries = await cli('webhooks', 'deliveries', 'crm');
  expect(deliveries.code).toBe(0);
  expect(deliveries.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/).slice(1, 7))).toEqual([
    [event.id, 'extension.updated', 'acme', '2', 'failed', '500'],
    [event.id, 'extension.updated', 'acme', '1', 'failed', '500'],
  ]);
  expect(JSON.parse((await cli('webhooks', 'deliveries', 'crm', '--json')).stdout).items).toHaveLength(2);

  const readOnly = await cli('webhooks', 'enable', 'crm', '--key', READER);
  expect(readOnly.code).toBe(1);
  expect(readOnly.stderr).toMatch(/lacks the 'write' scope/);
  expect((await cli('webhooks', 'deliveries', 'nope')).code).toBe(1);
  expect((await cli('webhooks', 'enable', 'crm', '--config', 'x.yaml')).code).toBe(2);
  expect((await cli('webhooks', 'enable')).code).toBe(2);

  up = true;
  const enabled = await cli('webhooks', 'enable', 'crm');
  expect(enabled.code).toBe(0);
  expect(enabled.stdout).toMatch(/^state:\s+enabled$/m);
  await until('the missed event', () => rx.accepted().some((g) => g.id === event.id));
  expect((await cli('help', 'webhooks', 'enable')).stdout).toContain('Usage: pbx-gateway webhooks enable <id>');
});

describe('on Redis', () => {
  beforeAll(() => requireRedis());

  it('two instances deliver each event once, and a restarted one sends nothing again', async () => {
    const prefix = `pbxgw-test-webhooks-${randomUUID()}:`;
    const stores: RedisStore[] = [];
    const store = () => {
      const s = new RedisStore(TEST_REDIS_URL, { prefix });
      stores.push(s);
      return s;
    };
    cleanups.push(async () => Promise.all(stores.map((s) => s.close())));
    const rx = await receiver(() => 200);
    const config = gatewayConfig(rx.url);
    const a = gateway(config, store());
    const b = gateway(config, store());
    await until('the subscription to start', async () => (await request(a.app).get('/v1/webhooks').set(auth())).body.items[0]?.since !== undefined);
    const sent: ChangeEvent[] = [];
    for (let i = 0; i < 10; i++) sent.push(...(await (i % 2 ? a : b).events.append([change(String(1000 + (i % 3)))])));
    await until('ten deliveries', () => rx.accepted().length >= 10);

    // Both stop; a third instance (a restart) on the same Redis goes on from the cursor: only the new event is sent.
    await (a.app.locals.webhooks as Webhooks).close();
    await (b.app.locals.webhooks as Webhooks).close();
    const c = gateway(config, store());
    sent.push(...(await c.events.append([change('1000')])));
    await until('the eleventh delivery', () => rx.accepted().some((g) => g.id === sent[10].id));
    expect(verified(rx.accepted()).map((p) => p.data.id)).toEqual(sent.map((e) => e.id));
  });
});
