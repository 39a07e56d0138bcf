/**
 * Hostile inputs: bodies in types the gateway does not read, bodies that do not decompress, names that are not
 * one line of text, floods of wrong keys. Each is refused with its problem; nothing crashes, nothing changes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator, type IssabelSimulator } from '../../adapters/issabel/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'hostile-inputs-key-000000001';
const auth = { Authorization: `Bearer ${KEY}` };
let server: RunningSimulator;
let sim: IssabelSimulator;
let gw: ReturnType<typeof buildTestGateway>;
let listening: http.Server;
let base: string;

beforeAll(async () => {
  ({ sim, server } = await startIssabelSimulator());
  sim.seedDemo();
  gw = buildTestGateway({
    api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }],
    tenants: { box: { backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: DEMO_USER } },
  });
  listening = http.createServer(gw.app);
  await new Promise<void>((r) => listening.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => listening.close(r));
  await server.close();
});

const api = () => request(gw.app);

/** A raw request, so the test decides framing (chunked or not) and encoding. */
function raw(method: string, path: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: Record<string, unknown>; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers: { ...auth, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('request bodies', () => {
  it('refuses a write body that is not JSON with 415, chunked or not, and changes nothing', async () => {
    const before = (await api().get('/v1/tenants/box/extensions/1000').set(auth).expect(200)).body;
    const cases: [Record<string, string>, Buffer[]][] = [
      [{ 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, [Buffer.from('{"name":'), Buffer.from('"Changed"}')]],
      [{ 'content-type': 'text/plain' }, [Buffer.from('{"name":"Changed"}')]],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, [Buffer.from('name=Changed')]],
      [{ 'transfer-encoding': 'chunked' }, [Buffer.from('{"name":"Changed"}')]],
      [{ 'content-type': 'text/csv' }, [Buffer.from('name\nChanged\n')]],
    ];
    for (const [headers, chunks] of cases) {
      const res = await raw('PATCH', '/v1/tenants/box/extensions/1000', headers, chunks);
      expect({ headers, status: res.status, type: res.body.type }).toEqual({ headers, status: 415, type: '/problems/unsupported-media-type' });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const posted = await raw('POST', '/v1/tenants/box/extensions', { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' }, [Buffer.from('{"name":"New"}')]);
    expect(posted.status).toBe(415);
    expect((await api().get('/v1/tenants/box/extensions/1000').set(auth).expect(200)).body).toEqual(before);
  });

  it('still reads JSON (also chunked, and as a +json type) and lets the import route read CSV and NDJSON', async () => {
    const renamed = await raw('PATCH', '/v1/tenants/box/extensions/1001', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, [Buffer.from('{"name":'), Buffer.from('"Chunked"}')]);
    expect(renamed).toMatchObject({ status: 200, body: { name: 'Chunked' } });
    const merge = await raw('PATCH', '/v1/tenants/box/extensions/1001', { 'content-type': 'application/merge-patch+json' }, [Buffer.from('{"name":"Merged"}')]);
    expect(merge).toMatchObject({ status: 200, body: { name: 'Merged' } });
    await api().post('/v1/tenants/box/extensions/import').set(auth).set('content-type', 'text/csv').send('extension,name\n4242,Imported\n').expect(200);
    await api().post('/v1/tenants/box/extensions/import').set(auth).set('content-type', 'application/x-ndjson').send('{"extension":"4243","name":"Imported"}\n').expect(200);
  });

  it('answers 400 malformed-request to a gzip or br body that does not decompress, 415 to an unknown encoding', async () => {
    const gzip = zlib.gzipSync(Buffer.from('{"name":"Zipped"}'));
    const corrupt = Buffer.concat([gzip.subarray(0, 12), Buffer.from('garbage-garbage-garbage'), gzip.subarray(12)]);
    const brCorrupt = Buffer.from('this is not brotli at all, not even close');
    for (const [encoding, body] of [['gzip', corrupt], ['gzip', gzip.subarray(0, gzip.length - 9)], ['br', brCorrupt], ['deflate', Buffer.from('nope')]] as const) {
      const res = await raw('PATCH', '/v1/tenants/box/extensions/1001', { 'content-type': 'application/json', 'content-encoding': encoding }, [body]);
      expect({ encoding, status: res.status, type: res.body.type }).toEqual({ encoding, status: 400, type: '/problems/malformed-request' });
    }
    const good = await raw('PATCH', '/v1/tenants/box/extensions/1001', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, [gzip]);
    expect(good).toMatchObject({ status: 200, body: { name: 'Zipped' } });
    const unknown = await raw('PATCH', '/v1/tenants/box/extensions/1001', { 'content-type': 'application/json', 'content-encoding': 'x-unheard-of' }, [Buffer.from('{}')]);
    expect(unknown).toMatchObject({ status: 415, body: { type: '/problems/unsupported-media-type' } });
    expect(gw.logs()).not.toMatch(/"level":50/);
  });
});

describe('names', () => {
  const bad = ['Front\r\nDesk', 'Line\nbreak', 'Nul\u0000', 'Lone \ud800 high', '\udc00', 'Tab\there', 'Sep\u2028arator', 'Bell\u0007', 'C1\u0085'];

  it('refuses control characters and lone surrogates in extension and ring-group names, created or patched, with /name', async () => {
    const targets: [string, string, Record<string, unknown>][] = [
      ['post', '/v1/tenants/box/extensions', {}],
      ['patch', '/v1/tenants/box/extensions/1000', {}],
      ['post', '/v1/tenants/box/ring-groups', { members: ['1000'] }],
      ['patch', '/v1/tenants/box/ring-groups/600', {}],
    ];
    for (const [method, path, rest] of targets) {
      for (const name of bad) {
        const res = await (method === 'post' ? api().post(path) : api().patch(path)).set(auth).set('content-type', 'application/json').send(JSON.stringify({ ...rest, name }));
        expect({ path, name, status: res.status, type: res.body.type }).toEqual({ path, name, status: 400, type: '/problems/validation' });
        expect(res.body.errors).toEqual([{ pointer: '/name', detail: expect.stringMatching(/one line of text/) }]);
      }
    }
    // What is fine stays fine: letters of any script, emoji (a proper surrogate pair), joiners.
    for (const name of ['Zoë Ångström', 'Réception 🎉', '受付', 'a\u200db']) {
      const res = await api().patch('/v1/tenants/box/extensions/1000').set(auth).send({ name }).expect(200);
      expect(res.body.name).toBe(name);
    }
  });
});

describe('failed authentications', () => {
  const config = { api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants: { box: { backend: 'issabel', base_url: 'http://127.0.0.1:9/pbxapi', auth: DEMO_USER } } };

  it('are throttled per client address: after 10 in a minute, 429 with Retry-After; a valid key still passes', async () => {
    const fresh = buildTestGateway(config);
    const statuses: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 40; i++) {
      last = await request(fresh.app).get('/v1/tenants').set('Authorization', `Bearer wrong-key-number-${i}-0000000`);
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(30).fill(429));
    expect(last!.body).toMatchObject({ type: '/problems/too-many-requests', status: 429 });
    expect(last!.body.detail).toMatch(/failed authentications from this address/);
    const retryAfter = Number(last!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // No key at all counts as a failure too; a valid key from the same address is served as usual.
    await request(fresh.app).get('/v1/tenants').expect(429);
    await request(fresh.app).get('/v1/tenants').set(auth).expect(200);
  });

  it('are counted in the shared store, so instances sharing it share the count', async () => {
    const { MemoryStore } = await import('../../src/state/store');
    const store = new MemoryStore();
    const a = buildTestGateway(config, { store });
    const b = buildTestGateway(config, { store });
    for (let i = 0; i < 10; i++) await request(i % 2 ? a.app : b.app).get('/v1/tenants').set('Authorization', 'Bearer not-the-key-at-all-00000').expect(401);
    await request(a.app).get('/v1/tenants').set('Authorization', 'Bearer not-the-key-at-all-00000').expect(429);
    await request(b.app).get('/v1/tenants').set('Authorization', 'Bearer not-the-key-at-all-00000').expect(429);
  });

  it('end with their window, and group IPv6 clients by /64', async () => {
    const { authFailureThrottle, clientAddress } = await import('../../src/http/guards');
    const { MemoryStore } = await import('../../src/state/store');
    const { UnauthenticatedError } = await import('../../src/errors');
    let t = 1_000_000;
    const throttle = authFailureThrottle(new MemoryStore(() => t), { failures: 2, window_s: 10 }, () => t);
    const req = (remoteAddress: string) => ({ socket: { remoteAddress } }) as never;
    const fail = new UnauthenticatedError('no');
    const slug = async (addr: string) => ((await throttle(req(addr), fail)) as unknown as { slug: string }).slug;
    expect([await slug('2001:db8:1:2::1'), await slug('2001:db8:1:2:ffff::9'), await slug('2001:db8:1:2:aaaa:bbbb:cccc:dddd')]).toEqual(['unauthenticated', 'unauthenticated', 'too-many-requests']);
    expect(await slug('2001:db8:1:3::1')).toBe('unauthenticated');
    expect(await slug('10.0.0.1')).toBe('unauthenticated');
    t += 10_001;
    expect(await slug('2001:db8:1:2::1')).toBe('unauthenticated');
    expect(clientAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientAddress('2001:DB8:0:0:1::1')).toBe('2001:db8:0:0::/64');
    expect(clientAddress('::1')).toBe('0:0:0:0::/64');
  });
});
