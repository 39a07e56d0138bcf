/**
 * VitalPBX <-> canonical: every field rule, pure. VitalPBX mixes numbers and numeric strings, sends nulls
 * freely, and has two shapes for voicemail: everything here parses defensively.
 */
import { int, isRecord, type Raw } from '../../src/coerce';
import type { CallSummary, Device, Extension, QueueMembership, VoicemailMessage } from '../../src/contract';



/** Strings as they are, numbers as decimal strings, everything else null. */
export function text(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** `"Jhone Doe" <100>` -> { name: 'Jhone Doe', number: '100' }; `Demo<1519>` and bare names too. */
export function parseCallerId(v: unknown): { name: string | null; number: string | null } {
  const s = text(v)?.trim() ?? '';
  if (!s) return { name: null, number: null };
  const m = /^(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>$/.exec(s);
  if (!m) return { name: s, number: null };
  const name = (m[1] ?? m[2] ?? '').trim();
  return { name: name || null, number: m[3].trim() || null };
}

export function toDevice(raw: Raw): Device {
  const d: Device = {
    id: text(raw.device_id) ?? '',
    name: text(raw.device_name) ?? text(raw.description),
    username: text(raw.user),
    technology: text(raw.technology),
  };
  const secret = text(raw.secret);
  if (secret !== null) d.password = secret;
  return d;
}

/** The record as VitalPBX sent it, without SIP secrets and the feature-code password. */
function vendorView(raw: Raw): Raw {
  const { features_password: _fp, devices, ...rest } = raw;
  if (!Array.isArray(devices)) return rest;
  return { ...rest, devices: devices.map((d) => (isRecord(d) ? (({ secret: _s, ...keep }) => keep)(d) : d)) };
}

export function toCanonical(raw: Raw, tenant: string, domain: string | null): Extension {
  const devices = Array.isArray(raw.devices) ? raw.devices.filter(isRecord) : [];
  const first = devices.length ? toDevice(devices[0]) : undefined;
  const number = text(raw.extension) ?? '';
  const ext: Extension = {
    id: text(raw.extension_id) ?? '',
    tenant,
    backend: 'vitalpbx',
    extension: number,
    name: text(raw.name) ?? parseCallerId(raw.internal_cid).name ?? '',
    description: null,
    // The SIP account of an extension is its first device (VitalPBX can give one several).
    username: first?.username ?? null,
    domain,
    direct_uri: null,
    created_at: null,
    updated_at: null,
    vendor: vendorView(raw),
  };
  if (first?.password !== undefined) ext.password = first.password;
  return ext;
}

/** `{queues_id[], queues_name[], queues_penalty[]}` (or `queues[]` as inside an extension): parallel arrays. */
export function toQueues(data: unknown): QueueMembership[] {
  if (!isRecord(data)) return [];
  const ids = Array.isArray(data.queues_id) ? data.queues_id : Array.isArray(data.queues) ? data.queues : [];
  const names = Array.isArray(data.queues_name) ? data.queues_name : [];
  const penalties = Array.isArray(data.queues_penalty) ? data.queues_penalty : [];
  return ids.map((id, i) => ({ id: text(id) ?? '', name: text(names[i]), penalty: int(penalties[i]) }));
}

export function toCallSummary(data: unknown): CallSummary {
  const d = isRecord(data) ? data : {};
  const n = (v: unknown) => Math.max(0, int(v) ?? 0);
  return { local: n(d.local), incoming: n(d.incoming), outgoing: n(d.outgoing), transit: n(d.transit) };
}

/** `recfile` paths look like `/static/<key>/voicemail/<ext>/<Folder>/msg0000.wav`. */
function folderFromPath(path: string | null): string | null {
  const m = path ? /\/voicemail\/[^/]+\/([^/]+)\/[^/]+$/.exec(path) : null;
  return m ? m[1] : null;
}

function toMessage(raw: Raw, folderHint: string | null): VoicemailMessage {
  const recording = text(raw.recfile);
  const folder = folderHint ?? folderFromPath(recording) ?? 'INBOX';
  const file = (text(raw.filename) ?? recording?.split('/').pop() ?? '').replace(/\.(txt|wav)$/i, '');
  const seconds = int(raw.date);
  return {
    id: `${folder}/${file}`,
    folder,
    caller_id: text(raw.clid),
    received_at: seconds !== null ? new Date(seconds * 1000).toISOString() : null,
    duration_s: int(raw.duration),
    recording_path: recording,
  };
}

/**
 * Either shape VitalPBX sends: an array of records, or an object keyed by folder whose values are one record
 * or a list of records. One flat list comes out, newest first.
 */
export function toVoicemail(data: unknown): VoicemailMessage[] {
  const out: VoicemailMessage[] = [];
  if (Array.isArray(data)) {
    for (const r of data) if (isRecord(r)) out.push(toMessage(r, null));
  } else if (isRecord(data)) {
    for (const [folder, value] of Object.entries(data)) {
      for (const r of Array.isArray(value) ? value : [value]) if (isRecord(r)) out.push(toMessage(r, folder));
    }
  }
  return out.sort((a, b) => (b.received_at ?? '').localeCompare(a.received_at ?? ''));
}

export { int, isRecord, type Raw };
