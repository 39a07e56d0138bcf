import type { Extension, ListPage, ListPageRequest, PbxAdapter } from './contract';
import { NumberIndex } from './number-index';
import { newRequestContext } from './request-context';

/** An adapter over a plain array, paged by 2, counting its list calls. */
function fakeAdapter(numbers: string[]) {
  const state = { numbers: [...numbers], lists: 0, gate: undefined as Promise<void> | undefined };
  const ext = (n: string): Extension => ({ id: `id-${n}`, extension: n, name: n }) as Extension;
  const adapter = {
    backend: 'fake',
    async listExtensions(_ctx: unknown, req: ListPageRequest): Promise<ListPage> {
      state.lists++;
      if (state.gate) await state.gate;
      const at = req.cursor ? Number(req.cursor) : 0;
      const items = state.numbers.slice(at, at + 2).map(ext);
      return { items, next: at + 2 < state.numbers.length ? String(at + 2) : null };
    },
  } as unknown as PbxAdapter;
  return { adapter, state };
}

const ctx = () => newRequestContext('t', 5000);

describe('NumberIndex', () => {
  let now = 1_000_000;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it('walks the list once on first need, then answers from memory until it is older than its age', async () => {
    const { adapter, state } = fakeAdapter(['100', '101', '102']);
    const index = new NumberIndex(adapter, { maxAgeMs: 30_000, clock });
    expect(await index.taken(ctx(), '200')).toBe(false);
    expect(state.lists).toBe(2);
    now += 29_999;
    expect(await index.taken(ctx(), '201')).toBe(false);
    expect(state.lists).toBe(2);
    now += 1;
    expect(await index.taken(ctx(), '202')).toBe(false);
    expect(state.lists).toBe(4);
  });

  it('answers "taken" from a walk made for the question; an older "taken" is read again first', async () => {
    const { adapter, state } = fakeAdapter(['100', '101', '102']);
    const index = new NumberIndex(adapter, { clock });
    expect(await index.taken(ctx(), '101')).toBe(true);
    expect(state.lists).toBe(2);
    // Another client deletes 101: the index still holds it, so the "taken" is checked with a fresh walk.
    state.numbers = ['100', '102'];
    now += 10;
    expect(await index.taken(ctx(), '101')).toBe(false);
    expect(state.lists).toBe(3);
    // Still there after a fresh read: taken.
    now += 10;
    expect(await index.taken(ctx(), '102')).toBe(true);
    expect(state.lists).toBe(4);
  });

  it("keeps the gateway's own writes without reading the list", async () => {
    const { adapter, state } = fakeAdapter(['100']);
    const index = new NumberIndex(adapter, { clock });
    await index.taken(ctx(), '100');
    index.added('300', 'id-300');
    now += 10;
    state.numbers = ['100', '300'];
    expect(await index.taken(ctx(), '301')).toBe(false);
    expect(state.lists).toBe(1);
    index.removed('id-100');
    expect(await index.taken(ctx(), '100')).toBe(false);
    expect(state.lists).toBe(1);
    index.removedNumber('300');
    expect(await index.taken(ctx(), '300')).toBe(false);
    expect(state.lists).toBe(1);
  });

  it('shares one walk between concurrent questions, and applies a write made during a walk on top of it', async () => {
    const { adapter, state } = fakeAdapter(['100', '101']);
    const index = new NumberIndex(adapter, { clock });
    let open!: () => void;
    state.gate = new Promise<void>((r) => (open = r));
    const a = index.taken(ctx(), '500');
    const b = index.taken(ctx(), '501');
    // While the walk runs, the gateway deletes 100 and creates 500: the walk (read before) must not undo them.
    now += 1;
    index.removed('id-100');
    index.added('500', 'id-500');
    open();
    state.gate = undefined;
    expect(await b).toBe(false);
    await a;
    expect(state.lists).toBe(1);
    expect(await index.taken(ctx(), '100')).toBe(false);
    now += 1;
    // 500 is in the index from the gateway's own create (older than the question: read again, and the list shows it).
    state.numbers = ['101', '500'];
    expect(await index.taken(ctx(), '500')).toBe(true);
  });

  it('takes in a batch walk (existingByNumber) without a walk of its own', async () => {
    const { adapter, state } = fakeAdapter([]);
    const index = new NumberIndex(adapter, { clock });
    const walk = index.startWalk();
    index.finishWalk(walk, [{ id: 'x', extension: '700', name: 'x' } as Extension]);
    expect(index.warm).toBe(true);
    now += 5;
    expect(await index.taken(ctx(), '701')).toBe(false);
    expect(state.lists).toBe(0);
  });

  it('a failed walk leaves the index cold, and the next question walks again', async () => {
    const { adapter, state } = fakeAdapter(['100']);
    const index = new NumberIndex(adapter, { clock });
    const list = adapter.listExtensions.bind(adapter);
    (adapter as { listExtensions: unknown }).listExtensions = async () => {
      state.lists++;
      throw new Error('down');
    };
    await expect(index.taken(ctx(), '100')).rejects.toThrow('down');
    expect(index.warm).toBe(false);
    (adapter as { listExtensions: unknown }).listExtensions = list;
    expect(await index.taken(ctx(), '100')).toBe(true);
    expect(state.lists).toBe(2);
  });
});
