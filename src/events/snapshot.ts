/**
 * What the gateway last knew of each tenant's objects: per tenant, id -> the object without secrets, a
 * fingerprint of its canonical fields, and the password as an HMAC (keyed with a secret of the store, never the
 * password itself). Comparisons read it to find what changed elsewhere; gateway writes update it at once, so a
 * change the gateway made is not found again as a `pbx` change.
 *
 * Races between a comparison (a walk that takes a while) and gateway writes are settled by a generation counter
 * per tenant: every gateway write takes a new generation, before it is sent (marking the entry as being written)
 * and after it succeeds. A comparison reads the generation when it starts and leaves alone every entry written
 * since, or being written: it saves only entries whose generation is not newer than its own, in one atomic step.
 *
 * Kept as one Redis hash per tenant (fields `x:<id>` extensions, `r:<id>` ring groups, `_gen`, `_baseline`,
 * `_creating:<n>` for creates in flight), read whole in one command; each entry is `<gen>|<writing since>|<json>`
 * so the scripts below can test the generation without parsing the object. In memory without Redis.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisStore } from '../state/redis';
import type { StateStore } from '../state/store';
import { StateUnavailableError } from '../errors';
import type { EventObject } from './types';

/** The fields whose change is an `*.updated` event (times are the backend's bookkeeping, not a change). */
export const CANONICAL_FIELDS: Record<EventObject, readonly string[]> = {
  extension: ['extension', 'name', 'description', 'username', 'domain', 'direct_uri'],
  ring_group: ['extension', 'name', 'strategy', 'ring_time', 'members'],
};

export interface EntryBody {
  /** The object without secrets (no password, no vendor fields). */
  o: Record<string, unknown>;
  /** Fingerprint of the canonical fields and the password HMAC. */
  f: string;
  /** HMAC of the password, when known. */
  p?: string;
  /** Deleted through the gateway (kept until a comparison no longer lists it). */
  d?: true;
}

export interface Entry {
  gen: number;
  /** Epoch ms since when a gateway write of it is in flight; 0 when none. */
  writing: number;
  body?: EntryBody;
}

export interface TenantSnapshot {
  gen: number;
  baseline: boolean;
  entries: Map<string, Entry>;
  /** Epoch ms of the creates in flight (their ids are not known yet). */
  creating: number[];
}

export const fieldOf = (kind: EventObject, id: string) => `${kind === 'extension' ? 'x' : 'r'}:${id}`;
export function parseField(field: string): { kind: EventObject; id: string } | undefined {
  if (field.startsWith('x:')) return { kind: 'extension', id: field.slice(2) };
  if (field.startsWith('r:')) return { kind: 'ring_group', id: field.slice(2) };
  return undefined;
}

/** The object as an event carries it: without the password and the backend's own fields. */
export function withoutSecrets(obj: object): Record<string, unknown> {
  const { password: _p, vendor: _v, ...rest } = obj as Record<string, unknown>;
  return rest;
}

export function fingerprint(kind: EventObject, o: Record<string, unknown>, pw?: string): string {
  const canonical = CANONICAL_FIELDS[kind].map((f) => o[f] ?? null);
  return createHash('sha256').update(JSON.stringify([canonical, pw ?? null])).digest('base64url').slice(0, 22);
}

/** The canonical fields that differ between two versions of an object (`password` when both HMACs are known and differ). */
export function changedFields(kind: EventObject, before: EntryBody, after: EntryBody): string[] {
  const changed = CANONICAL_FIELDS[kind].filter((f) => JSON.stringify(before.o[f] ?? null) !== JSON.stringify(after.o[f] ?? null));
  if (before.p && after.p && before.p !== after.p) changed.push('password');
  return changed;
}

function encode(gen: number, writing: number, body?: EntryBody): string {
  return `${gen}|${writing}|${body ? JSON.stringify(body) : ''}`;
}
function decode(raw: string): Entry {
  const a = raw.indexOf('|');
  const b = raw.indexOf('|', a + 1);
  const json = raw.slice(b + 1);
  return { gen: Number(raw.slice(0, a)), writing: Number(raw.slice(a + 1, b)), body: json ? (JSON.parse(json) as EntryBody) : undefined };
}

export interface Snapshots {
  /** HMAC of a password with the store's secret: comparable, not reversible. */
  hmac(password: string): Promise<string>;
  read(tenant: string): Promise<TenantSnapshot>;
  /** Current entries of some ids (a comparison checks them again just before emitting). */
  entries(tenant: string, fields: string[]): Promise<Map<string, Entry | undefined>>;
  /** A gateway write is about to be sent: marks the entry (or a create, by a token) as being written. */
  begin(tenant: string, field: string | undefined, now: number): Promise<{ createToken?: string }>;
  /** The write succeeded: the entry is what it wrote (a tombstone for a delete). */
  record(tenant: string, field: string, body: EntryBody, createToken?: string): Promise<void>;
  /** The write failed: the mark is removed, the entry stays as it was. */
  settle(tenant: string, field: string | undefined, createToken?: string): Promise<void>;
  /** A comparison's result, kept only for entries not written since generation `gen`; returns the fields kept. */
  apply(tenant: string, gen: number, changes: Map<string, EntryBody | null>): Promise<Set<string>>;
}

export function createSnapshots(store: StateStore): Snapshots {
  if (store.kind === 'redis') {
    const r = store as RedisStore;
    return new RedisSnapshots(r.client, r.prefix, store);
  }
  return new MemorySnapshots();
}

abstract class HmacKeyed {
  private hmacKey?: Promise<Buffer>;
  protected abstract loadKey(): Promise<Buffer>;
  async hmac(password: string): Promise<string> {
    this.hmacKey ??= this.loadKey().catch((err: unknown) => {
      this.hmacKey = undefined;
      throw err;
    });
    return createHmac('sha256', await this.hmacKey).update(password).digest('base64url').slice(0, 22);
  }
}

class MemorySnapshots extends HmacKeyed implements Snapshots {
  private readonly hashes = new Map<string, Map<string, string>>();
  protected async loadKey() {
    return randomBytes(32);
  }
  private hash(tenant: string) {
    let h = this.hashes.get(tenant);
    if (!h) this.hashes.set(tenant, (h = new Map()));
    return h;
  }
  private nextGen(h: Map<string, string>): number {
    const g = Number(h.get('_gen') ?? 0) + 1;
    h.set('_gen', String(g));
    return g;
  }
  async read(tenant: string) {
    return parseHash(this.hash(tenant));
  }
  async entries(tenant: string, fields: string[]) {
    const h = this.hash(tenant);
    return new Map(fields.map((f) => [f, h.has(f) ? decode(h.get(f)!) : undefined]));
  }
  async begin(tenant: string, field: string | undefined, now: number) {
    const h = this.hash(tenant);
    const g = this.nextGen(h);
    if (field) h.set(field, encode(g, now, h.has(field) ? decode(h.get(field)!).body : undefined));
    if (field) return {};
    const createToken = `_creating:${randomUUID()}`;
    h.set(createToken, String(now));
    return { createToken };
  }
  async record(tenant: string, field: string, body: EntryBody, createToken?: string) {
    const h = this.hash(tenant);
    h.set(field, encode(this.nextGen(h), 0, body));
    if (createToken) h.delete(createToken);
  }
  async settle(tenant: string, field: string | undefined, createToken?: string) {
    const h = this.hash(tenant);
    if (field && h.has(field)) {
      const e = decode(h.get(field)!);
      if (e.body) h.set(field, encode(e.gen, 0, e.body));
      else h.delete(field);
    }
    if (createToken) h.delete(createToken);
  }
  async apply(tenant: string, gen: number, changes: Map<string, EntryBody | null>) {
    const h = this.hash(tenant);
    const kept = new Set<string>();
    for (const [field, body] of changes) {
      const cur = h.get(field);
      if (cur && decode(cur).gen > gen) continue;
      if (body) h.set(field, encode(gen, 0, body));
      else h.delete(field);
      kept.add(field);
    }
    h.set('_baseline', '1');
    return kept;
  }
}

function parseHash(h: Map<string, string> | Record<string, string>): TenantSnapshot {
  const pairs = h instanceof Map ? [...h] : Object.entries(h);
  const snap: TenantSnapshot = { gen: 0, baseline: false, entries: new Map(), creating: [] };
  for (const [k, v] of pairs) {
    if (k === '_gen') snap.gen = Number(v);
    else if (k === '_baseline') snap.baseline = true;
    else if (k.startsWith('_creating:')) snap.creating.push(Number(v));
    else snap.entries.set(k, decode(v));
  }
  return snap;
}

const BEGIN = `
local g = redis.call('HINCRBY', KEYS[1], '_gen', 1)
if ARGV[1] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  local body = ''
  if cur then body = string.match(cur, '^%d+|%d+|(.*)$') or '' end
  redis.call('HSET', KEYS[1], ARGV[1], g .. '|' .. ARGV[2] .. '|' .. body)
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[2]) end
return g`;

const RECORD = `
local g = redis.call('HINCRBY', KEYS[1], '_gen', 1)
redis.call('HSET', KEYS[1], ARGV[1], g .. '|0|' .. ARGV[2])
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[1], ARGV[3]) end
return g`;

const SETTLE = `
if ARGV[1] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if cur then
    local g, body = string.match(cur, '^(%d+)|%d+|(.*)$')
    if body == nil or body == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], g .. '|0|' .. body) end
  end
end
if ARGV[2] ~= '' then redis.call('HDEL', KEYS[1], ARGV[2]) end
return 1`;

const APPLY = `
local gen = tonumber(ARGV[1])
local kept = {}
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local g = 0
  if cur then g = tonumber(string.match(cur, '^(%d+)|')) or 0 end
  if g <= gen then
    if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[1] .. '|0|' .. ARGV[i + 1]) end
    kept[#kept + 1] = ARGV[i]
  end
end
redis.call('HSET', KEYS[1], '_baseline', '1')
return kept`;

/** Ten years: the HMAC key lives as long as the snapshots it keys. */
const KEY_TTL_MS = 10 * 365 * 24 * 3600_000;

class RedisSnapshots extends HmacKeyed implements Snapshots {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly store: StateStore,
  ) {
    super();
  }
  protected async loadKey() {
    await this.store.setIfAbsent('events:snapshot-hmac-key', randomBytes(32).toString('base64'), KEY_TTL_MS);
    const key = await this.store.get('events:snapshot-hmac-key');
    if (!key) throw new StateUnavailableError();
    return Buffer.from(key, 'base64');
  }
  private key(tenant: string) {
    return `${this.prefix}events:snapshot:${tenant}`;
  }
  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      if (['wait', 'connecting', 'connect'].includes(this.redis.status)) await new Promise((r) => setTimeout(r, 200));
      return await command();
    } catch (err) {
      throw new StateUnavailableError(undefined, { cause: err });
    }
  }
  async read(tenant: string) {
    return parseHash(await this.run(() => this.redis.hgetall(this.key(tenant))));
  }
  async entries(tenant: string, fields: string[]) {
    if (!fields.length) return new Map<string, Entry | undefined>();
    const values = await this.run(() => this.redis.hmget(this.key(tenant), ...fields));
    return new Map(fields.map((f, i) => [f, values[i] ? decode(values[i]!) : undefined]));
  }
  async begin(tenant: string, field: string | undefined, now: number) {
    const createToken = field ? undefined : `_creating:${randomUUID()}`;
    await this.run(() => this.redis.eval(BEGIN, 1, this.key(tenant), field ?? '', String(now), createToken ?? ''));
    return createToken ? { createToken } : {};
  }
  async record(tenant: string, field: string, body: EntryBody, createToken?: string) {
    await this.run(() => this.redis.eval(RECORD, 1, this.key(tenant), field, JSON.stringify(body), createToken ?? ''));
  }
  async settle(tenant: string, field: string | undefined, createToken?: string) {
    await this.run(() => this.redis.eval(SETTLE, 1, this.key(tenant), field ?? '', createToken ?? ''));
  }
  async apply(tenant: string, gen: number, changes: Map<string, EntryBody | null>) {
    const args = [...changes].flatMap(([f, b]) => [f, b ? JSON.stringify(b) : '']);
    const kept = (await this.run(() => this.redis.eval(APPLY, 1, this.key(tenant), String(gen), ...args))) as string[];
    return new Set(kept);
  }
}
