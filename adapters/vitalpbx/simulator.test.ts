import type { RunningSimulator } from '../../src/simulator-kit';
import { DEMO_APP_KEY, VitalpbxSimulator, startVitalpbxSimulator, type VitalpbxSimOptions } from './simulator';

const servers: RunningSimulator[] = [];

async function start(opts?: VitalpbxSimOptions): Promise<{ sim: VitalpbxSimulator; url: string }> {
  const { sim, server } = await startVitalpbxSimulator(opts, 0);
  servers.push(server);
  return { sim, url: server.url };
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Call with the demo app-key unless `key: null`; `tenant: null` leaves the tenant header out. */
async function call(url: string, path: string, opts: { method?: string; key?: string | null; tenant?: string | null; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.key !== null) headers['app-key'] = opts.key ?? DEMO_APP_KEY;
  if (opts.tenant !== null) headers.tenant = opts.tenant ?? 'vitalpbx';
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, url), { method: opts.method ?? 'GET', headers, body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
  const text = await res.text();
  return { status: res.status, text, json: (text ? JSON.parse(text) : undefined) as any };
}

const extensionsOf = (res: { json: any }) => (res.json.data as { extension: string }[]).map((e) => e.extension);

describe('VitalPBX simulator', () => {
  let sim: VitalpbxSimulator;
  let url: string;
  beforeAll(async () => {
    ({ sim, url } = await start());
    sim.seedDemo();
  });

  describe('authentication', () => {
    it('refuses a missing or unknown app-key with a 401 error envelope', async () => {
      for (const key of [null, 'vpbx_wrong']) {
        const res = await call(url, '/api/v2/extensions', { key });
        expect(res.status).toBe(401);
        expect(res.json).toMatchObject({ status: 'error', data: null });
        expect(typeof res.json.message).toBe('string');
        expect(res.json.message.length).toBeGreaterThan(0);
      }
    });

    it('accepts any configured key', async () => {
      const other = await start({ appKeys: ['k1', 'k2'] });
      expect((await call(other.url, '/api/v2/extensions', { key: 'k2' })).status).toBe(200);
      expect((await call(other.url, '/api/v2/extensions')).status).toBe(401);
    });
  });

  describe('tenants', () => {
    it('isolates tenants, addressed by name or by id; no header means the default tenant', async () => {
      const byName1 = await call(url, '/api/v2/extensions', { tenant: 'vitalpbx' });
      const byId1 = await call(url, '/api/v2/extensions', { tenant: '1' });
      const byName2 = await call(url, '/api/v2/extensions', { tenant: 'branch2' });
      const byId2 = await call(url, '/api/v2/extensions', { tenant: '2' });
      const none = await call(url, '/api/v2/extensions', { tenant: null });
      expect(extensionsOf(byName1)).toEqual(['100', '101', '102', '103', '104']);
      expect(byId1.json).toEqual(byName1.json);
      expect(extensionsOf(byName2)).toEqual(['2001', '2002', '2003']);
      expect(byId2.json).toEqual(byName2.json);
      expect(none.json).toEqual(byName1.json);
      expect(byName2.json.data.every((e: { tenant_id: number }) => e.tenant_id === 2)).toBe(true);
      expect(byName2.json.data[0].mailbox).toBe('2001@branch2-voicemail');
    });

    it("answers another tenant's extension id as not found, on the record and its sub-resources", async () => {
      const [foreign] = sim.seed('branch2', [{ extension: '2100', name: 'Hidden' }]);
      for (const sub of ['', '/devices', '/queues', '/cdr_summary', '/voicemail_records']) {
        const res = await call(url, `/api/v2/extensions/${foreign}${sub}`, { tenant: 'vitalpbx' });
        expect(res.status).toBe(404);
        expect(res.json).toMatchObject({ status: 'error', data: null });
        expect(res.json.message).toMatch(/not found/i);
      }
      expect((await call(url, `/api/v2/extensions/${foreign}`, { tenant: null })).status).toBe(404);
      expect((await call(url, `/api/v2/extensions/${foreign}`, { tenant: 'branch2' })).status).toBe(200);
      expect((await call(url, '/api/v2/extensions/999999')).status).toBe(404);
    });

    it('answers an unknown tenant with a 403 error envelope', async () => {
      const res = await call(url, '/api/v2/extensions', { tenant: 'nobody' });
      expect(res.status).toBe(403);
      expect(res.json).toMatchObject({ status: 'error', data: null });
      expect(res.json.message).toMatch(/tenant/i);
    });
  });

  describe('extensions', () => {
    it('lists everything of the tenant ordered by extension_id, with the seed document shape and types', async () => {
      const res = await call(url, '/api/v2/extensions');
      expect(res.status).toBe(200);
      expect(res.json.status).toBe('success');
      expect(res.json.message).toBeNull();
      const ids = res.json.data.map((e: { extension_id: number }) => e.extension_id);
      expect(ids).toEqual([...ids].sort((a: number, b: number) => a - b));
      const rec = res.json.data[0];
      expect(rec).toMatchObject({
        extension: '100', name: 'Reception', language: 'en', email: null, class_of_service_id: 1, call_limit: 0,
        internal_cid: '"Reception" <100>', external_cid: '"Reception" <100>', emergency_cid: '"Reception" <100>',
        ringtime: 0, nospy: false, answermode: 'disable', mailbox: '100@vitalpbx-voicemail', accountcode: null,
        secretary: null, internal_rec: true, dictate_format: 'ogg', tenant_id: 1, context: 'cos-all', has_analog_devices: false,
      });
      expect(typeof rec.extension_id).toBe('number');
      expect(rec.features_password).toMatch(/^\*\d{5}$/);
      expect(rec.devices).toHaveLength(2);
      expect(rec.devices[0]).toMatchObject({ extension_id: String(rec.extension_id), user: '100_1', device_name: '100_1', technology: 'pjsip', tenant_id: '1', assigned_exten: '100' });
      expect(typeof rec.devices[0].device_id).toBe('string');
      expect(rec.devices[1]).toMatchObject({ device_name: '100_1_2', assigned_exten: null });
      expect(rec.queues_info).toEqual({ queues: [1, 2], queues_name: ['Q500', 'Q501'], queues_penalty: ['0', '1'] });
      const plain = res.json.data.find((e: { extension: string }) => e.extension === '104');
      expect(plain.queues_info).toEqual({ queues: [], queues_name: [], queues_penalty: [] });
    });

    it('gets one extension as a one-element array (trailing slash tolerated)', async () => {
      const [id] = sim.seed(1, [{ extension: '150', name: 'Lobby', secret: 'pw-150' }]);
      const res = await call(url, `/api/v2/extensions/${id}/`);
      expect(res.status).toBe(200);
      expect(res.json.status).toBe('success');
      expect(res.json.data).toHaveLength(1);
      expect(res.json.data[0]).toMatchObject({ extension_id: Number(id), extension: '150', name: 'Lobby' });
      expect(res.json.data[0].devices[0].secret).toBe('pw-150');
    });

    it('answers a non-numeric id with HTTP 200 and status "error"', async () => {
      for (const path of ['/api/v2/extensions/abc', '/api/v2/extensions/1x/devices']) {
        const res = await call(url, path);
        expect(res.status).toBe(200);
        expect(res.json.status).toBe('error');
        expect(res.json.message).toMatch(/invalid extension id/i);
        expect(res.json.data).toBeNull();
      }
    });

    it('refuses every write method with the unknown-route 404 envelope and changes nothing', async () => {
      const before = (await call(url, '/api/v2/extensions')).json;
      const cases: [string, string][] = [['POST', '/api/v2/extensions'], ['PUT', '/api/v2/extensions/1'], ['PATCH', '/api/v2/extensions/1'], ['DELETE', '/api/v2/extensions/1']];
      for (const [method, path] of cases) {
        const res = await call(url, path, { method, body: method === 'DELETE' ? undefined : { extension: '900', name: 'x' } });
        expect(res.status).toBe(404);
        expect(res.json).toEqual({ status: 'error', message: 'Not Found', data: null });
      }
      expect((await call(url, '/api/v2/extensions')).json).toEqual(before);
      expect((await call(url, '/api/v2/trunks')).status).toBe(404);
    });
  });

  describe('sub-resources', () => {
    let reception: number;
    let sales: number;
    beforeAll(async () => {
      const data = (await call(url, '/api/v2/extensions')).json.data as { extension: string; extension_id: number }[];
      reception = data.find((e) => e.extension === '100')!.extension_id;
      sales = data.find((e) => e.extension === '101')!.extension_id;
    });

    it('devices: string ids, plaintext secrets', async () => {
      const res = await call(url, `/api/v2/extensions/${reception}/devices`);
      expect(res.json.status).toBe('success');
      expect(res.json.message).toBeNull();
      expect(res.json.data).toHaveLength(2);
      for (const d of res.json.data) {
        expect(d).toEqual({
          device_id: expect.stringMatching(/^\d+$/), extension_id: String(reception), profile_id: '1', user: expect.any(String),
          secret: expect.any(String), description: 'Reception', ring_device: 'yes', technology: 'pjsip',
          assigned_exten: d.assigned_exten, tenant_id: '1', device_name: d.user,
        });
      }
    });

    it('queues: parallel arrays, numeric ids and string penalties', async () => {
      const res = await call(url, `/api/v2/extensions/${reception}/queues`);
      expect(res.json.data).toEqual({ queues_id: [1, 2], queues_name: ['Q500', 'Q501'], queues_penalty: ['0', '1'] });
    });

    it('cdr_summary: counts as strings, zeros when never seeded', async () => {
      expect((await call(url, `/api/v2/extensions/${reception}/cdr_summary`)).json.data).toEqual({ local: '45', incoming: '29', outgoing: '4', transit: '0' });
      const [id] = sim.seed('vitalpbx', [{ extension: '160', name: 'Quiet' }]);
      expect((await call(url, `/api/v2/extensions/${id}/cdr_summary`)).json.data).toEqual({ local: '0', incoming: '0', outgoing: '0', transit: '0' });
    });

    it('voicemail_records by folder: a bare record for one message, a list for several, empty folders left out', async () => {
      sim.voicemailShape = 'folders';
      const data = (await call(url, `/api/v2/extensions/${reception}/voicemail_records`)).json.data;
      expect(Object.keys(data)).toEqual(['INBOX', 'Old']);
      expect(Array.isArray(data.INBOX)).toBe(false);
      expect(data.INBOX).toEqual({
        date: '1565987730', clid: '"Demo" <1519>', priority: '2', vmorig: '100', duration: '9',
        recfile: expect.stringMatching(/^\/static\/[0-9a-f]{16}\/voicemail\/100\/INBOX\/msg0000\.wav$/), filename: 'msg0000.txt',
      });
      expect(Array.isArray(data.Old)).toBe(true);
      expect(data.Old.map((r: { filename: string }) => r.filename)).toEqual(['msg0000.txt', 'msg0001.txt']);
      expect((await call(url, `/api/v2/extensions/${sales}/voicemail_records`)).json.data.Urgent.duration).toBe('42');
    });

    it('voicemail_records as an array, and empty in both shapes', async () => {
      sim.voicemailShape = 'array';
      try {
        const data = (await call(url, `/api/v2/extensions/${reception}/voicemail_records`)).json.data;
        expect(Array.isArray(data)).toBe(true);
        expect(data.map((r: { recfile: string }) => r.recfile.split('/').slice(-2).join('/'))).toEqual(['INBOX/msg0000.wav', 'Old/msg0000.wav', 'Old/msg0001.wav']);
        const [id] = sim.seed(1, [{ extension: '170', name: 'No mail', voicemail: [{ folder: 'INBOX', clid: '"A" <1>', date: '2024-01-01T00:00:00Z', duration: 3 }] }]);
        expect((await call(url, `/api/v2/extensions/${id}/voicemail_records`)).json.data[0].date).toBe('1704067200');
        const [empty] = sim.seed(1, [{ extension: '171', name: 'Empty' }]);
        expect((await call(url, `/api/v2/extensions/${empty}/voicemail_records`)).json.data).toEqual([]);
        sim.voicemailShape = 'folders';
        // PHP encodes an empty associative array as [].
        expect((await call(url, `/api/v2/extensions/${empty}/voicemail_records`)).json.data).toEqual([]);
      } finally {
        sim.voicemailShape = 'folders';
      }
    });

    it('honours the voicemailShape option', async () => {
      const arr = await start({ voicemailShape: 'array' });
      const [id] = arr.sim.seed('vitalpbx', [{ extension: '100', name: 'A', voicemail: [{ folder: 'Old', clid: '"B" <2>', date: '1', duration: 1 }] }]);
      expect(Array.isArray((await call(arr.url, `/api/v2/extensions/${id}/voicemail_records`)).json.data)).toBe(true);
    });
  });

  it('records every call with the tenant header it carried', () => {
    expect(sim.calls).toContainEqual({ method: 'GET', path: '/api/v2/extensions', tenant: 'branch2' });
    expect(sim.calls).toContainEqual({ method: 'DELETE', path: '/api/v2/extensions/1', tenant: 'vitalpbx' });
    const bare = sim.calls.find((c) => c.tenant === undefined);
    expect(bare).toBeDefined();
    expect('tenant' in bare!).toBe(false);
  });

  it('takes custom tenants, the first being the default, and refuses to seed an unknown one', async () => {
    const custom = await start({ tenants: [{ id: 7, name: 'acme' }, { id: 9, name: 'globex' }] });
    custom.sim.seedDemo();
    const none = await call(custom.url, '/api/v2/extensions', { tenant: null });
    expect(none.json.data[0]).toMatchObject({ tenant_id: 7, mailbox: '100@acme-voicemail' });
    expect(none.json.data[0].devices[0].device_name).toBe('100_7');
    expect(extensionsOf(await call(custom.url, '/api/v2/extensions', { tenant: '9' }))).toEqual(['2001', '2002', '2003']);
    expect(() => custom.sim.seed('nope', [])).toThrow(/unknown tenant/);
  });

  it('answers the handler directly (the nock path) with the same envelopes', () => {
    const direct = new VitalpbxSimulator();
    const [id] = direct.seed(2, [{ extension: '500', name: 'Direct' }]);
    const res = direct.handle({ method: 'GET', path: `/api/v2/extensions/${id}`, query: {}, headers: { 'app-key': DEMO_APP_KEY, tenant: 'branch2' }, body: undefined });
    expect(res.status).toBe(200);
    expect((res.body as any).data[0].tenant_id).toBe(2);
    const refused = direct.handle({ method: 'GET', path: '/api/v2/extensions', query: {}, headers: {}, body: undefined });
    expect(refused).toMatchObject({ status: 401, body: { status: 'error', data: null } });
  });
});
