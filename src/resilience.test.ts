import { backoffMs, Bulkhead, CircuitBreaker, type BreakerState } from './resilience';

describe('Bulkhead', () => {
  it('takes slots at once up to its limit, queues up to its queue, and refuses beyond', async () => {
    const b = new Bulkhead(2, 1);
    expect(b.acquire()).toBe(true);
    expect(b.acquire()).toBe(true);
    const waiting = b.acquire();
    expect(waiting).toBeInstanceOf(Promise);
    expect(b.acquire()).toBe(false);
    let handed = false;
    void (waiting as Promise<void>).then(() => (handed = true));
    await Promise.resolve();
    expect(handed).toBe(false);
    b.release(); // the slot passes to the waiter
    await Promise.resolve();
    expect(handed).toBe(true);
    expect(b.inFlight).toBe(2);
    expect(b.acquire()).toBeInstanceOf(Promise); // still full: nobody jumped the queue
  });

  it('hands slots to waiters in arrival order and frees them when nobody waits', async () => {
    const b = new Bulkhead(1, 5);
    expect(b.acquire()).toBe(true);
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => (b.acquire() as Promise<void>).then(() => order.push(n)));
    for (let i = 0; i < 3; i++) b.release();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    b.release();
    expect(b.inFlight).toBe(0);
  });
});

describe('CircuitBreaker', () => {
  function breaker(threshold = 3, openMs = 1000) {
    let now = 0;
    const events: BreakerState[] = [];
    const cb = new CircuitBreaker(threshold, openMs, { onOpen: () => events.push('open'), onHalfOpen: () => events.push('half_open'), onClose: () => events.push('closed') }, () => now);
    return { cb, events, advance: (ms: number) => (now += ms) };
  }

  it('opens after consecutive failures only; a success in between resets the count', () => {
    const { cb, events } = breaker(3);
    for (const failed of [true, true, false, true, true]) {
      expect(cb.enter()).toBe('call');
      cb.exit(false, failed);
    }
    expect(cb.state).toBe('closed');
    expect(cb.enter()).toBe('call');
    cb.exit(false, true);
    expect(cb.state).toBe('open');
    expect(events).toEqual(['open']);
  });

  it('an outcome that says nothing about the backend neither counts nor resets', () => {
    const { cb } = breaker(2);
    cb.exit(false, true);
    cb.exit(false, undefined);
    cb.exit(false, true);
    expect(cb.state).toBe('open');
  });

  it('fails fast while open, then lets one probe through; the others wait for its outcome', async () => {
    const { cb, events, advance } = breaker(1, 1000);
    cb.exit(false, true);
    expect(cb.enter()).toBe('open');
    expect(cb.msUntilProbe).toBe(1000);
    advance(999);
    expect(cb.enter()).toBe('open');
    advance(1);
    expect(cb.enter()).toBe('probe');
    const waiting = cb.enter();
    expect(waiting).toBeInstanceOf(Promise);
    cb.exit(true, false);
    await waiting;
    expect(cb.enter()).toBe('call');
    expect(events).toEqual(['open', 'half_open', 'closed']);
  });

  it('a failed probe opens the circuit for another pause', () => {
    const { cb, events, advance } = breaker(1, 500);
    cb.exit(false, true);
    advance(500);
    expect(cb.enter()).toBe('probe');
    advance(10);
    cb.exit(true, true);
    expect(cb.state).toBe('open');
    expect(cb.msUntilProbe).toBe(500);
    expect(events).toEqual(['open', 'half_open', 'open']);
  });

  it('a probe that fails for a reason of ours still closes the circuit', () => {
    const { cb, advance } = breaker(1, 100);
    cb.exit(false, true);
    advance(100);
    expect(cb.enter()).toBe('probe');
    cb.exit(true, undefined);
    expect(cb.state).toBe('closed');
  });
});

describe('backoffMs', () => {
  it('grows exponentially up to its cap, jittered within the upper half', () => {
    expect([0, 1, 2].map((a) => backoffMs(a, 50, 1000, () => 0))).toEqual([25, 50, 100]);
    expect([0, 1, 2].map((a) => backoffMs(a, 50, 1000, () => 1))).toEqual([50, 100, 200]);
    expect(backoffMs(10, 50, 1000, () => 1)).toBe(1000);
  });
});
