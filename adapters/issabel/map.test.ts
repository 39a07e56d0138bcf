import { validators } from '../../src/schemas';
import { bool, int, members, numberFromLocation, str, toCanonical, toDevice, toIssabelBody, toRingGroup } from './map';

describe('Issabel mapping', () => {
  // v2 full view: every scalar a string.
  const v2 = {
    extension: '1002', name: 'Maria Granuja', tech: 'sip', dial: 'SIP/1002', secret: 'eec8ef4d15658f6b167910404d3cbdb0', context: 'from-internal',
    sip_alias: '', language: '', voicemail: { enabled: 'yes', pin: '4321', email: '' }, extension_options: { ring_time: '30' },
  };

  it('maps a v2 record: number as id and username, PBX host as domain, secret as password', () => {
    const ext = toCanonical(v2, 'hq', 'pbx.example.com');
    expect(validators.extension(ext)).toBe(true);
    expect(ext).toMatchObject({ id: '1002', extension: '1002', username: '1002', name: 'Maria Granuja', description: null, domain: 'pbx.example.com', password: v2.secret });
    const vendor = JSON.stringify(ext.vendor);
    expect(vendor).not.toContain(v2.secret);
    expect(vendor).not.toContain('4321');
    expect(ext.vendor).toMatchObject({ dial: 'SIP/1002', voicemail: { enabled: 'yes' } });
  });

  it('maps a v1 record with raw types', () => {
    expect(toCanonical({ extension: 1003, name: 'Pedro', secret: 'x', tech: 'sip' }, 'hq', null)).toMatchObject({ id: '1003', extension: '1003' });
  });

  it('reads Issabel scalars', () => {
    expect([str(''), str('a'), str(30), str(null)]).toEqual([null, 'a', '30', null]);
    expect([int('30'), int(''), int(30), int('3x')]).toEqual([30, null, 30, null]);
    expect([bool('yes'), bool('no'), bool('1'), bool(''), bool('maybe')]).toEqual([true, false, true, false, null]);
  });

  it('maps the extension as its one device', () => {
    expect(toDevice(v2)).toEqual({ id: '1002', name: 'SIP/1002', username: '1002', technology: 'sip', password: v2.secret });
  });

  it('writes password as secret, and reload:false only when asked', () => {
    expect(toIssabelBody({ name: 'N', password: 'P' })).toEqual({ name: 'N', secret: 'P' });
  });

  it('reads the number from Location, with or without an echoed query', () => {
    expect(numberFromLocation('https://pbx/pbxapi/extensions/1006')).toBe('1006');
    expect(numberFromLocation('/pbxapi/extensions/1006?reload=false')).toBe('1006');
    // POST appends the number to the whole request URI, query string included (extensions.php post()).
    expect(numberFromLocation('http://127.0.0.1:8765/pbxapi/extensions?x=1/1006')).toBe('1006');
    expect(numberFromLocation('https://pbx/pbxapi/extensions/')).toBeNull();
    expect(numberFromLocation(undefined)).toBeNull();
  });

  it('maps ring groups, members as an array or a dash string', () => {
    const g = toRingGroup({ id: '600', extension: '600', name: 'Sales', strategy: 'ringall', ring_time: '20', extension_list: ['200', '201'] }, 'hq');
    expect(validators.ringGroup(g)).toBe(true);
    expect(g).toMatchObject({ id: '600', members: ['200', '201'], ring_time: 20 });
    expect(members('200-201-202')).toEqual(['200', '201', '202']);
    expect(toRingGroup({ extension: '601', name: 'x', ring_time: '' }, 'hq').ring_time).toBeNull();
  });
});
