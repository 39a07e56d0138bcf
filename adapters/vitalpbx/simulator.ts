/**
 * In-process twin of VitalPBX's API v2 for extensions (see docs/backends.md, "VitalPBX API v2"). The published
 * API is read-only for extensions: list, get, and the devices / queues / cdr_summary / voicemail_records
 * sub-resources. It follows the real (PHP) server's quirks on purpose so the adapter is tested against them:
 * mixed types (device ids as strings, CDR counts as strings, queue ids as numbers beside penalties as strings),
 * two keys for the same queue ids (`queues_info.queues` vs `/queues` `queues_id`), two voicemail shapes, a
 * folder holding either one bare record or a list, and some errors answered as HTTP 200 with status "error".
 * Pure handler + state; `serveSimulator` from the kit puts it behind HTTP, tests may also call it via nock.
 */
import { randomBytes } from 'node:crypto';
import { serveSimulator, type RunningSimulator, type SimHandler, type SimRequest, type SimResponse } from '../../src/simulator-kit';

export const DEMO_APP_KEY = 'vpbx_demo_appkey_4d2c9e7a1b';

export interface VitalpbxSimOptions {
  /** Accepted app-keys (default [DEMO_APP_KEY]). */
  appKeys?: string[];
  /** Default [{id:1,name:'vitalpbx'},{id:2,name:'branch2'}]; the first is the default tenant. */
  tenants?: { id: number; name: string }[];
  /** Which of the two voicemail_records shapes to answer with (default 'folders'). */
  voicemailShape?: 'array' | 'folders';
}

export interface SimExtensionSeed {
  extension: string;
  name: string;
  /** Password of its first device (random when left out). */
  secret?: string;
  /** How many devices (default 1). */
  devices?: number;
  queues?: { id: number; name: string; penalty: number }[];
  cdr?: { local: number; incoming: number; outgoing: number; transit: number };
  /** `date` is unix seconds as a string (as the server sends it) or anything `Date.parse` reads. */
  voicemail?: { folder: 'INBOX' | 'Old' | 'Urgent'; clid: string; date: string; duration: number }[];
}

type Tenant = { id: number; name: string };
type Folder = 'INBOX' | 'Old' | 'Urgent';
const FOLDERS: Folder[] = ['INBOX', 'Old', 'Urgent'];

interface Device {
  device_id: string; extension_id: string; profile_id: string; user: string; secret: string; description: string;
  ring_device: string; technology: string; assigned_exten: string | null; tenant_id: string; device_name: string;
}
interface VmRecord { date: string; clid: string; priority: string; vmorig: string; duration: string; recfile: string; filename: string }
interface Ext {
  id: number;
  tenant: Tenant;
  base: Record<string, unknown>;
  devices: Device[];
  queues: { id: number; name: string; penalty: number }[];
  cdr: { local: number; incoming: number; outgoing: number; transit: number };
  voicemail: Record<Folder, VmRecord[]>;
}

class SimError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const DEFAULT_TENANTS: Tenant[] = [{ id: 1, name: 'vitalpbx' }, { id: 2, name: 'branch2' }];
const ROUTE = /^\/api\/v2\/extensions(?:\/([^/]+)(?:\/(devices|queues|cdr_summary|voicemail_records))?)?$/;

export class VitalpbxSimulator {
  readonly calls: { method: string; path: string; tenant?: string }[] = [];
  voicemailShape: 'array' | 'folders';
  private readonly appKeys: Set<string>;
  private readonly tenants: Tenant[];
  private readonly exts = new Map<number, Ext>();
  private nextExtId = 1;
  private nextDeviceId = 1;
  /** The per-server static path segment of voicemail recordings (`/static/<hex>/voicemail/...`). */
  private readonly staticKey = randomBytes(8).toString('hex');

  constructor(opts: VitalpbxSimOptions = {}) {
    this.appKeys = new Set(opts.appKeys ?? [DEMO_APP_KEY]);
    this.tenants = (opts.tenants ?? DEFAULT_TENANTS).map((t) => ({ ...t }));
    if (this.tenants.length === 0) throw new Error('VitalpbxSimulator needs at least one tenant');
    this.voicemailShape = opts.voicemailShape ?? 'folders';
  }

  readonly handle: SimHandler = (req) => {
    const tenantHeader = req.headers.tenant;
    this.calls.push(tenantHeader === undefined ? { method: req.method, path: req.path } : { method: req.method, path: req.path, tenant: tenantHeader });
    try {
      return ok(this.dispatch(req));
    } catch (e) {
      if (!(e instanceof SimError)) throw e;
      return { status: e.status, body: { status: 'error', message: e.message, data: null } };
    }
  };

  /** Seed extensions into a tenant (by name or id); returns their extension_id values as strings. */
  seed(tenant: string | number, list: SimExtensionSeed[]): string[] {
    const t = this.findTenant(String(tenant));
    if (!t) throw new Error(`unknown tenant ${tenant}`);
    return list.map((s) => String(this.create(t, s)));
  }

  /** A handful of extensions in each of the first two tenants (or the only one), different numbers and names. */
  seedDemo(): void {
    const [t1, t2] = this.tenants;
    this.seed(t1.id, [
      { extension: '100', name: 'Reception', devices: 2, queues: [{ id: 1, name: 'Q500', penalty: 0 }, { id: 2, name: 'Q501', penalty: 1 }],
        cdr: { local: 45, incoming: 29, outgoing: 4, transit: 0 },
        voicemail: [
          { folder: 'INBOX', clid: '"Demo" <1519>', date: '1565987730', duration: 9 },
          { folder: 'Old', clid: '"X-Lite" <7502>', date: '1513443087', duration: 8 },
          { folder: 'Old', clid: '"Sales" <101>', date: '1513529487', duration: 21 },
        ] },
      { extension: '101', name: 'Sales', queues: [{ id: 1, name: 'Q500', penalty: 0 }], cdr: { local: 12, incoming: 40, outgoing: 33, transit: 1 },
        voicemail: [{ folder: 'Urgent', clid: '"Customer" <5551234>', date: '1700000000', duration: 42 }] },
      { extension: '102', name: 'Support', queues: [{ id: 2, name: 'Q501', penalty: 2 }] },
      { extension: '103', name: 'Billing', devices: 3 },
      { extension: '104', name: 'Warehouse' },
    ]);
    if (!t2) return;
    this.seed(t2.id, [
      { extension: '2001', name: 'Branch Front Desk', devices: 2, queues: [{ id: 3, name: 'Q700', penalty: 0 }],
        cdr: { local: 7, incoming: 15, outgoing: 9, transit: 0 },
        voicemail: [
          { folder: 'INBOX', clid: '"Supplier" <5559876>', date: '1710000000', duration: 30 },
          { folder: 'INBOX', clid: '"Head Office" <100>', date: '1710003600', duration: 12 },
        ] },
      { extension: '2002', name: 'Branch Manager', queues: [{ id: 3, name: 'Q700', penalty: 1 }],
        voicemail: [{ folder: 'Old', clid: '"Reception" <2001>', date: '1709000000', duration: 5 }] },
      { extension: '2003', name: 'Branch Workshop' },
    ]);
  }

  // ---- routing ---------------------------------------------------------------------------------------------

  private dispatch(req: SimRequest): unknown {
    const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
    if (!path.startsWith('/api/v2')) throw new SimError(404, 'Not Found');
    // The API authenticates every call under /api/v2 before routing (the app-key middleware runs first).
    const key = req.headers['app-key'];
    if (!key) throw new SimError(401, 'Missing app-key header');
    if (!this.appKeys.has(key)) throw new SimError(401, 'Invalid app-key');
    const tenant = this.resolveTenant(req.headers.tenant);
    const m = ROUTE.exec(path);
    // No write routes for extensions exist in the published API: POST/PUT/PATCH/DELETE (and any other path)
    // fall through the router, which answers its generic 404 envelope, not 405.
    if (!m || req.method !== 'GET') throw new SimError(404, 'Not Found');
    const [, rawId, sub] = m;
    if (rawId === undefined) {
      return [...this.exts.values()].filter((e) => e.tenant.id === tenant.id).sort((a, b) => a.id - b.id).map((e) => this.render(e));
    }
    // Quirk: the PHP server does not reject a malformed id with an HTTP error; it answers HTTP 200 with
    // status "error" (the adapter must look at `status`, not only at the HTTP code).
    if (!/^\d+$/.test(rawId)) throw new SimError(200, `Invalid extension id: ${rawId}`);
    const ext = this.exts.get(Number(rawId));
    // Another tenant's extension is indistinguishable from a missing one.
    if (!ext || ext.tenant.id !== tenant.id) throw new SimError(404, 'Extension not found');
    switch (sub) {
      case undefined:
        // Quirk copied from the vendor's document: GET /extensions/{id} answers `data` as a one-element array.
        return [this.render(ext)];
      case 'devices':
        return ext.devices.map((d) => ({ ...d }));
      case 'queues':
        // Here the ids are `queues_id` (numbers); inside the extension record the same list is `queues_info.queues`.
        return { queues_id: ext.queues.map((q) => q.id), queues_name: ext.queues.map((q) => q.name), queues_penalty: ext.queues.map((q) => String(q.penalty)) };
      case 'cdr_summary':
        return { local: String(ext.cdr.local), incoming: String(ext.cdr.incoming), outgoing: String(ext.cdr.outgoing), transit: String(ext.cdr.transit) };
      default:
        return this.voicemail(ext);
    }
  }

  /**
   * A missing (or empty) tenant header means the default (first) tenant: on a multi-tenant server that is why
   * leaving it out "gives too few results". An unknown tenant is answered 403 (the key may not act on it): a
   * 404 would read as "extension not found" on a get, and the gateway should see a configuration/auth fault.
   */
  private resolveTenant(header: string | undefined): Tenant {
    if (header === undefined || header.trim() === '') return this.tenants[0];
    const t = this.findTenant(header.trim());
    if (!t) throw new SimError(403, `Invalid tenant: ${header}`);
    return t;
  }

  /** By exact name, or by id written in decimal. */
  private findTenant(v: string): Tenant | undefined {
    return this.tenants.find((t) => t.name === v) ?? (/^\d+$/.test(v) ? this.tenants.find((t) => t.id === Number(v)) : undefined);
  }

  private voicemail(ext: Ext): unknown {
    const copy = (r: VmRecord) => ({ ...r });
    if (this.voicemailShape === 'array') return FOLDERS.flatMap((f) => ext.voicemail[f].map(copy));
    // Keyed by folder; empty folders are left out; a folder with one message holds the bare record, one with
    // several holds a list. With no message at all PHP's json_encode turns the empty (associative) array into
    // `[]`, not `{}`.
    const out: Record<string, unknown> = {};
    for (const f of FOLDERS) {
      const recs = ext.voicemail[f];
      if (recs.length) out[f] = recs.length === 1 ? copy(recs[0]) : recs.map(copy);
    }
    return Object.keys(out).length ? out : [];
  }

  // ---- state -----------------------------------------------------------------------------------------------

  private create(tenant: Tenant, s: SimExtensionSeed): number {
    const id = this.nextExtId++;
    const cid = `"${s.name}" <${s.extension}>`;
    // Every field of the vendor's example record, in its order and with its types (numbers, real booleans,
    // nulls). Values not given by the seed are the example's.
    const base: Record<string, unknown> = {
      extension_id: id, extension: s.extension, name: s.name, language: 'en', email: null,
      class_of_service_id: 1, dial_profile_id: 1, call_limit: 0,
      internal_cid: cid, external_cid: cid, emergency_cid: cid, ringtime: 0,
      nospy: false, enabled_pa: false, answermode: 'disable',
      mailbox: `${s.extension}@${tenant.name}-voicemail`, accountcode: null,
      features_password: `*${String(10000 + ((id * 7919) % 90000))}`,
      sendcid: false, generate_hints: false, hot_desking: false, secretary: null, music_group_id: 2,
      rec_on_demand: false, internal_rec: true, outgoing_rec: true, incoming_rec: true,
      dictate_enable: false, dictate_format: 'ogg', dictate_auto_send: false, fax_enabled: false, fax_auto_send: false,
      absent_secretary: false, lock: false, call_waiting: false, pinless: false, dynamic_routing: false,
      tenant_id: tenant.id, context: 'cos-all', has_analog_devices: false,
    };
    const devices: Device[] = [];
    for (let n = 1; n <= Math.max(1, s.devices ?? 1); n++) {
      // Multi-tenant servers suffix device names with the tenant id (`103_1`); further devices get `_<n>`.
      const deviceName = n === 1 ? `${s.extension}_${tenant.id}` : `${s.extension}_${tenant.id}_${n}`;
      devices.push({
        device_id: String(this.nextDeviceId++), extension_id: String(id), profile_id: '1', user: deviceName,
        secret: n === 1 && s.secret !== undefined ? s.secret : randomBytes(12).toString('base64url').slice(0, 14),
        description: s.name, ring_device: 'yes', technology: 'pjsip',
        // Only the first device is assigned to the extension number; others carry null (as in the devices example).
        assigned_exten: n === 1 ? s.extension : null, tenant_id: String(tenant.id), device_name: deviceName,
      });
    }
    const voicemail: Record<Folder, VmRecord[]> = { INBOX: [], Old: [], Urgent: [] };
    for (const v of s.voicemail ?? []) {
      const msg = `msg${String(voicemail[v.folder].length).padStart(4, '0')}`;
      voicemail[v.folder].push({
        date: unixSeconds(v.date), clid: v.clid, priority: '2', vmorig: s.extension, duration: String(v.duration),
        recfile: `/static/${this.staticKey}/voicemail/${s.extension}/${v.folder}/${msg}.wav`, filename: `${msg}.txt`,
      });
    }
    this.exts.set(id, {
      id, tenant, base, devices, queues: (s.queues ?? []).map((q) => ({ ...q })),
      cdr: { ...(s.cdr ?? { local: 0, incoming: 0, outgoing: 0, transit: 0 }) }, voicemail,
    });
    return id;
  }

  private render(e: Ext): Record<string, unknown> {
    return {
      ...e.base,
      devices: e.devices.map((d) => ({ ...d })),
      // Inside the record the ids are numbers under `queues`, the penalties strings.
      queues_info: { queues: e.queues.map((q) => q.id), queues_name: e.queues.map((q) => q.name), queues_penalty: e.queues.map((q) => String(q.penalty)) },
    };
  }
}

function unixSeconds(date: string): string {
  if (/^\d+$/.test(date)) return date;
  const ms = Date.parse(date);
  if (Number.isNaN(ms)) throw new Error(`bad voicemail date ${date}`);
  return String(Math.floor(ms / 1000));
}

/** Success envelope; `SimError(200, ...)` builds the HTTP-200 error one. */
const ok = (data: unknown): SimResponse => ({ status: 200, body: { status: 'success', message: null, data } });

export async function startVitalpbxSimulator(opts?: VitalpbxSimOptions, port = 0): Promise<{ sim: VitalpbxSimulator; server: RunningSimulator }> {
  const sim = new VitalpbxSimulator(opts);
  return { sim, server: await serveSimulator(sim.handle, port) };
}
