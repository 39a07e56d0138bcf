import { describeChange, diffRecords, explains, isTimestampBump, judgeRefusal, secretLookingSettings, show, unaskedChanges, unnamedChanges } from './diff';

describe('conformance record diff', () => {
  const before = {
    name: 'Conformance 9900 A',
    updated_at: '2026-01-01T10:00:00Z',
    vendor: {
      name: 'Conformance 9900 A',
      callerid: '"Conformance 9900 A" <9900>',
      followme: { enabled: 'yes', extension_list: ['9900', '5551234567#'], ring_time: '30' },
      dictation: { enabled: 'yes', format: 'ogg' },
      tm_update: '2026-01-01 10:00:00.000001',
    },
  };

  it('explains a rename by the name fields only, and names every other setting that changed', () => {
    const after = {
      name: 'Conformance 9900 B',
      updated_at: '2026-01-01T10:05:00Z',
      vendor: {
        name: 'Conformance 9900 B',
        callerid: '"Conformance 9900 B" <9900>',
        followme: { enabled: 'no', ring_time: '30' },
        dictation: { enabled: 'yes', format: 'ogg' },
        tm_update: '2026-01-01 10:05:00.000001',
      },
    };
    const { unasked, timestamps } = unaskedChanges(before, after, { name: { from: 'Conformance 9900 A', to: 'Conformance 9900 B' } });
    expect(unasked.map((c) => describeChange(c))).toEqual([
      'vendor.followme.enabled: "yes" -> "no"',
      'vendor.followme.extension_list: ["9900","5551234567#"] -> (absent)',
    ]);
    expect(timestamps.map((c) => c.path)).toEqual(['updated_at', 'vendor.tm_update']);
  });

  it('finds nothing when only the asked fields changed', () => {
    const after = { ...before, name: 'X1', vendor: { ...before.vendor, name: 'X1', callerid: '"X1" <9900>' } };
    expect(unaskedChanges(before, after, { name: { from: before.name, to: 'X1' } }).unasked).toEqual([]);
  });

  it('does not let a write explain a change to another value than the one asked', () => {
    expect(explains({ path: 'vendor.name', before: 'A name', after: 'Other' }, { name: { from: 'A name', to: 'B name' } })).toBe(false);
    expect(explains({ path: 'name', before: 'A name', after: 'Other' }, { name: { from: 'A name', to: 'B name' } })).toBe(false);
    // a password change explains no visible setting
    expect(unaskedChanges({ vendor: { a: '1' } }, { vendor: { a: '2' } }, {}).unasked).toHaveLength(1);
  });

  it('matches vendor forms of the asked values: strings for numbers, "" for null, arrays item by item', () => {
    expect(explains({ path: 'vendor.ring_time', before: '20', after: '25' }, { ring_time: { from: 20, to: 25 } })).toBe(true);
    expect(explains({ path: 'vendor.detail', before: '', after: 'desk' }, { description: { from: null, to: 'desk' } })).toBe(true);
    expect(explains({ path: 'vendor.extension_list', before: ['1', '2'], after: ['2'] }, { members: { from: ['1', '2'], to: ['2'] } })).toBe(true);
    expect(explains({ path: 'vendor.extension_list', before: ['1', '2'], after: ['3'] }, { members: { from: ['1', '2'], to: ['2'] } })).toBe(false);
  });

  it('counts only timestamps moving forward (or being set) as bookkeeping', () => {
    expect(isTimestampBump({ path: 'x', before: '2026-01-01T10:00:00Z', after: '2026-01-01T10:00:01Z' })).toBe(true);
    expect(isTimestampBump({ path: 'x', before: null, after: '2026-01-01 10:00:01' })).toBe(true);
    expect(isTimestampBump({ path: 'x', before: '2026-01-02T10:00:00Z', after: '2026-01-01T10:00:00Z' })).toBe(false);
    expect(isTimestampBump({ path: 'x', before: '2026-01-01T10:00:00Z', after: null })).toBe(false);
    expect(isTimestampBump({ path: 'x', before: 'yes', after: 'no' })).toBe(false);
  });

  it('compares arrays of objects item by item', () => {
    expect(diffRecords({ d: [{ a: 1 }, { a: 2 }] }, { d: [{ a: 1 }, { a: 3 }] })).toEqual([{ path: 'd[1].a', before: 2, after: 3 }]);
  });

  it('never shows a secret-named setting or a known password in a message', () => {
    expect(show('vendor.secret', 'S3cret-value')).toBe('[secret not shown]');
    expect(show('vendor.voicemail.pin', '1234')).toBe('[secret not shown]');
    expect(show('vendor.note', 'has Pw-123456 inside', ['Pw-123456'])).toBe('"has [password] inside"');
    expect(show('vendor.pinless_dialing', 'no')).toBe('"no"');
    expect(secretLookingSettings({ a: { secret: 'x1' }, devices: [{ password: 'p' }, { password: '' }], pinless_dialing: 'no' })).toEqual(['a.secret', 'devices[0].password']);
  });
});

describe('conformance judgement of a settings-would-be-lost refusal', () => {
  const rec = { name: 'A', vendor: { name: 'A', followme: { enabled: 'yes', ring_time: '30' }, context: 'from-internal' } };

  it('passes a refusal that names what would be lost and leaves the record as it was', () => {
    const r = judgeRefusal('rename', { lost: [{ setting: 'followme', detail: 'erased by the update' }] }, rec, rec);
    expect(r.problems).toEqual([]);
    expect(r.names).toEqual(['followme']);
    expect(r.summary).toBe('rename: refused, naming: followme (erased by the update)');
  });

  it('fails a refusal with an empty or missing lost list, with malformed entries, or that changed the record', () => {
    expect(judgeRefusal('rename', { lost: [] }, rec, rec).problems).toEqual(["rename: refused as settings-would-be-lost, but its 'lost' list is empty: a refusal must name what would be lost"]);
    expect(judgeRefusal('rename', {}, rec, rec).problems[0]).toMatch(/'lost' list is missing/);
    expect(judgeRefusal('rename', { lost: ['followme'] }, rec, rec).problems[0]).toMatch(/not every 'lost' entry is \{setting, detail\}/);
    const changed = { ...rec, vendor: { ...rec.vendor, context: 'other' } };
    expect(judgeRefusal('rename', { lost: [{ setting: 'followme', detail: 'x' }] }, rec, changed).problems).toEqual(['rename: refused (settings-would-be-lost), yet the record changed:\n  vendor.context: "from-internal" -> "other"']);
  });

  it('after accepting the named losses, flags only changes that were neither asked nor named', () => {
    const after = { name: 'B', vendor: { name: 'B', followme: { enabled: 'no' }, context: 'other' } };
    const { unnamed, accepted } = unnamedChanges(rec, after, { name: { from: 'A', to: 'B' } }, ['followme']);
    expect(unnamed.map((c) => c.path)).toEqual(['vendor.context']);
    expect(accepted.map((c) => c.path)).toEqual(['vendor.followme.enabled', 'vendor.followme.ring_time']);
    expect(unnamedChanges(rec, after, { name: { from: 'A', to: 'B' } }, ['followme', 'context']).unnamed).toEqual([]);
  });
});
