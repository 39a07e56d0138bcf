/**
 * Per-request facts that code deep below the routes needs (request id, time budget) without threading them
 * through every adapter signature.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  requestId: string;
  /** Epoch ms by which the whole request should be answered. */
  deadline: number;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Milliseconds left in the current request's budget (Infinity outside a request). */
export function remainingBudgetMs(now = Date.now()): number {
  const ctx = storage.getStore();
  return ctx ? ctx.deadline - now : Infinity;
}
