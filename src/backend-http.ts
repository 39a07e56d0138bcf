/**
 * One HTTP client per tenant backend. It owns what every vendor shares: keep-alive sockets, the per-call
 * timeout cut to the request's remaining budget, the request id header, redacted call logs, transport
 * faults turned into gateway errors, and waiting out a 429/503 `Retry-After` when the wait fits.
 * It does not interpret vendor status codes or bodies: that is each adapter's client.ts.
 */
import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import type { Logger } from 'pino';
import { BackendTimeoutError, BackendUnavailableError, RateLimitedError } from './errors';
import { redactUrl } from './log';
import { currentContext, remainingBudgetMs } from './request-context';

export interface BackendRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to the client's base URL, or absolute. */
  url: string;
  params?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** Sent as JSON unless a string (sent as is). */
  data?: unknown;
  /** Safe to send twice (reads, PUT of full state, deletes): retried once after a connection reset. */
  idempotent: boolean;
}

export interface BackendResponse {
  status: number;
  headers: Record<string, string>;
  /** The raw body; adapters parse it with `parseJsonBody` so garbage becomes a 502, not a crash. */
  text: string;
}

export interface BackendHttpOptions {
  backend: string;
  baseUrl: string;
  timeoutMs: number;
  logger: Logger;
  /** Header that carries the gateway's request id to this backend, if it accepts one. */
  requestIdHeader?: string;
  /** Verify TLS certificates (default true). */
  tlsVerify?: boolean;
  /** Longest Retry-After the gateway waits out itself (default 2000 ms). */
  maxRetryAfterMs?: number;
  /** Sleep used for Retry-After waits (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class BackendHttp {
  readonly backend: string;
  private readonly axios: AxiosInstance;
  private readonly opts: BackendHttpOptions;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: BackendHttpOptions) {
    this.opts = opts;
    this.backend = opts.backend;
    this.sleep = opts.sleep ?? defaultSleep;
    this.axios = axios.create({
      baseURL: opts.baseUrl.replace(/\/+$/, '') + '/',
      // The raw text: parsing is the adapter's, so an unreadable answer is an error it can name.
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
      maxRedirects: 0,
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: opts.tlsVerify ?? true }),
    });
  }

  async request(req: BackendRequest): Promise<BackendResponse> {
    let resetRetried = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.send(req);
        const wait = this.retryAfterMs(res);
        if (wait === undefined) return res;
        const maxWait = this.opts.maxRetryAfterMs ?? 2000;
        // A 429/503 means the backend did not act on the request, so even a create may be sent again.
        if (attempt < 2 && wait <= maxWait && wait + 50 < remainingBudgetMs()) {
          await this.sleep(wait);
          continue;
        }
        throw new RateLimitedError(this.backend, Math.max(1, Math.ceil(wait / 1000)));
      } catch (err) {
        if (req.idempotent && !resetRetried && isConnectionReset(err)) {
          resetRetried = true;
          continue;
        }
        throw err;
      }
    }
  }

  /** `Retry-After` in ms when the answer is a 429, or a 503 that carries one; undefined otherwise. */
  private retryAfterMs(res: BackendResponse): number | undefined {
    if (res.status !== 429 && res.status !== 503) return undefined;
    const header = res.headers['retry-after'];
    if (header === undefined) return res.status === 429 ? 1000 : undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(header);
    return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 1000;
  }

  private async send(req: BackendRequest): Promise<BackendResponse> {
    const remaining = remainingBudgetMs();
    if (remaining <= 0) throw new BackendTimeoutError(this.backend, 'The request ran out of time before the backend was called.');
    const timeout = Math.max(1, Math.min(this.opts.timeoutMs, remaining));
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    const ctx = currentContext();
    if (ctx && this.opts.requestIdHeader) headers[this.opts.requestIdHeader] = ctx.requestId;
    let data = req.data;
    if (data !== undefined && typeof data !== 'string') {
      data = JSON.stringify(data);
      headers['content-type'] ??= 'application/json';
    }
    const started = performance.now();
    const logUrl = redactUrl(req.url);
    try {
      const res = await this.axios.request<string>({
        method: req.method,
        url: req.url.replace(/^\//, ''),
        params: req.params,
        headers,
        data,
        timeout,
        signal: AbortSignal.timeout(timeout + 100),
      });
      const ms = Math.round(performance.now() - started);
      this.opts.logger.debug({ backend: this.backend, method: req.method, url: logUrl, status: res.status, ms }, 'backend call');
      return { status: res.status, headers: flattenHeaders(res.headers), text: typeof res.data === 'string' ? res.data : '' };
    } catch (err) {
      const ms = Math.round(performance.now() - started);
      const code = isAxiosError(err) ? err.code : undefined;
      this.opts.logger.warn({ backend: this.backend, method: req.method, url: logUrl, code, ms }, 'backend call failed');
      if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED') {
        throw new BackendTimeoutError(this.backend, `The backend did not answer within ${timeout} ms.`, { cause: err });
      }
      throw new BackendUnavailableError(this.backend, `The backend could not be reached (${code ?? 'network error'}).`, { cause: err });
    }
  }
}

function isConnectionReset(err: unknown): boolean {
  if (!(err instanceof BackendUnavailableError)) return false;
  const code = isAxiosError(err.cause) ? err.cause.code : undefined;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function flattenHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h || typeof h !== 'object') return out;
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (v !== undefined && v !== null) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Parse a backend's JSON answer; anything unreadable is a 502 naming the backend, never a crash. */
export function parseJsonBody(backend: string, res: BackendResponse): unknown {
  if (res.text.trim() === '') return undefined;
  try {
    return JSON.parse(res.text);
  } catch (err) {
    throw new BackendUnavailableError(backend, `The backend sent an unreadable answer (HTTP ${res.status}).`, { cause: err });
  }
}
