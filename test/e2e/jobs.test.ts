/**
 * Imports too large for their request run as jobs (src/jobs.ts): 202 with a Location, progress and per-row results
 * at GET /v1/jobs/{id}, Idempotency-Key honoured, resumed after a backend outage, cancelled, taken up by another
 * instance sharing Redis, and audited whatever became of the request that started them.
 */
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import type { Jobs } from '../../src/jobs';
import { RedisStore } from '../../src/state/redis';
import { MemoryStore } from '../../src/state/store';
import { serveSimulator, type RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway, requireRedis, TEST_REDIS_URL, type TestGateway } from '../helpers';

const KEY = 'jobs-test-key-000000000001';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Row {
  row: number;
  extension: string;
  status: string;
  reason?: string;
}
interface Job {
  id: string;
  kind: string;
  status: string;
  progress: { total: number; done: number; failed: number; skipped: number; not_done: number };
  results: Row[];
  problem?: { type: string };
  runs: number;
}

/** A VoIPBIN (its own rate limit off: these tests are about jobs, not pacing) whose next `slowCalls` calls take `ms`. */
async function voipbin(slowCalls: number, ms: number) {
  const { sim, server } = await startVoipbinSimulator({ rateLimit: false });
  servers.push(server);
  for (let i = 0; i < slowCalls; i++) server.injectFault({ kind: 'slow', ms });
  return { sim, server, port: Number(new URL(server.url).port) };
}

const tenant = (url: string) => ({ backend: 'voipbin', base_url: `${url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false, resilience: { retries: 0, breaker_failures: 1000 } });
const csv = (rows: number, first = 5000) => 'extension,name,password\n' + Array.from({ length: rows }, (_, i) => `${first + i},Row ${i},Row-Pass-${i}-x`).join('\n') + '\n';
const config = (url: string) => ({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], rate_limit: { requests: 0 } }], tenants: { acme: tenant(url) } });

async function listNumbers(url: string, first: number, count: number): Promise<string[]> {
  const out: string[] = [];
  let token = '';
  for (;;) {
    const res = await fetch(`${url}/v1.0/extensions?accesskey=${DEMO_ACCESSKEY}&page_size=100${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    const body = (await res.json()) as { result: { extension: string }[]; next_page_token?: string };
    out.push(...body.result.map((e) => e.extension));
    if (!body.result.length || !body.next_page_token || body.result.length < 100) break;
    token = body.next_page_token;
  }
  return out.filter((n) => Number(n) >= first && Number(n) < first + count);
}

async function waitFor(gw: TestGateway, id: string, statuses: string[], timeoutMs = 30_000): Promise<Job> {
  const until = Date.now() + timeoutMs;
  let job: Job | undefined;
  while (Date.now() < until) {
    job = (await request(gw.app).get(`/v1/jobs/${id}`).set(auth).expect(200)).body as Job;
    if (statuses.includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} is ${job?.status}, not ${statuses.join(' or ')}`);
}

const jobsOf = (gw: TestGateway) => gw.app.locals.jobs as Jobs;
const auditLines = (gw: TestGateway) =>
  gw
    .logs()
    .split('\n')
    .filter((l) => l.includes('"audit":true'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

it('an import that cannot finish in its budget answers 202 with a Location, finishes as a job with per-row results, and its Idempotency-Key gives the same job', async () => {
  const v = await voipbin(1000, 40);
  const gw = buildTestGateway(config(v.server.url), { requestBudgetMs: 2000 });
  const started = Date.now();
  const res = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false').set(auth).set('Idempotency-Key', 'big-import-1').set('content-type', 'text/csv').send(csv(60));
  expect(res.status).toBe(202);
  expect(Date.now() - started).toBeLessThan(2000);
  const id = res.body.id as string;
  expect(res.headers.location).toBe(`/v1/jobs/${id}`);
  expect(res.body).toMatchObject({ kind: 'import', tenant: 'acme', status: 'running' });
  // The rows written within the request are the job's first results.
  expect(res.body.progress.done).toBeGreaterThanOrEqual(10);
  expect(res.body.progress.done).toBeLessThan(60);

  const again = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false').set(auth).set('Idempotency-Key', 'big-import-1').set('content-type', 'text/csv').send(csv(60));
  expect(again.status).toBe(202);
  expect(again.headers['idempotency-replayed']).toBe('true');
  expect(again.headers.location).toBe(`/v1/jobs/${id}`);
  expect(again.body.id).toBe(id);

  const job = await waitFor(gw, id, ['done', 'failed']);
  expect(job.status).toBe('done');
  expect(job.progress).toEqual({ total: 60, done: 60, failed: 0, skipped: 0, not_done: 0 });
  expect(job.results.map((r) => r.row)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  expect(new Set(await listNumbers(v.server.url, 5000, 60)).size).toBe(60);
  expect((await listNumbers(v.server.url, 5000, 60)).length).toBe(60);
  // No password in the job's answer.
  expect(JSON.stringify(job)).not.toContain('Row-Pass-');

  // The request is long gone: the job's own audit lines say it started and how it ended.
  await new Promise((r) => setTimeout(r, 50));
  const audit = auditLines(gw);
  expect(audit.find((l) => l.operation === 'import.job_start' && l.job === id)).toMatchObject({ key_id: 'ops', tenant: 'acme', rows: 60 });
  expect(audit.find((l) => l.operation === 'import.job_end' && l.job === id)).toMatchObject({ key_id: 'ops', tenant: 'acme', status: 'done', rows: { done: 60, failed: 0, skipped: 0, not_done: 0 } });
  expect(audit.find((l) => l.operation === 'extension.import')).toMatchObject({ target: id, status: 202 });
  // A short import is still answered inline.
  const small = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false').set(auth).set('content-type', 'text/csv').send(csv(3, 7000));
  expect(small.status).toBe(200);
  expect(small.body.outcome).toMatchObject({ done: 3 });
}, 60_000);

it('a job stopped by a backend outage is failed, and resumed after the backend is back it finishes with nothing created twice', async () => {
  const v = await voipbin(1000, 40);
  const gw = buildTestGateway(config(v.server.url), { requestBudgetMs: 5000 });
  const res = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(40));
  expect(res.status).toBe(202);
  const id = res.body.id as string;
  // Some rows done, then the backend goes away (the create in flight may or may not have landed).
  for (let i = 0; i < 200 && (await jobsOf(gw).get(id)).progress.done < 8; i++) await new Promise((r) => setTimeout(r, 25));
  await v.server.close();
  const failed = await waitFor(gw, id, ['failed', 'done']);
  expect(failed.status).toBe('failed');
  expect(failed.problem?.type).toMatch(/backend-unavailable|outcome-uncertain|backend-timeout/);
  expect(failed.progress.done).toBeGreaterThanOrEqual(8);
  expect(failed.progress.done).toBeLessThan(40);
  // The run stopped at the first fault: the rows after it were not started.
  expect(failed.progress.not_done).toBeGreaterThan(20);
  expect(failed.results.find((r) => r.status === 'not_done')?.reason).toMatch(/backend failed/);

  // The backend is back (the same records, on the same port).
  servers.push(await serveSimulator(v.sim.handle, v.port));
  const resumed = await request(gw.app).post(`/v1/jobs/${id}/resume`).set(auth).expect(202);
  expect(resumed.headers.location).toBe(`/v1/jobs/${id}`);
  const job = await waitFor(gw, id, ['done', 'failed']);
  expect(job.status).toBe('done');
  expect(job.progress).toEqual({ total: 40, done: 40, failed: 0, skipped: 0, not_done: 0 });
  expect(job.runs).toBe(2);
  const there = await listNumbers(v.server.url, 5000, 40);
  expect(there).toHaveLength(40);
  expect(new Set(there).size).toBe(40);
  await request(gw.app).post(`/v1/jobs/${id}/resume`).set(auth).expect(409);
  const ends = auditLines(gw).filter((l) => l.operation === 'import.job_end' && l.job === id);
  expect(ends.map((l) => l.status)).toEqual(['failed', 'done']);
}, 60_000);

it('a cancelled job starts no more rows and reports the rest not_done', async () => {
  const v = await voipbin(2000, 50);
  const gw = buildTestGateway(config(v.server.url));
  const res = await request(gw.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(100));
  expect(res.status).toBe(202);
  const id = res.body.id as string;
  for (let i = 0; i < 200 && (await jobsOf(gw).get(id)).progress.done < 3; i++) await new Promise((r) => setTimeout(r, 25));
  const cancelled = await request(gw.app).post(`/v1/jobs/${id}/cancel`).set(auth).expect(200);
  expect(cancelled.body.status).toBe('cancelled');
  const created = (await listNumbers(v.server.url, 5000, 100)).length;
  await new Promise((r) => setTimeout(r, 500));
  expect((await listNumbers(v.server.url, 5000, 100)).length).toBe(created);
  const job = (await request(gw.app).get(`/v1/jobs/${id}`).set(auth).expect(200)).body as Job;
  expect(job.status).toBe('cancelled');
  expect(job.progress.done).toBe(created);
  expect(job.progress.done + job.progress.not_done).toBe(100);
  expect(job.results.filter((r) => r.status === 'not_done').every((r) => /cancelled/.test(r.reason ?? ''))).toBe(true);
  await request(gw.app).post(`/v1/jobs/${id}/resume`).set(auth).expect(409);
  expect(auditLines(gw).find((l) => l.operation === 'import.job_end' && l.job === id)).toMatchObject({ status: 'cancelled' });
  expect(auditLines(gw).find((l) => l.operation === 'job.cancel')).toMatchObject({ target: id, status: 200 });
}, 30_000);

it('a job survives its instance: with Redis, another instance takes it up where it stopped', async () => {
  await requireRedis();
  const v = await voipbin(2000, 40);
  const prefix = `pbxgw-jobs-test-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}:`;
  const [store1, store2] = [new RedisStore(TEST_REDIS_URL, { prefix }), new RedisStore(TEST_REDIS_URL, { prefix })];
  const gw1 = buildTestGateway(config(v.server.url), { store: store1 });
  const gw2 = buildTestGateway(config(v.server.url), { store: store2 });
  try {
    const res = await request(gw1.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(50));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    // The other instance sees the job, run by the first.
    expect((await request(gw2.app).get(`/v1/jobs/${id}`).set(auth).expect(200)).body.status).toBe('running');
    for (let i = 0; i < 200 && (await jobsOf(gw1).get(id)).progress.done < 5; i++) await new Promise((r) => setTimeout(r, 25));
    // The first instance stops (as on SIGTERM): its run is left interrupted, with its lease given back.
    await jobsOf(gw1).close();
    const stopped = (await request(gw2.app).get(`/v1/jobs/${id}`).set(auth).expect(200)).body as Job;
    expect(['interrupted', 'running']).toContain(stopped.status);
    expect(stopped.progress.done).toBeLessThan(50);
    // Nobody asks: the second instance takes it up by itself.
    const job = await waitFor(gw2, id, ['done', 'failed'], 40_000);
    expect(job.status).toBe('done');
    expect(job.progress).toEqual({ total: 50, done: 50, failed: 0, skipped: 0, not_done: 0 });
    const there = await listNumbers(v.server.url, 5000, 50);
    expect(there).toHaveLength(50);
    expect(new Set(there).size).toBe(50);
    // Each instance audited its own run: the first its start and its stop, the second its start and its end.
    expect(auditLines(gw1).filter((l) => l.job === id).map((l) => `${String(l.operation)}:${String(l.status ?? '')}`)).toEqual(['import.job_start:', 'import.job_end:interrupted']);
    expect(auditLines(gw2).filter((l) => l.job === id).map((l) => `${String(l.operation)}:${String(l.status ?? '')}`)).toEqual(['import.job_start:', 'import.job_end:done']);
  } finally {
    await Promise.all([jobsOf(gw1).close(), jobsOf(gw2).close()]);
    await Promise.all([store1.close(), store2.close()]);
  }
}, 60_000);

it('an app built again on the same store (a config reload) takes over the running jobs', async () => {
  const v = await voipbin(2000, 40);
  const store = new MemoryStore();
  const gw1 = buildTestGateway(config(v.server.url), { store });
  const res = await request(gw1.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(30));
  expect(res.status).toBe(202);
  const id = res.body.id as string;
  for (let i = 0; i < 200 && (await jobsOf(gw1).get(id)).progress.done < 3; i++) await new Promise((r) => setTimeout(r, 25));
  const gw2 = buildTestGateway(config(v.server.url), { store });
  const job = await waitFor(gw2, id, ['done', 'failed']);
  expect(job).toMatchObject({ status: 'done', runs: 2, progress: { total: 30, done: 30, not_done: 0 } });
  const there = await listNumbers(v.server.url, 5000, 30);
  expect(new Set(there).size).toBe(30);
  expect(there).toHaveLength(30);
  expect(auditLines(gw1).filter((l) => l.job === id).map((l) => l.status ?? 'start')).toEqual(['start', 'interrupted']);
  expect(auditLines(gw2).filter((l) => l.job === id).map((l) => l.status ?? 'start')).toEqual(['start', 'done']);
}, 30_000);

it('keeps /v1/migrations/{id} for migrations: a migration can be cancelled there; an import job is not a migration', async () => {
  const source = await voipbin(0, 0);
  const target = await voipbin(2000, 40);
  source.sim.seed(Array.from({ length: 40 }, (_, i) => ({ extension: String(6000 + i), name: `Moved ${i}` })));
  const gw = buildTestGateway({
    api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
    tenants: { src: tenant(source.server.url), dst: tenant(target.server.url) },
  });
  const started = await request(gw.app).post('/v1/migrations').set(auth).send({ from: 'src', to: 'dst', dry_run: false, passwords: 'generate' }).expect(202);
  const id = started.body.id as string;
  expect(started.headers.location).toBe(`/v1/migrations/${id}`);
  expect(started.body).toMatchObject({ kind: 'migration', from: 'src', to: 'dst', tenant: 'dst' });
  for (let i = 0; i < 200 && (await jobsOf(gw).get(id)).progress.done < 2; i++) await new Promise((r) => setTimeout(r, 25));
  const cancelled = await request(gw.app).post(`/v1/migrations/${id}/cancel`).set(auth).expect(200);
  expect(cancelled.body.status).toBe('cancelled');
  expect(cancelled.body.progress.done + cancelled.body.progress.not_done).toBe(40);
  // The same job at /v1/jobs/{id}.
  expect((await request(gw.app).get(`/v1/jobs/${id}`).set(auth).expect(200)).body.status).toBe('cancelled');
  const imported = await request(gw.app).post('/v1/tenants/dst/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(2));
  expect(imported.status).toBe(202);
  await request(gw.app).get(`/v1/migrations/${imported.body.id}`).set(auth).expect(404);
  await waitFor(gw, imported.body.id, ['done']);
  expect(auditLines(gw).find((l) => l.operation === 'migration.job_end' && l.job === id)).toMatchObject({ status: 'cancelled', tenant: 'dst', from: 'src', key_id: 'ops' });
}, 30_000);

it('a cancel asked of another instance reaches the one running the job', async () => {
  await requireRedis();
  const v = await voipbin(2000, 40);
  const prefix = `pbxgw-jobs-cancel-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}:`;
  const [store1, store2] = [new RedisStore(TEST_REDIS_URL, { prefix }), new RedisStore(TEST_REDIS_URL, { prefix })];
  const gw1 = buildTestGateway(config(v.server.url), { store: store1 });
  const gw2 = buildTestGateway(config(v.server.url), { store: store2 });
  try {
    const res = await request(gw1.app).post('/v1/tenants/acme/extensions/import?dry_run=false&async=true').set(auth).set('content-type', 'text/csv').send(csv(100));
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    for (let i = 0; i < 200 && (await jobsOf(gw1).get(id)).progress.done < 3; i++) await new Promise((r) => setTimeout(r, 25));
    const asked = await request(gw2.app).post(`/v1/jobs/${id}/cancel`).set(auth).expect(202);
    expect(asked.body).toMatchObject({ status: 'running', cancel_requested: true });
    const job = await waitFor(gw2, id, ['cancelled', 'done', 'failed'], 20_000);
    expect(job.status).toBe('cancelled');
    expect(job.progress.not_done).toBeGreaterThan(50);
    const created = (await listNumbers(v.server.url, 5000, 100)).length;
    expect(job.progress.done).toBe(created);
  } finally {
    await Promise.all([jobsOf(gw1).close(), jobsOf(gw2).close()]);
    await Promise.all([store1.close(), store2.close()]);
  }
}, 30_000);
