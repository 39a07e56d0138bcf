/**
 * One HTTP client per tenant backend. It owns what every vendor shares: keep-alive sockets, the proxy, the
 * per-call timeout cut to the request's remaining budget (the body included), caps on what is read, the request
 * id header, redacted call logs, transport faults turned into gateway errors, and waiting out a 429/503
 * `Retry-After` when the wait fits (and bounding the one passed on when it does not), and pacing every call to the
 * vendor account's own rate limit (src/pacing.ts) when the tenant has pacing.
 * It does not interpret vendor status codes or bodies: that is each adapter's client.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { Axios, type AxiosRequestConfig, isAxiosError } from 'axios';
// HTTP(S) proxies as axios' own http adapter honoured them (HTTPS_PROXY/HTTP_PROXY/NO_PROXY, or a tenant's
// `proxy`), which the lean adapter does not do by itself: the proxy-agents packages (TooTallNate/proxy-agents,
// what most of npm uses for this, plain JavaScript with no native build) give a CONNECT tunnel for https targets
// and absolute-URI requests for http ones, as keep-alive agents; proxy-from-env reads the variables with
// NO_PROXY's rules exactly as axios does. Version 7 of the agents: later ones are ES modules only.
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import type { Logger } from 'pino';
import { BackendBusyError, BackendError, BackendTimeoutError, BackendUnavailableError, CircuitOpenError, GatewayError, RateLimitedError } from './errors';
import { ANSWER_TOO_LARGE, isBodyTimeout, leanAdapter, type Target } from './lean-adapter';
import { redactUrl } from './log';
import { noBackendMetrics, type BackendMetrics } from './metrics';
import type { Pacer } from './pacing';
import { remainingBudgetMs, type RequestContext } from './request-context';
import { backoffMs, Bulkhead, CircuitBreaker } from './resilience';

export interface BackendRequest {
  /** The request this call serves: its id is forwarded, its remaining budget caps the call's timeout. */
  ctx: RequestContext;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to the client's base URL, or absolute. */
  url: string;
  params?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** Sent as JSON unless a string (sent as is). */
  data?: unknown;
  /** Safe to send twice (reads, PUT of full state, deletes): retried after a transient failure. */
  idempotent: boolean;
  /** The answer is a list that grows with the PBX (every extension, every ring group): read up to the tenant's
   * list cap (`limits.list_bytes`) rather than the cap of any other answer (`limits.other_bytes`). */
  list?: boolean;
  /** Whether an answer counts against the circuit breaker; default any 5xx but 501. An adapter that knows
   * better (a backend's expired-token 500) says so here. */
  isFailure?: (res: BackendResponse) => boolean;
}

export interface BackendResponse {
  status: number;
  headers: Record<string, string>;
  /** The raw body; adapters parse it with `parseJsonBody` so garbage becomes a 502, not a crash. */
  text: string;
}

export interface ResilienceOptions {
  /** Retries of a read or safe write after a transient failure (default 2). Creates are never retried. */
  retries?: number;
  /** Consecutive failures that open the circuit (default 5). */
  breakerFailures?: number;
  /** How long an open circuit fails fast before one probe call (default 30 s). */
  breakerOpenMs?: number;
  /** Backend calls in flight at once (default 16), and calls allowed to wait for a slot (default 64). */
  maxConcurrent?: number;
  maxQueued?: number;
}

export interface BackendHttpOptions {
  backend: string;
  baseUrl: string;
  timeoutMs: number;
  logger: Logger;
  /** Header that carries the gateway's request id to this backend, if it accepts one. A request that sets this
   * header itself (an id the backend keeps, derived from the gateway's) keeps its own. */
  requestIdHeader?: string;
  /** Largest answer read from a list call (default 32 MiB) and from any other call (default 1 MiB): past it the
   * socket is destroyed and the call is a 502 saying the answer was too large. */
  maxListBytes?: number;
  maxOtherBytes?: number;
  /** Proxy for this backend's calls: a URL, or false for none whatever the environment says. Default: the
   * environment's HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY (lower-case names too), as axios reads them, for any
   * backend but a loopback one. */
  proxy?: string | false;
  /** Verify TLS certificates (default true). */
  tlsVerify?: boolean;
  /** Longest Retry-After the gateway waits out itself (default 2000 ms). */
  maxRetryAfterMs?: number;
  /** Sleep used for Retry-After waits (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
  resilience?: ResilienceOptions;
  metrics?: BackendMetrics;
  /** The vendor account's outbound token bucket (shared by the tenants of one account, and through Redis by every
   * instance): every attempt takes its turn before it is sent. None: calls are not paced. */
  pacer?: Pacer;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const DEFAULT_MAX_LIST_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_OTHER_BYTES = 1024 * 1024;
/** The longest Retry-After passed on to callers: a backend's "come back in 31 years" is not a useful answer. */
export const MAX_RETRY_AFTER_MS = 60_000;
/** Time kept from an interactive request's remaining budget for the call itself when deciding whether its turn in
 * the account's pacing comes soon enough. */
const PACING_CALL_RESERVE_MS = 100;

// eslint-disable-next-line @typescript-eslint/no-require-imports -- proxy-from-env has no type declarations
const { getProxyForUrl } = require('proxy-from-env') as { getProxyForUrl(url: string): string };

/** An HTTP-date in one of the three forms RFC 9110 (5.6.7) lets a recipient read: IMF-fixdate, RFC 850, asctime. */
const HTTP_DATE = /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * A `Retry-After` value in ms, bounded to 0..60 s: delta-seconds (a decimal fraction tolerated) or an HTTP-date.
 * Anything else (empty, negative, a word, a date in another format) is undefined: ignored, as if not sent.
 */
export function parseRetryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  let ms: number;
  if (/^\d+(?:\.\d+)?$/.test(value)) ms = Number(value) * 1000;
  else if (HTTP_DATE.test(value)) ms = Date.parse(value.endsWith('GMT') ? value.replace(/-/g, ' ') : `${value} GMT`) - now;
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** A connection that failed before the backend could act: safe to try again for a call that may be repeated. */
function isTransient(err: Error): boolean {
  if (!(err instanceof BackendUnavailableError)) return false;
  const code = isAxiosError(err.cause) ? err.cause.code : undefined;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ERR_BAD_RESPONSE';
}

/** Proxy-style failures in front of a backend; a 500 is the backend's own answer and is for the adapter to read. */
const TRANSIENT_STATUS = new Set([502, 503, 504]);
const defaultIsFailure = (r: BackendResponse) => r.status >= 500 && r.status !== 501;

/**
 * Per tenant backend: a bulkhead (bounded concurrency and queue), a retry with jittered exponential backoff
 * for calls that may be repeated, and a circuit breaker that fails fast after repeated failures until one
 * probe succeeds. Timeouts are the per-call axios timeout, cut to the request's remaining budget; a timed-out
 * call is not retried (the backend is slow, more calls make it slower, and the budget is mostly spent).
 */
export class BackendHttp {
  readonly backend: string;
  private readonly axios: Axios;
  private readonly opts: BackendHttpOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  readonly breaker: CircuitBreaker;
  private readonly bulkhead: Bulkhead;
  private readonly retries: number;
  /** When the backend last answered a call (any answer but a 5xx): readiness reads it. */
  lastAnsweredAt = 0;
  private readonly metrics: BackendMetrics;
  /** The account's pacing (undefined: off). */
  readonly pacer?: Pacer;

  constructor(opts: BackendHttpOptions) {
    this.opts = opts;
    this.pacer = opts.pacer;
    this.backend = opts.backend;
    this.sleep = opts.sleep ?? defaultSleep;
    this.metrics = opts.metrics ?? noBackendMetrics;
    // `new Axios(config)` rather than `axios.create`: an instance whose defaults are only these two, not axios'
    // global defaults (header buckets per method, transitional flags, xsrf names, transforms...), which axios
    // would otherwise merge and check again on every call. No transforms either way: the body goes out as the
    // string or JSON we made, and the answer comes back as text for the adapter to parse, so an unreadable answer
    // is an error it can name. Every status resolves (the lean adapter does not judge them): that is ours to do.
    this.axios = new Axios({
      baseURL: opts.baseUrl.replace(/\/+$/, '') + '/',
      // Keep-alive per backend: one TLS handshake serves many calls. The lean adapter is one http.request: no
      // redirects, no decompression (the gateway asks for identity encoding); the proxy is looked up once per
      // origin, not per call.
      adapter: leanAdapter({ agentFor: this.agentFor(opts), rejectUnauthorized: opts.tlsVerify ?? true }),
    });
    const r = opts.resilience ?? {};
    this.breaker = new CircuitBreaker(r.breakerFailures ?? 5, r.breakerOpenMs ?? 30_000, {
      onOpen: () => {
        this.metrics.breaker('open');
        opts.logger.warn({ backend: this.backend }, 'circuit opened: calls to this backend fail fast');
      },
      onHalfOpen: () => this.metrics.breaker('half_open'),
      onClose: () => {
        this.metrics.breaker('closed');
        opts.logger.info({ backend: this.backend }, 'circuit closed');
      },
    });
    this.bulkhead = new Bulkhead(r.maxConcurrent ?? 16, r.maxQueued ?? 64);
    this.retries = r.retries ?? 2;
  }

  /** The agent per target origin: the keep-alive agents, or a proxy's (one per proxy and scheme), chosen once per
   * origin (the base URL's, and a login URL's elsewhere). */
  private agentFor(opts: BackendHttpOptions): (target: Target) => http.Agent {
    const direct = {
      http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: opts.tlsVerify ?? true }),
    };
    const byOrigin = new Map<string, http.Agent>();
    const byProxy = new Map<string, http.Agent>();
    return (t) => {
      const origin = `${t.secure ? 'https' : 'http'}://${t.hostname.includes(':') ? `[${t.hostname}]` : t.hostname}${t.port ? `:${t.port}` : ''}`;
      let agent = byOrigin.get(origin);
      if (agent) return agent;
      // The environment's proxy is not for a loopback backend (a proxy elsewhere would reach its own loopback): the
      // demo's and the tests' in-process simulators stay direct. A tenant's own `proxy` applies to any backend.
      const proxy = opts.proxy === false ? '' : (opts.proxy ?? (isLoopback(t.hostname) ? '' : getProxyForUrl(`${origin}/`)));
      if (!proxy) agent = t.secure ? direct.https : direct.http;
      else {
        const key = `${t.secure}:${proxy}`;
        agent = byProxy.get(key);
        if (!agent) {
          agent = t.secure ? new HttpsProxyAgent(proxy, { keepAlive: true, maxSockets: 64 }) : new HttpProxyAgent(proxy, { keepAlive: true, maxSockets: 64 });
          byProxy.set(key, agent);
        }
        const u = new URL(proxy);
        opts.logger.info({ backend: this.backend, target: origin, proxy: `${u.protocol}//${u.host}` }, 'backend calls go through a proxy');
      }
      byOrigin.set(origin, agent);
      return agent;
    };
  }

  /** Adapters report their logins and token renewals here (metrics). */
  recordSession(event: 'login' | 'renewal'): void {
    this.metrics.session(event);
  }

  /**
   * One backend call: a slot in the bulkhead; then attempts, each through the circuit breaker, with the
   * backend's own 429/503 `Retry-After` waited out inside an attempt (the backend did not act, so even a create
   * may be sent again); a transient failure of a call that may be repeated starts another attempt after a
   * backoff. One async function for all of it: each layer of its own would cost every call a promise or two.
   */
  async request(req: BackendRequest): Promise<BackendResponse> {
    const slot = this.bulkhead.acquire();
    if (slot === false) throw new BackendBusyError(this.backend);
    if (slot !== true) await slot;
    try {
      const judge = req.isFailure ?? defaultIsFailure;
      const retries = req.idempotent ? this.retries : 0;
      for (let attempt = 0; ; attempt++) {
        // The account's pacing first, so that a probe is not held while its call waits for a turn.
        if (this.pacer) await this.takeTurn(req.ctx);
        let entry = this.breaker.enter();
        while (typeof entry === 'object') {
          await entry; // a probe is in flight: its outcome decides whether this call may go
          entry = this.breaker.enter();
        }
        if (entry === 'open') throw new CircuitOpenError(this.backend, Math.max(1, Math.ceil(this.breaker.msUntilProbe / 1000)));
        const probe = entry === 'probe';
        let res: BackendResponse;
        try {
          res = await this.send(req);
          for (let waited = 0; ; waited++) {
            const wait = this.retryAfterMs(res);
            if (wait === undefined) break;
            const maxWait = this.opts.maxRetryAfterMs ?? 2000;
            // A 429 that still arrived: the account's bucket is emptied for the wait (bounded like the waits the
            // gateway takes itself) and its rate halved for a while, for every tenant and instance pacing it.
            if (this.pacer && res.status === 429) await this.pacer.slowDown(Math.min(wait, maxWait));
            if (waited < 2 && wait <= maxWait && wait + 50 < remainingBudgetMs(req.ctx)) {
              await this.sleep(wait);
              if (this.pacer) await this.takeTurn(req.ctx);
              res = await this.send(req);
              continue;
            }
            throw new RateLimitedError(this.backend, Math.max(1, Math.ceil(wait / 1000)));
          }
        } catch (err) {
          // A backend failure counts against the circuit; anything else (a rate limit, a bug of ours) does not.
          this.breaker.exit(probe, err instanceof BackendError ? true : undefined);
          if (attempt < retries && err instanceof Error && isTransient(err)) {
            await this.sleep(backoffMs(attempt));
            continue;
          }
          throw err;
        }
        this.breaker.exit(probe, judge(res));
        // A proxy's 502/503/504 without Retry-After: the backend never saw the call, so it may be sent again.
        if (attempt < retries && TRANSIENT_STATUS.has(res.status) && parseRetryAfterMs(res.headers['retry-after']) === undefined) {
          await this.sleep(backoffMs(attempt));
          continue;
        }
        return res;
      }
    } catch (err) {
      // Whether anything but a read left the gateway with this request context: a failure before any did is
      // known to have written nothing (a create's caller may then say so plainly, instead of "uncertain").
      if (err instanceof GatewayError && err.writeSent === undefined && !this.wroteWith.has(req.ctx)) err.writeSent = false;
      throw err;
    } finally {
      this.bulkhead.release();
    }
  }

  /**
   * Wait for this call's turn in the account's pacing. Background work waits whatever the wait; an interactive
   * request whose turn would come later than its budget allows reserves nothing and is refused at once: 503
   * rate-limited with Retry-After, no call sent (request() marks it writeSent=false when nothing was written).
   */
  private async takeTurn(ctx: RequestContext): Promise<void> {
    const pacer = this.pacer!;
    const maxWait = ctx.background ? Infinity : Math.max(0, remainingBudgetMs(ctx) - PACING_CALL_RESERVE_MS);
    const turn = await pacer.turn(maxWait);
    if (turn.ok) return;
    const seconds = Math.max(1, Math.ceil(turn.waitMs / 1000));
    const err = new RateLimitedError(this.backend, seconds);
    err.message = `Calls to backend '${this.backend}' are paced to its rate limit (${pacer.settings.ratePerS}/s, burst ${pacer.settings.burst}); this request's turn would come in ${seconds} s, past its time budget.`;
    throw err;
  }

  /** Request contexts with which a call other than a GET was sent (see GatewayError.writeSent). */
  private readonly wroteWith = new WeakSet<RequestContext>();

  /** `Retry-After` in ms (at most 60 s) when the answer is a 429, or a 503 that carries a readable one; a 429
   * without one (or with garbage) means 1 s; undefined otherwise. */
  private retryAfterMs(res: BackendResponse): number | undefined {
    if (res.status !== 429 && res.status !== 503) return undefined;
    const ms = parseRetryAfterMs(res.headers['retry-after']);
    return ms ?? (res.status === 429 ? 1000 : undefined);
  }

  private async send(req: BackendRequest): Promise<BackendResponse> {
    const ctx = req.ctx;
    const remaining = remainingBudgetMs(ctx);
    if (remaining <= 0) throw new BackendTimeoutError(this.backend, 'The request ran out of time before the backend was called.');
    const timeout = Math.max(1, Math.min(this.opts.timeoutMs, remaining));
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity', ...req.headers };
    const idHeader = this.opts.requestIdHeader;
    if (idHeader && !hasHeader(req.headers, idHeader)) headers[idHeader] = ctx.requestId;
    const maxBytes = req.list ? (this.opts.maxListBytes ?? DEFAULT_MAX_LIST_BYTES) : (this.opts.maxOtherBytes ?? DEFAULT_MAX_OTHER_BYTES);
    let data = req.data;
    if (data !== undefined && typeof data !== 'string') {
      data = JSON.stringify(data);
      headers['content-type'] ??= 'application/json';
    }
    if (req.method !== 'GET') this.wroteWith.add(ctx);
    const started = performance.now();
    const logUrl = redactUrl(req.url);
    try {
      const call: AxiosRequestConfig = { method: req.method, url: withQuery(req.url.replace(/^\//, ''), req.params), headers, timeout, maxContentLength: maxBytes };
      if (data !== undefined) call.data = data;
      const res = await this.axios.request<string>(call);
      const elapsed = performance.now() - started;
      const ms = Math.round(elapsed);
      this.metrics.call(res.status >= 500 ? 'server_error' : res.status >= 400 ? 'client_error' : 'success', elapsed / 1000);
      if (res.status < 500 && res.status !== 401 && res.status !== 403) this.lastAnsweredAt = Date.now();
      this.opts.logger.debug({ req_id: ctx.requestId, backend: this.backend, method: req.method, url: logUrl, status: res.status, ms }, 'backend call');
      return { status: res.status, headers: flattenHeaders(res.headers), text: typeof res.data === 'string' ? res.data : '' };
    } catch (err) {
      const elapsed = performance.now() - started;
      const ms = Math.round(elapsed);
      const code = isAxiosError(err) ? err.code : undefined;
      this.opts.logger.warn({ req_id: ctx.requestId, backend: this.backend, method: req.method, url: logUrl, code, ms }, 'backend call failed');
      const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED';
      const tooLarge = code === ANSWER_TOO_LARGE;
      this.metrics.call(timedOut ? 'timeout' : tooLarge ? 'server_error' : 'network_error', elapsed / 1000);
      if (tooLarge) {
        const setting = req.list ? 'limits.list_bytes' : 'limits.other_bytes';
        throw new BackendUnavailableError(this.backend, `The backend's answer was too large: more than the ${maxBytes} bytes this tenant reads from one call (${setting}).`, { cause: err });
      }
      if (timedOut) {
        const detail = isBodyTimeout(err) ? `The backend's answer did not arrive in full within ${timeout} ms.` : `The backend did not answer within ${timeout} ms.`;
        throw new BackendTimeoutError(this.backend, detail, { cause: err });
      }
      throw new BackendUnavailableError(this.backend, `The backend could not be reached (${code ?? 'network error'}).`, { cause: err });
    }
  }
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Whether a header is among these, whatever its case. */
function hasHeader(headers: Record<string, string> | undefined, name: string): boolean {
  if (!headers) return false;
  const lower = name.toLowerCase();
  for (const k in headers) if (k.toLowerCase() === lower) return true;
  return false;
}

/** The query string built once here rather than by axios' generic serializer on every call. */
function withQuery(url: string, params: BackendRequest['params']): string {
  if (!params) return url;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, String(v));
  const s = q.toString();
  return s ? `${url}${url.includes('?') ? '&' : '?'}${s}` : url;
}

function flattenHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h || typeof h !== 'object') return out;
  const src = h as Record<string, unknown>;
  for (const k in src) {
    if (!Object.hasOwn(src, k)) continue;
    const v = src[k];
    if (v !== undefined && v !== null) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Parse a backend's JSON answer; anything unreadable is a 502 naming the backend, never a crash. */
export function parseJsonBody(backend: string, res: BackendResponse): unknown {
  try {
    return JSON.parse(res.text);
  } catch (err) {
    // An empty (or blank) body is no body: checked only after a failed parse, not on every answer.
    if (res.text.trim() === '') return undefined;
    throw new BackendUnavailableError(backend, `The backend sent an unreadable answer (HTTP ${res.status}).`, { cause: err });
  }
}
