import { directUri, mergedPutBody, parseTimestamp, registrarDomain, toCanonical, type VoipbinExtension } from './map';

describe('parseTimestamp: VoIPBIN three timestamp styles', () => {
  it.each([
    ['2026-01-15T09:30:00.123456Z', '2026-01-15T09:30:00.123Z'],
    ['2026-01-15T09:30:00Z', '2026-01-15T09:30:00.000Z'],
    ['2026-01-15T11:30:00.5+02:00', '2026-01-15T09:30:00.500Z'],
    ['2021-02-18 12:42:27.688282', '2021-02-18T12:42:27.688Z'],
    ['2021-02-18 12:42:27', '2021-02-18T12:42:27.000Z'],
    ['', null],
    [null, null],
    [undefined, null],
    ['9999-01-01 00:00:00.000000', null],
    ['not a date', null],
    ['2021-13-45 99:99:99', null],
    ['2024-02-29T23:59:59.999999Z', '2024-02-29T23:59:59.999Z'],
    ['2026-01-15T09:30:00.12Z', '2026-01-15T09:30:00.120Z'],
    // Current servers trim the fraction's trailing zeros, and drop it when it is zero.
    ['2026-01-15T09:30:00.1Z', '2026-01-15T09:30:00.100Z'],
    ['2026-01-15T09:30:00.1234Z', '2026-01-15T09:30:00.123Z'],
    ['2026-01-15T09:30:00.00001Z', '2026-01-15T09:30:00.000Z'],
    ['2026-02-29T09:30:00Z', null],
    ['2026-01-15T09:30:00.Z', null],
    ['2026-11-29T17:07:19.835000Z', '2026-11-29T17:07:19.835Z'],
    ['2026-12-31T23:59:59.999999Z', '2026-12-31T23:59:59.999Z'],
    // A day that does not exist is no timestamp (a Date round trip would roll it over into the next month).
    ['2026-02-29T10:00:00.000000Z', null],
    ['2026-04-31T10:00:00.000000Z', null],
    ['2021-02-30 12:42:27.688282', null],
    ['2100-02-29 00:00:00', null],
    ['2000-02-29 00:00:00', '2000-02-29T00:00:00.000Z'],
  ])('%p -> %p', (input, expected) => {
    expect(parseTimestamp(input)).toBe(expected);
  });

  it('answers the same on the fast path (UTC with a fraction) as a Date round trip', () => {
    for (let i = 0; i < 2000; i++) {
      const ms = Date.UTC(2000, 0, 1) + Math.floor(Math.random() * 40 * 365 * 86_400_000);
      const iso = new Date(ms).toISOString(); // 2031-05-06T07:08:09.123Z
      const micros = `${iso.slice(0, 23)}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}Z`;
      expect(parseTimestamp(micros)).toBe(iso);
      // The same instant as Go renders it, trailing zeros trimmed: the same answer.
      const trimmed = micros.replace(/\.?0+Z$/, 'Z');
      expect(parseTimestamp(trimmed)).toBe(iso);
    }
  });
});

describe('registrarDomain', () => {
  const cid = '5e4a0680-804e-11ec-8477-2fea5968d85b';
  it('builds <customer>.registrar.voipbin.net from a UUID domain_name (current servers)', () => {
    expect(registrarDomain({ id: 'x', domain_name: cid })).toBe(`${cid}.registrar.voipbin.net`);
  });
  it('keeps an FQDN domain_name (the seeds)', () => {
    expect(registrarDomain({ id: 'x', domain_name: `${cid}.registrar.voipbin.net` })).toBe(`${cid}.registrar.voipbin.net`);
  });
  it('falls back to customer_id, then null', () => {
    expect(registrarDomain({ id: 'x', customer_id: cid })).toBe(`${cid}.registrar.voipbin.net`);
    expect(registrarDomain({ id: 'x' })).toBeNull();
  });
});

describe('toCanonical', () => {
  // The seed's own example of an extension (older server).
  const seed: VoipbinExtension = {
    id: 'e1491290-c61c-4349-a7ff-5890c796b61b',
    customer_id: '5e4a0680-804e-11ec-8477-2fea5968d85b',
    name: 'test domain',
    detail: 'test domain creation',
    extension: 'test12',
    domain_name: '5e4a0680-804e-11ec-8477-2fea5968d85b.registrar.voipbin.net',
    username: 'test12',
    password: '27a4d0f2-757c-11eb-bc8f-4f045857b89c',
    direct_hash: '',
    tm_create: '2021-03-21 11:24:26.485161',
    tm_update: '',
    tm_delete: '',
  };

  it('maps the seed payload', () => {
    const ext = toCanonical(seed, 'acme');
    expect(ext).toEqual({
      id: seed.id,
      tenant: 'acme',
      backend: 'voipbin',
      extension: 'test12',
      name: 'test domain',
      description: 'test domain creation',
      username: 'test12',
      password: seed.password,
      domain: '5e4a0680-804e-11ec-8477-2fea5968d85b.registrar.voipbin.net',
      direct_uri: null,
      created_at: '2021-03-21T11:24:26.485Z',
      updated_at: null,
      vendor: expect.any(Object),
    });
    expect(ext.vendor).not.toHaveProperty('password');
    expect(ext.vendor).toMatchObject({ customer_id: seed.customer_id, direct_hash: '' });
  });

  it('maps a current payload: null timestamps, direct hash, empty detail', () => {
    const ext = toCanonical({ ...seed, detail: '', direct_hash: 'f7e8d9c0b1a2', tm_update: null, tm_delete: null, tm_create: '2026-01-15T09:30:00.123456Z' }, 't');
    expect(ext.direct_uri).toBe('sip:direct.f7e8d9c0b1a2@sip.voipbin.net');
    expect(ext.description).toBeNull();
    expect(ext.created_at).toBe('2026-01-15T09:30:00.123Z');
  });

  it('maps a current direct hash, which already carries the direct. prefix, without doubling it', () => {
    const ext = toCanonical({ ...seed, direct_hash: 'direct.4f9c0e2a1b3d' }, 't');
    expect(ext.direct_uri).toBe('sip:direct.4f9c0e2a1b3d@sip.voipbin.net');
  });

  it.each([
    ['direct.a1b2c3d4e5f6', 'sip:direct.a1b2c3d4e5f6@sip.voipbin.net'],
    ['a1b2c3d4e5f6', 'sip:direct.a1b2c3d4e5f6@sip.voipbin.net'],
    ['', null],
    [undefined, null],
  ])('directUri(%p) -> %p', (hash, uri) => {
    expect(directUri(hash)).toBe(uri);
  });

  it('takes username from extension when the server leaves it out (seed-era list answers)', () => {
    const { username: _u, ...noUser } = seed;
    expect(toCanonical(noUser, 't').username).toBe('test12');
  });
});

describe('mergedPutBody: PUT replaces all three fields', () => {
  const current: VoipbinExtension = { id: 'x', name: 'Old', detail: 'Old detail', password: 'Old-Pass-1' };
  it('keeps what the patch leaves out', () => {
    expect(mergedPutBody(current, { name: 'New' })).toEqual({ name: 'New', detail: 'Old detail', password: 'Old-Pass-1' });
    expect(mergedPutBody(current, { password: 'New-Pass-2' })).toEqual({ name: 'Old', detail: 'Old detail', password: 'New-Pass-2' });
  });
  it('clears the description on null', () => {
    expect(mergedPutBody(current, { description: null })).toEqual({ name: 'Old', detail: '', password: 'Old-Pass-1' });
  });
});
