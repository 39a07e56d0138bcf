/**
 * In-process twin of Issabel's v2 `pbxapi` (see docs/backends.md, "Issabel pbxapi"), used by the demo and the
 * adapter contract tests. It keeps the real (PHP, Fat-Free) server's quirks on purpose: bad login = bare 403,
 * an expired token answered with HTTP 200 `{"status": "expired"}` and no Content-Type (or 500/403/401, see
 * `expiredStyle`), every scalar in an answer a string, a missing extension = 200 `results: []`, POST filling the
 * first numbering gap, PUT that silently creates or overwrites, comma DELETE that is not atomic, and HTML for
 * unknown routes. Pure handler + state; `serveSimulator` from the kit puts it behind HTTP, tests may use nock.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { serveSimulator, type RunningSimulator, type SimHandler, type SimRequest, type SimResponse } from '../../src/simulator-kit';
import { DEVICE_KEYWORDS } from './update-rules';

export const DEMO_USER = { user: 'admin', password: 'issabel-demo-pass' };

export interface IssabelSimOptions {
  /** Accepted logins (default [DEMO_USER]). */
  users?: { user: string; password: string }[];
  /** Access token lifetime, default 3600 s (`expires_in` reports it in seconds, at least 1). */
  accessTtlMs?: number;
  /** Lifetime of a refresh token issued at login, default 2 h; one issued by a renewal lives 12 times as long
   * (pbxapi: twice and 24 times the access token's lifetime, models/jwtauth.php). */
  refreshTtlMs?: number;
  /** The PBX host name, default 'pbx.demo.local'; only used in `Location` headers, as Issabel does. */
  host?: string;
  /** How an EXPIRED access token is answered; default 'status200' (models/authorize.php: a token expired under
   * 720000 s ago), 'http500' for one expired longer ago (uncaught ExpiredException), 'http403' as for a bad one.
   * pbxapi has no 401 form. */
  expiredStyle?: 'status200' | 'http500' | 'http403';
}

/** `settings`: more of the record, nested as GET shows it (`followme`, `dictation`, `device_options.rtcp_mux`...),
 * written straight into the store as if made in the GUI. */
export interface SimExtensionSeed { extension: string; name: string; secret?: string; tech?: string; settings?: Record<string, unknown> }
export interface SimRingGroupSeed { extension: string; name: string; extension_list: string[]; strategy?: string; ring_time?: number }

/** Records are stored flat with dotted keys (`recording.ondemand`) and raw types, as PHP flattens its input. */
type Flat = Record<string, unknown>;
interface ErrorEntry { status: string; detail: string; source?: string }
interface Token { user: string; expMs: number; revoked?: boolean }

/** One resource (extensions or ring groups): the generic rest.php controller plus its per-resource settings. */
interface Table {
  kind: 'extensions' | 'ringgroups';
  rows: Map<string, Flat>;
  first: number; // the number POST uses when the table is empty (no row to add 1 to)
  listKeys: string[]; // the default list view
  fixed: string[]; // keys no write sets: the number, derived fields (and `tech` once created)
  required: string[]; // checked when creating, like rest.php's checkRequiredFields
  missingGetEmpty: boolean; // extensions answer a missing record with 200 `results: []`; others keep rest.php's 404
  putCreates: boolean; // v2 extensions create on PUT; v2 ring groups answer 404
  make(n: string, input: Flat): Flat;
  validate(input: Flat): ErrorEntry[]; // every error at once, as the PHP does; may normalise the input
}

class Fail extends Error {
  constructor(readonly errors: ErrorEntry[]) { super(errors[0]?.detail); }
}

const TECHS = ['sip', 'pjsip', 'iax2', 'virtual', 'dahdi', 'custom'];
const DIAL_PREFIX: Record<string, string> = { sip: 'SIP', pjsip: 'PJSIP', iax2: 'IAX2', dahdi: 'DAHDI', custom: 'CUSTOM' };
const RECORDING = ['always', 'dontcare', 'never'];
const REC_DIRECTIONS = ['inbound_external', 'inbound_internal', 'outbound_external', 'outbound_internal'];
const YES_NO = ['yes', 'no'];
const STRATEGIES = ['ringall', 'ringall-prim', 'hunt', 'hunt-prim', 'memoryhunt', 'memoryhunt-prim', 'firstavailable', 'firstnotonphone'];
const RG_LIST_KEYS = ['id', 'name', 'extension', 'extension_list', 'strategy', 'change_callerid', 'fixed_callerid'];
const RG_FLAGS = ['confirm_calls', 'skip_busy_agent', 'ignore_call_forward_settings', 'enable_call_pickup'];
const HTML = { 'Content-Type': 'text/html; charset=UTF-8' };

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSet = (v: unknown) => v !== undefined && v !== null; // PHP isset()
const entry = (status: number, detail: string, source?: string): ErrorEntry => ({ status: String(status), detail, ...(source ? { source } : {}) });
const fail = (status: number, detail: string, source?: string): never => {
  throw new Fail([entry(status, detail, source)]);
};
// JSON answers get their Content-Type from the kit (PHP says `application/json;charset=utf-8`; both agree).
const json = (status: number, body: unknown): SimResponse => ({ status, body });

export class IssabelSimulator {
  readonly calls: { method: string; path: string }[] = [];
  readonly counters = { logins: 0, renewals: 0, reloads: 0 };
  private readonly access = new Map<string, Token>();
  private readonly refresh = new Map<string, Token>();
  private readonly key = randomBytes(32);
  private readonly o: Required<IssabelSimOptions>;
  private readonly ext: Table;
  private readonly rg: Table;

  constructor(opts: IssabelSimOptions = {}) {
    this.o = {
      users: opts.users ?? [DEMO_USER], accessTtlMs: opts.accessTtlMs ?? 3600 * 1000, refreshTtlMs: opts.refreshTtlMs ?? 2 * 3600 * 1000,
      host: opts.host ?? 'pbx.demo.local', expiredStyle: opts.expiredStyle ?? 'status200',
    };
    this.ext = {
      kind: 'extensions', rows: new Map(), first: 1000, // FreePBX-style 4-digit plan when nothing exists yet
      listKeys: ['extension', 'name', 'tech', 'dial', 'secret', 'context'],
      fixed: ['extension', 'dial', 'tech'],
      // `name` is optional: "Extension" when left out (extensions.php post()/put()).
      required: [],
      missingGetEmpty: true, putCreates: true,
      make: (n, input) => extensionRecord(n, isSet(input.tech) ? String(input.tech) : 'sip'),
      validate: (input) => [
        ...digits(input),
        ...oneOf(input, 'tech', TECHS),
        ...REC_DIRECTIONS.flatMap((d) => oneOf(input, `recording.${d}`, RECORDING)),
        ...oneOf(input, 'voicemail.enabled', YES_NO),
        ...oneOf(input, 'followme.enabled', YES_NO),
        ...oneOf(input, 'dictation.enabled', YES_NO),
        ...oneOf(input, 'dictation.format', ['ogg', 'gsm', 'wav']),
        ...(isSet(input['callerid_override.emergency']) && !/^[0-9]*$/.test(String(input['callerid_override.emergency'])) ? [entry(422, 'Only digits allowed', 'callerid_override.emergency')] : []),
      ],
    };
    this.rg = {
      kind: 'ringgroups', rows: new Map(), first: 600, // the README's first ring group
      listKeys: RG_LIST_KEYS, fixed: ['id', 'extension'], required: ['extension_list'],
      missingGetEmpty: false, putCreates: false,
      make: (n) => ringGroupRecord(n),
      validate: (input) => {
        if (isSet(input.extension_list)) input.extension_list = toList(input.extension_list);
        const r = Number(input.ring_time);
        return [
          ...digits(input),
          ...oneOf(input, 'strategy', STRATEGIES),
          ...oneOf(input, 'music_on_hold_ringing', ['Ring', 'default', 'none']),
          ...RG_FLAGS.flatMap((k) => oneOf(input, k, YES_NO)),
          ...(isSet(input.ring_time) && !(Number.isInteger(r) && r >= 1 && r <= 300) ? [entry(422, 'Valid range: 1-300', 'ring_time')] : []),
        ];
      },
    };
  }

  readonly handle: SimHandler = (req) => {
    this.calls.push({ method: req.method, path: req.path });
    try {
      return this.dispatch(req);
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      // rest.php dieWithErrors: one distinct status is the HTTP status, mixed ones give 400; any 500 says "error".
      const statuses = new Set(e.errors.map((x) => x.status));
      const status = statuses.size === 1 ? Number([...statuses][0]) : 400;
      return json(status, { status: statuses.has('500') ? 'error' : 'fail', errors: e.errors });
    }
  };

  seed(list: SimExtensionSeed[]): void {
    for (const s of list) {
      this.create(this.ext, s.extension, defined({ name: s.name, secret: s.secret, tech: s.tech }));
      if (s.settings) Object.assign(this.ext.rows.get(s.extension)!, flatten(s.settings));
    }
  }

  seedRingGroups(list: SimRingGroupSeed[]): void {
    for (const s of list) this.create(this.rg, s.extension, defined({ ...s, extension: undefined, extension_list: [...s.extension_list] }));
  }

  seedDemo(): void {
    const names = ['Reception', 'Alice Martin', 'Bruno Costa', 'Chen Wei', 'Dana Okafor', 'Conference Room'];
    this.seed(names.map((name, i) => ({ extension: String(1000 + i), name, secret: `demo-${1000 + i}-${randomBytes(4).toString('hex')}` })));
    // Settings made in the GUI that pbxapi's update would reset: the gateway carries these over (Alice) or,
    // for a device keyword outside pbxapi's list (the conference room's rtcp_mux), refuses without accept_loss.
    Object.assign(this.ext.rows.get('1001')!, flatten({ callerid_override: { emergency: '5550001001' }, followme: FOLLOWME_ON('1001'), dictation: { enabled: 'yes', email: 'alice@example.com', format: 'ogg' } }));
    this.ext.rows.get('1005')!['device_options.rtcp_mux'] = 'yes';
    this.seedRingGroups([
      { extension: '600', name: 'Sales', extension_list: ['1001', '1002'] },
      { extension: '601', name: 'Support', extension_list: ['1003', '1004'], strategy: 'hunt', ring_time: 30 },
    ]);
  }

  expireAccessTokens(): void {
    expire(this.access);
  }

  expireRefreshTokens(): void {
    expire(this.refresh);
  }

  private deleteFailsAt: string | undefined;

  /** The next DELETE that reaches this number fails there with a database error (500), the earlier ones gone. */
  failNextDeleteAt(number: string): void {
    this.deleteFailsAt = number;
  }

  /** The stored ring group record, nested; a copy. */
  rawRingGroup(number: string): Record<string, unknown> | undefined {
    const row = this.rg.rows.get(number);
    return row && unflatten(structuredClone(row));
  }

  has(extension: string): boolean {
    return this.ext.rows.has(extension);
  }

  /** The stored extension record, nested, with raw (unstringified) values; a copy. */
  raw(extension: string): Record<string, unknown> | undefined {
    const row = this.ext.rows.get(extension);
    return row && unflatten(structuredClone(row));
  }

  // ---- routing and authentication --------------------------------------------------------------------------

  private dispatch(req: SimRequest): SimResponse {
    const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
    if (path === '/pbxapi/authenticate' && req.method === 'POST') return this.login(req.body);
    if (path === '/pbxapi/authenticate/renewtoken' && req.method === 'GET') return this.renew(req.query);
    const m = /^\/pbxapi\/(extensions|ringgroups)(?:\/([^/]+))?$/.exec(path);
    // The framework's router answers before any controller (so before authentication), with an HTML page.
    if (!m || !['GET', 'POST', 'PUT', 'DELETE'].includes(req.method)) return notFoundPage(req);
    const denied = this.authorize(req);
    if (denied) return denied;
    return this.resource(req, m[1] === 'extensions' ? this.ext : this.rg, m[2] ? decodeURIComponent(m[2]) : '');
  }

  private login(body: unknown): SimResponse {
    const creds = typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : isObj(body) ? body : {};
    const name = creds.user ?? creds.username;
    const user = this.o.users.find((u) => u.user === name && u.password === creds.password);
    if (!user) return { status: 403 }; // bad or missing credentials: a bare 403 with an empty body
    this.counters.logins++;
    return json(200, { ...this.issue(user.user), token_type: 'Bearer' });
  }

  /** Order of checks (ours): refresh token known, then not expired, then the access token known and unrenewed. */
  private renew(query: Record<string, string>): SimResponse {
    const r = this.known(this.refresh, query.refresh_token);
    if (!r) return json(200, { status: 'unauthorized' });
    if (r.expMs <= Date.now()) return json(200, { status: 'expired', type: 'refresh' });
    const a = this.known(this.access, query.access_token); // merely expired is fine here
    if (!a || a.revoked) return json(200, { status: 'unauthorized' });
    a.revoked = true; // the old access token stops working (403 from now on)
    this.counters.renewals++;
    // The old refresh token stays valid until it expires (stateless JWT); the new one gets a full lifetime.
    return json(200, { status: 'authorized', ...this.issue(a.user, 'renewal') });
  }

  private issue(user: string, by: 'login' | 'renewal' = 'login'): { access_token: string; expires_in: number; refresh_token: string } {
    const now = Date.now();
    const refreshTtlMs = by === 'login' ? this.o.refreshTtlMs : this.o.refreshTtlMs * 12;
    const access = this.sign({ iat: Math.floor(now / 1000), exp: Math.floor((now + this.o.accessTtlMs) / 1000), data: { name: user } });
    const refresh = this.sign({ iat: Math.floor(now / 1000), exp: Math.floor((now + refreshTtlMs) / 1000), data: [] });
    this.access.set(access, { user, expMs: now + this.o.accessTtlMs });
    this.refresh.set(refresh, { user, expMs: now + refreshTtlMs });
    return { access_token: access, expires_in: Math.max(1, Math.round(this.o.accessTtlMs / 1000)), refresh_token: refresh };
  }

  private sign(payload: Record<string, unknown>): string {
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
    const body = b64url(JSON.stringify({ ...payload, jti: randomBytes(8).toString('hex') })); // unique per issue
    return `${head}.${body}.${b64url(createHmac('sha256', this.key).update(`${head}.${body}`).digest())}`;
  }

  /** The token's state if it carries our signature and was issued here. */
  private known(map: Map<string, Token>, token: string | undefined): Token | undefined {
    const [head, body, sig] = (token ?? '').split('.');
    if (!head || !body || sig !== b64url(createHmac('sha256', this.key).update(`${head}.${body}`).digest())) return undefined;
    return map.get(token as string);
  }

  private authorize(req: SimRequest): SimResponse | undefined {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const t = this.known(this.access, bearer);
    if (!t || t.revoked) return { status: 403 }; // missing, badly signed, unknown or renewed: bare 403
    if (t.expMs > Date.now()) return undefined;
    // http500: a token expired long ago trips an uncaught exception in the JWT library, i.e. a PHP error page.
    // status200: echoed by hand, so PHP's default Content-Type (text/html) goes with it.
    if (this.o.expiredStyle === 'status200') return { status: 200, headers: { ...HTML }, body: '{"status": "expired"}' };
    if (this.o.expiredStyle === 'http403') return { status: 403 };
    const where = '/var/www/html/pbxapi/vendor/firebase/php-jwt/src/JWT.php:139';
    return { status: 500, headers: { ...HTML }, body: `<br />\n<b>Fatal error</b>:  Uncaught Firebase\\JWT\\ExpiredException: Expired token in ${where}\n` };
  }

  // ---- the generic REST controller (rest.php) --------------------------------------------------------------

  private resource(req: SimRequest, t: Table, id: string): SimResponse {
    if (req.method === 'GET') return this.read(t, id, req.query.fields);
    if (req.method === 'DELETE') {
      if (!id) fail(405, 'Cannot delete if no ID is supplied');
      // extensions.php does not read the body (its json_decode is commented out); ringgroups.php requires one,
      // and passes it to applyChanges (`reload: false` holds the reload back).
      const body = t.kind === 'ringgroups' ? this.jsonBody(req) : undefined;
      if (t.kind !== 'ringgroups' && req.body !== undefined) this.input(req);
      // One at a time, not atomic: the first missing number stops the batch with earlier ones already gone,
      // and (as rest.php dies before apply-changes) a failed batch does not reload.
      for (const n of id.split(',')) {
        if (n === this.deleteFailsAt) {
          this.deleteFailsAt = undefined;
          // extensions.php delete(): a PDOException erasing a row dies with 500 and the PDO message.
          fail(500, 'SQLSTATE[HY000]: General error: 1205 Lock wait timeout exceeded; try restarting transaction');
        }
        if (!t.rows.delete(n)) fail(404, 'Could not find a record to delete');
      }
      if (body) this.reload(body);
      else this.counters.reloads++; // extensions.php delete() ignores `reload`
      return { status: 200 };
    }
    if (req.method === 'POST') {
      if (id) fail(400, 'We refuse to insert a record if a resource id is passed. For update use the PUT method instead.');
      const input = requireFields(t, this.input(req));
      if (isSet(input.extension)) return this.insert(t, String(input.extension), input, req.query);
      // extensions.php picks from the users table and has no fallback: on an empty PBX the number is NULL and
      // the device insert fails (a PHP error page; nothing is created). rest.php (ring groups) starts at 600, and
      // checks the picked number against nothing (dieExtensionDuplicate ran before, on no number).
      if (t.kind === 'extensions' && t.rows.size === 0) return phpErrorPage("SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'id' cannot be null");
      return this.insert(t, nextFree(t.rows, t.first), input, req.query, t.kind === 'extensions');
    }
    // PUT
    if (!id) fail(405, 'Unable to update. Missing record id');
    const input = this.input(req);
    const row = t.rows.get(id);
    if (!row) {
      if (!t.putCreates) fail(404, 'Could not find a record to update');
      this.putCreated = true;
      try {
        return this.insert(t, id, requireFields(t, input), req.query); // the path number wins over a body `extension`
      } finally {
        this.putCreated = false;
      }
    }
    for (const k of t.fixed) delete input[k]; // e.g. `tech` cannot change: silently ignored
    check(t, input);
    apply(row, input, t.fixed); // silent overwrite of the fields sent
    if (t.kind === 'extensions') {
      const failed = rebuildExtension(row, input);
      if (failed) return failed;
    }
    this.reload(input);
    return { status: 200 };
  }

  private read(t: Table, id: string, fields: string | undefined): SimResponse {
    if (!id) {
      const rows = [...t.rows.values()].sort((a, b) => byNumber(String(a.extension), String(b.extension)));
      return success(rows.map((r) => unflatten(view(r, t.listKeys, fields))));
    }
    const row = t.rows.get(id);
    // A single record is always the full view, in a one-element array; Follow-Me shows defaults when it has no row.
    if (row) return success([unflatten(t.kind === 'extensions' ? withFollowmeDefaults(row) : row)]);
    return t.missingGetEmpty ? success([]) : fail(404, 'Record not found');
  }

  private insert(t: Table, n: string, input: Flat, query: Record<string, string>, checkNumber = true): SimResponse {
    input.extension = n;
    check(t, input); // may normalise the input (ring group members)
    // One numbering plan for every kind (rest.php dieExtensionDuplicate), checked on a number that was sent, and
    // by extensions on the one they picked; a ring group's picked number is not checked at all.
    if (checkNumber && (this.ext.rows.has(n) || this.rg.rows.has(n))) fail(409, 'Extension number already in use');
    if (!isSet(input.name) && t.kind === 'extensions') input.name = 'Extension';
    this.create(t, n, input);
    this.reload(input);
    // The real server builds Location from the whole request URI, query string included: a PUT-create answers
    // that URI, a POST appends `/<number>` to it (so after the query string).
    const qs = new URLSearchParams(query).toString();
    const base = `https://${this.o.host}/pbxapi/${t.kind}`;
    const created = this.putCreated ? `${base}/${n}${qs ? `?${qs}` : ''}` : `${base}${qs ? `?${qs}` : ''}/${n}`;
    return { status: 201, headers: { Location: created } };
  }

  /** Set while a PUT creates, for the shape of its Location. */
  private putCreated = false;

  private create(t: Table, n: string, input: Flat): void {
    t.rows.set(n, apply(t.make(n, input), input, t.fixed));
  }

  /**
   * rest.php reloads unless `reload` is set and neither `== 1` nor `== 'true'` under PHP 7's loose comparison.
   * So false, "false", "0", "no" skip apply-changes, while true, 1, "1", "true", null and integer 0 (0 == 'true'
   * before PHP 8) still reload.
   */
  private reload(input: Flat): void {
    const v = input.reload;
    const yes = !isSet(v) || v === true || v === 0 || v === 1 || v === 'true' || (typeof v === 'string' && v.trim() !== '' && Number(v) === 1);
    if (yes) this.counters.reloads++;
  }

  /**
   * PHP's parseInputData: only a Content-Type of exactly `application/json` gets json_decode (an empty or bad
   * body is then 400 "Could not decode JSON"); anything else, even `application/json; charset=utf-8`, is read
   * with parse_str as form fields, so a JSON text silently yields no usable field.
   */
  /** ringgroups.php delete(): json_decode of the raw body whatever its type; an empty one is 400. */
  private jsonBody(req: SimRequest): Flat {
    if (typeof req.body === 'string' || req.body === undefined) {
      try {
        const parsed: unknown = JSON.parse(req.body ?? '');
        return parsed && typeof parsed === 'object' ? flatten(parsed) : {};
      } catch {
        fail(400, 'Could not decode JSON');
      }
    }
    return req.body && typeof req.body === 'object' ? flatten(req.body) : {};
  }

  private input(req: SimRequest): Flat {
    let body = req.body;
    if (req.headers['content-type'] === 'application/json') {
      if (body === undefined || typeof body === 'string') {
        try {
          body = JSON.parse(typeof body === 'string' ? body : '');
        } catch {
          fail(400, 'Could not decode JSON');
        }
      }
      return flatten(body);
    }
    if (typeof body === 'string') return Object.fromEntries(new URLSearchParams(body));
    return req.headers['content-type']?.includes('application/x-www-form-urlencoded') ? flatten(body) : {};
  }
}

// ---- records --------------------------------------------------------------------------------------------------

/** A new extension as pbxapi's GET shows one it created (extensions.php create_param/create_user defaults). */
function extensionRecord(n: string, tech: string): Flat {
  return {
    extension: n, name: '', tech,
    // Virtual extensions have no device to dial; the DAHDI one really names a channel (approximated here).
    dial: DIAL_PREFIX[tech] ? `${DIAL_PREFIX[tech]}/${n}` : '',
    secret: randomBytes(16).toString('hex'), // 32 random characters
    context: 'from-internal', sip_alias: '', language: '',
    ...group('callerid_override', { emergency: '', outbound: '', internal: n }),
    ...group('voicemail', { enabled: 'no' }),
    ...group('destination', { callerid_prefix_no_answer: '', callerid_prefix_busy: '', callerid_prefix_unavailable: '', no_answer: '', busy: '', unavailable: '' }),
    ...group('extension_options', { ring_time: 0, pinless_dialing: 'no', call_waiting: 'yes', internal_auto_answer: 'no', call_forward_ring_time: 0, outbound_concurrency_limit: 0, queue_state_detection: 'yes' }),
    ...group('recording', { ...Object.fromEntries(REC_DIRECTIONS.map((d) => [d, 'dontcare'])), ondemand: 'no', priority: 0 }),
    ...group('device_options', deviceDefaults(n, tech)),
    'dictation.enabled': 'no',
  };
}

const deviceDefaults = (n: string, tech: string): Flat =>
  Object.fromEntries(Object.entries(DEVICE_KEYWORDS[tech] ?? {}).map(([k, v]) => [k, v.replace(/<n>/g, n)]));

/** A Follow-Me set up in the GUI: its findmefollow row and astdb keys, as GET shows them. */
export const FOLLOWME_ON = (n: string): Record<string, unknown> => ({
  enabled: 'yes', strategy: 'ringallv2-prim', ring_time: '30', initial_ring_time: '7', extension_list: [n, '5551234567#'],
  callerid_name_prefix: 'FM:', confirm_calls: 'yes', destination_if_no_answer: `ext-local,vmu${n},1`, alert_info: '',
  announcement_id: '0', remote_announce_id: '0', toolate_announce_id: '0', music_on_hold: 'Ring',
  change_external_callerid: 'default', fixed_callerid: '',
});

/** GET shows these when an extension has no Follow-Me row (extensions.php get()). */
function withFollowmeDefaults(row: Flat): Flat {
  if (Object.keys(row).some((k) => k.startsWith('followme.'))) return row;
  return { ...row, 'followme.enabled': 'no', 'followme.ring_time': '30', 'followme.initial_ring_time': '0', 'followme.extension_list': [row.extension] };
}

/**
 * What pbxapi's update does beyond the fields sent (extensions.php put() on an existing number): the emergency
 * caller id is written as sent (cleared when left out), Follow-Me and dictation are deleted unless the body
 * enables them, and the device keywords are rebuilt from pbxapi's list (others deleted, missing ones added).
 * Follow-Me enabled without a stored row fails half-way, as the real INSERT does (strategy cannot be null).
 */
function rebuildExtension(row: Flat, input: Flat): SimResponse | undefined {
  if (!isSet(input['callerid_override.emergency'])) row['callerid_override.emergency'] = '';
  const dropGroup = (prefix: string) => Object.keys(row).filter((k) => k.startsWith(prefix)).forEach((k) => delete row[k]);
  if (input['dictation.enabled'] !== 'yes') {
    dropGroup('dictation.');
    row['dictation.enabled'] = 'no';
  }
  const defaults = deviceDefaults(String(row.extension), String(row.tech));
  for (const k of Object.keys(row)) if (k.startsWith('device_options.') && !(k.slice(15) in defaults)) delete row[k];
  for (const [k, v] of Object.entries(defaults)) if (!(`device_options.${k}` in row)) row[`device_options.${k}`] = v;
  if (input['followme.enabled'] !== 'yes') {
    dropGroup('followme.');
  } else if (!('followme.strategy' in row)) {
    return phpErrorPage("SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'strategy' cannot be null");
  } else {
    row['followme.enabled'] = 'yes';
  }
  return undefined;
}

function ringGroupRecord(n: string): Flat {
  return {
    id: n, name: '', extension: n, extension_list: [], strategy: 'ringall', change_callerid: 'default', fixed_callerid: '',
    ring_time: 20, cid_name_prefix: '', announce_id: '', destination_if_no_answer: 'app-blackhole,hangup,1', alert_info: '',
    confirm_calls: 'no', music_on_hold_ringing: 'Ring', skip_busy_agent: 'no', ignore_call_forward_settings: 'no',
    enable_call_pickup: 'no', recording: 'dontcare',
  };
}

/** Writes the input's known keys (stored dotted names) into the row; unknown keys are ignored, as copyFrom does. */
function apply(row: Flat, input: Flat, fixed: string[]): Flat {
  for (const [k, v] of Object.entries(input)) if (Object.hasOwn(row, k) && !fixed.includes(k)) row[k] = v;
  return row;
}

function check(t: Table, input: Flat): void {
  const errors = t.validate(input);
  if (errors.length) throw new Fail(errors);
}

function expire(tokens: Map<string, Token>): void {
  for (const t of tokens.values()) t.expMs = Math.min(t.expMs, Date.now() - 1);
}

function requireFields(t: Table, input: Flat): Flat {
  const missing = t.required.filter((k) => !isSet(input[k]));
  if (missing.length) throw new Fail(missing.map((k) => entry(422, 'Required field missing', k)));
  return input;
}

const digits = (input: Flat): ErrorEntry[] =>
  isSet(input.extension) && !/^\d+$/.test(String(input.extension)) ? [entry(422, 'Only digits allowed', 'extension')] : [];
const oneOf = (input: Flat, key: string, allowed: string[]): ErrorEntry[] =>
  isSet(input[key]) && !allowed.includes(String(input[key])) ? [entry(422, 'Not in list of allowed values', key)] : [];

/** Ring group members: an array, or the stored dash-separated form (commas and spaces accepted too). */
const toList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : String(v).split(/[-,\s]+/).filter(Boolean));

/** The smallest existing number N whose N+1 is unused gives N+1 (the real SQL); `first` for an empty table. */
function nextFree(rows: Map<string, Flat>, first: number): string {
  const nums = [...rows.keys()].map(Number).filter(Number.isFinite).sort((a, b) => a - b);
  const n = nums.find((x) => !rows.has(String(x + 1)));
  return String(n === undefined ? first : n + 1);
}

const byNumber = (a: string, b: string) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0);

/** The list view: default keys, or `fields=*` for all, or a comma list of (dotted or group) names added. */
function view(row: Flat, keys: string[], fields: string | undefined): Flat {
  if (fields === '*') return row;
  const wanted = (fields ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  return Object.fromEntries(Object.entries(row).filter(([k]) => keys.includes(k) || wanted.some((f) => k === f || k.startsWith(`${f}.`))));
}

const group = (prefix: string, values: Flat): Flat => Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}.${k}`, v]));
const defined = (o: Flat): Flat => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

function flatten(v: unknown, prefix = '', out: Flat = {}): Flat {
  if (!isObj(v)) return out; // PHP's flatten of a non-array (a JSON scalar or null) is no field at all
  for (const [k, x] of Object.entries(v)) {
    if (isObj(x)) flatten(x, `${prefix}${k}.`, out);
    else out[prefix + k] = x;
  }
  return out;
}

function unflatten(flat: Flat): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    const parts = k.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (isObj(node[p]) ? node[p] : (node[p] = {})) as Record<string, unknown>;
    node[parts[parts.length - 1]] = v;
  }
  return out;
}

/** PHP's array_walk_recursive(strval): numbers become "30", null and false "", true "1"; arrays stay arrays. */
function strval(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strval);
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strval(x)]));
  return v === null || v === undefined || v === false ? '' : v === true ? '1' : String(v);
}

const success = (results: unknown[]): SimResponse => json(200, { status: 'success', results: strval(results) });

/** The framework's error page for an uncaught PHP error, as pbxapi's debug level shows it (it also dumps the
 * request headers and config, the AMI password among them: stood in for here by a fake one). */
function phpErrorPage(message: string): SimResponse {
  const body = `<!DOCTYPE html>\n<html>\n<head><title>500 Internal Server Error</title></head>\n<body>\n<h1>Internal Server Error</h1>\n<p>${message}</p>\n<pre>'MGRPASS'=>'sim-ami-secret','JWT_KEY'=>'sim-jwt-key'</pre>\n</body>\n</html>\n`;
  return { status: 500, headers: { ...HTML }, body };
}

/** The framework's (Fat-Free) default error page. */
function notFoundPage(req: SimRequest): SimResponse {
  const what = `${req.method} ${req.path}`.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<!DOCTYPE html>\n<html>\n<head>\n<title>404 Not Found</title>\n</head>\n<body>\n<h1>Not Found</h1>\n<p>HTTP 404 (${what})</p>\n</body>\n</html>\n`;
  return { status: 404, headers: { ...HTML }, body };
}

export async function startIssabelSimulator(opts?: IssabelSimOptions, port = 0): Promise<{ sim: IssabelSimulator; server: RunningSimulator }> {
  const sim = new IssabelSimulator(opts);
  return { sim, server: await serveSimulator(sim.handle, port) };
}
