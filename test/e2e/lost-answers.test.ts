/**
 * Lost answers: a create is 201 only when the gateway sent it and can tell the extension is the one it made; a
 * password reaches only the answer of the create that set it; an Idempotency-Key never creates twice, whatever
 * the backend or the store did.
 */
import request from 'supertest';
import { DEMO_USER as ISSABEL_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { sealingKey } from '../../src/idempotency';
import type { RunningSimulator } from '../../src/simulator-kit';
import { MemoryStore, type StateStore } from '../../src/state/store';
import { buildTestGateway } from '../helpers';

const KEY = 'lost-answers-test-key-0001';
const WRITER = 'lost-answers-writer-key-01';
const ext = (t: string) => `/v1/tenants/${t}/extensions`;
const SECRET = 'Seeded-Secret-Pass-0001';
const servers: RunningSimulator[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const keys = [
  { id: 'admin', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] },
  // May create, may not read passwords.
  { id: 'writer', key: WRITER, tenants: ['*'], scopes: ['read', 'write'] },
];

async function voipbin(timeout_ms = 10_000) {
  const { sim, server } = await startVoipbinSimulator();
  servers.push(server);
  sim.seed([{ extension: '100', name: 'Reception', password: SECRET }]);
  const numbers = async () => {
    const res = await fetch(`${server.url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}&page_size=100`);
    return ((await res.json()) as { result: { extension: string }[] }).result.map((e) => e.extension);
  };
  return { sim, server, numbers, tenant: { backend: 'voipbin', base_url: `${server.url}/v1.0`, timeout_ms, auth: { accesskey: DEMO_ACCESSKEY } } };
}

async function issabel() {
  const { sim, server } = await startIssabelSimulator();
  servers.push(server);
  sim.seed([{ extension: '1000', name: 'Reception' }]);
  return { sim, server, tenant: { backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: ISSABEL_USER } };
}

const issabelNames = async (app: Parameters<typeof request>[0]) =>
  ((await request(app).get(`${ext('box')}?page_size=500`).set('Authorization', `Bearer ${KEY}`).expect(200)).body.items as { name: string }[]).map((e) => e.name);

describe('a failed check before a create (item 1)', () => {
  it('a backend 500 on the duplicate check: 409 for a number that exists, never its password', async () => {
    const v = await voipbin();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } });
    v.server.injectFault({ kind: 'status', status: 500, body: 'db down' });
    const res = await request(app).post(ext('acme')).set('Authorization', `Bearer ${WRITER}`).send({ extension: '100', name: 'Intruder' });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    expect(res.status).toBe(409);
    expect(res.body.type).toBe('/problems/conflict');
  });

  it('a hanging duplicate check: the timeout as it is (no create was sent, so nothing is uncertain), never the password', async () => {
    const v = await voipbin(300);
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } });
    v.server.injectFault({ kind: 'hang' });
    const res = await request(app).post(ext('acme')).set('Authorization', `Bearer ${WRITER}`).send({ extension: '100', name: 'Intruder' });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    expect(res.status).toBe(504);
    expect(res.body.type).toBe('/problems/backend-timeout');
    expect(res.body.outcome).toBeUndefined();
  });

  it('the same with an Idempotency-Key: neither the answer nor its replay carries the password', async () => {
    const v = await voipbin();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } });
    v.server.injectFault({ kind: 'status', status: 500, body: 'db down' });
    const send = () => request(app).post(ext('acme')).set('Authorization', `Bearer ${WRITER}`).set('Idempotency-Key', 'check-500').send({ extension: '100', name: 'Intruder' });
    const [first, again] = [await send(), await send()];
    for (const r of [first, again]) {
      expect(JSON.stringify(r.body)).not.toContain(SECRET);
      expect(r.status).toBe(409);
    }
  });
});

describe('an auto-numbered create whose answer is lost (item 2a)', () => {
  it('is 502 outcome uncertain, and a retry with the same key does not create a second one', async () => {
    const i = await issabel();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { box: i.tenant } });
    const before = await issabelNames(app);
    // Logged in already (the list above): the POST is the next call; carried out, then the connection drops.
    i.server.injectFault({ kind: 'lose-answer' });
    const send = () => request(app).post(ext('box')).set('Authorization', `Bearer ${KEY}`).set('Idempotency-Key', 'auto-1').send({ name: 'Auto Lost' });
    const first = await send();
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ type: '/problems/outcome-uncertain', outcome: 'uncertain' });
    const again = await send();
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ type: '/problems/idempotency-outcome-unknown', outcome: 'uncertain' });
    const after = await issabelNames(app);
    expect(after.filter((n) => n === 'Auto Lost')).toHaveLength(1);
    expect(after).toHaveLength(before.length + 1);
  });
});

/** A store whose writes fail once `failing` is set (Redis out of memory), reads still work. */
class FailingWrites extends MemoryStore {
  failing = false;
  override async set(key: string, value: string, ttlMs: number) {
    if (this.failing && key.startsWith('idem:')) throw new Error('OOM command not allowed when used memory > maxmemory');
    return super.set(key, value, ttlMs);
  }
  override async delete(key: string) {
    if (this.failing && key.startsWith('idem:')) throw new Error('OOM command not allowed when used memory > maxmemory');
    return super.delete(key);
  }
  override async deleteIfEquals(key: string, value: string) {
    if (this.failing && key.startsWith('idem:')) throw new Error('OOM command not allowed when used memory > maxmemory');
    return super.deleteIfEquals(key, value);
  }
}

/** After the first claim: every later write of the idempotency record fails (until the test says otherwise). */
function failAfterClaim(store: FailingWrites): StateStore {
  const claim = store.setIfAbsent.bind(store);
  let first = true;
  store.setIfAbsent = async (k, v, ttl) => {
    const ok = await claim(k, v, ttl);
    if (k.startsWith('idem:') && first) {
      first = false;
      store.failing = true;
    }
    return ok;
  };
  return store;
}

/** Jump the clock past every request's time: the first request's claim then reads as an unknown outcome. */
function later(ms = 3600_000) {
  const real = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => real() + ms);
}

describe('the store fails after the backend created it (item 2b)', () => {
  it('a numbered create: 201, and a retry long after finds it on the backend, without creating again', async () => {
    const v = await voipbin();
    const store = new FailingWrites();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } }, { store: failAfterClaim(store) });
    const send = () => request(app).post(ext('acme')).set('Authorization', `Bearer ${KEY}`).set('Idempotency-Key', 'oom-1').send({ extension: '710', name: 'Stored Once' });
    const first = await send();
    expect(first.status).toBe(201);
    store.failing = false;
    later();
    const again = await send();
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.password).toBe(first.body.password);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect((await v.numbers()).filter((n) => n === '710')).toHaveLength(1);
  });

  it('an auto-numbered create: 201, and a retry long after is refused (409 uncertain), never a second one', async () => {
    const i = await issabel();
    const store = new FailingWrites();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { box: i.tenant } }, { store: failAfterClaim(store) });
    const send = () => request(app).post(ext('box')).set('Authorization', `Bearer ${KEY}`).set('Idempotency-Key', 'oom-2').send({ name: 'Auto Once' });
    expect((await send()).status).toBe(201);
    store.failing = false;
    later();
    const again = await send();
    expect(again.status).toBe(409);
    expect(again.body.outcome).toBe('uncertain');
    expect((await issabelNames(app)).filter((n) => n === 'Auto Once')).toHaveLength(1);
  });

  it('a numbered create whose answer was lost (reset after VoIPBIN stored it) is settled by the retry: 201, once', async () => {
    const v = await voipbin(300);
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } });
    // The POST is carried out and answered too late; the read that settles it fails too (a 500): uncertain.
    v.server.injectFault({ kind: 'slow', ms: 600 }, 2);
    v.server.injectFault({ kind: 'status', status: 500 }, 0);
    const send = () => request(app).post(ext('acme')).set('Authorization', `Bearer ${KEY}`).set('Idempotency-Key', 'late-1').send({ extension: '720', name: 'Late' });
    const first = await send();
    expect(first.status).toBe(502);
    expect(first.body.outcome).toBe('uncertain');
    await new Promise((r) => setTimeout(r, 700));
    later();
    const again = await send();
    expect(again.status).toBe(201);
    expect(again.body.extension).toBe('720');
    expect((await v.numbers()).filter((n) => n === '720')).toHaveLength(1);
  });
});

describe('sealed answers (item 3)', () => {
  it('are sealed with a key derived from the presented API key (and the operator secret), not from the key id', async () => {
    const v = await voipbin();
    const store = new MemoryStore();
    const { app } = buildTestGateway({ api_keys: keys, tenants: { acme: v.tenant } }, { store });
    const created = await request(app).post(ext('acme')).set('Authorization', `Bearer ${KEY}`).set('Idempotency-Key', 'seal-1').send({ extension: '730', name: 'Sealed' }).expect(201);
    const entries = (store as unknown as { entries: Map<string, { value: string }> }).entries;
    const record = [...entries.entries()].find(([k]) => k.startsWith('idem:'))![1].value;
    expect(record).not.toContain(created.body.password);
    const { sealed } = JSON.parse(record) as { sealed: string };
    const { createDecipheriv, createHash } = await import('node:crypto');
    const open = (secret: Buffer) => {
      const raw = Buffer.from(sealed, 'base64');
      const d = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    };
    // What the store and the config (key id, or the key's digest) would let one compute does not open it.
    expect(() => open(createHash('sha256').update(`admin\u0000acme\u0000seal-1`).digest())).toThrow();
    const digest = createHash('sha256').update(KEY).digest('hex');
    expect(() => open(sealingKey(digest, 'acme', 'seal-1'))).toThrow();
    expect(open(sealingKey(KEY, 'acme', 'seal-1'))).toContain(created.body.password);
    expect(sealingKey(KEY, 'acme', 'seal-1', 'operator-secret').equals(sealingKey(KEY, 'acme', 'seal-1'))).toBe(false);
  });
});
