import type { Extension, ListPageRequest, PbxAdapter, RequestContext } from './contract';
import { ValidationError } from './errors';
import { decodePageToken, encodePageToken, readPage } from './paging';

const ctx: RequestContext = { requestId: 'test', deadline: Date.now() + 60_000 };

const ext = (n: number): Extension => ({
  id: String(n), tenant: 't', backend: 'any' as Extension['backend'], extension: String(n), name: `n${n}`, description: null,
  username: null, domain: null, direct_uri: null, created_at: null, updated_at: null,
});

/** A backend paged by cursor: windows of at most `max`, a cursor on every non-empty window (even the last). */
function pagedAdapter(count: number, max: number) {
  const data = Array.from({ length: count }, (_, i) => ext(i + 1));
  const calls: ListPageRequest[] = [];
  const adapter = {
    async listExtensions(_ctx: RequestContext, req: ListPageRequest) {
      calls.push(req);
      const start = req.cursor ? Number(req.cursor) : 0;
      const items = data.slice(start, start + Math.min(req.limit, max));
      return { items, next: items.length ? String(start + items.length) : null };
    },
  } as unknown as PbxAdapter;
  return { adapter, calls };
}

/** A backend with no paging at all: every call answers everything. */
function unpagedAdapter(count: number) {
  const data = Array.from({ length: count }, (_, i) => ext(i + 1));
  return { async listExtensions() { return { items: data, next: null }; } } as unknown as PbxAdapter;
}

async function walk(adapter: PbxAdapter, size: number) {
  const pages: string[][] = [];
  let token: string | undefined;
  do {
    const page = await readPage(ctx, adapter, 't', size, token);
    pages.push(page.items.map((e) => e.id));
    token = page.next_page_token ?? undefined;
  } while (token && pages.length < 100);
  return pages;
}

describe('readPage', () => {
  it.each([
    [250, 100, 500],
    [250, 100, 100],
    [250, 100, 7],
    [200, 100, 50],
    [3, 100, 50],
    [0, 100, 50],
  ])('walks %d items in backend windows of %d with pages of %d, each item once, no empty last page', async (count, max, size) => {
    const { adapter } = pagedAdapter(count, max);
    const pages = await walk(adapter, size);
    expect(pages.flat()).toEqual(Array.from({ length: count }, (_, i) => String(i + 1)));
    if (count > 0) expect(pages.every((p) => p.length > 0)).toBe(true);
    expect(pages.length).toBe(Math.max(1, Math.ceil(count / size)));
  });

  it('pages an unpaged backend the same way', async () => {
    const pages = await walk(unpagedAdapter(23), 10);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 3]);
  });

  it('makes several backend calls for a page larger than a backend window, one for a small page', async () => {
    const big = pagedAdapter(1000, 100);
    await readPage(ctx, big.adapter, 't', 500);
    // Five windows of 100, then a one-item look at the sixth: the page ended at a window's end.
    expect(big.calls.map((c) => c.cursor)).toEqual([null, '100', '200', '300', '400', '500']);
    expect(big.calls[5].limit).toBe(1);
    const small = pagedAdapter(1000, 100);
    await readPage(ctx, small.adapter, 't', 10);
    expect(small.calls).toEqual([{ cursor: null, limit: 11 }]);
  });

  it('looks ahead once when a page ends exactly at the end of the data', async () => {
    const { adapter, calls } = pagedAdapter(100, 100);
    const page = await readPage(ctx, adapter, 't', 100);
    expect(page.next_page_token).toBeNull();
    expect(calls).toHaveLength(2);
  });
});

describe('page tokens', () => {
  it('round-trips and is bound to its tenant', () => {
    const token = encodePageToken('acme', { c: 'abc', o: 3 });
    expect(decodePageToken('acme', token)).toEqual({ c: 'abc', o: 3 });
    expect(() => decodePageToken('other', token)).toThrow(ValidationError);
  });

  it.each(['', 'garbage', Buffer.from('{"v":2}').toString('base64url'), Buffer.from('{"v":1,"t":"acme","c":null,"o":-1}').toString('base64url')])(
    'refuses %p with a pointer to the query parameter',
    (token) => {
      try {
        decodePageToken('acme', token);
        throw new Error('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).errors[0].pointer).toBe('/query/page_token');
      }
    },
  );
});
