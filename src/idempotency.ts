/**
 * `Idempotency-Key` for creates, imports and batch deletes: the first answer is kept for 24 h and replayed to the
 * same API key and tenant; the same key with another request is 422; a second request while the first runs is
 * 409.
 *
 * The key is claimed in the shared store before any backend call (so every gateway instance honours it), and the
 * outcome is recorded after. When the outcome cannot be known (the backend's answer was lost, or the store failed
 * to record it, or the process died), the claim stays, and from the end of the first request's time on it reads
 * as "unknown": a retry never simply runs again. A caller that can find out (a numbered create: read the number)
 * passes `resume`; without it the retry is 409 `idempotency-outcome-unknown` (`outcome: "uncertain"`).
 * A store that cannot be reached for the claim is 503 with Retry-After: nothing was done.
 *
 * A kept answer may hold a generated SIP password, so it is stored encrypted (AES-256-GCM) under a key derived
 * (HKDF-SHA256) from the API key as presented (its bytes, which only the caller and the gateway in the request
 * have: the store and the config, which may hold only its digest, do not), the operator's `state.encryption_key`
 * when set, the tenant and the Idempotency-Key. The record's name is a hash.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { toProblem } from './http/problems';
import { GatewayError, IdempotencyConflictError, IdempotencyMismatchError, IdempotencyOutcomeUnknownError, StateUnavailableError, UnauthenticatedError, ValidationError } from './errors';
import { RECONCILE_BUDGET_MS } from './extensions';
import type { StateStore } from './state/store';

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** After the first request's budget, how long it may still be settling a lost answer (reading the backend). */
const SETTLE_MS = RECONCILE_BUDGET_MS + 1000;

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Record_ {
  state: 'running' | 'done' | 'unknown';
  fingerprint: string;
  /** While running: the epoch ms by which the first request has ended; after it, its outcome is unknown. */
  until?: number;
  /** A value unique to the claim, so that releasing it never releases another's. */
  token?: string;
  /** Done: the answer, sealed. */
  sealed?: string;
  /** What the first request meant to do (e.g. the password it sends), sealed: given to `resume`. */
  intent?: string;
}

export interface IdempotencyOptions<I> {
  /** Kept (sealed) with the claim, and handed to `resume` when a retry meets an unknown outcome. */
  intent?: I;
  /**
   * A retry met a first request whose outcome is unknown, and only this retry is settling it: find out. Return
   * the answer to keep (and give), or 'run' to run the work again (only when that cannot do anything twice).
   * Without it, the retry is refused with 409 `idempotency-outcome-unknown`.
   */
  resume?: (intent: I | undefined) => Promise<StoredAnswer | 'run'>;
  /** Whether an error of `work` leaves the outcome unknown (kept as such). Default: never; 5xx are released. */
  uncertain?: (err: unknown) => boolean;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

function seal(secret: Buffer, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

function unseal<T>(secret: Buffer, sealed: string): T {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
}

/** Stable JSON (sorted keys), so the same body in another key order is the same request. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The API key as the caller presented it (authentication has checked it). */
function presentedKey(req: Request): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!match) throw new UnauthenticatedError('Send an API key as `Authorization: Bearer <key>`.');
  return match[1];
}

/**
 * The sealing key of one record: HKDF over the presented API key (and the operator's secret, when configured),
 * bound to the tenant and the Idempotency-Key. Never derived from anything the store or the config file holds
 * alone (a key id, a key digest).
 */
export function sealingKey(apiKey: string, tenant: string, idempotencyKey: string, operatorSecret?: string): Buffer {
  const ikm = Buffer.concat([Buffer.from(apiKey, 'utf8'), Buffer.from([0]), Buffer.from(operatorSecret ?? '', 'utf8')]);
  return Buffer.from(hkdfSync('sha256', ikm, 'pbx-gateway idempotency v2', `${tenant}\u0000${idempotencyKey}`, 32));
}

const asStateError = (err: unknown) => (err instanceof GatewayError ? err : new StateUnavailableError(undefined, { cause: err }));

export type Outcome = { replayed: true; answer: StoredAnswer } | { replayed: false; answer: StoredAnswer };

/**
 * Run `work` at most once per Idempotency-Key. Without the header it simply runs. Errors of 4xx are kept as
 * answers; 5xx answers and errors are released (a retry may run) unless `uncertain` says the outcome is unknown.
 */
export async function idempotent<I = unknown>(req: Request, tenant: string, store: StateStore, work: () => Promise<StoredAnswer>, opts: IdempotencyOptions<I> = {}): Promise<Outcome> {
  const given = req.get('idempotency-key');
  if (given === undefined) return { replayed: false, answer: await work() };
  if (!/^[\x21-\x7E]{1,255}$/.test(given)) {
    throw new ValidationError([{ pointer: '/headers/idempotency-key', detail: 'must be 1 to 255 visible ASCII characters' }]);
  }
  const keyId = req.apiKey!.id;
  const secret = sealingKey(presentedKey(req), tenant, given, store.encryptionKey);
  const name = `idem:${sha(`name\u0000${keyId}\u0000${tenant}\u0000${given}`).toString('hex')}`;
  const fingerprint = sha(`${req.method} ${req.path}?${canonical(req.query)}\u0000${canonical(req.body ?? null)}`).toString('hex');
  const intent = opts.intent === undefined ? undefined : seal(secret, opts.intent);
  const newClaim = () => JSON.stringify({ state: 'running', fingerprint, until: req.ctx.deadline + SETTLE_MS, token: randomUUID(), ...(intent ? { intent } : {}) } satisfies Record_);
  const log = (err: unknown, what: string) => req.log?.warn({ err, problem: 'state-unavailable' }, what);

  let claim = newClaim();
  if (!(await claimKey(store, name, claim))) {
    const raw = await store.get(name).catch((err) => Promise.reject(asStateError(err)));
    const existing = JSON.parse(raw ?? 'null') as Record_ | null;
    if (!existing) throw new IdempotencyConflictError('The first request with this Idempotency-Key has just ended; retry now.');
    if (existing.fingerprint !== fingerprint) throw new IdempotencyMismatchError('This Idempotency-Key was first used with a different request body or target.');
    if (existing.state === 'done' && existing.sealed) {
      try {
        return { replayed: true, answer: unseal<StoredAnswer>(secret, existing.sealed) };
      } catch {
        throw new IdempotencyMismatchError('This Idempotency-Key was first used with another API key.');
      }
    }
    if (existing.state === 'running' && Date.now() < (existing.until ?? 0)) {
      throw new IdempotencyConflictError('The first request with this Idempotency-Key is still running; retry when it has finished.');
    }
    // The first request ended without a known outcome.
    if (!opts.resume) {
      throw new IdempotencyOutcomeUnknownError(
        'The first request with this Idempotency-Key ended without a known outcome (the answer was lost): it may have been carried out. It is not run again; check the tenant (e.g. list its extensions) before sending it with a new Idempotency-Key.',
      );
    }
    // Take the record over (only one retry settles it), then find out.
    await release(store, name, raw!).catch((err) => Promise.reject(asStateError(err)));
    claim = JSON.stringify({ ...(JSON.parse(newClaim()) as Record_), ...(existing.intent ? { intent: existing.intent } : {}) });
    if (!(await claimKey(store, name, claim))) throw new IdempotencyConflictError('Another request with this Idempotency-Key is settling its outcome; retry shortly.');
    let earlier: I | undefined;
    try {
      earlier = existing.intent ? unseal<I>(secret, existing.intent) : undefined;
    } catch {
      throw new IdempotencyMismatchError('This Idempotency-Key was first used with another API key.');
    }
    let decided: StoredAnswer | 'run';
    try {
      decided = await opts.resume(earlier);
    } catch (err) {
      await settle(store, name, claim, fingerprint, secret, err, opts).catch((e) => log(e, 'idempotency outcome not recorded'));
      throw err;
    }
    if (decided !== 'run') {
      await keep(store, name, fingerprint, secret, decided).catch((e) => log(e, 'idempotency outcome not recorded'));
      return { replayed: true, answer: decided };
    }
  }

  let answer: StoredAnswer;
  try {
    answer = await work();
  } catch (err) {
    await settle(store, name, claim, fingerprint, secret, err, opts).catch((e) => log(e, 'idempotency outcome not recorded'));
    throw err;
  }
  // The work is done: its answer is given even when the store cannot record it. The claim then stays and reads as
  // an unknown outcome once this request's time is over, so a retry does not do the work again.
  if (answer.status >= 500) await release(store, name, claim).catch((e) => log(e, 'idempotency claim not released'));
  else await keep(store, name, fingerprint, secret, answer).catch((e) => log(e, 'idempotency outcome not recorded'));
  return { replayed: false, answer };
}

/** Claim the key; a store that fails is 503 (nothing was done), and a claim that may land late is withdrawn. */
async function claimKey(store: StateStore, name: string, claim: string): Promise<boolean> {
  try {
    return await store.setIfAbsent(name, claim, IDEMPOTENCY_TTL_MS);
  } catch (err) {
    // A timed-out SET may still be carried out when the store wakes up: withdraw it, on the same connection so
    // it runs after it. Not awaited: the store is failing, and the caller gets its 503 now.
    void release(store, name, claim).catch(() => undefined);
    throw asStateError(err);
  }
}

async function release(store: StateStore, name: string, claim: string) {
  if (store.deleteIfEquals) await store.deleteIfEquals(name, claim);
  else await store.delete(name);
}

/** After `work` (or `resume`) threw: keep a refusal, keep an unknown outcome as such, release the rest. */
async function settle<I>(store: StateStore, name: string, claim: string, fingerprint: string, secret: Buffer, err: unknown, opts: IdempotencyOptions<I>) {
  if (err instanceof IdempotencyOutcomeUnknownError || opts.uncertain?.(err)) {
    const { intent } = JSON.parse(claim) as Record_;
    await store.set(name, JSON.stringify({ state: 'unknown', fingerprint, ...(intent ? { intent } : {}) } satisfies Record_), IDEMPOTENCY_TTL_MS);
  } else if (err instanceof GatewayError && err.status < 500) {
    await keep(store, name, fingerprint, secret, errorAnswer(err));
  } else {
    await release(store, name, claim);
  }
}

async function keep(store: StateStore, name: string, fingerprint: string, secret: Buffer, answer: StoredAnswer) {
  await store.set(name, JSON.stringify({ state: 'done', fingerprint, sealed: seal(secret, answer) } satisfies Record_), IDEMPOTENCY_TTL_MS);
}

/** A refused request is kept as the problem it was answered with, so a retry learns the same thing. */
function errorAnswer(err: GatewayError): StoredAnswer {
  return { status: err.status, headers: { 'content-type': 'application/problem+json' }, body: toProblem(err) };
}

/** Send a fresh or replayed answer; a replay says so in `Idempotency-Replayed`. */
export function sendOutcome(res: Response, outcome: Outcome): void {
  const { status, headers, body } = outcome.answer;
  if (outcome.replayed) res.setHeader('Idempotency-Replayed', 'true');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status);
  if (headers['content-type']) res.send(JSON.stringify(body));
  else res.json(body);
}
