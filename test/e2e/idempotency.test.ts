/** Idempotency-Key on creates and batch deletes, and creates whose answer was lost, over real HTTP. */
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator, type VoipbinSimulator } from '../../adapters/voipbin/simulator';
import { RedisStore } from '../../src/state/redis';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway, requireRedis, TEST_REDIS_URL } from '../helpers';

const KEY = 'idempotency-test-key-000001';
const auth = { Authorization: `Bearer ${KEY}` };
const ext = '/v1/tenants/acme/extensions';
let sim: VoipbinSimulator;
let server: RunningSimulator;

beforeEach(async () => {
  ({ sim, server } = await startVoipbinSimulator());
  sim.seed([{ extension: '100', name: 'Reception' }]);
});
afterEach(() => server.close());

const config = (timeout_ms = 10_000) => ({
  api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }],
  tenants: { acme: { backend: 'voipbin', base_url: `${server.url}/v1.0`, timeout_ms, auth: { accesskey: DEMO_ACCESSKEY } } },
});
async function numbersOnBackend(): Promise<string[]> {
  const res = await fetch(`${server.url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}&page_size=100`);
  return ((await res.json()) as { result: { extension: string }[] }).result.map((e) => e.extension);
}

describe('Idempotency-Key', () => {
  it('replays the first answer, password included, and creates once', async () => {
    const { app } = buildTestGateway(config());
    const first = await request(app).post(ext).set(auth).set('Idempotency-Key', 'create-300').send({ extension: '300', name: 'Lobby' }).expect(201);
    const again = await request(app).post(ext).set(auth).set('Idempotency-Key', 'create-300').send({ name: 'Lobby', extension: '300' }).expect(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect((await numbersOnBackend()).filter((n) => n === '300')).toHaveLength(1);
  });

  it('answers 422 when the key comes back with another body', async () => {
    const { app } = buildTestGateway(config());
    await request(app).post(ext).set(auth).set('Idempotency-Key', 'k-1').send({ extension: '301', name: 'A' }).expect(201);
    const res = await request(app).post(ext).set(auth).set('Idempotency-Key', 'k-1').send({ extension: '302', name: 'B' }).expect(422);
    expect(res.body.type).toBe('/problems/idempotency-key-reused');
    expect(await numbersOnBackend()).not.toContain('302');
  });

  it('answers 409 to a second request while the first is still running', async () => {
    const { app } = buildTestGateway(config());
    server.injectFault({ kind: 'slow', ms: 300 });
    const [a, b] = await Promise.all([
      request(app).post(ext).set(auth).set('Idempotency-Key', 'k-2').send({ extension: '303', name: 'A' }),
      new Promise((r) => setTimeout(r, 50)).then(() => request(app).post(ext).set(auth).set('Idempotency-Key', 'k-2').send({ extension: '303', name: 'A' })),
    ]);
    expect([a.status, b.status]).toEqual([201, 409]);
    expect(b.body.type).toBe('/problems/idempotency-in-progress');
  });

  it('keeps a refusal too (409 for a taken number is answered again the same way)', async () => {
    const { app } = buildTestGateway(config());
    const first = await request(app).post(ext).set(auth).set('Idempotency-Key', 'k-3').send({ extension: '100', name: 'Dup' }).expect(409);
    const again = await request(app).post(ext).set(auth).set('Idempotency-Key', 'k-3').send({ extension: '100', name: 'Dup' }).expect(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(again.body.type).toBe(first.body.type);
  });

  it('replays a batch delete result instead of deleting again', async () => {
    const { app } = buildTestGateway(config());
    const [{ id }] = sim.seed([{ extension: '400', name: 'Gone' }]);
    const first = await request(app).delete(`${ext}?ids=${id}`).set(auth).set('Idempotency-Key', 'del-1').expect(200);
    expect(first.body.results).toEqual([{ id, status: 'deleted' }]);
    const again = await request(app).delete(`${ext}?ids=${id}`).set(auth).set('Idempotency-Key', 'del-1').expect(200);
    expect(again.body).toEqual(first.body);
  });

  it('is shared by gateway instances through Redis', async () => {
    await requireRedis();
    const url = TEST_REDIS_URL;
    const [storeA, storeB] = [new RedisStore(url), new RedisStore(url)];
    try {
      const a = buildTestGateway(config(), { store: storeA });
      const b = buildTestGateway(config(), { store: storeB });
      const idem = `shared-${Date.now()}-${Math.random()}`;
      const first = await request(a.app).post(ext).set(auth).set('Idempotency-Key', idem).send({ extension: '500', name: 'Shared' }).expect(201);
      const again = await request(b.app).post(ext).set(auth).set('Idempotency-Key', idem).send({ extension: '500', name: 'Shared' }).expect(201);
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers['idempotency-replayed']).toBe('true');
    } finally {
      await Promise.all([storeA.close(), storeB.close()]);
    }
  });
});

describe('a create whose answer was lost', () => {
  // The duplicate check reads the list first (a page, then the empty page after it); the POST is the third call.
  it('is reconciled by reading the backend: the connection dropped after VoIPBIN created it', async () => {
    const { app } = buildTestGateway(config());
    server.injectFault({ kind: 'lose-answer' }, 2);
    const res = await request(app).post(ext).set(auth).send({ extension: '600', name: 'Lost', password: 'Lost-Answer-Pass1' }).expect(201);
    expect(res.body).toMatchObject({ extension: '600', name: 'Lost', password: 'Lost-Answer-Pass1' });
    expect((await numbersOnBackend()).filter((n) => n === '600')).toHaveLength(1);
  });

  it('is reconciled after a timeout, when VoIPBIN answered too late', async () => {
    const { app } = buildTestGateway(config(300));
    server.injectFault({ kind: 'slow', ms: 800 }, 2);
    await request(app).post(ext).set(auth).send({ extension: '601', name: 'Late' }).expect(201);
    expect((await numbersOnBackend()).filter((n) => n === '601')).toHaveLength(1);
  });

  it('answers the failure when the extension was not created, and a retry with the same key then creates it', async () => {
    const { app } = buildTestGateway(config());
    server.injectFault({ kind: 'reset' }, 2);
    const failed = await request(app).post(ext).set(auth).set('Idempotency-Key', 'retry-me').send({ extension: '602', name: 'Retry' }).expect(502);
    expect(failed.body.type).toBe('/problems/backend-unavailable');
    expect(await numbersOnBackend()).not.toContain('602');
    await request(app).post(ext).set(auth).set('Idempotency-Key', 'retry-me').send({ extension: '602', name: 'Retry' }).expect(201);
  });
});
