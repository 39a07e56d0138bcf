/** Imports run within the request keep to its time budget, stop when the caller leaves, and always leave their
 * audit line. (Imports run as jobs: jobs.test.ts.) */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway } from '../helpers';

const KEY = 'import-budget-test-key-001';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A VoIPBIN whose every call takes `ms`. */
async function slowVoipbin(ms: number) {
  const { server } = await startVoipbinSimulator();
  servers.push(server);
  for (let i = 0; i < 2000; i++) server.injectFault({ kind: 'slow', ms });
  const numbers = async () => {
    const res = await fetch(`${server.url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}&page_size=100`);
    return ((await res.json()) as { result: { extension: string }[] }).result.map((e) => e.extension);
  };
  return { server, numbers, tenant: { backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } } };
}

const csv = (rows: number) => 'extension,name\n' + Array.from({ length: rows }, (_, i) => `${5000 + i},Row ${i}`).join('\n') + '\n';

it('answers within the budget, reporting the rows it did not start as not_done, one by one', async () => {
  const v = await slowVoipbin(100);
  const gw = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants: { acme: v.tenant } }, { requestBudgetMs: 3000 });
  const started = Date.now();
  // async=false: within the request, whatever the estimate (without it, an import this slow runs as a job).
  const res = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=false').set(auth).set('content-type', 'text/csv').send(csv(60));
  const took = Date.now() - started;
  expect(res.status).toBe(200);
  expect(took).toBeLessThan(3000);
  const items = res.body.items as { row: number; status: string; reason?: string; extension: string }[];
  expect(items).toHaveLength(60);
  const done = items.filter((i) => i.status === 'done');
  const notDone = items.filter((i) => i.status === 'not_done');
  expect(done.length).toBeGreaterThan(0);
  expect(notDone.length).toBeGreaterThan(0);
  expect(done.length + notDone.length).toBe(60);
  expect(notDone[0].reason).toMatch(/time budget/);
  expect(res.body.outcome).toMatchObject({ done: done.length, not_done: notDone.length });
  // What is reported not done is not on the backend.
  const there = new Set(await v.numbers());
  for (const i of notDone) expect(there.has(i.extension)).toBe(false);
  expect(gw.logs()).toMatch(/"audit":true[^\n]*"operation":"extension.import"/);
});

it('stops starting rows when the caller goes away, and still writes its audit line', async () => {
  const v = await slowVoipbin(100);
  const gw = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants: { acme: v.tenant } }, { requestBudgetMs: 60_000 });
  const server = http.createServer(gw.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const body = csv(200);
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/v1/tenants/acme/extensions/import?dry_run=false', headers: { ...auth, 'content-type': 'text/csv', 'content-length': Buffer.byteLength(body) } });
    req.on('error', () => undefined);
    req.end(body);
    await new Promise((r) => setTimeout(r, 1200));
    req.destroy();
    // The row in flight finishes; no other starts.
    await new Promise((r) => setTimeout(r, 1500));
    const created = (await v.numbers()).filter((n) => Number(n) >= 5000).length;
    await new Promise((r) => setTimeout(r, 1000));
    expect((await v.numbers()).filter((n) => Number(n) >= 5000).length).toBe(created);
    expect(created).toBeLessThan(20);
    const audit = gw.logs().split('\n').filter((l) => l.includes('"audit":true'));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatch(/"operation":"extension.import"[^\n]*"outcome":"client_closed"/);
    expect(gw.logs()).toMatch(/import stopped early/);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

it('stops starting rows on SIGTERM and answers what it did', async () => {
  const v = await slowVoipbin(100);
  const gw = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'] }], tenants: { acme: v.tenant } }, { requestBudgetMs: 60_000 });
  // The process's own shutdown handler (main.ts has one); the import's listens beside it.
  const shutdown = () => undefined;
  process.on('SIGTERM', shutdown);
  try {
    const pending = request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false').set(auth).set('content-type', 'text/csv').send(csv(200));
    const answered = pending.then((r) => r);
    await new Promise((r) => setTimeout(r, 1200));
    const signalled = Date.now();
    process.emit('SIGTERM');
    const res = await answered;
    expect(Date.now() - signalled).toBeLessThan(1500);
    expect(res.status).toBe(200);
    const notDone = (res.body.items as { status: string; reason?: string }[]).filter((i) => i.status === 'not_done');
    expect(notDone.length).toBeGreaterThan(150);
    expect(notDone[0].reason).toMatch(/shutting down/);
    expect(gw.logs()).toMatch(/"audit":true[^\n]*"operation":"extension.import"/);
  } finally {
    process.off('SIGTERM', shutdown);
  }
});
