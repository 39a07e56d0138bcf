/**
 * The cross-tenant directory: one search over every tenant a key may see, calling the backends concurrently
 * with a bound. A tenant that fails or times out does not fail the search: it is listed under `unavailable`
 * with its problem, next to what the others found. Pages are cut from the merged, ordered result (tenants by
 * name, each in its backend's order) of each tenant's snapshot (a few seconds old at most); a page token is an
 * offset bound to the query that made it.
 */
import { createHash } from 'node:crypto';
import type { Extension, RequestContext } from './contract';
import { asGatewayError, ValidationError } from './errors';
import type { Tenant } from './extensions';
import { allExtensions } from './paging';
import type { Problem } from '../schemas/types';
import { toProblem } from './http/problems';

export interface DirectoryQuery {
  q?: string;
  page_size: number;
  page_token?: string;
}

export interface DirectoryPage {
  items: Extension[];
  next_page_token: string | null;
  unavailable: { tenant: string; backend: string; problem: Problem }[];
}

export function matches(e: Extension, q: string | undefined): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  return [e.extension, e.name, e.username ?? ''].some((v) => v.toLowerCase().includes(needle));
}

const fingerprint = (parts: unknown) => createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);

function decode(token: string, fp: string): number {
  try {
    const body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: number; o?: number; f?: string };
    if (body.v === 1 && body.f === fp && Number.isInteger(body.o) && body.o! >= 0) return body.o!;
  } catch {
    // fall through
  }
  throw new ValidationError([{ pointer: '/query/page_token', detail: 'is not a page token of this search' }]);
}

/** Bounded concurrency over the tenants; each result or failure is kept. */
async function eachTenant<T>(tenants: Tenant[], limit: number, fn: (t: Tenant) => Promise<T>) {
  const out: ({ ok: true; value: T } | { ok: false; err: unknown })[] = new Array(tenants.length);
  let next = 0;
  const worker = async () => {
    while (next < tenants.length) {
      const i = next++;
      out[i] = await fn(tenants[i]).then(
        (value) => ({ ok: true as const, value }),
        (err: unknown) => ({ ok: false as const, err }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tenants.length) }, worker));
  return out;
}

/**
 * Each tenant's extensions, kept for a few seconds: a search and the pages after it read one snapshot, and a PBX
 * is not walked again for every keystroke of a search box (a cloud tenant of 1,000 extensions can be eleven calls,
 * against a budget of about 17 calls a second). Concurrent searches share one walk.
 */
export class DirectorySnapshots {
  private readonly entries = new Map<string, { at: number; items: Promise<Extension[]> }>();

  constructor(private readonly ttlMs = 5000) {}

  /** A walk that starts here serves every search that shares it: it runs on the first caller's context. */
  get(ctx: RequestContext, tenant: Tenant): Promise<Extension[]> {
    const now = Date.now();
    const hit = this.entries.get(tenant.name);
    if (hit && now - hit.at < this.ttlMs) return hit.items;
    const items = (async () => {
      const all: Extension[] = [];
      for await (const e of allExtensions(ctx, tenant.adapter)) all.push(e);
      return all;
    })();
    this.entries.set(tenant.name, { at: now, items });
    // A failed walk is not kept: the next search tries again.
    items.catch(() => this.entries.get(tenant.name)?.items === items && this.entries.delete(tenant.name));
    return items;
  }
}

export async function searchDirectory(ctx: RequestContext, tenants: Tenant[], query: DirectoryQuery, scope: unknown, snapshots: DirectorySnapshots = new DirectorySnapshots(0), concurrency = 4): Promise<DirectoryPage> {
  const ordered = [...tenants].sort((a, b) => a.name.localeCompare(b.name));
  const fp = fingerprint({ q: query.q ?? '', tenants: ordered.map((t) => t.name), scope });
  const offset = query.page_token ? decode(query.page_token, fp) : 0;
  const found = await eachTenant(ordered, concurrency, async (t) => (await snapshots.get(ctx, t)).filter((e) => matches(e, query.q)));
  const items: Extension[] = [];
  const unavailable: DirectoryPage['unavailable'] = [];
  found.forEach((r, i) => {
    if (r.ok) items.push(...r.value);
    else unavailable.push({ tenant: ordered[i].name, backend: ordered[i].backend, problem: toProblem(asGatewayError(r.err)) });
  });
  const page = items.slice(offset, offset + query.page_size);
  const more = offset + query.page_size < items.length;
  return {
    items: page,
    next_page_token: more ? Buffer.from(JSON.stringify({ v: 1, o: offset + query.page_size, f: fp })).toString('base64url') : null,
    unavailable,
  };
}
