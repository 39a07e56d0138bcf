/**
 * The three guards around each backend call, as plain state machines the caller steps through: a bulkhead
 * (bounded concurrency and a bounded queue), a consecutive-failure circuit breaker with one probe after a pause,
 * and a jittered exponential backoff for retries.
 *
 * Why not a policy library: composed policies (bulkhead, then retry, then breaker, each wrapping the call in its
 * own async function and result object) cost several promises per backend call, on the path every request
 * takes. Here the common case, a free slot and a closed circuit, is two counter checks and no promise at all;
 * only a caller that has to wait (a full bulkhead, a probe in flight) gets one. Measured in bench/README.md.
 */

/** A slot in the bulkhead: taken at once, or after waiting in the queue, or refused (`undefined`). */
export class Bulkhead {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}

  /** true: the slot is taken; a promise: resolves once a slot is handed over; false: full, queue included. */
  acquire(): true | false | Promise<void> {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return true;
    }
    if (this.queue.length >= this.maxQueued) return false;
    // The slot passes straight to the waiter on release: `active` does not drop, so nobody can jump the queue.
    return new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active--;
  }

  get inFlight(): number {
    return this.active;
  }
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerEvents {
  onOpen(): void;
  onHalfOpen(): void;
  onClose(): void;
}

/**
 * Opens after `threshold` consecutive failures; while open every call fails fast. After `openMs` the next call
 * is let through as the probe: the others wait for its outcome and ask again. A probe that succeeds (or fails
 * in a way that says nothing about the backend) closes the circuit; one that fails opens it for another `openMs`.
 */
export class CircuitBreaker {
  private stateNow: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  /** Settles when the probe in flight is judged. */
  private probeDone?: Promise<void>;
  private settleProbe?: () => void;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly events: BreakerEvents,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.stateNow;
  }

  /** Milliseconds until an open circuit lets a probe through (0 when not open). */
  get msUntilProbe(): number {
    return this.stateNow === 'open' ? Math.max(0, this.openedAt + this.openMs - this.now()) : 0;
  }

  /**
   * Before a call: 'call' (go ahead), 'probe' (go ahead; the outcome decides the circuit), 'open' (fail fast),
   * or a promise to wait on before asking again (a probe is in flight).
   */
  enter(): 'call' | 'probe' | 'open' | Promise<void> {
    if (this.stateNow === 'closed') return 'call';
    if (this.stateNow === 'half_open') return this.probeDone!;
    if (this.now() - this.openedAt < this.openMs) return 'open';
    this.stateNow = 'half_open';
    this.probeDone = new Promise<void>((resolve) => (this.settleProbe = resolve));
    this.events.onHalfOpen();
    return 'probe';
  }

  /** After a call entered as 'call' or 'probe': whether it failed in a way that counts against the backend
   * (undefined: an outcome that says nothing about the backend, such as a bug of ours; a probe still closes). */
  exit(probe: boolean, failed: boolean | undefined): void {
    if (failed) {
      this.failures++;
      if (probe || (this.stateNow === 'closed' && this.failures >= this.threshold)) this.open();
    } else {
      if (failed === false) this.failures = 0;
      if (probe) this.close();
    }
    if (probe) {
      const settle = this.settleProbe;
      this.probeDone = this.settleProbe = undefined;
      settle?.();
    }
  }

  private open(): void {
    this.stateNow = 'open';
    this.openedAt = this.now();
    this.events.onOpen();
  }

  private close(): void {
    this.stateNow = 'closed';
    this.events.onClose();
  }
}

/** Delay before retry number `attempt` (0 for the first retry): exponential from `initialMs`, capped at `maxMs`,
 * with its upper half jittered so that callers that failed together do not retry together. */
export function backoffMs(attempt: number, initialMs = 50, maxMs = 1000, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
