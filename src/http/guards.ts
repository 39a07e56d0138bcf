/**
 * Per-request guards that sit between authentication and the routes: scopes by method, the per-key rate limit
 * (counted in the shared store, so several instances share one budget), and the audit line of every write.
 */
import type { NextFunction, Request, Response } from 'express';
import type { RateLimitConfig } from '../../schemas/types';
import { TooManyFailedAuthenticationsError, TooManyRequestsError, UnauthenticatedError } from '../errors';
import type { StateStore } from '../state/store';
import { authenticate, requireScope, type ApiKeys } from './auth';

/** POSTs that only read: they carry a body (a desired-state file) but change nothing. */
const READING_POSTS = new Set(['/v1/desired-state/plan', '/v1/desired-state/drift']);

/** GET and HEAD read, and the POSTs that only read; everything else writes. */
function requireScopeOfMethod(req: Request): void {
  const reads = req.method === 'GET' || req.method === 'HEAD' || (req.method === 'POST' && READING_POSTS.has(`${req.baseUrl}${req.path}`.replace(/\/$/, '')));
  requireScope(req, reads ? 'read' : 'write');
}

/** Fixed-window limit per API key, with the IETF `RateLimit-*` headers on every answer. */
export function rateLimit(store: StateStore, defaults: RateLimitConfig) {
  const counted = async (req: Request, res: Response, next: NextFunction, requests: number, window_s: number) => {
    const key = req.apiKey!;
    const windowMs = window_s * 1000;
    const { count, resetMs } = await store.increment(`ratelimit:${key.id}`, windowMs);
    const reset = Math.max(1, Math.ceil(resetMs / 1000));
    res.setHeader('RateLimit-Policy', `${requests};w=${window_s}`);
    res.setHeader('RateLimit-Limit', String(requests));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, requests - count)));
    res.setHeader('RateLimit-Reset', String(reset));
    if (count > requests) return next(new TooManyRequestsError(reset));
    next();
  };
  // A key without a limit passes synchronously: no promise for it.
  return (req: Request, res: Response, next: NextFunction): Promise<void> | void => {
    const { requests, window_s = 60 } = req.apiKey!.rate_limit ?? defaults;
    if (requests > 0) return counted(req, res, next, requests, window_s);
    next();
  };
}

export interface AuditEntry {
  operation: string;
  target?: string;
}

/** Name the write this request performs; its audit line is written when the answer is sent, or when the client
 * goes away before it (status 499, `client_closed`). Reads name none, so they pay nothing for auditing. */
export function audit(res: Response, operation: string, target?: string): void {
  if (!res.locals.audit) res.on('close', () => writeAuditLine(res));
  res.locals.audit = { operation, target } satisfies AuditEntry;
}

/** A route that writes its own audit line when its client leaves (with what it did by then) says so here. */
export function auditsItselfWhenClientLeaves(res: Response): void {
  res.locals.auditOnClientClose = false;
}

/** One line per write: who (key id), where (tenant), what (operation, target), how it ended, request id. */
function writeAuditLine(res: Response): void {
  const entry = res.locals.audit as AuditEntry;
  const req = res.req;
  const answered = res.writableFinished;
  if (!answered && res.locals.auditOnClientClose === false) return;
  const status = answered ? res.statusCode : 499;
  req.log?.info(
    { audit: true, key_id: req.apiKey?.id, tenant: req.params.tenant ?? res.locals.tenant, operation: entry.operation, target: entry.target, status, outcome: !answered ? 'client_closed' : status < 400 ? 'success' : 'failure' },
    'audit',
  );
}

/** How many failed authentications one client address may have in a window before its failures are 429. */
export interface AuthFailureLimit {
  failures: number;
  window_s: number;
}
/** 10 wrong or missing keys a minute from one address: far more than a person mistyping a key needs, far fewer
 * than a guessing program wants. */
export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { failures: 10, window_s: 60 };

/**
 * The address failures are counted by: the peer's IP address (no proxy header is trusted); an IPv4 address
 * mapped into IPv6 as IPv4; an IPv6 address by its /64, the block one host or one subscriber is given, so
 * stepping through addresses inside it does not reset the count.
 */
export function clientAddress(raw: string | undefined): string {
  if (!raw) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(raw);
  if (mapped) return mapped[1];
  if (!raw.includes(':')) return raw;
  const address = raw.split('%')[0].toLowerCase();
  const gap = address.indexOf('::');
  let groups: string[];
  if (gap >= 0) {
    const head = address.slice(0, gap).split(':').filter(Boolean);
    const tail = address.slice(gap + 2).split(':').filter(Boolean);
    groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  } else groups = address.split(':');
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed authentications per client address, counted in the shared store (per process with the default memory
 * store; across instances with Redis): past the limit, a failure is answered 429 with Retry-After instead of 401
 * until the window ends. A request with a valid key is never refused by this, so clients that share an address
 * with a misbehaving one (behind one NAT or proxy) are not locked out; each address known to be over its limit is
 * also remembered here, so a flood of failures costs no store round trip each.
 */
export function authFailureThrottle(store: StateStore, limit: AuthFailureLimit = DEFAULT_AUTH_FAILURE_LIMIT, now: () => number = Date.now) {
  const windowMs = limit.window_s * 1000;
  const blocked = new Map<string, number>();
  const refuse = (until: number) => new TooManyFailedAuthenticationsError(Math.max(1, Math.ceil((until - now()) / 1000)));
  return async (req: Request, failure: UnauthenticatedError): Promise<Error> => {
    if (limit.failures <= 0) return failure;
    const address = clientAddress(req.socket.remoteAddress);
    const until = blocked.get(address);
    if (until !== undefined) {
      if (until > now()) return refuse(until);
      blocked.delete(address);
    }
    let counted: { count: number; resetMs: number };
    try {
      counted = await store.increment(`authfail:${address}`, windowMs);
    } catch {
      return failure; // the store is unreachable: the answer stays what it is, a 401
    }
    if (counted.count <= limit.failures) return failure;
    const end = now() + counted.resetMs;
    if (blocked.size >= 10_000) blocked.delete(blocked.keys().next().value!);
    blocked.set(address, end);
    return refuse(end);
  };
}

/**
 * Everything in front of the API routes, in order: the key, its rate limit, and the scope its method needs. One
 * middleware rather than three, so a request crosses one router layer for them, not three.
 */
export function apiGuards(keys: ApiKeys, store: StateStore, defaults: RateLimitConfig, authFailures?: AuthFailureLimit) {
  const authenticated = authenticate(keys);
  const throttled = authFailureThrottle(store, authFailures);
  const limited = rateLimit(store, defaults);
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticated(req, res, (err?: unknown) => {
      if (err instanceof UnauthenticatedError) return void throttled(req, err).then(next, next);
      if (err) return next(err);
      limited(req, res, (err2?: unknown) => {
        if (err2) return next(err2);
        try {
          requireScopeOfMethod(req);
        } catch (denied) {
          return next(denied);
        }
        next();
      })?.catch(next);
    });
  };
}
