/**
 * VoIPBIN <-> canonical extension: every field rule in one pure module, tested table-style with the seeds'
 * payloads and the current server's.
 */
import type { Extension } from '../../src/contract';

/** An extension as VoIPBIN sends it: every field a string, timestamps possibly null or "". */
export interface VoipbinExtension {
  id: string;
  customer_id?: string;
  name?: string;
  detail?: string;
  extension?: string;
  domain_name?: string;
  username?: string;
  password?: string;
  direct_hash?: string;
  tm_create?: string | null;
  tm_update?: string | null;
  tm_delete?: string | null;
  [other: string]: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

/**
 * VoIPBIN's three timestamp styles to RFC 3339 UTC: the current server's Go time in JSON (UTC, the fraction's
 * trailing zeros trimmed, none at all when zero: `2026-01-15T09:30:00.1234Z`, `2026-01-15T09:30:00Z`), the seeds'
 * `2021-02-18 12:42:27.688282` (UTC, no zone), and "", null or a `9999-...` sentinel for "never".
 */
const ISO_UTC = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?Z$/;

/** Whether `yyyy-mm-dd` at the start of `s` names a day that exists (`Date` would roll 02-30 over to March). */
function dayExists(s: string): boolean {
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(5, 7));
  const day = Number(s.slice(8, 10));
  if (day <= 28) return day >= 1;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const last = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= last;
}

export function parseTimestamp(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  // The current server's own style, already UTC: cut or padded to milliseconds without a Date round trip (every
  // extension read carries three of these). `v.length` is 20 without a fraction, 21 + its digits with one.
  if (ISO_UTC.test(v) && !v.startsWith('9999-')) {
    if (!dayExists(v)) return null;
    return v.length >= 24 ? `${v.slice(0, 23)}Z` : `${v.slice(0, 19)}.${v.slice(20, -1).padEnd(3, '0')}Z`;
  }
  const s = v.trim();
  if (s === '' || s.startsWith('9999-')) return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m || !dayExists(m[1])) return null;
  const ms = (m[3] ?? '').padEnd(3, '0').slice(0, 3);
  const zone = m[4] ?? 'Z';
  const d = new Date(`${m[1]}T${m[2]}.${ms}${zone}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A soft-deleted extension (tm_delete set) is gone for the gateway's callers. */
export function isDeleted(raw: VoipbinExtension): boolean {
  return parseTimestamp(raw.tm_delete) !== null;
}

/** The SIP registrar domain is `<customer-id>.registrar.voipbin.net` whether domain_name holds the UUID or the FQDN. */
export function registrarDomain(raw: VoipbinExtension): string | null {
  const d = typeof raw.domain_name === 'string' ? raw.domain_name.trim() : '';
  if (d.includes('.')) return d;
  const customer = isUuid(d) ? d : typeof raw.customer_id === 'string' && isUuid(raw.customer_id) ? raw.customer_id : '';
  return customer ? `${customer}.registrar.voipbin.net` : null;
}

/**
 * `sip:<hash>@sip.voipbin.net`. Current servers put the `direct.` prefix in the hash itself (`direct.4f9c0e2a1b3d`,
 * bin-direct-manager/pkg/directhandler/handler.go); older ones sent the bare hex and the URI added the prefix.
 */
export function directUri(hash: unknown): string | null {
  if (typeof hash !== 'string' || hash === '') return null;
  return `sip:${hash.startsWith('direct.') ? hash : `direct.${hash}`}@sip.voipbin.net`;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
const orNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function toCanonical(raw: VoipbinExtension, tenant: string): Extension {
  const { password, ...vendor } = raw;
  const ext: Extension = {
    id: raw.id,
    tenant,
    backend: 'voipbin',
    extension: str(raw.extension),
    name: str(raw.name),
    description: orNull(raw.detail),
    username: orNull(raw.username) ?? orNull(raw.extension),
    domain: registrarDomain(raw),
    direct_uri: directUri(raw.direct_hash),
    created_at: parseTimestamp(raw.tm_create),
    updated_at: parseTimestamp(raw.tm_update),
    // The backend's own fields, minus the SIP password (which only `include=password` reveals).
    vendor,
  };
  if (typeof password === 'string') ext.password = password;
  return ext;
}

/** PUT replaces name, detail and password together: the merged body keeps every field the patch leaves out. */
export function mergedPutBody(current: VoipbinExtension, patch: { name?: string; description?: string | null; password?: string }) {
  return {
    name: patch.name ?? str(current.name),
    detail: patch.description !== undefined ? (patch.description ?? '') : str(current.detail),
    password: patch.password ?? str(current.password),
  };
}

/** A shape check of what arrives: an answer without a string id is garbage, not an extension. */
export function asVoipbinExtension(v: unknown): VoipbinExtension | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { id?: unknown }).id === 'string' ? (v as VoipbinExtension) : undefined;
}
