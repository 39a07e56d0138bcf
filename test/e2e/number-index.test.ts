/**
 * The tenant's index of numbers (src/number-index.ts) against the VoIPBIN simulator: it saves the walk before a
 * create, and never costs a right answer. Another client's create of the same number is still a 409 with one
 * extension, whether it came before the index was stale or raced the create itself; a stale "taken" never
 * refuses a free number. Two gateways on one VoIPBIN account stand for two gateway instances (each its own index)
 * or another client.
 */
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { buildTestGateway } from '../helpers';

const KEY = 'number-index-test-key-001';
const auth = { Authorization: `Bearer ${KEY}` };

async function setup() {
  const v = await startVoipbinSimulator({ rateLimit: false });
  v.sim.seed([{ extension: '100', name: 'A' }, { extension: '101', name: 'B' }, { extension: '102', name: 'C' }]);
  const gateway = () =>
    buildTestGateway({
      api_keys: [{ id: 'k', key: KEY, tenants: ['*'], scopes: ['read', 'write', 'secrets'], rate_limit: { requests: 0 } }],
      tenants: { cloud: { backend: 'voipbin', base_url: `${v.server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false } },
    });
  const [a, b] = [gateway(), gateway()];
  const create = (gw: typeof a, extension: string, name = 'Mine') => request(gw.app).post('/v1/tenants/cloud/extensions').set(auth).send({ extension, name });
  const calls = async (fn: () => Promise<unknown>) => {
    const before = v.sim.calls.length;
    await fn();
    return v.sim.calls.length - before;
  };
  /** The live extensions holding `number`, as VoIPBIN lists them. */
  const holding = async (number: string) => {
    const res = await request(b.app).get('/v1/tenants/cloud/extensions?page_size=500').set(auth).expect(200);
    return (res.body.items as { extension: string; name: string }[]).filter((e) => e.extension === number);
  };
  return { v, a, b, create, calls, holding, close: () => v.server.close() };
}

let s: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => (s = await setup()));
afterEach(() => s.close());

it('a number another client took after the index was built: 409 through VoIPBIN\'s own refusal, one extension', async () => {
  await s.create(s.a, '500').expect(201); // builds a's index
  s.v.sim.seed([{ extension: '501', name: 'Other client' }]);
  // The index says free; VoIPBIN refuses the duplicate (500), the adapter looks the number up: someone else's.
  expect(await s.calls(() => s.create(s.a, '501').expect(409))).toBe(2); // the create + one list page (newest first)
  expect(await s.holding('501')).toEqual([expect.objectContaining({ name: 'Other client' })]);
});

it('a number another client takes between the check and the create: 409, one extension', async () => {
  s.v.sim.raceNextCreate({ extension: '510', name: 'Other client' });
  await s.create(s.a, '510').expect(409);
  expect(await s.holding('510')).toEqual([expect.objectContaining({ name: 'Other client' })]);
});

it('another gateway instance creates the number: 409 from this one, one extension', async () => {
  await s.create(s.a, '520').expect(201);
  await s.create(s.b, '521', 'Instance B').expect(201);
  await s.create(s.a, '521').expect(409);
  expect(await s.holding('521')).toEqual([expect.objectContaining({ name: 'Instance B' })]);
});

it('two instances create the same number at once: one 201, one 409, one extension', async () => {
  await Promise.all([s.create(s.a, '530').expect(201), s.create(s.b, '531').expect(201)]); // both indexes warm
  const answers = await Promise.all([s.create(s.a, '532', 'From A'), s.create(s.b, '532', 'From B')]);
  expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
  const winner = answers.find((r) => r.status === 201)!.body.name;
  expect(await s.holding('532')).toEqual([expect.objectContaining({ name: winner })]);
});

it('a number deleted elsewhere is free again: the index reads a stale "taken" again before refusing', async () => {
  const first = await s.create(s.a, '540').expect(201);
  await request(s.b.app).delete(`/v1/tenants/cloud/extensions/${first.body.id}`).set(auth).expect(204);
  // a's index still holds 540 (from its own create): read again (the whole list, 4 extensions: 2 pages), free.
  expect(await s.calls(() => s.create(s.a, '540', 'Again').expect(201))).toBe(3);
  expect(await s.holding('540')).toEqual([expect.objectContaining({ name: 'Again' })]);
});

it("the gateway's own deletes free the number in its index: the next create is one call", async () => {
  const one = await s.create(s.a, '550').expect(201);
  await request(s.a.app).delete(`/v1/tenants/cloud/extensions/${one.body.id}`).set(auth).expect(204);
  expect(await s.calls(() => s.create(s.a, '550').expect(201))).toBe(1);
  const [x, y] = [await s.create(s.a, '551').expect(201), await s.create(s.a, '552').expect(201)];
  await request(s.a.app).delete(`/v1/tenants/cloud/extensions?ids=${x.body.id},${y.body.id}`).set(auth).expect(200);
  expect(await s.calls(() => s.create(s.a, '551').expect(201))).toBe(1);
  expect(await s.calls(() => s.create(s.a, '552').expect(201))).toBe(1);
  // And its own creates take the number: a second create of it is a 409 read from a fresh walk (stops at page 1).
  expect(await s.calls(() => s.create(s.a, '552').expect(409))).toBe(1);
});
