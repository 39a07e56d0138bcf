/**
 * API keys: `Authorization: Bearer <key>`. Keys are compared by their SHA-256 digests with a constant-time
 * comparison, so neither timing nor an early exit tells an attacker how much of a key was right.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKeyConfig } from '../../schemas/types';
import { keyDigest } from '../config';
import { ForbiddenError, UnauthenticatedError } from '../errors';
import { registerSecret } from '../log';

// One-shot hashing (Node 20.12+): no Hash object per request.
const digest = (s: string): Buffer => hash('sha256', s, 'buffer');

export type Scope = 'read' | 'write' | 'secrets';
/** A key without `scopes` keeps the original meaning: read and write, no secrets. */
const DEFAULT_SCOPES: readonly Scope[] = ['read', 'write'];

export class ApiKeys {
  private readonly entries: { digest: Buffer; key: ApiKeyConfig }[];

  constructor(keys: readonly ApiKeyConfig[]) {
    // Keys are held only as digests: a `key_sha256` config never had the key, a `key` config drops it here.
    this.entries = keys.map((key) => ({ digest: Buffer.from(keyDigest(key) ?? '', 'hex'), key }));
  }

  find(presented: string): ApiKeyConfig | undefined {
    const d = digest(presented);
    let found: ApiKeyConfig | undefined;
    // Compare with every key, always: the time taken does not depend on which one matched.
    for (const e of this.entries) if (e.digest.length === d.length && timingSafeEqual(e.digest, d)) found = e.key;
    return found;
  }

  /**
   * A URL as it may be logged: every path segment or parameter value that is the credential this request
   * presented, or any configured key (recognised by its digest, so a key configured only as `key_sha256` is
   * caught too), blanked. Only pieces at least as long as the shortest key accepted are hashed.
   */
  redactCredentials(url: string, presented?: string): string {
    if (url.length < MIN_KEY_LENGTH) return url;
    return url.replace(URL_PIECE, (piece) => {
      let decoded = piece;
      if (piece.includes('%') || piece.includes('+')) {
        try {
          decoded = decodeURIComponent(piece.replace(/\+/g, ' '));
        } catch {
          decoded = piece;
        }
      }
      if (presented !== undefined && (piece === presented || decoded === presented)) return '[REDACTED]';
      return this.find(piece) || (decoded !== piece && this.find(decoded)) ? '[REDACTED]' : piece;
    });
  }
}

/** The shortest `key` the config schema accepts; a `key_sha256` key is presumed no shorter. */
const MIN_KEY_LENGTH = 16;
const URL_PIECE = new RegExp(`[^/?&=#;,]{${MIN_KEY_LENGTH},}`, 'g');

/** The credential a request presents in `Authorization`, whatever the scheme, for keeping it out of logs. */
export function presentedCredential(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const m = /^\s*(?:\S+\s+)?(\S+)\s*$/.exec(header);
  return m && m[1].length >= 4 ? m[1] : undefined;
}

export function mayUseTenant(key: ApiKeyConfig, tenant: string): boolean {
  return key.tenants.includes('*') || key.tenants.includes(tenant);
}

export function authenticate(keys: ApiKeys) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return next(new UnauthenticatedError('Send an API key as `Authorization: Bearer <key>`.'));
    const key = keys.find(match[1]);
    if (!key) return next(new UnauthenticatedError('The API key is not valid.'));
    // A key configured only by its digest was never known to the logger: now that it is, scrub it from every line.
    if (key.key === undefined) registerSecret(match[1]);
    req.apiKey = key;
    if (req.log) req.log.bindings.key_id = key.id;
    if (req.ctx) req.ctx.keyId = key.id;
    next();
  };
}

export function assertTenantAccess(req: Request, tenant: string): void {
  if (!req.apiKey || !mayUseTenant(req.apiKey, tenant)) throw new ForbiddenError(`This API key may not use tenant '${tenant}'.`);
}

export function scopesOf(key: ApiKeyConfig): readonly Scope[] {
  return (key.scopes as Scope[] | undefined) ?? DEFAULT_SCOPES;
}

/** 403 naming the scope the key lacks. */
export function requireScope(req: Request, scope: Scope): void {
  if (!req.apiKey || !scopesOf(req.apiKey).includes(scope)) {
    const err = new ForbiddenError(`This API key lacks the '${scope}' scope.`);
    err.extra.scope = scope;
    throw err;
  }
}
