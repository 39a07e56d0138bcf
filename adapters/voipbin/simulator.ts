/**
 * In-process twin of VoIPBIN's extension API (see docs/backends.md, "VoIPBIN", and adapters/voipbin/README.md for
 * the vendor source of each behaviour). It follows the real server's quirks on purpose (PUT replaces all three
 * fields, soft DELETE, every failed create = 500 INTERNAL with nothing rolled back, 403 for another customer's id
 * and for a login without the permission, the paging token on the last page, login failure = bare 400) so the
 * adapter is tested against them. Pure handler + state; `serveSimulator` from the kit puts it behind HTTP, tests
 * may also call it via nock.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { serveSimulator, type RunningSimulator, type SimHandler, type SimRequest, type SimResponse } from '../../src/simulator-kit';

export const DEMO_ACCESSKEY = 'vb_demo_0c5f6a3e9b1d4e7f8a2b';
export const DEMO_USER = { username: 'demo@example.com', password: 'demo-password-1' };
/** The real per-customer limit (bin-api-manager internal/config/main.go, customer_ratelimit.go): the simulator's
 * default. */
export const VOIPBIN_CUSTOMER_RATE_LIMIT = Object.freeze({ perSecond: 16.7, burst: 33 });

/** Agent permissions that matter here: every extension call needs CustomerAdmin or CustomerManager
 * (bin-api-manager/pkg/servicehandler/extension.go). */
export type VoipbinPermission = 'CustomerAdmin' | 'CustomerManager' | 'CustomerAgent';
export interface VoipbinSimUser {
  username: string;
  password: string;
  /** The agent's permissions; default ['CustomerAdmin']. An agent without CustomerAdmin or CustomerManager gets
   * 403 PERMISSION_DENIED on every extension call. (Access keys always count as CustomerAdmin:
   * bin-api-manager/models/auth/auth.go, HasPermission.) */
  permissions?: VoipbinPermission[];
}

const DEFAULT_CUSTOMER_ID = '5e4a0680-804e-11ec-8477-2fea5968d85b';
const FOREIGN_CUSTOMER_ID = 'a7c3e1f0-2b4d-4e6f-8a9b-0c1d2e3f4a5b';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The client X-Request-Id the server keeps (bin-api-manager/lib/middleware/request_id.go, isSafeRequestID). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL',
};

export interface VoipbinSimOptions {
  /** Accepted access keys (default [DEMO_ACCESSKEY]). */
  accessKeys?: string[];
  /** Accepted logins (default [DEMO_USER], a CustomerAdmin). */
  users?: VoipbinSimUser[];
  /** The main customer's UUID (default a fixed one). */
  customerId?: string;
  /** JWT lifetime, default 7 days. */
  tokenTtlMs?: number;
  /** Seed-era answers: `2021-02-18 12:42:27.688282` timestamps, "" for unset, `<cid>.registrar.voipbin.net`. */
  legacy?: boolean;
  /** Per-customer token bucket; default the real server's, 16.7 req/s with a burst of 33 (bin-api-manager
   * internal/config/main.go, customer_ratelimit.go). `false` turns it off, for a test whose point is many calls. */
  rateLimit?: { perSecond: number; burst: number } | false;
  /** The account's extension limit (billing's resource limit); a create beyond it is 500 INTERNAL. Default none. */
  extensionLimit?: number;
  /** The wall clock in epoch ms (default Date.now); timestamps are strictly increasing microseconds from it. */
  clock?: () => number;
  /** The customer account is frozen (unregister scheduled): 403 ACCOUNT_FROZEN on every /v1.0 call. */
  frozen?: boolean;
}

/** Where the next create fails (bin-registrar-manager/pkg/extensionhandler/extension.go, Create): `after-aor` leaves
 * the number's SIP AOR behind and no extension (that number then fails with 500 until the AOR goes), `after-insert`
 * stores the extension and then fails (the SIP auth step), so the 500 hides a create that happened. */
export type CreateFailure = 'after-aor' | 'after-insert';

export interface SimExtensionSeed { extension: string; name: string; detail?: string; password?: string }

type ExtRecord = Record<string, string | null>;
type Route = 'list' | 'create' | 'get' | 'put' | 'delete' | 'regenerate';
/** Who is calling: the customer, and whether the credential may manage extensions. */
interface Identity { customerId: string; manager: boolean }

const MANAGES_EXTENSIONS = (p: VoipbinPermission[]) => p.includes('CustomerAdmin') || p.includes('CustomerManager');

class HttpError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string, readonly headers: Record<string, string> = {}, readonly details: unknown[] = []) {
    super(message);
  }
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export class VoipbinSimulator {
  readonly calls: { method: string; path: string }[] = [];
  /** The X-Request-Id each request came with (undefined: none), in the order of `calls`. */
  readonly receivedRequestIds: (string | undefined)[] = [];
  private readonly records = new Map<string, ExtRecord>();
  /** The Asterisk AORs, `<customer>/<extension>`: created first by a create, removed by a delete, never rolled back. */
  private readonly aors = new Set<string>();
  /** Each record's tm_create in microseconds: the list pages by it (the server compares datetimes, not strings). */
  private readonly createdUs = new Map<string, number>();
  private nextCreateFailure: CreateFailure | undefined;
  private nextCreateRace: SimExtensionSeed | undefined;
  private readonly tokens = new Map<string, Identity & { expMs: number }>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly secret = randomBytes(32);
  private readonly accessKeys: Set<string>;
  private readonly users: VoipbinSimUser[];
  private readonly customerId: string;
  private readonly ttlMs: number;
  private readonly legacy: boolean;
  private readonly unset: string | null;
  private lastUs = 0;
  /** See VoipbinSimOptions.frozen; `setFrozen` changes it. */
  private frozen: boolean;

  constructor(private readonly opts: VoipbinSimOptions = {}) {
    this.accessKeys = new Set(opts.accessKeys ?? [DEMO_ACCESSKEY]);
    this.users = (opts.users ?? [DEMO_USER]).map((u) => ({ ...u }));
    this.customerId = opts.customerId ?? DEFAULT_CUSTOMER_ID;
    this.ttlMs = opts.tokenTtlMs ?? 7 * 24 * 3600 * 1000;
    this.legacy = opts.legacy ?? false;
    // Current servers send null for an unset timestamp; seed-era servers sent "".
    this.unset = this.legacy ? '' : null;
    this.frozen = opts.frozen ?? false;
  }

  readonly handle: SimHandler = (req) => {
    this.calls.push({ method: req.method, path: req.path });
    const fromClient = req.headers['x-request-id'];
    this.receivedRequestIds.push(fromClient);
    const redirect = trailingSlashRedirect(req);
    if (redirect) return redirect;
    // Kept when safe, else the server's own: `req_` and 26 base32 characters (16 random bytes).
    const requestId = fromClient && SAFE_REQUEST_ID.test(fromClient) ? fromClient : newRequestId();
    try {
      const res = this.dispatch(req);
      return { ...res, headers: { ...(res.headers ?? {}), 'X-Request-Id': requestId } };
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      // bin-api-manager/lib/apierror/envelope.go: `details` only when there are some.
      const error: Record<string, unknown> = { status: STATUS_NAMES[e.status] ?? 'INTERNAL', reason: e.reason, message: e.message, request_id: requestId };
      if (e.details.length) error.details = e.details;
      return { status: e.status, headers: { ...e.headers, 'X-Request-Id': requestId }, body: { error } };
    }
  };

  seed(list: SimExtensionSeed[]): Record<string, string>[] {
    // Current-mode records hold null for unset timestamps despite the declared type (that is what the API renders).
    return list.map((s) => this.create(this.customerId, { ...s, password: s.password ?? hex(8) }) as Record<string, string>);
  }

  seedDemo(): void {
    const names = ['Reception', 'Sales', 'Support', 'Billing', 'Warehouse', 'Conference Room'];
    this.seed(names.map((name, i) => ({ extension: String(100 + i), name, detail: `${name} desk phone`, password: `demo-${100 + i}-${hex(4)}` })));
  }

  setFrozen(frozen: boolean): void {
    this.frozen = frozen;
  }

  /** Change a login's permissions. Like the real server, tokens issued before keep the permissions of their login. */
  setUserPermissions(username: string, permissions: VoipbinPermission[]): void {
    const user = this.users.find((u) => u.username === username);
    if (!user) throw new Error(`no user ${username}`);
    user.permissions = permissions;
  }

  /** Make the next create through the API fail at `stage` with a 500, as a real partial failure does. */
  failNextCreate(stage: CreateFailure): void {
    this.nextCreateFailure = stage;
  }

  /** Another client of the same customer creates `ext` just before the next create through the API arrives. */
  raceNextCreate(ext: SimExtensionSeed): void {
    this.nextCreateRace = ext;
  }

  seedForeign(ext: SimExtensionSeed): string {
    return this.create(FOREIGN_CUSTOMER_ID, { ...ext, password: ext.password ?? hex(8) }).id as string;
  }

  revokeTokens(): void {
    this.tokens.clear();
  }

  raw(id: string): Record<string, string | null> | undefined {
    const rec = this.records.get(id);
    return rec && { ...rec };
  }

  // ---- routing ---------------------------------------------------------------------------------------------

  private dispatch(req: SimRequest): SimResponse {
    const path = req.path;
    if (path === '/auth/login' && req.method === 'POST') return this.login(req.body);
    const m = matchRoute(req.method, path);
    // Like the real (gin) router, an unknown route is answered before any authentication.
    if (!m) throw new HttpError(404, 'ROUTE_NOT_FOUND', 'The requested endpoint does not exist.');
    const { route, id } = m;
    const who = this.authenticate(req);
    const customerId = who.customerId;
    // Authenticate, then the customer rate limit, then the account status (cmd/api-manager/main.go, v1 group).
    this.throttle(customerId);
    if (this.frozen) {
      const details = [{ deletion_scheduled_at: null, deletion_effective_at: null, recovery_endpoint: 'DELETE /auth/unregister' }];
      throw new HttpError(403, 'ACCOUNT_FROZEN', 'This account is frozen. Contact support.', {}, details);
    }
    // What each handler checks, in the server's order (server/extensions.go, then pkg/servicehandler/extension.go):
    // the list's page_size (the generated wrapper) and the create's body come before the permission; the calls on
    // one id check the id's form, then the body, then look the id up (unknown: 404), then ownership and permission
    // together (403).
    if (route === 'list') {
      const size = pageSize(req.query.page_size);
      if (!who.manager) throw permissionDenied();
      return ok(this.list(customerId, size, req.query.page_token ?? ''));
    }
    if (route === 'create') {
      const body = fields(req.body, ['extension', 'name', 'detail', 'password']);
      if (!who.manager) throw permissionDenied();
      const race = this.nextCreateRace;
      this.nextCreateRace = undefined;
      if (race) this.seed([race]);
      const failure = this.nextCreateFailure;
      this.nextCreateFailure = undefined;
      return ok(this.create(customerId, body, failure));
    }
    // The regenerate path parameter is typed `format: uuid`, so the generated wrapper refuses a malformed one.
    if (route === 'regenerate' && !UUID_RE.test(id)) throw invalidParameter('id');
    if (!UUID_RE.test(id)) throw new HttpError(400, 'INVALID_ID', 'The provided id is not a valid UUID.');
    const body = route === 'put' ? fields(req.body, ['name', 'detail', 'password']) : undefined;
    const rec = this.owned(who, id);
    if (route === 'put') {
      // PUT replaces exactly these three fields; one left out becomes "" (the SIP password too). Other keys
      // (`direct`, `direct_regenerate`, `extension`) are ignored. A soft-deleted record is updated all the same.
      Object.assign(rec, body, { tm_update: this.now() });
    } else if (route === 'delete') {
      // Soft delete: the record stays readable (GET answers 200 with tm_delete set). Every DELETE, a second one
      // too, answers 200 and stamps tm_update and tm_delete with its own time (registrar dbhandler ExtensionDelete).
      const now = this.now();
      Object.assign(rec, { tm_update: now, tm_delete: now });
      this.aors.delete(`${rec.customer_id}/${rec.extension}`);
    } else if (route === 'regenerate') {
      Object.assign(rec, { direct_hash: this.directHash(), tm_update: this.now() });
    }
    return ok({ ...rec });
  }

  private login(body: unknown): SimResponse {
    const creds = typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : (body as Record<string, unknown>);
    const user = creds && typeof creds === 'object'
      ? this.users.find((u) => u.username === creds.username && u.password === creds.password)
      : undefined;
    // Every login failure (bad credentials, missing fields, bad body) is a bare 400 with an empty body.
    if (!user) return { status: 400 };
    const nowMs = Date.now();
    const expMs = nowMs + this.ttlMs;
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(JSON.stringify({
      customer_id: this.customerId, username: user.username, iat: Math.floor(nowMs / 1000), exp: Math.floor(expMs / 1000), jti: randomUUID(),
    }));
    const token = `${header}.${payload}.${b64url(createHmac('sha256', this.secret).update(`${header}.${payload}`).digest())}`;
    this.tokens.set(token, { customerId: this.customerId, manager: MANAGES_EXTENSIONS(user.permissions ?? ['CustomerAdmin']), expMs });
    return { status: 200, body: { username: user.username, token } };
  }

  /** Access keys only as `?accesskey=` or cookie; JWTs as `?token=`, Bearer, or cookie. A key sent as Bearer is a bad JWT. */
  private authenticate(req: SimRequest): Identity {
    const cookies = parseCookies(req.headers.cookie);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    const key = req.query.accesskey ?? cookies.accesskey;
    const jwt = req.query.token ?? bearer ?? cookies.token;
    if (key === undefined && jwt === undefined) throw new HttpError(401, 'AUTHENTICATION_REQUIRED', 'Authentication is required.');
    if (key !== undefined && this.accessKeys.has(key)) return { customerId: this.customerId, manager: true };
    const session = jwt !== undefined ? this.tokens.get(jwt) : undefined;
    if (session && session.expMs > Date.now()) return session;
    throw new HttpError(401, 'INVALID_CREDENTIALS', 'The provided credentials are invalid.');
  }

  private throttle(customerId: string): void {
    const limit = this.opts.rateLimit ?? VOIPBIN_CUSTOMER_RATE_LIMIT;
    if (!limit) return;
    const now = performance.now(); // monotonic: a test moving Date.now (to expire tokens) does not move the bucket
    const b = this.buckets.get(customerId) ?? { tokens: limit.burst, at: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
    b.at = now;
    this.buckets.set(customerId, b);
    if (b.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / limit.perSecond));
      throw new HttpError(429, 'RATE_LIMIT_EXCEEDED', 'Too many requests. Please try again later.', { 'Retry-After': String(wait) }, [{ limited_by: 'customer' }]);
    }
    b.tokens -= 1;
  }

  // ---- extensions ------------------------------------------------------------------------------------------

  private list(customerId: string, size: number, token: string): { result: ExtRecord[]; next_page_token: string } {
    // Newest first, tm_create before the token (registrar dbhandler ExtensionList; no token: now). A token that is
    // no timestamp matches nothing (an assumption: the database compares it as a datetime).
    const before = token === '' ? Infinity : parseTokenUs(token);
    const created = (r: ExtRecord) => this.createdUs.get(r.id as string) ?? 0;
    const result = [...this.records.values()]
      .filter((r) => r.customer_id === customerId && !r.tm_delete && created(r) < before)
      .sort((a, b) => created(b) - created(a))
      .slice(0, size);
    // Quirk: the last non-empty page still carries a token; only an empty page answers "". The token is always
    // the fixed six-digit form (server/extensions.go: "2006-01-02T15:04:05.000000Z"), whatever tm_create shows.
    const last = result[result.length - 1];
    return { result: result.map((r) => ({ ...r })), next_page_token: last ? this.render(created(last), true) : '' };
  }

  private create(customerId: string, f: Partial<Record<'extension' | 'name' | 'detail' | 'password', string>>, failure?: CreateFailure): ExtRecord {
    // No validation at all: missing fields are stored as "". The steps of the real Create, in order: the resource
    // limit, the SIP AOR (its id is <extension>@<customer>, so a duplicate live number fails here), auth, endpoint,
    // direct hash, the extension row, the SIP auth row. Nothing is rolled back, and every failure is a plain 500.
    const extension = f.extension ?? '';
    const limit = this.opts.extensionLimit;
    if (limit !== undefined && [...this.records.values()].filter((r) => r.customer_id === customerId && !r.tm_delete).length >= limit) throw internal();
    const aor = `${customerId}/${extension}`;
    if (this.aors.has(aor)) throw internal();
    this.aors.add(aor);
    if (failure === 'after-aor') throw internal();
    const id = randomUUID();
    const rec: ExtRecord = {
      id, customer_id: customerId, name: f.name ?? '', detail: f.detail ?? '', extension,
      domain_name: this.legacy ? `${customerId}.registrar.voipbin.net` : customerId,
      username: extension, // the server sets username = extension
      password: f.password ?? '', direct_hash: this.directHash(),
      tm_create: this.now(), tm_update: this.unset, tm_delete: this.unset,
    };
    this.records.set(id, rec);
    this.createdUs.set(id, this.lastUs);
    if (failure === 'after-insert') throw internal();
    return { ...rec };
  }

  /** 404 for an unknown id, 403 (not 404) for another customer's or for a credential without the permission.
   * Deleted ones are found. (A malformed id was refused before.) */
  private owned(who: Identity, id: string): ExtRecord {
    const rec = this.records.get(id);
    if (!rec) throw new HttpError(404, 'EXTENSION_NOT_FOUND', 'The extension was not found.');
    if (rec.customer_id !== who.customerId || !who.manager) throw permissionDenied();
    return rec;
  }

  /** Current servers: `direct.` + 12 hex digits, the prefix inside the hash (bin-direct-manager/pkg/directhandler/
   * handler.go, generateHash). Seed-era servers sent the bare hex. */
  private directHash(): string {
    return this.legacy ? hex(6) : `direct.${hex(6)}`;
  }

  /** A strictly increasing microsecond clock (a microsecond is added when the clock has not moved), formatted. */
  private now(): string {
    const us = Math.max((this.opts.clock ?? Date.now)() * 1000, this.lastUs + 1);
    this.lastUs = us;
    return this.render(us);
  }

  /**
   * Current servers render a timestamp as Go's time.Time does in JSON (RFC 3339 in UTC, the fraction's trailing
   * zeros trimmed and no fraction at all when it is zero: `2026-01-15T09:30:00.1234Z`, `2026-01-15T09:30:00Z`);
   * paging tokens always have six digits. Seed-era servers: `2021-02-18 12:42:27.688282`.
   */
  private render(us: number, token = false): string {
    const secs = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
    const frac = String(us % 1_000_000).padStart(6, '0');
    if (this.legacy) return `${secs.replace('T', ' ')}.${frac}`;
    if (token) return `${secs}.${frac}Z`;
    const trimmed = frac.replace(/0+$/, '');
    return trimmed ? `${secs}.${trimmed}Z` : `${secs}Z`;
  }
}

function matchRoute(method: string, path: string): { route: Route; id: string } | undefined {
  const m = /^\/v1\.0\/extensions(?:\/([^/]+)(\/direct-hash-regenerate)?)?$/.exec(path);
  const route = m ? routeOf(method, m[1], m[2]) : undefined;
  return route && { route, id: m![1] ?? '' };
}

/**
 * gin.Default() redirects a path with a trailing slash when the path without it is a route for that method
 * (RedirectTrailingSlash): 301 for GET, 307 otherwise, before any middleware (so no X-Request-Id).
 */
function trailingSlashRedirect(req: SimRequest): SimResponse | undefined {
  if (req.path.length < 2 || !req.path.endsWith('/')) return undefined;
  const to = req.path.slice(0, -1);
  if (!matchRoute(req.method, to) && !(to === '/auth/login' && req.method === 'POST')) return undefined;
  const query = new URLSearchParams(req.query).toString();
  const location = query ? `${to}?${query}` : to;
  if (req.method !== 'GET') return { status: 307, headers: { Location: location } };
  return { status: 301, headers: { Location: location, 'Content-Type': 'text/html; charset=utf-8' }, body: `<a href="${location}">Moved Permanently</a>.\n\n` };
}

function routeOf(method: string, id: string | undefined, suffix: string | undefined): Route | undefined {
  if (suffix) return method === 'POST' ? 'regenerate' : undefined;
  if (!id) return method === 'GET' ? 'list' : method === 'POST' ? 'create' : undefined;
  return ({ GET: 'get', PUT: 'put', DELETE: 'delete' } as Record<string, Route>)[method];
}

/**
 * The body's string fields, as gin's BindJSON into the generated struct reads them (server/extensions.go): an empty
 * body, malformed JSON, a body that is not an object, or a field of another type is 400 INVALID_JSON_BODY; `null`
 * and a missing field are ""; keys match exactly or else case-insensitively, as Go's encoding/json does.
 */
function fields<K extends string>(body: unknown, keys: K[]): Record<K, string> {
  const invalid = () => new HttpError(400, 'INVALID_JSON_BODY', 'The request body is not valid JSON.');
  if (body === null) body = {};
  if (typeof body !== 'object' || body === undefined || Array.isArray(body)) throw invalid();
  const obj = body as Record<string, unknown>;
  const out = {} as Record<K, string>;
  for (const k of keys) {
    const key = Object.hasOwn(obj, k) ? k : Object.keys(obj).reverse().find((o) => o.toLowerCase() === k);
    const v = key === undefined ? undefined : obj[key];
    if (v !== undefined && v !== null && typeof v !== 'string') throw invalid();
    out[k] = typeof v === 'string' ? v : '';
  }
  return out;
}

/** The list's page_size: an integer, else 400 INVALID_REQUEST_PARAMETER from the generated wrapper (server/error.go
 * BindingErrorHandler); 0, a negative one (a huge uint64 once converted) or one over 100 is 100. Absent: 100. */
function pageSize(raw: string | undefined): number {
  if (raw === undefined) return 100;
  if (!/^[+-]?\d{1,19}$/.test(raw) || BigInt(raw) > 9223372036854775807n || BigInt(raw) < -9223372036854775808n) throw invalidParameter('page_size');
  const n = Number(raw);
  return n <= 0 || n > 100 ? 100 : n;
}

/** A paging token as the database reads it: the six-digit form, a shorter fraction, or the seed-era form. */
function parseTokenUs(token: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z?$/.exec(token);
  if (!m) return -Infinity;
  const ms = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isNaN(ms) ? -Infinity : ms * 1000 + Number((m[3] ?? '').padEnd(6, '0').slice(0, 6));
}

const invalidParameter = (name: string) => new HttpError(400, 'INVALID_REQUEST_PARAMETER', `The parameter "${name}" has an invalid format.`);

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const value = part.slice(i + 1).trim();
    try {
      out[part.slice(0, i).trim()] = decodeURIComponent(value);
    } catch {
      out[part.slice(0, i).trim()] = value;
    }
  }
  return out;
}

const ok = (body: unknown): SimResponse => ({ status: 200, body });

function newRequestId(): string {
  let bits = 0;
  let value = 0;
  let out = 'req_';
  for (const byte of randomBytes(16)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out + BASE32[(value << (5 - bits)) & 31];
}
/** Every unexpected failure, as bin-api-manager/server/error_translate.go renders it. */
const internal = () => new HttpError(500, 'INTERNAL', 'An internal error occurred.');
const permissionDenied = () => new HttpError(403, 'PERMISSION_DENIED', 'You do not have permission to access this resource.');

export async function startVoipbinSimulator(opts?: VoipbinSimOptions, port = 0): Promise<{ sim: VoipbinSimulator; server: RunningSimulator }> {
  const sim = new VoipbinSimulator(opts);
  return { sim, server: await serveSimulator(sim.handle, port) };
}
