/**
 * Per-request guards that sit between authentication and the routes: scopes by method, the per-key rate limit
 * (counted in the shared store, so several instances share one budget), and the audit line of every write.
 */
import type { NextFunction, Request, Response } from 'express';
import type { RateLimitConfig } from '../../schemas/types';
import { TooManyRequestsError } from '../errors';
import type { StateStore } from '../state/store';
import { authenticate, requireScope, type ApiKeys } from './auth';

/** GET and HEAD read; everything else writes. */
function requireScopeOfMethod(req: Request): void {
  requireScope(req, req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write');
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

/** Name the write this request performs; its audit line is written when the answer is sent. Reads name none,
 * so they pay nothing for auditing. */
export function audit(res: Response, operation: string, target?: string): void {
  if (!res.locals.audit) res.on('finish', () => writeAuditLine(res));
  res.locals.audit = { operation, target } satisfies AuditEntry;
}

/** One line per write: who (key id), where (tenant), what (operation, target), how it ended, request id. */
function writeAuditLine(res: Response): void {
  const entry = res.locals.audit as AuditEntry;
  const req = res.req;
  req.log?.info(
    { audit: true, key_id: req.apiKey?.id, tenant: req.params.tenant ?? res.locals.tenant, operation: entry.operation, target: entry.target, status: res.statusCode, outcome: res.statusCode < 400 ? 'success' : 'failure' },
    'audit',
  );
}

/**
 * Everything in front of the API routes, in order: the key, its rate limit, and the scope its method needs. One
 * middleware rather than three, so a request crosses one router layer for them, not three.
 */
export function apiGuards(keys: ApiKeys, store: StateStore, defaults: RateLimitConfig) {
  const authenticated = authenticate(keys);
  const limited = rateLimit(store, defaults);
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticated(req, res, (err?: unknown) => {
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
