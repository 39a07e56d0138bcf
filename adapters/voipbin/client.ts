/**
 * VoIPBIN's transport: credentials (access key, JWT, or a login that is renewed when refused), the error
 * envelope turned into gateway errors, and nothing of the extension model. Nothing above this file sees a
 * VoIPBIN envelope or a credential.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { SharedSession, sessionName } from '../../src/shared-session';
import type { StateStore } from '../../src/state/store';
import { parseJsonBody, type BackendHttp, type BackendRequest, type BackendResponse } from '../../src/backend-http';
import type { RequestContext } from '../../src/contract';
import { BackendAuthFailedError, BackendUnavailableError, ConflictError, GatewayError, NotFoundError, UnprocessableError } from '../../src/errors';

export type VoipbinAuth = { accesskey: string } | { token: string } | { username: string; password: string };

const BACKEND = 'voipbin';
/** What every extension call needs (bin-api-manager/pkg/servicehandler/extension.go). */
export const EXTENSION_PERMISSION = 'CustomerAdmin or CustomerManager';
/** VoIPBIN JWTs live 7 days; a shared one is reused for 6 at most. */
const JWT_REUSE_MS = 6 * 24 * 3600_000;
/** At most one fresh login a minute to learn whether a login's permissions changed (see `send`). */
export const PERMISSION_RELOGIN_MS = 60_000;

interface ErrorEnvelope {
  error?: { status?: string; reason?: string };
}

/** VoIPBIN's reason codes are UPPER_SNAKE (bin-api-manager/docsdev/source/restful_api_errors.rst). Anything
 * else in that field is not a code, and is not repeated. */
const REASON_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The envelope's `reason` code, or "" (never its `message`, which is the vendor's text). */
export function reasonOf(res: BackendResponse): string {
  try {
    const reason = (JSON.parse(res.text) as ErrorEnvelope)?.error?.reason;
    return typeof reason === 'string' && REASON_CODE.test(reason) ? reason : '';
  } catch {
    return '';
  }
}

/** VoIPBIN answered 5xx (502 backend-unavailable): remembers the status and the reason code (`vendor_reason`), never
 * the message, so that the adapter can tell a create's 500 from a lost answer. */
export class VoipbinFailedError extends BackendUnavailableError {
  constructor(
    readonly vendorStatus: number,
    readonly vendorReason: string,
    detail: string,
  ) {
    super(BACKEND, detail);
    if (vendorReason) this.extra.vendor_reason = vendorReason;
  }
}

/** The X-Request-Id VoIPBIN keeps (bin-api-manager/lib/middleware/request_id.go, isSafeRequestID); any other
 * it replaces with its own, and the gateway's id would be lost from its logs. */
const VOIPBIN_REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The request id to send VoIPBIN: the gateway's own when VoIPBIN keeps it, otherwise one derived from it that it
 * keeps: the id with each other character (`.`, `:`) made `_`, cut to 51, then `-` and 12 characters of its
 * SHA-256 (base64url), so two ids that differ only in those characters or beyond the cut stay apart.
 */
export function backendRequestId(id: string): string {
  if (VOIPBIN_REQUEST_ID.test(id)) return id;
  const digest = createHash('sha256').update(id).digest('base64url').slice(0, 12);
  return `${id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 51)}-${digest}`;
}

/** A 403 about permission (another customer's id, or a credential without it), not a frozen account or a
 * direct-access token. */
const isPermissionRefusal = (reason: string) => reason !== 'ACCOUNT_FROZEN' && reason !== 'DIRECT_ACCESS_NOT_SUPPORTED';

export interface CallOptions {
  data?: unknown;
  params?: Record<string, string | number | undefined>;
  idempotent: boolean;
  /** The call names one extension: 400 INVALID_ID means "no such extension here", and so does a 403 when the
   * credential may list extensions (the id is another customer's). */
  extensionId?: string;
}

export class VoipbinClient {
  private token: string | undefined;
  private login: Promise<string> | undefined;
  /** When a 403 last made a fresh login (a JWT's permissions are those of its login time). */
  private permissionReloginAt = -Infinity;

  private readonly shared: SharedSession<{ token: string }> | undefined;

  constructor(
    private readonly http: BackendHttp,
    private readonly auth: VoipbinAuth,
    /** `POST /auth/login` lives beside `/v1.0`, not under it. */
    private readonly loginUrl: string,
    /** Shares the login's JWT between gateway instances. */
    state?: StateStore,
    private readonly logger?: Pick<Logger, 'debug'>,
    private readonly clock: () => number = Date.now,
  ) {
    if ('token' in auth) this.token = auth.token;
    if ('username' in auth && state) this.shared = new SharedSession(state, sessionName('voipbin-jwt', loginUrl, auth.username));
  }

  async call(ctx: RequestContext, method: BackendRequest['method'], path: string, opts: CallOptions): Promise<unknown> {
    // Each BackendRequest carries the id VoIPBIN keeps as its own `x-request-id` header (BackendHttp leaves a
    // request's own id header alone); when it differs from the gateway's, this debug line, once per call, ties the
    // two together (the call log lines show the gateway's).
    const id = backendRequestId(ctx.requestId);
    if (id !== ctx.requestId) this.logger?.debug({ req_id: ctx.requestId, backend_request_id: id }, 'VoIPBIN request id');
    return this.send(ctx, method, path, opts);
  }

  private async send(ctx: RequestContext, method: BackendRequest['method'], path: string, opts: CallOptions): Promise<unknown> {
    // With an access key there is no token to wait for: no await, no promise, before the call itself.
    let token = 'accesskey' in this.auth ? undefined : await this.currentToken(ctx);
    let res = await this.http.request(this.backendRequest(ctx, method, path, opts, token));
    if (res.status === 401 && 'username' in this.auth) {
      // The JWT expired or was revoked: one fresh login (unless a concurrent call, here or in another
      // instance, already made one since this token was sent), one replay. A second refusal is final.
      token = this.token === undefined || this.token === token ? await this.freshLogin(ctx, token) : await this.currentToken(ctx);
      res = await this.http.request(this.backendRequest(ctx, method, path, opts, token));
    }
    if (res.status === 403 && 'username' in this.auth && isPermissionRefusal(reasonOf(res)) && this.clock() - this.permissionReloginAt >= PERMISSION_RELOGIN_MS) {
      // A JWT carries the agent, permissions included, as it was at login (bin-api-manager/lib/middleware/
      // authenticate.go, buildJWTIdentity), and the gateway keeps one for days: a permission granted since is seen
      // only through a fresh login. One here, at most one a minute, and one replay (a refused call did nothing).
      this.permissionReloginAt = this.clock();
      token = this.token === undefined || this.token === token ? await this.freshLogin(ctx, token) : await this.currentToken(ctx);
      res = await this.http.request(this.backendRequest(ctx, method, path, opts, token));
    }
    if (res.status >= 200 && res.status < 300) return parseJsonBody(BACKEND, res);
    const reason = reasonOf(res);
    if (res.status === 403 && opts.extensionId !== undefined && isPermissionRefusal(reason)) {
      // VoIPBIN answers 403 PERMISSION_DENIED both for another customer's id and for a credential without the
      // permission (which gets it on every extension call). The cheapest call tells which: a one-item list.
      // Its 403 is thrown as the credential's fault; if it answers, the id is someone else's.
      await this.send(ctx, 'GET', 'extensions', { idempotent: true, params: { page_size: 1 } });
      throw new NotFoundError(`No extension '${opts.extensionId}'.`);
    }
    throw this.toError(res, reason, opts);
  }

  /** The call as BackendHttp takes it: an access key goes as `?accesskey=` (as Bearer it would be read as a JWT
   * and refused), a JWT as Bearer. */
  private backendRequest(ctx: RequestContext, method: BackendRequest['method'], path: string, opts: CallOptions, token: string | undefined): BackendRequest {
    const params = { ...opts.params };
    const headers: Record<string, string> = { 'x-request-id': backendRequestId(ctx.requestId) };
    if ('accesskey' in this.auth) params.accesskey = this.auth.accesskey;
    else headers.authorization = `Bearer ${token}`;
    return { ctx, method, url: path, params, headers, data: opts.data, idempotent: opts.idempotent };
  }

  private async currentToken(ctx: RequestContext): Promise<string> {
    if (this.token) return this.token;
    return this.freshLogin(ctx, undefined);
  }

  /** Single flight: concurrent callers that all found the token refused share one login, across instances too. */
  private freshLogin(ctx: RequestContext, refused?: string): Promise<string> {
    if (!('username' in this.auth)) throw new BackendAuthFailedError(BACKEND, 'VoIPBIN refused the configured token.');
    this.token = undefined;
    this.login ??= (async () => {
      try {
        const usable = (s: { token: string } | undefined) => !!s && s.token !== refused;
        const token = this.shared ? (await this.shared.obtain(usable, async () => ({ value: { token: await this.doLogin(ctx) }, ttlMs: JWT_REUSE_MS }))).token : await this.doLogin(ctx);
        this.token = token;
        return token;
      } finally {
        this.login = undefined;
      }
    })();
    return this.login;
  }

  private async doLogin(ctx: RequestContext): Promise<string> {
    if (!('username' in this.auth)) throw new BackendAuthFailedError(BACKEND, 'VoIPBIN refused the configured token.');
    const { username, password } = this.auth;
    const res = await this.http.request({ ctx, method: 'POST', url: this.loginUrl, headers: { 'x-request-id': backendRequestId(ctx.requestId) }, data: { username, password }, idempotent: false });
    // Any login failure, bad credentials included, is a bare 400 with an empty body.
    if (res.status !== 200) throw new BackendAuthFailedError(BACKEND, `VoIPBIN refused the gateway's login (HTTP ${res.status}).`);
    const body = parseJsonBody(BACKEND, res) as { token?: unknown } | undefined;
    if (typeof body?.token !== 'string' || body.token === '') throw new BackendUnavailableError(BACKEND, 'VoIPBIN answered the login without a token.');
    this.http.recordSession('login');
    return body.token;
  }

  private toError(res: BackendResponse, reason: string, opts: CallOptions): GatewayError {
    const what = reason ? `${res.status} ${reason}` : `HTTP ${res.status}`;
    switch (res.status) {
      case 400:
        // A malformed id: INVALID_ID from the handlers, INVALID_REQUEST_PARAMETER from direct-hash-regenerate (its
        // path parameter is typed uuid). The adapter checks ids first, so these are a second line only.
        if (opts.extensionId !== undefined && (reason === 'INVALID_ID' || reason === 'INVALID_REQUEST_PARAMETER')) return new NotFoundError(`No extension '${opts.extensionId}'.`);
        return new UnprocessableError(`VoIPBIN refused the request (${what}).`, []);
      case 401:
        return new BackendAuthFailedError(BACKEND, `VoIPBIN refused the gateway's credentials (${what}).`);
      case 403: {
        if (reason === 'ACCOUNT_FROZEN') return new BackendAuthFailedError(BACKEND, 'The VoIPBIN account is frozen.');
        if (reason === 'DIRECT_ACCESS_NOT_SUPPORTED') {
          return new BackendAuthFailedError(BACKEND, 'The VoIPBIN credential is a direct-access token, which cannot manage extensions.');
        }
        // A 403 on a call that names no extension (the list, a create): the credential lacks the permission.
        const err = new BackendAuthFailedError(BACKEND, `The VoIPBIN credential lacks the ${EXTENSION_PERMISSION} permission that extension calls need (${what}).`);
        err.extra.missing_permission = EXTENSION_PERMISSION;
        return err;
      }
      case 404:
        if (reason === 'ROUTE_NOT_FOUND') return new BackendUnavailableError(BACKEND, 'VoIPBIN does not know this route: check the tenant base_url.');
        return new NotFoundError(opts.extensionId !== undefined ? `No extension '${opts.extensionId}'.` : 'Not found on VoIPBIN.');
      case 409:
        return new ConflictError(`VoIPBIN reports a conflict (${what}).`);
      default:
        return new VoipbinFailedError(res.status, reason, `VoIPBIN failed (${what}).`);
    }
  }
}
