/**
 * `Idempotency-Key` for creates and batch deletes: the first answer is kept for 24 h and replayed to the same
 * API key and tenant; the same key with another request is 422; a second request while the first runs is 409.
 *
 * Records live in the shared store, so every gateway instance honours them. A kept answer may hold a generated
 * SIP password, so it is stored encrypted (AES-256-GCM) under a key derived from the API key and the
 * Idempotency-Key: the store alone cannot read it, and the record's name is a hash.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { toProblem } from './http/problems';
import { GatewayError, IdempotencyConflictError, IdempotencyMismatchError, ValidationError } from './errors';
import type { StateStore } from './state/store';

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** How long a running claim holds: longer than any request's budget, short enough to recover from a crash. */
const CLAIM_TTL_MS = 5 * 60_000;

export interface StoredAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface Record_ {
  state: 'running' | 'done';
  fingerprint: string;
  sealed?: string;
}

const sha = (s: string) => createHash('sha256').update(s).digest();

function seal(secret: Buffer, answer: StoredAnswer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(answer), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
}

function unseal(secret: Buffer, sealed: string): StoredAnswer {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as StoredAnswer;
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

export type Outcome = { replayed: true; answer: StoredAnswer } | { replayed: false; answer: StoredAnswer };

/**
 * Run `work` at most once per Idempotency-Key. Without the header it simply runs. Answers of 5xx are not
 * kept (the outcome was not decided: a retry may proceed); every other answer, errors included, is.
 */
export async function idempotent(req: Request, tenant: string, store: StateStore, work: () => Promise<StoredAnswer>): Promise<Outcome> {
  const given = req.get('idempotency-key');
  if (given === undefined) return { replayed: false, answer: await work() };
  if (!/^[\x21-\x7E]{1,255}$/.test(given)) {
    throw new ValidationError([{ pointer: '/headers/idempotency-key', detail: 'must be 1 to 255 visible ASCII characters' }]);
  }
  const keyId = req.apiKey!.id;
  const secret = sha(`${keyId}\u0000${tenant}\u0000${given}`);
  const name = `idem:${sha(`name\u0000${keyId}\u0000${tenant}\u0000${given}`).toString('hex')}`;
  const fingerprint = sha(`${req.method} ${req.path}?${canonical(req.query)}\u0000${canonical(req.body ?? null)}`).toString('hex');

  const claimed = await store.setIfAbsent(name, JSON.stringify({ state: 'running', fingerprint } satisfies Record_), CLAIM_TTL_MS);
  if (!claimed) {
    const existing = JSON.parse((await store.get(name)) ?? 'null') as Record_ | null;
    if (existing && existing.fingerprint !== fingerprint) throw new IdempotencyMismatchError('This Idempotency-Key was first used with a different request body or target.');
    if (existing?.state === 'done' && existing.sealed) return { replayed: true, answer: unseal(secret, existing.sealed) };
    throw new IdempotencyConflictError('The first request with this Idempotency-Key is still running; retry when it has finished.');
  }

  let answer: StoredAnswer;
  try {
    answer = await work();
  } catch (err) {
    if (err instanceof GatewayError && err.status < 500) {
      await keep(store, name, fingerprint, secret, errorAnswer(err));
    } else {
      await store.delete(name);
    }
    throw err;
  }
  if (answer.status >= 500) await store.delete(name);
  else await keep(store, name, fingerprint, secret, answer);
  return { replayed: false, answer };
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
