import { validators } from '../../src/schemas';
import { int, parseCallerId, toCallSummary, toCanonical, toDevice, toQueues, toVoicemail } from './map';

// The vendor document's example extension, as sent.
const seedExtension = {
  extension_id: 1, extension: '100', name: 'Jhone Doe', language: 'en', email: null, class_of_service_id: 1,
  internal_cid: '"Jhone Doe" <100>', external_cid: '"Jhone Doe" <100>', ringtime: 0, nospy: false,
  mailbox: '100@vitalpbx-voicemail', accountcode: null, features_password: '*56437', tenant_id: 1,
  devices: [{ device_id: '3', extension_id: '3', profile_id: '1', user: '100', secret: '100', description: 'Jhone Doe', ring_device: 'yes', technology: 'sip', assigned_exten: '100', tenant_id: '1', device_name: '100' }],
  queues_info: { queues: [1], queues_name: ['Q500'], queues_penalty: ['0'] },
};

describe('VitalPBX mapping', () => {
  it('maps the seed extension, keeping secrets out of vendor', () => {
    const ext = toCanonical(seedExtension, 'branch', 'vital.example.com');
    expect(validators.extension(ext)).toBe(true);
    expect(ext).toMatchObject({ id: '1', extension: '100', name: 'Jhone Doe', description: null, username: '100', password: '100', domain: 'vital.example.com', direct_uri: null });
    const vendor = JSON.stringify(ext.vendor);
    expect(vendor).not.toContain('"secret"');
    expect(vendor).not.toContain('*56437');
    expect(ext.vendor).toMatchObject({ mailbox: '100@vitalpbx-voicemail', queues_info: seedExtension.queues_info });
  });

  it('falls back to the caller-ID name and survives missing devices', () => {
    const ext = toCanonical({ extension_id: '7', extension: 107, name: null, internal_cid: '"Front Desk" <107>', devices: null }, 't', null);
    expect(ext).toMatchObject({ id: '7', extension: '107', name: 'Front Desk', username: null });
    expect(ext.password).toBeUndefined();
  });

  it.each([
    ['"Jhone Doe" <100>', { name: 'Jhone Doe', number: '100' }],
    ['Demo<1519>', { name: 'Demo', number: '1519' }],
    ['<200>', { name: null, number: '200' }],
    ['Plain Name', { name: 'Plain Name', number: null }],
    [null, { name: null, number: null }],
  ])('parses the caller ID %p', (input, expected) => {
    expect(parseCallerId(input)).toEqual(expected);
  });

  it('reads numbers that arrive as strings', () => {
    expect([int(3), int('3'), int(' 12 '), int(''), int(null), int('x1'), int(1.5)]).toEqual([3, 3, 12, null, null, null, null]);
  });

  it('maps a device with string ids', () => {
    expect(toDevice(seedExtension.devices[0])).toEqual({ id: '3', name: '100', username: '100', technology: 'sip', password: '100' });
  });

  it('maps queues from parallel arrays, either key', () => {
    const fromRoute = toQueues({ queues_id: [1, 2], queues_name: ['Q500', 'Q501'], queues_penalty: ['0', '2'] });
    expect(fromRoute).toEqual([{ id: '1', name: 'Q500', penalty: 0 }, { id: '2', name: 'Q501', penalty: 2 }]);
    expect(toQueues(seedExtension.queues_info)).toEqual([{ id: '1', name: 'Q500', penalty: 0 }]);
    expect(toQueues(null)).toEqual([]);
  });

  it('maps the call summary strings to numbers', () => {
    expect(toCallSummary({ local: '45', incoming: '29', outgoing: '4', transit: '0' })).toEqual({ local: 45, incoming: 29, outgoing: 4, transit: 0 });
  });

  const inbox = { date: '1565987730', clid: 'Demo<1519>', priority: '2', vmorig: '2000', duration: '9', recfile: '/static/43b4/voicemail/2000/INBOX/msg0000.wav', filename: 'msg0000.txt' };
  const old = { date: '1513443087', clid: 'X-Lite<7502>', priority: '2', vmorig: '2000', duration: '8', recfile: '/static/43b4/voicemail/2000/Old/msg0000.wav', filename: 'msg0000.txt' };
  const old2 = { ...old, date: '1513443100', recfile: '/static/43b4/voicemail/2000/Old/msg0001.wav', filename: 'msg0001.txt' };

  it('flattens the folder shape, a bare record or a list per folder', () => {
    const msgs = toVoicemail({ INBOX: inbox, Old: [old, old2] });
    expect(msgs.map((m) => m.id)).toEqual(['INBOX/msg0000', 'Old/msg0001', 'Old/msg0000']);
    expect(msgs[0]).toEqual({ id: 'INBOX/msg0000', folder: 'INBOX', caller_id: 'Demo<1519>', received_at: '2019-08-16T20:35:30.000Z', duration_s: 9, recording_path: inbox.recfile });
    msgs.forEach((m) => expect(validators.voicemailMessage(m)).toBe(true));
  });

  it('reads the array shape, taking the folder from the recording path', () => {
    expect(toVoicemail([old, inbox]).map((m) => [m.folder, m.id])).toEqual([
      ['INBOX', 'INBOX/msg0000'],
      ['Old', 'Old/msg0000'],
    ]);
    expect(toVoicemail([])).toEqual([]);
    expect(toVoicemail(null)).toEqual([]);
  });
});
