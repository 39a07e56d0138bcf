/** Several gateway instances sharing one Redis act as one: one login, one renewal, one rate-limit budget. */
import request from 'supertest';
import { DEMO_USER as ISSABEL_USER, startIssabelSimulator } from '../../adapters/issabel/simulator';
import { DEMO_USER as VOIPBIN_USER, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { RedisStore } from '../../src/state/redis';
import type { RunningSimulator } from '../../src/simulator-kit';
import { buildTestGateway, requireRedis, TEST_REDIS_URL } from '../helpers';

const REDIS = TEST_REDIS_URL;
beforeAll(() => requireRedis());
const KEY = 'shared-state-test-key-0001';
const auth = { Authorization: `Bearer ${KEY}` };
const servers: RunningSimulator[] = [];
const stores: RedisStore[] = [];
afterEach(async () => {
  await Promise.all([...servers.splice(0).map((s) => s.close()), ...stores.splice(0).map((s) => s.close())]);
});

/** Two instances, each with its own Redis connection, and a tenant name unique to this run. */
function twoGateways(tenantConfig: object, extra: object = {}) {
  const tenant = `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
  const config = { api_keys: [{ id: `k-${tenant}`, key: KEY, tenants: ['*'], ...extra }], tenants: { [tenant]: tenantConfig } };
  const make = () => {
    const store = new RedisStore(REDIS);
    stores.push(store);
    return buildTestGateway(config, { store }).app;
  };
  return { tenant, a: make(), b: make() };
}

it('Issabel: two instances log in once, and renew once when fifty requests across both find the token expired', async () => {
  const { sim, server } = await startIssabelSimulator();
  servers.push(server);
  sim.seed([{ extension: '1000', name: 'Reception' }]);
  // Not paced: fifty requests at once (a hundred calls with the replays) within the test's 5 s budget are the point.
  const { tenant, a, b } = twoGateways({ backend: 'issabel', base_url: `${server.url}/pbxapi`, auth: ISSABEL_USER, pacing: false });
  await request(a).get(`/v1/tenants/${tenant}/extensions`).set(auth).expect(200);
  await request(b).get(`/v1/tenants/${tenant}/extensions`).set(auth).expect(200);
  expect(sim.counters.logins).toBe(1);
  sim.expireAccessTokens();
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => request(i % 2 ? a : b).get(`/v1/tenants/${tenant}/extensions/1000`).set(auth)));
  expect(answers.map((r) => r.status)).toEqual(Array(50).fill(200));
  expect(sim.counters.renewals).toBe(1);
  expect(sim.counters.logins).toBe(1);
});

it('VoIPBIN: two instances share one login token', async () => {
  const { sim, server } = await startVoipbinSimulator();
  servers.push(server);
  const { tenant, a, b } = twoGateways({ backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: VOIPBIN_USER });
  await request(a).get(`/v1/tenants/${tenant}/extensions`).set(auth).expect(200);
  await request(b).get(`/v1/tenants/${tenant}/extensions`).set(auth).expect(200);
  expect(sim.calls.filter((c) => c.path === '/auth/login')).toHaveLength(1);
});

it('one rate-limit budget per key across instances', async () => {
  const { server } = await startVoipbinSimulator();
  servers.push(server);
  const { a, b } = twoGateways({ backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: VOIPBIN_USER }, { rate_limit: { requests: 4, window_s: 60 } });
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await request(i % 2 ? a : b).get('/v1/tenants').set(auth)).status);
  expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
});
