import { backendRequestId } from './client';

const KEPT = /^[A-Za-z0-9_-]{1,64}$/;

describe('backendRequestId: an X-Request-Id VoIPBIN keeps (at most 64 of [A-Za-z0-9_-])', () => {
  it.each(['0b6c1f9e-4c1a-4d8e-9a51-2f3c4d5e6f70', 'readyz-acme', 'a', 'x'.repeat(64), 'A_b-9'])('sends %p as it is', (id) => {
    expect(backendRequestId(id)).toBe(id);
  });

  it.each(['caller.req:42', 'x'.repeat(65), `a.b:c-${'y'.repeat(122)}`, '...', ':'])('derives a kept one from %p', (id) => {
    const derived = backendRequestId(id);
    expect(derived).toMatch(KEPT);
    expect(derived).not.toBe(id);
    expect(backendRequestId(id)).toBe(derived);
  });

  it('keeps the readable part and tells apart ids that differ only in replaced characters or beyond the cut', () => {
    expect(backendRequestId('caller.req:42')).toMatch(/^caller_req_42-[A-Za-z0-9_-]{12}$/);
    expect(backendRequestId('a.b')).not.toBe(backendRequestId('a:b'));
    expect(backendRequestId(`${'z'.repeat(70)}1`)).not.toBe(backendRequestId(`${'z'.repeat(70)}2`));
  });
});
