/**
 * Issabel <-> canonical: every field rule, pure. Issabel v2 sends every scalar as a string ("30", "" for null,
 * "yes"/"no", "1" for true); v1 sent raw types. Both are read.
 */
import { int, isRecord, type Raw } from '../../src/coerce';
import type { Device, Extension, RingGroup, RingGroupCreate, RingGroupPatch } from '../../src/contract';


/** "" (Issabel's null) and null/undefined -> null; numbers -> strings. */
export function str(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}


/** "yes"/"no", "1"/"0"/"", true/false -> boolean; anything else null. */
export function bool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'yes' || v === 'on' || v === 'true') return true;
  if (v === 0 || v === '0' || v === '' || v === 'no' || v === 'off' || v === 'false') return false;
  return null;
}

/** Extension numbers are digits only on Issabel. */
export const isNumber = (id: string) => /^\d{1,15}$/.test(id);

/** The record as Issabel sent it, minus the SIP secret and the voicemail PIN. */
function vendorView(raw: Raw): Raw {
  const { secret: _secret, ...rest } = raw;
  if (isRecord(rest.voicemail)) {
    const { pin: _pin, ...vm } = rest.voicemail;
    rest.voicemail = vm;
  }
  return rest;
}

export function toCanonical(raw: Raw, tenant: string, domain: string | null): Extension {
  const number = str(raw.extension) ?? '';
  const ext: Extension = {
    id: number,
    tenant,
    backend: 'issabel',
    extension: number,
    name: str(raw.name) ?? '',
    // Issabel has no description field: always null (and a write of one is refused with 422).
    description: null,
    // On Issabel the SIP user is the extension number, and the registrar is the PBX itself.
    username: number || null,
    domain,
    direct_uri: null,
    created_at: null,
    updated_at: null,
    vendor: vendorView(raw),
  };
  const secret = str(raw.secret);
  if (secret !== null) ext.password = secret;
  return ext;
}

/** An Issabel extension is one device: its technology, dial string and secret. */
export function toDevice(raw: Raw): Device {
  const number = str(raw.extension) ?? '';
  const d: Device = { id: number, name: str(raw.dial) ?? str(raw.name), username: number || null, technology: str(raw.tech) };
  const secret = str(raw.secret);
  if (secret !== null) d.password = secret;
  return d;
}

/** The canonical create as Issabel's body: `password` is `secret`. */
export function toIssabelBody(input: { name?: string; password?: string }): Raw {
  const body: Raw = {};
  if (input.name !== undefined) body.name = input.name;
  if (input.password !== undefined) body.secret = input.password;
  return body;
}

/** Issabel `source` field names -> pointers into the canonical body. */
export const EXTENSION_SOURCES = { extension: '/extension', name: '/name', secret: '/password' };
export const RING_GROUP_SOURCES = { extension: '/extension', name: '/name', strategy: '/strategy', ring_time: '/ring_time', extension_list: '/members' };

/** `extension_list` arrives as an array of strings (v2) or a dash/comma-separated string (older). */
export function members(v: unknown): string[] {
  if (Array.isArray(v)) return v.map((m) => str(m)).filter((m): m is string => m !== null);
  const s = str(v);
  return s ? s.split(/[-,\s]+/).filter(Boolean) : [];
}

export function toRingGroup(raw: Raw, tenant: string): RingGroup {
  const number = str(raw.extension) ?? str(raw.id) ?? '';
  const ringTime = int(raw.ring_time);
  return {
    id: number,
    tenant,
    backend: 'issabel',
    extension: number,
    name: str(raw.name) ?? '',
    strategy: (str(raw.strategy) ?? 'ringall') as RingGroup['strategy'],
    ring_time: ringTime !== null && ringTime >= 1 && ringTime <= 300 ? ringTime : null,
    members: members(raw.extension_list),
    vendor: raw,
  };
}

export function toIssabelRingGroup(input: RingGroupCreate | RingGroupPatch): Raw {
  const body: Raw = {};
  if ('extension' in input && input.extension !== undefined) body.extension = input.extension;
  if (input.name !== undefined) body.name = input.name;
  if (input.strategy !== undefined) body.strategy = input.strategy;
  if (input.ring_time !== undefined) body.ring_time = input.ring_time;
  if (input.members !== undefined) body.extension_list = input.members;
  return body;
}

/** The number at the end of a Location header (`.../extensions/1006`, maybe with the query echoed). */
export function numberFromLocation(location: string | undefined): string | null {
  if (!location) return null;
  // pbxapi builds Location from the whole request URI, query string included, then appends `/<number>`
  // (extensions.php post(): "$REALM/$EXTEN"), so the number may follow the query: `.../extensions?x=1/1006`.
  // A PUT-create's Location is the request URI itself: `.../extensions/1006?x=1`.
  const path = location.split('#')[0].replace(/\/+$/, '');
  const last = path.slice(path.lastIndexOf('/') + 1).split('?')[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    return null;
  }
  return isNumber(decoded) ? decoded : null;
}

export { int, isRecord, type Raw };
