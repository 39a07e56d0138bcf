/** `pbx-gateway events`: the feed of a running gateway printed as it is, and followed as it grows. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from '../../adapters/voipbin/simulator';
import { eventsCommand } from '../../src/cli-events';
import { runCli } from '../../src/cli';
import type { ChangeEvent } from '../../src/events/types';
import { buildTestGateway } from '../helpers';

const KEY = 'events-cli-test-key-000001';
const auth = { Authorization: `Bearer ${KEY}` };
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function gateway() {
  const { server } = await startVoipbinSimulator({ rateLimit: false });
  closers.push(() => server.close());
  const gw = buildTestGateway({ api_keys: [{ id: 'ops', key: KEY, tenants: ['*'], rate_limit: { requests: 0 } }], tenants: { acme: { backend: 'voipbin', base_url: `${server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, pacing: false } } });
  const listener = http.createServer(gw.app).listen(0, '127.0.0.1');
  await new Promise((r) => listener.once('listening', r));
  closers.push(() => new Promise((r) => listener.close(r)));
  listener.closeIdleConnections();
  return { gw, url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}` };
}

const sink = (onWrite: (s: string) => void) => ({ write: (s: string) => (onWrite(s), true) });
const create = (gw: { app: http.RequestListener }, n: string) => request(gw.app).post('/v1/tenants/acme/extensions').set(auth).send({ extension: n, name: `N ${n}` }).expect(201);

it('prints every event kept, as lines or one JSON object a line', async () => {
  const { gw, url } = await gateway();
  await create(gw, '5001');
  await create(gw, '5002');
  let out = '';
  expect(await runCli(['events', '--json', '--url', url, '--key', KEY], { stdout: sink((s) => (out += s)), stderr: sink(() => undefined), env: {} })).toBe(0);
  const events = out.trim().split('\n').map((l) => JSON.parse(l) as ChangeEvent);
  expect(events.map((e) => [e.type, e.data.extension, e.source])).toEqual([
    ['extension.created', '5001', 'gateway'],
    ['extension.created', '5002', 'gateway'],
  ]);
  let text = '';
  expect(await runCli(['events', '--type', 'extension.created', '--after', events[0].cursor, '--url', url, '--key', KEY], { stdout: sink((s) => (text += s)), stderr: sink(() => undefined), env: {} })).toBe(0);
  expect(text).toMatch(/acme {2}extension\.created +5002 "N 5002" {2}\(gateway key=ops\)/);
  expect(text).not.toContain('5001');
});

it('--follow waits for new events and prints them as they come', async () => {
  const { gw, url } = await gateway();
  await create(gw, '5101');
  const stop = new AbortController();
  const seen: ChangeEvent[] = [];
  const api = async <T>(method: string, path: string): Promise<T> => (await fetch(url + path, { method, headers: auth })).json() as Promise<T>;
  const following = eventsCommand(api, sink((s) => {
    seen.push(JSON.parse(s) as ChangeEvent);
    if (seen.length === 2) stop.abort();
  }), { follow: true, json: true, signal: stop.signal, waitSeconds: 5 });
  // Wait (bounded) until the backlog is printed, then write while it follows.
  for (let i = 0; i < 100 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
  await create(gw, '5102');
  expect(await following).toBe(0);
  expect(seen.map((e) => e.data.extension)).toEqual(['5101', '5102']);
});

it('is refused with --config: the events are kept by a running gateway', async () => {
  let err = '';
  expect(await runCli(['events', '--config', 'config/demo.yaml'], { stdout: sink(() => undefined), stderr: sink((s) => (err += s)), env: {} })).toBe(2);
  expect(err).toMatch(/running gateway/);
});
