/**
 * Gateway-side paging over whatever paging the backend has (cursors over windows of a bounded size, or none).
 *
 * A gateway page token is opaque to callers; inside it is the backend cursor of the window that holds the next
 * item, and that item's offset within the window. So a page of 500 is several backend calls, a page of 10 is
 * one call, and `next_page_token` is null on the last page: when a page ends exactly at the end of a backend
 * window, one look at the next window decides whether anything follows (never a token to an empty page).
 */
import type { Extension, PbxAdapter, RequestContext } from './contract';
import { ValidationError } from './errors';

interface Position {
  /** Backend cursor of the window, null for the first. */
  c: string | null;
  /** Offset of the next item within that window. */
  o: number;
}

interface TokenBody extends Position {
  v: 1;
  /** Tenant the token was made for: a token is not portable between tenants. */
  t: string;
}

export function encodePageToken(tenant: string, pos: Position): string {
  const body: TokenBody = { v: 1, t: tenant, c: pos.c, o: pos.o };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodePageToken(tenant: string, token: string): Position {
  const invalid = () => new ValidationError([{ pointer: '/query/page_token', detail: 'is not a page token of this tenant' }]);
  let body: Partial<TokenBody>;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<TokenBody>;
  } catch {
    throw invalid();
  }
  if (
    !body ||
    body.v !== 1 ||
    body.t !== tenant ||
    !(body.c === null || typeof body.c === 'string') ||
    !Number.isInteger(body.o) ||
    (body.o as number) < 0 ||
    (body.o as number) > 1_000_000
  ) {
    throw invalid();
  }
  return { c: body.c, o: body.o as number };
}

export interface Page {
  items: Extension[];
  next_page_token: string | null;
}

export async function readPage(ctx: RequestContext, adapter: PbxAdapter, tenant: string, pageSize: number, token?: string): Promise<Page> {
  let pos: Position = token ? decodePageToken(tenant, token) : { c: null, o: 0 };
  const items: Extension[] = [];
  // Bounded: each turn either fills the page or moves to a later window; a backend that keeps handing back
  // the same cursor would otherwise spin forever.
  for (let turn = 0; turn < 1000; turn++) {
    const want = pageSize - items.length;
    // One more than needed, so a page that ends inside a window knows more follows without another call.
    const window = await adapter.listExtensions(ctx, { cursor: pos.c, limit: pos.o + want + 1 });
    const available = window.items.slice(pos.o);
    const taken = available.slice(0, want);
    items.push(...taken);
    if (items.length === pageSize) {
      if (available.length > taken.length) return page(items, tenant, { c: pos.c, o: pos.o + taken.length });
      if (!window.next || window.next === pos.c) return page(items, tenant, null);
      const peek = await adapter.listExtensions(ctx, { cursor: window.next, limit: 1 });
      return page(items, tenant, peek.items.length > 0 ? { c: window.next, o: 0 } : null);
    }
    if (!window.next || window.items.length === 0 || window.next === pos.c) return page(items, tenant, null);
    pos = { c: window.next, o: 0 };
  }
  return page(items, tenant, null);
}

function page(items: Extension[], tenant: string, next: Position | null): Page {
  return { items, next_page_token: next ? encodePageToken(tenant, next) : null };
}

/** Walk every extension of a tenant (duplicate checks, exports), window by window. */
export async function* allExtensions(ctx: RequestContext, adapter: PbxAdapter, windowSize = 100): AsyncGenerator<Extension> {
  let cursor: string | null = null;
  for (let turn = 0; turn < 100_000; turn++) {
    const window = await adapter.listExtensions(ctx, { cursor, limit: windowSize });
    yield* window.items;
    if (!window.next || window.items.length === 0 || window.next === cursor) return;
    cursor = window.next;
  }
}
