/**
 * A migration interrupted by a crash (the gateway process killed mid-run), resumed by another instance that
 * shares its Redis: what was done is skipped, what landed unrecorded is recognised, nothing is created twice.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import request from 'supertest';
import { DEMO_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { RedisStore } from '../../src/state/redis';
import { buildTestGateway, requireRedis, TEST_REDIS_URL } from '../helpers';

const KEY = 'migration-resume-key-000001';

it('resumes after the process running it was killed, skipping what is done', async () => {
  await requireRedis();
  const source = await startVoipbinSimulator();
  const target = await startIssabelSimulator();
  const count = 40;
  source.sim.seed(Array.from({ length: count }, (_, i) => ({ extension: String(6000 + i), name: `Moved ${i}`, password: `Moved-Pass-${i}` })));
  // Make the target slow, so the run is still going when the process is killed.
  for (let i = 0; i < 400; i++) target.server.injectFault({ kind: 'slow', ms: 25 });
  // Names unique to this run: the Redis store (and the backend sessions in it) outlive the test.
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
  const [SRC, DST] = [`src${run}`, `dst${run}`];
  const tenants = {
    [SRC]: { backend: 'voipbin', base_url: `${source.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY } },
    [DST]: { backend: 'issabel', base_url: `${target.server.url}/pbxapi`, auth: DEMO_USER },
  };
  const config = { server: { port: 0 }, logging: { level: 'info' }, state: { redis_url: TEST_REDIS_URL }, api_keys: [{ id: 'm', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'] }], tenants };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-'));
  const file = path.join(dir, 'gw.json.yaml');
  fs.writeFileSync(file, JSON.stringify(config));
  const root = path.resolve(__dirname, '../..');
  const child = spawn(process.execPath, [path.join(root, 'dist/src/main.js'), '--config', file], { cwd: root, env: { PATH: process.env.PATH } });
  const store = new RedisStore(TEST_REDIS_URL);
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(out)));
    });
    const started = await fetch(`${url}/v1/migrations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: SRC, to: DST, dry_run: false }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The lease would lapse in 15 s: let it lapse now.
    await redis.del(`pbxgw:job:${id}:lease`);

    const gw = buildTestGateway(config, { store });
    const auth = { Authorization: `Bearer ${KEY}` };
    const interrupted = await request(gw.app).get(`/v1/migrations/${id}`).set(auth).expect(200);
    expect(interrupted.body.status).toBe('interrupted');
    const doneBefore = interrupted.body.progress.done as number;
    expect(doneBefore).toBeGreaterThan(0);
    expect(doneBefore).toBeLessThan(count);

    await request(gw.app).post(`/v1/migrations/${id}/resume`).set(auth).expect(202);
    let state = interrupted.body;
    for (let i = 0; i < 400 && state.status !== 'done' && state.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = (await request(gw.app).get(`/v1/migrations/${id}`).set(auth).expect(200)).body;
    }
    expect(state.status).toBe('done');
    expect(state.progress).toMatchObject({ total: count, done: count, failed: 0 });
    expect(new Set(state.results.map((r: { row: number }) => r.row)).size).toBe(count);
    for (let i = 0; i < count; i++) expect(target.sim.raw(String(6000 + i))).toMatchObject({ name: `Moved ${i}`, secret: `Moved-Pass-${i}` });
    const creates = target.sim.calls.filter((c) => c.method === 'PUT' && /\/extensions\/6\d{3}$/.test(c.path));
    // One PUT per extension, plus at most one replay of the PUT that was in flight when the process died.
    expect(creates.length).toBeLessThanOrEqual(count + 1);
    await request(gw.app).post(`/v1/migrations/${id}/resume`).set(auth).expect(409);
  } finally {
    child.kill('SIGKILL');
    await Promise.all([source.server.close(), target.server.close(), store.close()]);
    redis.disconnect();
  }
}, 60_000);
