/**
 * The adapter contract suite: one set of cases that every adapter passes, run twice (nock at the HTTP
 * boundary, and the simulator over real HTTP), through the gateway's own HTTP API so that mapping, paging,
 * capabilities and error answers are all checked together. A capability an adapter declares unsupported is
 * checked to answer 501; a field it cannot store, 422.
 */
import request from 'supertest';
import type { AdapterFactory } from '../../src/contract';
import { validators } from '../../src/schemas';
import { buildTestGateway, type TestGateway } from '../helpers';
import { startFake, useNock, type ContractBackend, type FakeMode, type RunningFake } from './harness';

const KEY = 'contract-suite-api-key-0001';
const auth = { Authorization: `Bearer ${KEY}` };

export interface Harness<S> {
  app: TestGateway['app'];
  backend: ContractBackend<S>;
  fake: RunningFake;
  /** Every log line written so far. */
  logs(): string;
  /** Retry-After waits the gateway asked for, in ms. */
  waits: number[];
}

export interface ContractOptions<S> {
  factory: AdapterFactory;
  makeBackend(): ContractBackend<S>;
  /** Vendor-only cases, run in both modes with the same harness. */
  extra?: (h: () => Harness<S>, mode: FakeMode) => void;
}

async function makeHarness<S>(opts: ContractOptions<S>, mode: FakeMode): Promise<Harness<S>> {
  const backend = opts.makeBackend();
  const fake = await startFake(mode, backend);
  // 2 s per backend call: short enough for the hang check, long enough that a list of 150 from a simulator in the
  // same loaded CI machine (2 cores, every jest worker busy) is not cut as a timeout (500 ms once was).
  const tenant = (a: Record<string, unknown>) => ({ backend: opts.factory.backend, base_url: fake.baseUrl, timeout_ms: 2000, auth: a, ...backend.tenantExtra });
  const gateway = buildTestGateway(
    { api_keys: [{ id: 'contract', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }], tenants: { t1: tenant(backend.auth), badauth: tenant(backend.badAuth) } },
    { registry: { [opts.factory.backend]: opts.factory } },
  );
  return { app: gateway.app, backend, fake, logs: gateway.logs, waits: gateway.waits };
}

const seedOne = (h: Harness<unknown>, extension: string, extra: { description?: string; password?: string } = {}) =>
  h.backend.seed([{ extension, name: `Ext ${extension}`, description: extra.description ?? `desc ${extension}`, password: extra.password ?? `pw-${extension}-Secret9` }])[0];

export function describeAdapterContract<S>(opts: ContractOptions<S>): void {
  const caps = opts.factory.capabilities;
  const ops = caps.extensions;

  describe.each<FakeMode>(['nock', 'simulator'])(`adapter contract: ${opts.factory.backend} (%s)`, (mode) => {
    let h: Harness<S>;
    useNock();
    beforeEach(async () => {
      h = await makeHarness(opts, mode);
    });
    afterEach(() => h.fake.close());
    const api = () => request(h.app);
    const t = '/v1/tenants/t1/extensions';

    it('describes the tenant with the adapter capabilities', async () => {
      const res = await api().get('/v1/tenants/t1').set(auth).expect(200);
      expect(validators.tenant(res.body)).toBe(true);
      // The backend's flags, plus what the tenant's own settings add (e.g. a device technology).
      expect(res.body).toMatchObject({ name: 't1', backend: opts.factory.backend, capabilities: caps });
    });

    (ops.list ? describe : describe.skip)('list', () => {
      it('pages across backend pages with opaque tokens, no duplicates, and no empty last page', async () => {
        const numbers = Array.from({ length: 150 }, (_, i) => String(2000 + i));
        h.backend.seed(numbers.map((n) => ({ extension: n, name: `Ext ${n}` })));
        for (const size of [60, 50, 500]) {
          const seen: string[] = [];
          let token: string | null = null;
          let pages = 0;
          do {
            const res: request.Response = await api()
              .get(t)
              .query({ page_size: size, ...(token ? { page_token: token } : {}) })
              .set(auth)
              .expect(200);
            pages++;
            expect(res.body.items.length).toBeGreaterThan(0);
            expect(res.body.items.length).toBeLessThanOrEqual(size);
            for (const item of res.body.items) {
              expect(validators.extension(item)).toBe(true);
              expect(item.password).toBeUndefined();
              seen.push(item.extension);
            }
            token = res.body.next_page_token;
          } while (token && pages < 20);
          expect(token).toBeNull();
          expect(pages).toBe(Math.ceil(150 / size));
          expect([...seen].sort()).toEqual(numbers);
        }
      });

      it('defaults to 50 items and refuses a bad page_size or token with pointers', async () => {
        h.backend.seed(Array.from({ length: 55 }, (_, i) => ({ extension: String(3000 + i), name: 'x' })));
        const res = await api().get(t).set(auth).expect(200);
        expect(res.body.items).toHaveLength(50);
        const bad = await api().get(t).query({ page_size: 0, page_token: 'nonsense' }).set(auth).expect(400);
        expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(bad.body.errors.map((e: { pointer: string }) => e.pointer)).toContain('/query/page_size');
        const badToken = await api().get(t).query({ page_token: 'nonsense' }).set(auth).expect(400);
        expect(badToken.body.errors[0].pointer).toBe('/query/page_token');
      });
    });

    (ops.get ? describe : describe.skip)('get', () => {
      it('maps the extension, and shows the password and vendor fields only when asked', async () => {
        const id = seedOne(h as Harness<unknown>, '4100', { password: 'Known-Pass-4100', description: 'front desk' });
        const res = await api().get(`${t}/${id}`).set(auth).expect(200);
        expect(validators.extension(res.body)).toBe(true);
        expect(res.body).toMatchObject({ id, tenant: 't1', backend: opts.factory.backend, extension: '4100', name: 'Ext 4100' });
        expect(res.body.password).toBeUndefined();
        expect(res.body.vendor).toBeUndefined();
        if (caps.writable_fields.includes('description')) expect(res.body.description).toBe('front desk');
        const withPw = await api().get(`${t}/${id}`).query({ include: 'password' }).set(auth).expect(200);
        expect(withPw.body.password).toBe('Known-Pass-4100');
        const full = await api().get(`${t}/${id}`).query({ view: 'full' }).set(auth).expect(200);
        expect(typeof full.body.vendor).toBe('object');
        expect(JSON.stringify(full.body)).not.toContain('Known-Pass-4100');
      });

      it('answers 404 for an unknown id and for an id that cannot exist', async () => {
        const res = await api().get(`${t}/${h.backend.unknownId()}`).set(auth).expect(404);
        expect(res.body).toMatchObject({ type: '/problems/not-found', status: 404 });
        await api().get(`${t}/..%2F..%2Fadmin`).set(auth).expect(404);
      });
    });

    (ops.create ? describe : describe.skip)('create', () => {
      it('creates with a generated strong password, returned once, with Location', async () => {
        const res = await api().post(t).set(auth).send({ extension: '5100', name: 'New One' }).expect(201);
        expect(validators.extension(res.body)).toBe(true);
        expect(res.headers.location).toBe(`/v1/tenants/t1/extensions/${encodeURIComponent(res.body.id)}`);
        expect(res.body.password).toMatch(/^[A-Za-z0-9]{24}$/);
        const read = await api().get(res.headers.location).query({ include: 'password' }).set(auth).expect(200);
        expect(read.body).toMatchObject({ extension: '5100', name: 'New One', password: res.body.password });
      });

      (ops.auto_number ? it : it.skip)('lets the backend pick the number when extension is left out', async () => {
        seedOne(h as Harness<unknown>, '5300');
        const res = await api().post(t).set(auth).send({ name: 'Auto' }).expect(201);
        expect(validators.extension(res.body)).toBe(true);
        expect(res.body.extension).toMatch(/^\S+$/);
        expect(res.body.extension).not.toBe('5300');
        const read = await api().get(res.headers.location).set(auth).expect(200);
        expect(read.body).toMatchObject({ id: res.body.id, extension: res.body.extension, name: 'Auto' });
      });

      it('keeps a given password', async () => {
        const res = await api().post(t).set(auth).send({ extension: '5101', name: 'Given', password: 'Given-Pass-5101' }).expect(201);
        const read = await api().get(`${t}/${res.body.id}`).query({ include: 'password' }).set(auth).expect(200);
        expect(read.body.password).toBe('Given-Pass-5101');
      });

      it('answers 409 for a number that exists, and creates nothing', async () => {
        seedOne(h as Harness<unknown>, '5200');
        const res = await api().post(t).set(auth).send({ extension: '5200', name: 'Dup' }).expect(409);
        expect(res.body.type).toBe('/problems/conflict');
        const list = await api().get(t).query({ page_size: 500 }).set(auth).expect(200);
        expect(list.body.items.filter((e: { extension: string }) => e.extension === '5200')).toHaveLength(1);
      });

      it('refuses invalid bodies with 400 and a pointer per fault, calling no backend', async () => {
        const before = h.backend.requestCount();
        const res = await api().post(t).set(auth).send({ extension: 'a b', name: '', password: 'short', color: 'red' }).expect(400);
        const pointers = res.body.errors.map((e: { pointer: string }) => e.pointer).sort();
        expect(pointers).toEqual(['/color', '/extension', '/name', '/password']);
        await api().post(t).set(auth).set('content-type', 'application/json').send('{"name": ').expect(400);
        expect(h.backend.requestCount()).toBe(before);
      });
    });

    (ops.update ? describe : describe.skip)('update', () => {
      it('changes only the fields sent', async () => {
        const id = seedOne(h as Harness<unknown>, '6100', { password: 'Keep-This-6100', description: 'keep me' });
        const res = await api().patch(`${t}/${id}`).set(auth).send({ name: 'Renamed' }).expect(200);
        expect(validators.extension(res.body)).toBe(true);
        expect(res.body.password).toBeUndefined();
        const read = await api().get(`${t}/${id}`).query({ include: 'password' }).set(auth).expect(200);
        expect(read.body).toMatchObject({ name: 'Renamed', password: 'Keep-This-6100' });
        if (caps.writable_fields.includes('description')) expect(read.body.description).toBe('keep me');
        await api().patch(`${t}/${id}`).set(auth).send({ password: 'New-Pass-6100' }).expect(200);
        const again = await api().get(`${t}/${id}`).query({ include: 'password' }).set(auth).expect(200);
        expect(again.body).toMatchObject({ name: 'Renamed', password: 'New-Pass-6100' });
      });

      it('answers 404 for an unknown id', async () => {
        await api().patch(`${t}/${h.backend.unknownId()}`).set(auth).send({ name: 'x' }).expect(404);
      });
    });

    (ops.delete ? describe : describe.skip)('delete', () => {
      it('deletes with 204, then the extension is gone and a second delete is 404', async () => {
        const id = seedOne(h as Harness<unknown>, '7100');
        await api().delete(`${t}/${id}`).set(auth).expect(204);
        await api().get(`${t}/${id}`).set(auth).expect(404);
        await api().delete(`${t}/${id}`).set(auth).expect(404);
        const list = await api().get(t).query({ page_size: 500 }).set(auth).expect(200);
        expect(list.body.items.map((e: { id: string }) => e.id)).not.toContain(id);
      });
    });

    (ops.batch_delete ? describe : describe.skip)('batch delete', () => {
      it('reports one result per id, in order, with a missing id among them', async () => {
        const [a, b] = h.backend.seed([
          { extension: '7200', name: 'a' },
          { extension: '7201', name: 'b' },
        ]);
        const missing = h.backend.unknownId();
        const res = await api().delete(t).query({ ids: `${a},${missing},${b}` }).set(auth).expect(200);
        expect(validators.batchDeleteResult(res.body)).toBe(true);
        expect(res.body.results).toEqual([
          { id: a, status: 'deleted' },
          { id: missing, status: 'not_found' },
          { id: b, status: 'deleted' },
        ]);
        await api().get(`${t}/${a}`).set(auth).expect(404);
        await api().get(`${t}/${b}`).set(auth).expect(404);
      });
    });

    describe('backend faults', () => {
      const readPath = () => (ops.list ? t : `${t}/${h.backend.unknownId()}`);

      it('answers 502 backend-auth-failed when the backend refuses the credentials, without leaking them', async () => {
        const res = await api().get('/v1/tenants/badauth/extensions').set(auth).expect(502);
        expect(res.body.type).toBe('/problems/backend-auth-failed');
        expect(h.backend.badAuthSecrets.length).toBeGreaterThan(0);
        for (const v of h.backend.badAuthSecrets) {
          expect(JSON.stringify(res.body)).not.toContain(v);
          expect(h.logs()).not.toContain(v);
        }
      });

      it('answers 502 for a backend 5xx, never echoing its body', async () => {
        h.fake.inject({ kind: 'status', status: 500, body: '{"verbose":"AMI secret=hunter2-XYZ"}' });
        const res = await api().get(readPath()).set(auth).expect(502);
        expect(res.body.type).toBe('/problems/backend-unavailable');
        expect(JSON.stringify(res.body)).not.toContain('hunter2');
      });

      it('answers 502 for an unreadable answer', async () => {
        h.fake.inject({ kind: 'garbage' });
        const res = await api().get(readPath()).set(auth).expect(502);
        expect(res.body.type).toBe('/problems/backend-unavailable');
      });

      it('retries a read after connection resets (twice by default), and answers 502 when they go on', async () => {
        const id = seedOne(h as Harness<unknown>, '8100');
        h.fake.inject({ kind: 'reset' });
        h.fake.inject({ kind: 'reset' });
        await api().get(`${t}/${id}`).set(auth).expect(200);
        for (let i = 0; i < 3; i++) h.fake.inject({ kind: 'reset' });
        const res = await api().get(`${t}/${id}`).set(auth).expect(502);
        expect(res.body.type).toBe('/problems/backend-unavailable');
      });

      it('answers 504 when the backend does not answer in time', async () => {
        h.fake.inject({ kind: 'hang' });
        const res = await api().get(readPath()).set(auth).expect(504);
        expect(res.body.type).toBe('/problems/backend-timeout');
      });

      it('waits out a short 429 Retry-After, and answers 503 with Retry-After for a long one', async () => {
        const id = seedOne(h as Harness<unknown>, '8200');
        h.fake.inject({ kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
        await api().get(`${t}/${id}`).set(auth).expect(200);
        expect(h.waits).toEqual([1000]);
        h.fake.inject({ kind: 'status', status: 429, headers: { 'Retry-After': '30' } });
        const res = await api().get(`${t}/${id}`).set(auth).expect(503);
        expect(res.headers['retry-after']).toBe('30');
        expect(res.body).toMatchObject({ type: '/problems/rate-limited', retry_after: 30 });
      });
    });

    describe('unsupported capabilities', () => {
      const someId = () => h.backend.unknownId();
      const calls: Record<string, () => request.Test> = {
        'extensions.list': () => api().get(t).set(auth),
        'extensions.get': () => api().get(`${t}/${someId()}`).set(auth),
        'extensions.create': () => api().post(t).set(auth).send({ extension: '9100', name: 'n' }),
        'extensions.update': () => api().patch(`${t}/${someId()}`).set(auth).send({ name: 'n' }),
        'extensions.delete': () => api().delete(`${t}/${someId()}`).set(auth),
        'extensions.batch_delete': () => api().delete(t).query({ ids: someId() }).set(auth),
        'extensions.auto_number': () => api().post(t).set(auth).send({ name: 'n' }),
        direct_uri: () => api().post(`${t}/${someId()}/direct-hash/regenerate`).set(auth),
        devices: () => api().get(`${t}/${someId()}/devices`).set(auth),
        queues: () => api().get(`${t}/${someId()}/queues`).set(auth),
        call_summary: () => api().get(`${t}/${someId()}/call-summary`).set(auth),
        voicemail: () => api().get(`${t}/${someId()}/voicemail`).set(auth),
      };
      const flag = (path: string) => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], caps) as boolean;
      const unsupported = Object.keys(calls).filter((c) => !flag(c) && !(c === 'extensions.auto_number' && !ops.create));

      it.each(unsupported.length ? unsupported : ['(none)'])('answers 501 naming the backend and capability: %s', async (capability) => {
        if (capability === '(none)') return;
        const before = h.backend.requestCount();
        const res = await calls[capability]().expect(501);
        expect(res.body).toMatchObject({ type: '/problems/unsupported', backend: opts.factory.backend, capability });
        expect(h.backend.requestCount()).toBe(before);
      });

      const unwritable = (['extension', 'name', 'description', 'password'] as const).filter((f) => !caps.writable_fields.includes(f));
      (ops.create && unwritable.length ? it : it.skip)('refuses fields the backend cannot store with 422 and their pointers', async () => {
        const body: Record<string, string> = { extension: '9200', name: 'n' };
        for (const f of unwritable) body[f] = f === 'password' ? 'Long-Enough-1' : 'x';
        const res = await api().post(t).set(auth).send(body).expect(422);
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(unwritable.map((f) => `/${f}`));
      });

      (caps.direct_uri ? it : it.skip)('regenerates the direct URI where supported', async () => {
        const id = seedOne(h as Harness<unknown>, '9300');
        const before = await api().get(`${t}/${id}`).set(auth).expect(200);
        const res = await api().post(`${t}/${id}/direct-hash/regenerate`).set(auth).expect(200);
        expect(res.body.direct_uri).toMatch(/^sip:/);
        expect(res.body.direct_uri).not.toBe(before.body.direct_uri);
        await api().post(`${t}/${h.backend.unknownId()}/direct-hash/regenerate`).set(auth).expect(404);
      });
    });

    describe('extension details', () => {
      const detail = [
        ['devices', 'devices', validators.device],
        ['queues', 'queues', validators.queue],
        ['voicemail', 'voicemail', validators.voicemailMessage],
      ] as const;
      for (const [flag, path, validate] of detail) {
        (caps[flag] ? it : it.skip)(`serves ${path} as a collection of valid items, 404 for an unknown extension`, async () => {
          const id = seedOne(h as Harness<unknown>, '9400', { password: 'Device-Pass-9400' });
          const res = await api().get(`${t}/${id}/${path}`).set(auth).expect(200);
          expect(Array.isArray(res.body.items)).toBe(true);
          for (const item of res.body.items) expect(validate(item)).toBe(true);
          await api().get(`${t}/${h.backend.unknownId()}/${path}`).set(auth).expect(404);
        });
      }
      (caps.devices ? it : it.skip)('shows device passwords only with include=password', async () => {
        const id = seedOne(h as Harness<unknown>, '9500', { password: 'Device-Pass-9500' });
        const plain = await api().get(`${t}/${id}/devices`).set(auth).expect(200);
        expect(plain.body.items.length).toBeGreaterThan(0);
        expect(JSON.stringify(plain.body)).not.toContain('Device-Pass-9500');
        const withPw = await api().get(`${t}/${id}/devices`).query({ include: 'password' }).set(auth).expect(200);
        expect(withPw.body.items.map((d: { password?: string }) => d.password)).toContain('Device-Pass-9500');
      });
      (caps.call_summary ? it : it.skip)('serves the call summary as one object of counts, 404 for an unknown extension', async () => {
        const id = seedOne(h as Harness<unknown>, '9600');
        const res = await api().get(`${t}/${id}/call-summary`).set(auth).expect(200);
        expect(validators.callSummary(res.body)).toBe(true);
        await api().get(`${t}/${h.backend.unknownId()}/call-summary`).set(auth).expect(404);
      });
    });

    opts.extra?.(() => h, mode);
  });
}
