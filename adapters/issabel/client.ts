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
/** Refresh tokens issued at login live 2 h on current installs; renewal answers say when they do not. */
const REFRESH_LIFETIME_MS = 2 * 3600_000;

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
    if (isExpiredAnswer(res, opts.idempotent)) {
      session = await this.refreshAfterRefusal(ctx, session);
      res = await this.send(ctx, method, path, opts, session.access);
      if (isExpiredAnswer(res, opts.idempotent) && res.status !== 500) {
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
    return this.http.request({ ctx, method, url: path, params: opts.params, data, headers, idempotent: opts.idempotent, isFailure: isBackendFailure });
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
    if (res.status === 401 || res.status === 403) throw new BackendAuthFailedError(BACKEND, `Issabel refused the gateway's login (HTTP ${res.status}).`);
    if (res.status !== 200) throw new BackendUnavailableError(BACKEND, `Issabel failed the login (HTTP ${res.status}).`);
    const session = this.sessionFrom(parseJsonBody(BACKEND, res));
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
    const session = this.sessionFrom(body, old.refresh);
    if (!session) return this.login(ctx);
    this.counters.renewals++;
    this.http.recordSession('renewal');
    return session;
  }

  private sessionFrom(body: unknown, previousRefresh?: string): Session | undefined {
    const b = body as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown } | undefined;
    if (!b || typeof b.access_token !== 'string' || b.access_token === '') return undefined;
    const refresh = typeof b.refresh_token === 'string' && b.refresh_token !== '' ? b.refresh_token : previousRefresh;
    if (!refresh) return undefined;
    const lifetimeMs = Math.max(1, Number(b.expires_in) || 3600) * 1000;
    const now = this.now();
    return {
      access: b.access_token,
      refresh,
      renewAt: now + Math.max(lifetimeMs / 2, lifetimeMs - RENEW_MARGIN_MS),
      refreshUntil: now + REFRESH_LIFETIME_MS - RENEW_MARGIN_MS,
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
 * Every form an expired or refused token takes: 200 `{"status":"expired"}` (no Content-Type), 401, 403 with an
 * empty body, or a 500. A 500 is read as a token problem when its page says so (the JWT library's
 * ExpiredException), or for a call that is safe to replay; a create is never replayed on an unexplained 500.
 */
export function isExpiredAnswer(res: BackendResponse, idempotent: boolean): boolean {
  if (res.status === 200) {
    const body = res.text.length < 200 ? safeJson(res.text) : undefined;
    return typeof body === 'object' && body !== null && (body as { status?: unknown }).status === 'expired';
  }
  if (res.status === 401) return true;
  if (res.status === 403) return res.text.trim() === '';
  if (res.status === 500) return idempotent || /expired|JWT|token/i.test(res.text);
  return false;
}

/** An expired token's 500 is the session's business (renew and replay), not a sign the PBX is failing. */
function isBackendFailure(res: BackendResponse): boolean {
  if (res.status === 500) return !/expired|JWT|token/i.test(res.text);
  return res.status >= 500 && res.status !== 501;
}

interface IssabelError {
  status?: unknown;
  detail?: unknown;
  source?: unknown;
}

/** A 2xx that is not an expired-token disguise passes; every error becomes the gateway's, with pointers. */
function checkAnswer(res: BackendResponse, opts: CallOptions): BackendResponse {
  if (res.status >= 200 && res.status < 300 && !isExpiredAnswer(res, opts.idempotent)) return res;
  throw toError(res, opts);
}

function toError(res: BackendResponse, opts: CallOptions): GatewayError {
  const body = safeJson(res.text) as { errors?: IssabelError[] } | undefined;
  const entries = Array.isArray(body?.errors) ? body!.errors : [];
  // Issabel's validation texts ("Only digits allowed") are short, fixed strings: passed on, trimmed.
  const faults: FieldFault[] = entries.map((e) => ({
    pointer: typeof e.source === 'string' ? (opts.sources?.[e.source] ?? `/${e.source}`) : '',
    detail: typeof e.detail === 'string' ? e.detail.slice(0, 200) : 'refused',
  }));
  switch (res.status) {
    case 401:
    case 403:
      return new BackendAuthFailedError(BACKEND, `Issabel refused the gateway's token (HTTP ${res.status}).`);
    case 404:
      // Issabel's own 404s are JSON; an HTML 404 is the framework's unknown route, i.e. a wrong base_url.
      if (body === undefined) return new BackendUnavailableError(BACKEND, 'Issabel does not know this route: check the tenant base_url.');
      return new NotFoundError(opts.what ? `No ${opts.what}.` : 'Not found on Issabel.');
    case 409:
      return new ConflictError(faults[0]?.detail ? `Issabel: ${faults[0].detail}.` : 'Issabel reports a conflict.', faults.filter((f) => f.pointer));
    case 400:
    case 422:
      return new UnprocessableError('Issabel refused some fields of this request.', faults);
    default:
      // HTML error pages, PHP warnings, and 5xx bodies (which may carry the AMI secret) are never passed on.
      return new BackendUnavailableError(BACKEND, `Issabel failed (HTTP ${res.status}).`);
  }
}
