/**
 * Issabel pbxapi transport: the JWT session (login, renewal with the refresh token, login again when renewal
 * is refused, all single-flight), every disguise of an expired token, the all-strings envelope, and Issabel's
 * errors turned into the gateway's. Nothing above this file sees a token or an envelope.
 */
import { parseJsonBody, type BackendHttp, type BackendRequest, type BackendResponse } from '../../src/backend-http';
import type { RequestContext } from '../../src/contract';
import { SharedSession, sessionName } from '../../src/shared-session';
import type { StateStore } from '../../src/state/store';
import { BackendAuthFailedError, BackendUnavailableError, ConflictError, GatewayError, NotFoundError, UnprocessableError, type FieldFault } from '../../src/errors';

const BACKEND = 'issabel';
/** Renew this long before the access token's announced expiry, so most calls never meet an expired token. */
const RENEW_MARGIN_MS = 60_000;
/**
 * pbxapi signs the refresh token for twice the access token's lifetime at login and 24 times it at a renewal
 * (models/jwtauth.php: `$exp * 2`, `$exp * 24`): 2 h and 24 h with the default 3600 s.
 */
const REFRESH_FACTOR = { login: 2, renewal: 24 } as const;

export interface IssabelAuth {
  user: string;
  password: string;
}

interface Session {
  access: string;
  refresh: string;
  /** Epoch ms after which the access token should be renewed before use. */
  renewAt: number;
  refreshUntil: number;
}

export interface SessionCounters {
  logins: number;
  renewals: number;
}

/** Maps Issabel field names in `source` to the canonical body's pointers. */
export type SourceMap = Record<string, string>;

export interface CallOptions {
  data?: unknown;
  params?: Record<string, string | undefined>;
  idempotent: boolean;
  /** For a 404 answer: what was not found. */
  what?: string;
  sources?: SourceMap;
  /** A read of a whole collection: held to the tenant's larger answer-size cap. */
  list?: boolean;
}

export class IssabelClient {
  private session: Session | undefined;
  private pending: Promise<Session> | undefined;
  readonly counters: SessionCounters = { logins: 0, renewals: 0 };

  private readonly shared: SharedSession<Session> | undefined;

  constructor(
    private readonly http: BackendHttp,
    private readonly auth: IssabelAuth,
    state?: StateStore,
    /** Where the sessions come from (the base URL): part of the shared session's name. */
    server = '',
    private readonly now: () => number = Date.now,
  ) {
    this.shared = state && new SharedSession<Session>(state, sessionName('issabel-session', server, auth.user));
  }

  /** One API call: a valid token, one renewal and one replay if Issabel says the token expired. */
  async call(ctx: RequestContext, method: BackendRequest['method'], path: string, opts: CallOptions): Promise<BackendResponse> {
    let session = await this.validSession(ctx);
    let res = await this.send(ctx, method, path, opts, session.access);
    if (isExpiredAnswer(res)) {
      session = await this.refreshAfterRefusal(ctx, session);
      res = await this.send(ctx, method, path, opts, session.access);
      if (isExpiredAnswer(res)) {
        throw new BackendAuthFailedError(BACKEND, `Issabel refused a freshly issued token (HTTP ${res.status}).`);
      }
    }
    return checkAnswer(res, opts);
  }

  /** GET and unwrap `results` (v2 `{status, results}` or v1 `{results}`). */
  async results(ctx: RequestContext, path: string, opts: Omit<CallOptions, 'idempotent'> & { params?: Record<string, string | undefined> } = {}): Promise<unknown[]> {
    const res = await this.call(ctx, 'GET', path, { ...opts, idempotent: true });
    const body = parseJsonBody(BACKEND, res) as { status?: unknown; results?: unknown } | undefined;
    if (!body || typeof body !== 'object' || !Array.isArray(body.results)) {
      throw new BackendUnavailableError(BACKEND, 'Issabel answered without a results list.');
    }
    return body.results;
  }

  private send(ctx: RequestContext, method: BackendRequest['method'], path: string, opts: CallOptions, token: string): Promise<BackendResponse> {
    // Issabel wants a JSON body on every write, `{}` at least, with Content-Type exactly application/json.
    const data = method === 'GET' ? undefined : (opts.data ?? {});
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (data !== undefined) headers['content-type'] = 'application/json';
    return this.http.request({ ctx, method, url: path, params: opts.params, data, headers, idempotent: opts.idempotent, isFailure: isBackendFailure, list: opts.list });
  }

  private async validSession(ctx: RequestContext): Promise<Session> {
    const s = this.session;
    if (s && this.now() < s.renewAt) return s;
    const fresh = (c: Session | undefined) => !!c && this.now() < c.renewAt;
    return this.singleFlight(() => this.viaShared(fresh, (current) => (current ? this.renew(ctx, current) : this.login(ctx)), s));
  }

  /** The token that was refused may already have been replaced by a concurrent call (here or in another
   * gateway instance sharing the store): only renew if not. */
  private async refreshAfterRefusal(ctx: RequestContext, refused: Session): Promise<Session> {
    if (this.session && this.session.access !== refused.access) return this.session;
    const replaced = (c: Session | undefined) => !!c && c.access !== refused.access && this.now() < c.renewAt;
    return this.singleFlight(() => this.viaShared(replaced, () => this.renew(ctx, refused), refused));
  }

  /** Obtain a session once across every instance that shares the store; alone, just obtain it. */
  private async viaShared(usable: (s: Session | undefined) => boolean, obtain: (current: Session | undefined) => Promise<Session>, current: Session | undefined): Promise<Session> {
    if (!this.shared) return obtain(current);
    return this.shared.obtain(usable, async () => {
      // The stored session may be newer than ours (another instance renewed): renew from it.
      const stored = await this.shared!.read();
      const base = stored && (!current || stored.refreshUntil >= current.refreshUntil) ? stored : current;
      const value = await obtain(base);
      return { value, ttlMs: value.refreshUntil - this.now() };
    });
  }

  /** Fifty calls that find the token expired at once share one renewal. */
  private singleFlight(work: () => Promise<Session>): Promise<Session> {
    this.pending ??= work().then(
      (s) => {
        this.session = s;
        this.pending = undefined;
        return s;
      },
      (err: unknown) => {
        this.session = undefined;
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }

  private async login(ctx: RequestContext): Promise<Session> {
    const form = new URLSearchParams({ user: this.auth.user, password: this.auth.password }).toString();
    const res = await this.http.request({
      ctx,
      method: 'POST',
      url: 'authenticate',
      data: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      idempotent: true,
    });
    // Bad credentials: 403 with an empty body.
    // pbxapi logs in only the user `admin` with the AMI admin password (models/jwtauth.php post()): say so.
    if (res.status === 401 || res.status === 403) {
      throw new BackendAuthFailedError(BACKEND, `Issabel refused the gateway's login (HTTP ${res.status}). pbxapi accepts only the user 'admin' with the AMI admin password (amiadminpwd in /etc/issabel.conf), not a web GUI password.`);
    }
    if (res.status !== 200) throw new BackendUnavailableError(BACKEND, `Issabel failed the login (HTTP ${res.status}).`);
    const session = this.sessionFrom(parseJsonBody(BACKEND, res), 'login');
    if (!session) throw new BackendUnavailableError(BACKEND, 'Issabel answered the login without tokens.');
    this.counters.logins++;
    this.http.recordSession('login');
    return session;
  }

  /** Renew with the refresh token; when Issabel refuses (refresh expired, token unknown), log in again. */
  private async renew(ctx: RequestContext, old: Session): Promise<Session> {
    if (this.now() >= old.refreshUntil) return this.login(ctx);
    const res = await this.http.request({
      ctx,
      method: 'GET',
      url: 'authenticate/renewtoken',
      params: { refresh_token: old.refresh, access_token: old.access },
      idempotent: true,
    });
    const body = res.status === 200 ? safeJson(res.text) : undefined;
    const session = this.sessionFrom(body, 'renewal', old.refresh);
    if (!session) return this.login(ctx);
    this.counters.renewals++;
    this.http.recordSession('renewal');
    return session;
  }

  private sessionFrom(body: unknown, issuedBy: keyof typeof REFRESH_FACTOR, previousRefresh?: string): Session | undefined {
    const b = body as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown } | undefined;
    if (!b || typeof b.access_token !== 'string' || b.access_token === '') return undefined;
    const refresh = typeof b.refresh_token === 'string' && b.refresh_token !== '' ? b.refresh_token : previousRefresh;
    if (!refresh) return undefined;
    const lifetimeMs = Math.max(1, Number(b.expires_in) || 3600) * 1000;
    const refreshMs = lifetimeMs * REFRESH_FACTOR[issuedBy];
    const now = this.now();
    return {
      access: b.access_token,
      refresh,
      renewAt: now + Math.max(lifetimeMs / 2, lifetimeMs - RENEW_MARGIN_MS),
      refreshUntil: now + Math.max(refreshMs / 2, refreshMs - RENEW_MARGIN_MS),
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Every form an expired or refused token takes (models/authorize.php): HTTP 200 `{"status": "expired"}` sent as
 * text/html, for a token expired less than 720000 s ago; a 500 error page for one expired longer ago (the JWT
 * library's uncaught ExpiredException, "Expired token"); 403 with an empty body for a missing or badly signed
 * one. pbxapi has no 401 form; one from a proxy in front is read the same way. Any other 500 (a failed AMI
 * login, a PHP or database error) is not about the token: renewing and replaying would repeat a write that may
 * have half happened, so it is never replayed. (Debug pages dump the Authorization header and the JWT key, so
 * words like "token" or "JWT" prove nothing: only the exception's own name does.)
 */
export function isExpiredAnswer(res: BackendResponse): boolean {
  if (res.status === 200) {
    const body = res.text.length < 200 ? safeJson(res.text) : undefined;
    return typeof body === 'object' && body !== null && (body as { status?: unknown }).status === 'expired';
  }
  if (res.status === 401) return true;
  if (res.status === 403) return res.text.trim() === '';
  if (res.status === 500) return isExpiredTokenPage(res.text);
  return false;
}

const isExpiredTokenPage = (text: string) => /ExpiredException|Expired token/.test(text);

/** An expired token's 500 is the session's business (renew and replay), not a sign the PBX is failing. */
function isBackendFailure(res: BackendResponse): boolean {
  if (res.status === 500) return !isExpiredTokenPage(res.text);
  return res.status >= 500 && res.status !== 501;
}

interface IssabelError {
  status?: unknown;
  detail?: unknown;
  source?: unknown;
}

/** A 2xx that is not an expired-token disguise passes; every error becomes the gateway's, with pointers. */
function checkAnswer(res: BackendResponse, opts: CallOptions): BackendResponse {
  if (res.status >= 200 && res.status < 300 && !isExpiredAnswer(res)) return res;
  throw toError(res, opts);
}

/**
 * pbxapi's fixed validation texts, in the gateway's words. Anything else it says (database errors carry SQL,
 * PHP pages carry secrets) is never passed on: the problem names the field and the vendor's status at most.
 */
const KNOWN_DETAILS: Record<string, string> = {
  'Only digits allowed': 'digits only',
  'Not in list of allowed values': 'not an allowed value',
  'Valid range: 1-300': 'must be between 1 and 300',
  'Only numeric values allowed': 'must be a number',
  'Required field missing': 'required',
  'Extension number already in use': 'number already in use on the PBX',
};

/** A PDO message: rest.php passes database errors on as `detail`, SQL text included. */
const isDatabaseError = (detail: unknown) => typeof detail === 'string' && /SQLSTATE\[/.test(detail);

function toError(res: BackendResponse, opts: CallOptions): GatewayError {
  const body = safeJson(res.text) as { errors?: IssabelError[] } | undefined;
  const entries = Array.isArray(body?.errors) ? body!.errors : [];
  const faults: FieldFault[] = entries.map((e) => ({
    pointer: typeof e.source === 'string' ? (opts.sources?.[e.source] ?? `/${e.source}`) : '',
    detail: (typeof e.detail === 'string' && KNOWN_DETAILS[e.detail]) || 'refused by the backend',
  }));
  // rest.php maps database errors the wrong way round: a duplicate key (SQLSTATE 23000) answers 400, any other
  // database error 409. Read the SQLSTATE, never the status, and pass none of the text on.
  const dbError = entries.find((e) => isDatabaseError(e.detail));
  if (dbError) {
    if (/SQLSTATE\[23000\]/.test(String(dbError.detail)) && /Duplicate/i.test(String(dbError.detail))) {
      return new ConflictError('Issabel refused the write: the number or name is already taken in its database.');
    }
    return new BackendUnavailableError(BACKEND, `Issabel's database refused the write (HTTP ${res.status}).`);
  }
  switch (res.status) {
    case 401:
    case 403:
      return new BackendAuthFailedError(BACKEND, `Issabel refused the gateway's token (HTTP ${res.status}).`);
    case 404:
      // Issabel's own 404s are JSON; an HTML 404 is the framework's unknown route, i.e. a wrong base_url.
      if (body === undefined) return new BackendUnavailableError(BACKEND, 'Issabel does not know this route: check the tenant base_url.');
      return new NotFoundError(opts.what ? `No ${opts.what}.` : 'Not found on Issabel.');
    case 409:
      return new ConflictError('Issabel reports a conflict: the number is already in use on the PBX.', faults.filter((f) => f.pointer));
    case 400:
    case 422:
      return new UnprocessableError('Issabel refused some fields of this request.', faults);
    default:
      // HTML error pages, PHP warnings, and 5xx bodies (which may carry the AMI secret) are never passed on.
      return new BackendUnavailableError(BACKEND, `Issabel failed (HTTP ${res.status}).`);
  }
}
