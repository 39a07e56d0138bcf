import type { RunningSimulator } from '../../src/simulator-kit';
import { DEMO_USER, FOLLOWME_ON, IssabelSimulator, startIssabelSimulator, type IssabelSimOptions } from './simulator';

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const servers: RunningSimulator[] = [];

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

interface Backend { sim: IssabelSimulator; url: string; token: string }

/** A fresh simulator over real HTTP, already logged in. */
async function start(opts?: IssabelSimOptions): Promise<Backend> {
  const { sim, server } = await startIssabelSimulator(opts, 0);
  servers.push(server);
  const token = (await login(server.url)).json.access_token as string;
  return { sim, url: server.url, token };
}

interface CallOpts { token?: string; body?: unknown; raw?: string; contentType?: string }

/** JSON bodies go out with `Content-Type: application/json` exactly, as the real server wants. */
async function call(url: string, method: string, path: string, opts: CallOpts = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(new URL(path, url), { method, headers, body: payload });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function login(url: string, user = DEMO_USER.user, password = DEMO_USER.password) {
  return call(url, 'POST', '/pbxapi/authenticate', { raw: new URLSearchParams({ user, password }).toString(), contentType: 'application/x-www-form-urlencoded' });
}

/** Every leaf of an answer, with its dotted path. */
function leaves(v: unknown, path = ''): [string, unknown][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, `${path}[${i}]`));
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => leaves(x, path ? `${path}.${k}` : k));
  return [[path, v]];
}

describe('Issabel simulator: authentication', () => {
  it('logs in with form fields and with JSON (user or username); tokens are JWT-shaped and unique', async () => {
    const { sim, url } = await start();
    const form = await login(url);
    expect(form.status).toBe(200);
    expect(form.json).toEqual({ access_token: expect.stringMatching(JWT), expires_in: 3600, refresh_token: expect.stringMatching(JWT), token_type: 'Bearer' });
    const byUser = await call(url, 'POST', '/pbxapi/authenticate', { body: { user: DEMO_USER.user, password: DEMO_USER.password } });
    const byUsername = await call(url, 'POST', '/pbxapi/authenticate', { body: { username: DEMO_USER.user, password: DEMO_USER.password } });
    expect(byUser.status).toBe(200);
    expect(byUsername.status).toBe(200);
    const tokens = [form, byUser, byUsername].flatMap((r) => [r.json.access_token, r.json.refresh_token]);
    expect(new Set(tokens).size).toBe(6);
    expect(sim.counters.logins).toBe(4); // start() logged in once too
    const short = await start({ accessTtlMs: 200 });
    expect((await login(short.url)).json.expires_in).toBe(1);
  });

  it('answers bad credentials with 403 and an empty body', async () => {
    const { sim, url } = await start();
    for (const res of [
      await login(url, DEMO_USER.user, 'wrong'),
      await call(url, 'POST', '/pbxapi/authenticate', { body: { user: 'nobody', password: DEMO_USER.password } }),
      await call(url, 'POST', '/pbxapi/authenticate', { body: {} }),
    ]) {
      expect(res.status).toBe(403);
      expect(res.text).toBe('');
    }
    expect(sim.counters.logins).toBe(1);
  });

  it('answers a missing, unknown or badly signed token with 403 and an empty body', async () => {
    const { url, token } = await start();
    const [h, p] = token.split('.');
    for (const t of [undefined, 'nonsense', `${h}.${p}.AAAA`]) {
      const res = await call(url, 'GET', '/pbxapi/extensions', { token: t });
      expect(res.status).toBe(403);
      expect(res.text).toBe('');
    }
    expect((await call(url, 'GET', '/pbxapi/extensions', { token })).status).toBe(200);
  });

  it('answers an expired token with HTTP 200 {"status": "expired"} and no Content-Type by default', async () => {
    const { sim, url, token } = await start();
    sim.expireAccessTokens();
    const res = await call(url, 'GET', '/pbxapi/extensions', { token });
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"status": "expired"}');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/); // echoed by hand: PHP's default type
  });

  it('answers an expired token in the other styles: 500 HTML, 403 empty (no 401 form)', async () => {
    const s500 = await start({ expiredStyle: 'http500' });
    const s403 = await start({ expiredStyle: 'http403' });
    for (const b of [s500, s403]) b.sim.expireAccessTokens();
    const r500 = await call(s500.url, 'GET', '/pbxapi/extensions', { token: s500.token });
    expect(r500.status).toBe(500);
    expect(r500.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r500.text).toMatch(/ExpiredException/);
    const r403 = await call(s403.url, 'GET', '/pbxapi/ringgroups', { token: s403.token });
    expect(r403.status).toBe(403);
    expect(r403.text).toBe('');
  });

  it('renews with the refresh token (an expired access token is fine); the old access token stops working', async () => {
    const { sim, url } = await start();
    const first = (await login(url)).json;
    sim.expireAccessTokens();
    const renew = (r: string, a: string) => call(url, 'GET', `/pbxapi/authenticate/renewtoken?refresh_token=${r}&access_token=${a}`);
    const res = await renew(first.refresh_token, first.access_token);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'authorized', access_token: expect.stringMatching(JWT), refresh_token: expect.stringMatching(JWT), expires_in: 3600 });
    expect(res.json.access_token).not.toBe(first.access_token);
    expect(sim.counters.renewals).toBe(1);
    expect((await call(url, 'GET', '/pbxapi/extensions', { token: res.json.access_token })).status).toBe(200);
    const old = await call(url, 'GET', '/pbxapi/extensions', { token: first.access_token });
    expect(old.status).toBe(403);
    // The renewed access token cannot be renewed again; an unknown one is refused the same way.
    expect((await renew(first.refresh_token, first.access_token)).json).toEqual({ status: 'unauthorized' });
    expect((await renew(res.json.refresh_token, 'not.a.token')).json).toEqual({ status: 'unauthorized' });
    expect(sim.counters.renewals).toBe(1);
  });

  it('answers renewal with an expired refresh token with {"status":"expired","type":"refresh"}', async () => {
    const { sim, url } = await start();
    const tokens = (await login(url)).json;
    sim.expireRefreshTokens();
    const res = await call(url, 'GET', `/pbxapi/authenticate/renewtoken?refresh_token=${tokens.refresh_token}&access_token=${tokens.access_token}`);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'expired', type: 'refresh' });
    // The access token itself is still valid: only refresh tokens were expired.
    expect((await call(url, 'GET', '/pbxapi/extensions', { token: tokens.access_token })).status).toBe(200);
  });
});

describe('Issabel simulator: extensions', () => {
  it('answers with every scalar a string; a single GET is the full view in a one-element array', async () => {
    const { sim, url, token } = await start();
    sim.seedDemo();
    const one = await call(url, 'GET', '/pbxapi/extensions/1000', { token });
    expect(one.status).toBe(200);
    expect(one.json.status).toBe('success');
    expect(one.json.results).toHaveLength(1);
    const rec = one.json.results[0];
    expect(rec).toMatchObject({
      extension: '1000', name: 'Reception', tech: 'sip', dial: 'SIP/1000', context: 'from-internal', sip_alias: '', language: '',
      callerid_override: { emergency: '', outbound: '', internal: '1000' },
      voicemail: { enabled: 'no' },
      extension_options: { ring_time: '0', call_waiting: 'yes' },
      recording: { inbound_external: 'dontcare', inbound_internal: 'dontcare', outbound_external: 'dontcare', outbound_internal: 'dontcare', ondemand: 'no', priority: '0' },
      // pbxapi's own sip keywords, under GET's names (extensions.php create_param and $field_map)
      device_options: { dtmf_mode: 'rfc2833', qualify_frequency: '60', mailbox: '1000@device', callerid: 'device <1000>' },
      followme: { enabled: 'no', ring_time: '30', initial_ring_time: '0', extension_list: ['1000'] },
      dictation: { enabled: 'no' },
    });
    for (const [path, v] of leaves(one.json)) expect([path, typeof v]).toEqual([path, 'string']);
    expect(sim.raw('1000')?.extension_options).toMatchObject({ ring_time: 0 });
  });

  it('lists in numeric order with the default view; ?fields=* or a field list adds the rest', async () => {
    const { sim, url, token } = await start();
    sim.seed([{ extension: '10000', name: 'Big' }, { extension: '900', name: 'Small', tech: 'pjsip', secret: 's3cret' }, { extension: '1000', name: 'Mid' }]);
    const list = await call(url, 'GET', '/pbxapi/extensions', { token });
    expect(list.json.results.map((r: { extension: string }) => r.extension)).toEqual(['900', '1000', '10000']);
    expect(list.json.results[0]).toEqual({ extension: '900', name: 'Small', tech: 'pjsip', dial: 'PJSIP/900', secret: 's3cret', context: 'from-internal' });
    const all = await call(url, 'GET', '/pbxapi/extensions?fields=*', { token });
    expect(all.json.results[0].recording.inbound_external).toBe('dontcare');
    expect(all.json.results[0].device_options).toMatchObject({ dtmf_mode: 'rfc2833', max_contacts: '1', transport: 'transport-udp' });
    const some = await call(url, 'GET', '/pbxapi/extensions?fields=language,voicemail.enabled', { token });
    expect(Object.keys(some.json.results[1]).sort()).toEqual(['context', 'dial', 'extension', 'language', 'name', 'secret', 'tech', 'voicemail']);
    expect(some.json.results[1].voicemail).toEqual({ enabled: 'no' });
  });

  it('answers a missing extension with 200 and "results": []', async () => {
    const { url, token } = await start();
    const res = await call(url, 'GET', '/pbxapi/extensions/4242', { token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'success', results: [] });
  });

  it('POST picks the first gap above the lowest number: 201, Location, no body', async () => {
    const { sim, url, token } = await start();
    // No extension at all: pbxapi picks no number and fails inserting the device (an HTML 500, nothing created).
    const empty = await call(url, 'POST', '/pbxapi/extensions', { token, body: { name: 'First' } });
    expect(empty.status).toBe(500);
    expect(empty.headers.get('content-type')).toMatch(/^text\/html/);
    expect(sim.has('1000')).toBe(false);
    sim.seed([{ extension: '1001', name: 'b' }, { extension: '1003', name: 'd' }, { extension: '2000', name: 'far' }]);
    const gap = await call(url, 'POST', '/pbxapi/extensions', { token, body: { name: 'Gap' } });
    expect(gap.status).toBe(201);
    expect(gap.text).toBe('');
    expect(gap.headers.get('location')).toMatch(/\/pbxapi\/extensions\/1002$/);
    const next = await call(url, 'POST', '/pbxapi/extensions?trace=1', { token, body: { name: 'Next', tech: 'pjsip', voicemail: { enabled: 'yes', pin: 1234 } } });
    // POST appends the number to the whole request URI, query string included.
    expect(next.headers.get('location')).toMatch(/\/pbxapi\/extensions\?trace=1\/1004$/);
    expect(sim.raw('1004')).toMatchObject({ name: 'Next', tech: 'pjsip', dial: 'PJSIP/1004', voicemail: { enabled: 'yes' } });
    expect(sim.raw('1004')?.secret).toMatch(/^[0-9a-f]{32}$/);
    const chosen = await call(url, 'POST', '/pbxapi/extensions', { token, body: { extension: '3000', name: 'Chosen', reload: false } });
    expect(chosen.headers.get('location')).toMatch(/\/3000$/);
    expect(sim.has('3000')).toBe(true);
  });

  it('validates: duplicate 409, digits, tech, recording values, JSON and Content-Type; name is optional', async () => {
    const { sim, url, token } = await start();
    sim.seed([{ extension: '1000', name: 'Taken' }]);
    sim.seedRingGroups([{ extension: '600', name: 'Sales', extension_list: ['1000'] }]);
    const post = (body: unknown, extra: CallOpts = {}) => call(url, 'POST', '/pbxapi/extensions', { token, body, ...extra });
    for (const n of ['1000', '600']) {
      const dup = await post({ extension: n, name: 'Again' });
      expect(dup.status).toBe(409);
      expect(dup.json).toEqual({ status: 'fail', errors: [{ status: '409', detail: 'Extension number already in use' }] });
    }
    expect((await post({ extension: '12a', name: 'x' })).json.errors).toEqual([{ status: '422', detail: 'Only digits allowed', source: 'extension' }]);
    expect((await post({ name: 'x', tech: 'skinny' })).json.errors).toEqual([{ status: '422', detail: 'Not in list of allowed values', source: 'tech' }]);
    const rec = await post({ name: 'x', recording: { inbound_external: 'sometimes' } });
    expect(rec.status).toBe(422);
    expect(rec.json.errors[0].source).toBe('recording.inbound_external');
    expect((await post({ extension: '1500' })).status).toBe(201); // name is optional: "Extension"
    expect(sim.raw('1500')?.name).toBe('Extension');
    const bad = await post(undefined, { raw: '{"name": oops' });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0].detail).toBe('Could not decode JSON');
    expect((await post(undefined, { raw: '' })).status).toBe(400); // an empty JSON body does not decode either
  });

  it('reads a JSON body sent with another Content-Type as form fields, like PHP (so it is lost)', async () => {
    const { sim, url, token } = await start();
    sim.seed([{ extension: '1000', name: 'First' }]);
    const res = await call(url, 'POST', '/pbxapi/extensions', { token, body: { name: 'Lost' }, contentType: 'application/json; charset=utf-8' });
    expect(res.status).toBe(201);
    expect(sim.raw('1001')?.name).toBe('Extension'); // the name sent was lost
    const form = await call(url, 'POST', '/pbxapi/extensions', { token, raw: 'name=Form%20Body&extension=1100', contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(201);
    expect(sim.raw('1100')?.name).toBe('Form Body');
  });

  it('PUT creates a free number (201, Location, no body) and updates an existing one (200, empty, tech kept)', async () => {
    const { sim, url, token } = await start();
    const created = await call(url, 'PUT', '/pbxapi/extensions/1005', { token, body: { name: 'Daniel', secret: 'unaclave', tech: 'iax2' } });
    expect(created.status).toBe(201);
    expect(created.text).toBe('');
    expect(created.headers.get('location')).toMatch(/\/pbxapi\/extensions\/1005$/);
    const updated = await call(url, 'PUT', '/pbxapi/extensions/1005', { token, body: { secret: 'other', tech: 'pjsip', extension: '9999', recording: { ondemand: 'enabled' } } });
    expect(updated.status).toBe(200);
    expect(updated.text).toBe('');
    expect(sim.raw('1005')).toMatchObject({ extension: '1005', name: 'Daniel', secret: 'other', tech: 'iax2', dial: 'IAX2/1005', recording: { ondemand: 'enabled', inbound_external: 'dontcare' } });
    expect(sim.has('9999')).toBe(false);
    expect((await call(url, 'PUT', '/pbxapi/extensions/abc', { token, body: { name: 'x' } })).status).toBe(422);
    expect((await call(url, 'PUT', '/pbxapi/extensions/1006', { token, body: {} })).status).toBe(201); // name optional
  });

  it('an update is not a merge: Follow-Me, dictation, the emergency caller id and foreign device keywords go unless sent', async () => {
    const { sim, url, token } = await start();
    sim.seed([{ extension: '200', name: 'Alice', tech: 'sip', settings: {
      callerid_override: { emergency: '5550000911' }, followme: FOLLOWME_ON('200'),
      dictation: { enabled: 'yes', email: 'a@example.com', format: 'ogg' }, device_options: { rtcp_mux: 'yes' },
    } }]);
    const before = (await call(url, 'GET', '/pbxapi/extensions/200', { token })).json.results[0];
    // The body the gateway sends: the displayed name, the emergency id in digits, Follow-Me and dictation enabled.
    const keep = { name: 'Alice 2', callerid_override: { emergency: '5550000911' }, followme: { enabled: 'yes' }, dictation: { enabled: 'yes' } };
    expect((await call(url, 'PUT', '/pbxapi/extensions/200', { token, body: keep })).status).toBe(200);
    const kept = (await call(url, 'GET', '/pbxapi/extensions/200', { token })).json.results[0];
    const { rtcp_mux: _gone, ...otherOptions } = before.device_options;
    expect(kept).toEqual({ ...before, name: 'Alice 2', device_options: otherOptions }); // only the keyword outside pbxapi's list went
    // A bare rename (what the gateway used to send) erases them.
    expect((await call(url, 'PUT', '/pbxapi/extensions/200', { token, body: { name: 'Alice 3' } })).status).toBe(200);
    const bare = (await call(url, 'GET', '/pbxapi/extensions/200', { token })).json.results[0];
    expect(bare.callerid_override.emergency).toBe('');
    expect(bare.followme).toEqual({ enabled: 'no', ring_time: '30', initial_ring_time: '0', extension_list: ['200'] });
    expect(bare.dictation).toEqual({ enabled: 'no' });
    // Follow-Me enabled without its row fails half-way with a PHP error page.
    const half = await call(url, 'PUT', '/pbxapi/extensions/200', { token, body: { followme: { enabled: 'yes' } } });
    expect(half.status).toBe(500);
  });

  it('DELETE of a comma list is not atomic: earlier numbers go, the first missing one is a 404', async () => {
    const { sim, url, token } = await start();
    sim.seed(['1000', '1001', '1003'].map((extension) => ({ extension, name: extension })));
    const res = await call(url, 'DELETE', '/pbxapi/extensions/1000,1002,1003', { token, body: {} });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ status: 'fail', errors: [{ status: '404', detail: 'Could not find a record to delete' }] });
    expect(sim.has('1000')).toBe(false);
    expect(sim.has('1001')).toBe(true);
    expect(sim.has('1003')).toBe(true);
    const ok = await call(url, 'DELETE', '/pbxapi/extensions/1001,1003', { token, body: {} });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('');
    expect(sim.has('1001') || sim.has('1003')).toBe(false);
    // Lenient about a missing body; a body that is sent must decode.
    sim.seed([{ extension: '1010', name: 'x' }]);
    expect((await call(url, 'DELETE', '/pbxapi/extensions/1010', { token })).status).toBe(200);
    expect((await call(url, 'DELETE', '/pbxapi/extensions/1010', { token, raw: '{' })).status).toBe(400);
  });

  it('counts apply-changes runs: reload false and "false" skip it, integer 0 still reloads, DELETE always', async () => {
    const { sim, url, token } = await start();
    const put = (n: string, body: Record<string, unknown>) => call(url, 'PUT', `/pbxapi/extensions/${n}`, { token, body: { name: n, ...body } });
    await put('1000', {});
    expect(sim.counters.reloads).toBe(1);
    await put('1001', { reload: false });
    await put('1002', { reload: 'false' });
    await put('1000', { reload: false }); // an update too
    expect(sim.counters.reloads).toBe(1);
    await put('1003', { reload: 0 });
    await put('1004', { reload: true });
    await put('1005', { reload: 'true' });
    expect(sim.counters.reloads).toBe(4);
    await call(url, 'DELETE', '/pbxapi/extensions/1004,1005', { token, body: { reload: false } });
    expect(sim.counters.reloads).toBe(5);
    await call(url, 'DELETE', '/pbxapi/extensions/4242', { token, body: {} }); // failed: no reload
    await call(url, 'POST', '/pbxapi/extensions', { token, body: { extension: '1000', name: 'dup' } }); // 409: no reload
    expect(sim.counters.reloads).toBe(5);
  });
});

describe('Issabel simulator: ring groups', () => {
  it('lists the default view and gets the full one, all strings, members as an array', async () => {
    const { sim, url, token } = await start();
    sim.seedDemo();
    const list = await call(url, 'GET', '/pbxapi/ringgroups', { token });
    expect(list.json.results[0]).toEqual({
      id: '600', name: 'Sales', extension: '600', extension_list: ['1001', '1002'], strategy: 'ringall', change_callerid: 'default', fixed_callerid: '',
    });
    const one = await call(url, 'GET', '/pbxapi/ringgroups/601', { token });
    expect(one.json.results[0]).toMatchObject({
      name: 'Support', strategy: 'hunt', ring_time: '30', destination_if_no_answer: 'app-blackhole,hangup,1', music_on_hold_ringing: 'Ring',
      enable_call_pickup: 'no', recording: 'dontcare', cid_name_prefix: '', announce_id: '', alert_info: '', confirm_calls: 'no',
      skip_busy_agent: 'no', ignore_call_forward_settings: 'no',
    });
    for (const [path, v] of leaves(one.json)) expect([path, typeof v]).toEqual([path, 'string']);
    expect((await call(url, 'GET', '/pbxapi/ringgroups?fields=*', { token })).json.results[1].ring_time).toBe('30');
    const missing = await call(url, 'GET', '/pbxapi/ringgroups/699', { token });
    expect(missing.status).toBe(404);
    expect(missing.json.errors[0]).toEqual({ status: '404', detail: 'Record not found' });
  });

  it('creates with POST (extension_list required, defaults, next free number) and validates', async () => {
    const { sim, url, token } = await start();
    const post = (body: unknown) => call(url, 'POST', '/pbxapi/ringgroups', { token, body });
    const missing = await post({ name: 'No members' });
    expect(missing.status).toBe(422);
    expect(missing.json.errors).toEqual([{ status: '422', detail: 'Required field missing', source: 'extension_list' }]);
    const first = await post({ name: 'Sales', extension_list: ['200', 201] });
    expect(first.status).toBe(201);
    expect(first.text).toBe('');
    expect(first.headers.get('location')).toMatch(/\/pbxapi\/ringgroups\/600$/);
    const second = await post({ name: 'Dash list', extension_list: '300-301' });
    expect(second.headers.get('location')).toMatch(/\/601$/);
    const got = (await call(url, 'GET', '/pbxapi/ringgroups/601', { token })).json.results[0];
    expect(got).toMatchObject({ extension_list: ['300', '301'], strategy: 'ringall', ring_time: '20', destination_if_no_answer: 'app-blackhole,hangup,1' });
    const invalid = await post({ extension_list: ['1'], strategy: 'random', ring_time: 301 });
    expect(invalid.status).toBe(422);
    expect(invalid.json.errors).toEqual([
      { status: '422', detail: 'Not in list of allowed values', source: 'strategy' },
      { status: '422', detail: 'Valid range: 1-300', source: 'ring_time' },
    ]);
    expect((await post({ extension: '601', extension_list: ['1'] })).status).toBe(409);
    expect(sim.counters.reloads).toBe(2);
  });

  it('PUT updates only the fields sent and is 404 on a missing number (v2)', async () => {
    const { sim, url, token } = await start();
    sim.seedRingGroups([{ extension: '600', name: 'Sales', extension_list: ['1001', '1002'], strategy: 'hunt', ring_time: 45 }]);
    const res = await call(url, 'PUT', '/pbxapi/ringgroups/600', { token, body: { name: 'NewName', extension_list: ['1003'] } });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    const got = (await call(url, 'GET', '/pbxapi/ringgroups/600', { token })).json.results[0];
    expect(got).toMatchObject({ name: 'NewName', extension_list: ['1003'], strategy: 'hunt', ring_time: '45' });
    expect((await call(url, 'PUT', '/pbxapi/ringgroups/600', { token, body: { ring_time: '0' } })).json.errors[0].source).toBe('ring_time');
    const missing = await call(url, 'PUT', '/pbxapi/ringgroups/650', { token, body: { name: 'x', extension_list: ['1'] } });
    expect(missing.status).toBe(404);
    expect(missing.json.errors[0].detail).toBe('Could not find a record to update');
  });

  it('DELETE takes a comma list with the same partial behaviour', async () => {
    const { url, token, sim } = await start();
    sim.seedRingGroups(['600', '602'].map((extension) => ({ extension, name: extension, extension_list: ['1000'] })));
    const res = await call(url, 'DELETE', '/pbxapi/ringgroups/600,601,602', { token, body: {} });
    expect(res.status).toBe(404);
    expect((await call(url, 'GET', '/pbxapi/ringgroups', { token })).json.results.map((r: { id: string }) => r.id)).toEqual(['602']);
    expect((await call(url, 'DELETE', '/pbxapi/ringgroups/602', { token, body: {} })).status).toBe(200);
  });
});

describe('Issabel simulator: routing', () => {
  it('answers unknown routes and methods with an HTML 404 page, before authentication', async () => {
    const { url, token } = await start();
    for (const [method, path] of [['GET', '/pbxapi/queues'], ['PATCH', '/pbxapi/extensions/1000'], ['GET', '/'], ['GET', '/pbxapi/extensions/1/2']]) {
      const res = await call(url, method, path, { token: method === 'GET' ? undefined : token });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.text).toMatch(/<h1>Not Found<\/h1>/);
    }
  });

  it('records every call, and the handler works without a server', () => {
    const sim = new IssabelSimulator({ users: [{ user: 'u', password: 'p' }], host: 'pbx.example.com' });
    const res = sim.handle({ method: 'POST', path: '/pbxapi/authenticate', query: {}, headers: {}, body: 'user=u&password=p' });
    expect(res.status).toBe(200);
    const token = (res.body as { access_token: string }).access_token;
    const put = sim.handle({
      method: 'PUT', path: '/pbxapi/extensions/77', query: {},
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: { name: 'Seven' },
    });
    expect(put).toMatchObject({ status: 201, headers: { Location: 'https://pbx.example.com/pbxapi/extensions/77' } });
    expect(put.body).toBeUndefined();
    expect(sim.calls).toEqual([{ method: 'POST', path: '/pbxapi/authenticate' }, { method: 'PUT', path: '/pbxapi/extensions/77' }]);
  });
});
