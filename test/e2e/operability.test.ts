/** The OpenAPI document against the routes really served and the answers really given; metrics; readiness. */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_APP_KEY, startVitalpbxSimulator } from '../../adapters/vitalpbx/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'operability-test-key-00001';
const auth = { Authorization: `Bearer ${KEY}` };
let servers: RunningSimulator[];
let gw: ReturnType<typeof buildTestGateway>;
let doc: { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> }; responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }> }>> };
/** Answer headers the document names where they are sent. */
const KNOWN_HEADERS = ['x-request-id', 'location', 'retry-after', 'ratelimit-policy', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'idempotency-replayed', 'www-authenticate', 'content-disposition'];

beforeAll(async () => {
  const [v, i, p] = await Promise.all([startVoipbinSimulator(), startIssabelSimulator(), startVitalpbxSimulator()]);
  v.sim.seedDemo();
  i.sim.seedDemo();
  p.sim.seedDemo();
  servers = [v.server, i.server, p.server];
  gw = buildTestGateway({
    api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
    tenants: {
      cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, timeout_ms: 500, auth: { accesskey: DEMO_ACCESSKEY } },
      box: { backend: 'issabel', base_url: `${i.server.url}/pbxapi`, timeout_ms: 500, auth: DEMO_USER },
      vital: { backend: 'vitalpbx', base_url: `${p.server.url}/api/v2`, timeout_ms: 500, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
    },
  });
  doc = (await request(gw.app).get('/openapi.json').expect(200)).body;
});
afterAll(() => Promise.all(servers.map((s) => s.close())));

/** Every route the Express app serves, as `METHOD /path/{param}`. */
function servedRoutes(app: unknown): string[] {
  const out: string[] = [];
  const walk = (stack: { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack as never);
      }
    }
  };
  walk((app as { router: { stack: never[] } }).router.stack);
  return [...new Set(out)].sort();
}

const documented = () => Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and documents exactly the routes served', () => {
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
    expect(documented()).toEqual(servedRoutes(gw.app));
  });

  it('describes the real answers: each one validates against its documented schema', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'https://doc.local/openapi.json', ...(doc as object) });
    const templates = Object.keys(doc.paths).map((p) => ({ p, re: new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`) }));
    const check = async (method: 'get' | 'post' | 'patch' | 'delete', url: string, body?: object | string, opts: { type?: string; headers?: Record<string, string>; key?: boolean } = {}) => {
      let req = request(gw.app)[method](url);
      if (opts.key !== false) req = req.set(auth);
      if (opts.type) req = req.set('Content-Type', opts.type);
      const res = await req.set(opts.headers ?? {}).send(body);
      const path = url.split('?')[0];
      // The most literal template that matches (`/extensions/import` before `/extensions/{id}`).
      const template = templates.filter((t) => t.re.test(path) && doc.paths[t.p][method]).sort((a, b) => a.p.split('{').length - b.p.split('{').length)[0].p;
      const operation = doc.paths[template][method];
      const response = operation.responses[String(res.status)];
      expect({ url, status: res.status, documented: !!response }).toEqual({ url, status: res.status, documented: true });
      // A request body in a media type the operation declares.
      if (body !== undefined) {
        const sent = (opts.type ?? 'application/json').split(';')[0];
        if (res.status < 400) expect({ url, sent, declared: Object.keys(operation.requestBody?.content ?? {}) }).toEqual({ url, sent, declared: expect.arrayContaining([sent]) });
      }
      // Every header the gateway answers with that the document has a name for is declared on this answer.
      const declaredHeaders = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
      for (const h of KNOWN_HEADERS) if (res.headers[h] !== undefined) expect({ url, status: res.status, header: h, declared: declaredHeaders.includes(h) }).toEqual({ url, status: res.status, header: h, declared: true });
      const content = response.content;
      expect({ url, status: res.status, content: !!content }).toEqual({ url, status: res.status, content: res.status !== 204 && res.status < 300 ? !!content : true });
      if (content) {
        const type = Object.keys(content).find((t) => String(res.headers['content-type']).startsWith(t));
        expect({ url, type: res.headers['content-type'], declared: !!type }).toEqual({ url, type: res.headers['content-type'], declared: true });
        const at = `#/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}/responses/${res.status}/content/${type!.replace(/\//g, '~1')}/schema`;
        const validate = ajv.compile({ $ref: `https://doc.local/openapi.json${at}` });
        const answer = /^application\/(problem\+)?json$/.test(type!) ? res.body : res.text;
        expect({ url, valid: validate(answer), errors: validate.errors }).toMatchObject({ url, valid: true });
      }
      return res;
    };
    await check('get', '/v1/tenants');
    await check('get', '/v1/tenants/box');
    const list = await check('get', '/v1/tenants/cloud/extensions?page_size=2&view=full');
    const id = list.body.items[0].id;
    await check('get', `/v1/tenants/cloud/extensions/${id}?include=password`);
    await check('patch', `/v1/tenants/cloud/extensions/${id}`, { name: 'Renamed' });
    await check('post', `/v1/tenants/cloud/extensions/${id}/direct-hash/regenerate`);
    const created = await check('post', '/v1/tenants/box/extensions', { name: 'Doc test' });
    await check('delete', `/v1/tenants/box/extensions?ids=${created.body.id},77777`);
    await check('post', '/v1/tenants/cloud/extensions', { name: 'no number' });
    await check('get', '/v1/tenants/vital/extensions/1/devices');
    await check('get', '/v1/tenants/vital/extensions/1/queues');
    await check('get', '/v1/tenants/vital/extensions/1/call-summary');
    await check('get', '/v1/tenants/vital/extensions/1/voicemail');
    await check('get', '/v1/tenants/box/ring-groups?view=full');
    await check('get', '/v1/tenants/box/ring-groups/600');
    await check('post', '/v1/tenants/vital/extensions', { extension: '1', name: 'x' });
    await check('get', '/v1/tenants/nowhere');
    await check('get', '/v1/tenants/cloud/extensions?page_size=0');
    await check('get', '/healthz');
    await check('get', '/readyz');
    // What clients generated from the document met: a real migration (202, then the job), a CSV import (a plan,
    // then a job), the export's two media types, 401 with its challenge, 415, 413.
    await check('post', '/v1/migrations', { from: 'vital', to: 'box' });
    const migration = await check('post', '/v1/migrations', { from: 'vital', to: 'box', dry_run: false, on_conflict: 'skip', accept_loss: ['description'] });
    expect(migration.status).toBe(202);
    expect(migration.headers.location).toBe(`/v1/migrations/${migration.body.id}`);
    await check('get', `/v1/migrations/${migration.body.id}`);
    await check('get', `/v1/jobs/${migration.body.id}`);
    await check('get', '/v1/jobs/no-such-job');
    const csv = 'extension,name\n4701,Imported One\n4702,Imported Two\n';
    await check('post', '/v1/tenants/box/extensions/import', csv, { type: 'text/csv' });
    await check('post', '/v1/tenants/box/extensions/import?dry_run=false', '{"extension":"4703","name":"Imported Three"}\n', { type: 'application/x-ndjson' });
    const job = await check('post', '/v1/tenants/box/extensions/import?dry_run=false&async=true', csv.replace(/470/g, '471'), { type: 'text/csv', headers: { 'Idempotency-Key': 'doc-import-1' } });
    expect(job.status).toBe(202);
    expect(job.headers.location).toBe(`/v1/jobs/${job.body.id}`);
    const replayed = await check('post', '/v1/tenants/box/extensions/import?dry_run=false&async=true', csv.replace(/470/g, '471'), { type: 'text/csv', headers: { 'Idempotency-Key': 'doc-import-1' } });
    expect(replayed.headers['idempotency-replayed']).toBe('true');
    await check('get', `/v1/jobs/${job.body.id}`);
    await check('get', '/v1/tenants/box/extensions/export?format=csv');
    await check('get', '/v1/tenants/box/extensions/export?format=ndjson');
    const unauthenticated = await check('get', '/v1/tenants', undefined, { key: false });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect((await check('get', '/v1/tenants', undefined, { key: false, headers: { Authorization: 'Bearer not-a-key-at-all-000' } })).headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect((await check('post', '/v1/tenants/box/extensions', 'name=x', { type: 'text/plain' })).status).toBe(415);
    expect((await check('post', '/v1/tenants/box/extensions', { name: 'x'.repeat(1_100_000) })).status).toBe(413);
    expect((await check('patch', '/v1/tenants/box/extensions/1000?accept_loss=device_options', { name: 'Lobby' })).status).toBe(200);
  });

  it('is rendered as a docs page with every path, without scripts', async () => {
    const res = await request(gw.app).get('/docs').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    for (const path of Object.keys(doc.paths)) expect(res.text).toContain(path.replace(/&/g, '&amp;'));
    expect(res.text).not.toContain('<script');
  });
});

describe('metrics', () => {
  it('counts requests by route pattern, backend calls by outcome, logins, and breaker state, with bounded labels', async () => {
    await request(gw.app).get('/v1/tenants/box/extensions/1000').set(auth).expect(200);
    const text = (await request(gw.app).get('/metrics').expect(200)).text;
    expect(text).toMatch(/pbxgw_http_requests_total\{route="\/v1\/tenants\/:tenant\/extensions\/:id",method="GET",status="200",tenant="box"\} \d+/);
    expect(text).toMatch(/pbxgw_http_request_duration_seconds_bucket\{le="[^"]+",route="\/v1\/tenants\/:tenant\/extensions\/:id"/);
    expect(text).toMatch(/pbxgw_backend_calls_total\{tenant="box",backend="issabel",outcome="success"\} \d+/);
    expect(text).toMatch(/pbxgw_backend_session_events_total\{tenant="box",backend="issabel",event="login"\} 1/);
    expect(text).toMatch(/pbxgw_backend_circuit_state\{tenant="vital",backend="vitalpbx"\} 0/);
    // No id, number or unknown tenant name in any label.
    expect(text).not.toMatch(/tenant="nowhere"/);
    expect(text).not.toMatch(/="[^"]*(1000|[0-9a-f]{8}-[0-9a-f]{4})[^"]*"/);
  });
});

describe('readiness', () => {
  it('is ready when every backend answers, degraded when one does not, 503 when none does', async () => {
    const ready = await request(gw.app).get('/readyz').expect(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.tenants.map((t: { name: string; ready: boolean }) => [t.name, t.ready])).toEqual([
      ['cloud', true],
      ['box', true],
      ['vital', true],
    ]);
    const [v, i, p] = await Promise.all([startVoipbinSimulator(), startIssabelSimulator(), startVitalpbxSimulator()]);
    const tenants = {
      cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, timeout_ms: 300, auth: { accesskey: DEMO_ACCESSKEY } },
      box: { backend: 'issabel', base_url: `${i.server.url}/pbxapi`, timeout_ms: 300, auth: DEMO_USER },
      vital: { backend: 'vitalpbx', base_url: `${p.server.url}/api/v2`, timeout_ms: 300, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' } },
    };
    await p.server.close();
    const partial = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants });
    const degraded = await request(partial.app).get('/readyz').expect(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.tenants.find((t: { name: string }) => t.name === 'vital')).toMatchObject({ ready: false, problem: { type: '/problems/backend-unavailable' } });
    await Promise.all([v.server.close(), i.server.close()]);
    const none = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants });
    const unready = await request(none.app).get('/readyz').expect(503);
    expect(unready.body.status).toBe('unready');
  });
});

describe('configuration, taken whole or not at all', () => {
  it('refuses a config whose tenant cannot be built, at start (a fault with its path) and on reload (nothing applied)', async () => {
    const { registry } = await import('../../adapters');
    const { ConfigError, parseConfig } = await import('../../src/config');
    const { startGateway } = await import('../../src/main');
    const v = await startVoipbinSimulator();
    // A backend that refuses, when built, a value its schema let through.
    const picky = { ...registry, voipbin: { ...registry.voipbin, create: (setup: Parameters<typeof registry.voipbin.create>[0]) => {
      if (setup.tenant === 'boom') throw new Error('this backend cannot be reached that way');
      return registry.voipbin.create(setup);
    } } };
    const yaml = (level: string, names: string[]) =>
      `server: { host: 127.0.0.1, port: 0 }\nlogging: { level: ${level} }\napi_keys: [{ id: ops, key: ${KEY}, tenants: ["*"] }]\ntenants:\n` +
      names.map((n) => `  ${n}: { backend: voipbin, base_url: "${v.server.url}/v1.0", auth: { accesskey: ${DEMO_ACCESSKEY} } }\n`).join('');
    const load = (level: string, names: string[]) => parseConfig(yaml(level, names), { registry: picky, env: {}, source: 'gw.yaml' });

    const refused = await startGateway(load('silent', ['one', 'boom']), picky, { PORT: '0' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as InstanceType<typeof ConfigError>).faults).toEqual([{ pointer: '/tenants/boom', detail: expect.stringContaining('cannot be served') }]);

    const gw = await startGateway(load('silent', ['one']), picky, { PORT: '0' });
    try {
      const names = async () => ((await (await fetch(`${gw.url}/v1/tenants`, { headers: auth })).json()) as { items: { name: string }[] }).items.map((t) => t.name);
      const served = gw.config;
      const failed = await gw.reload(load('debug', ['one', 'two', 'boom'])).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ConfigError);
      expect((failed as Error).message).toContain('/tenants/boom');
      // Nothing of it applied: not its log level, not its tenants.
      expect(gw.logger.level).toBe('silent');
      expect(gw.config).toBe(served);
      expect(await names()).toEqual(['one']);
      // A sound config is then taken whole.
      await gw.reload(load('fatal', ['one', 'two']));
      expect(gw.logger.level).toBe('fatal');
      expect(await names()).toEqual(['one', 'two']);
    } finally {
      await gw.close(0);
      await v.server.close();
    }
  });
});
