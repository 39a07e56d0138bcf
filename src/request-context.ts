/**
 * Per-request facts that the backend calls need (the request id they forward, the time budget that cuts their
 * timeouts), passed explicitly from the route to the adapter and on to each backend call.
 *
 * Passed, not held in AsyncLocalStorage: on Node 20 AsyncLocalStorage runs a promise hook on every promise the
 * process creates (36 for a get one); passing the context took 3.6 % of the instructions per request
 * off (bench/README.md).
 */
export interface RequestContext {
  requestId: string;
  /** Epoch ms by which the whole request should be answered. */
  deadline: number;
  /** Work no client is waiting on (a migration, a job): its backend calls wait their turn in the account's pacing
   * whatever the wait, where an interactive request's call is refused (503) when the wait exceeds its budget. */
  background?: boolean;
  /** The API key on whose behalf the work is done (a request's, or the one that started a job): change events name it. */
  keyId?: string;
}

/** A context whose budget starts now; `background: true` for migrations and jobs (see RequestContext.background). */
export function newRequestContext(requestId: string, budgetMs: number, opts?: { background?: boolean }): RequestContext {
  return opts?.background ? { requestId, deadline: Date.now() + budgetMs, background: true } : { requestId, deadline: Date.now() + budgetMs };
}

/** Milliseconds left in a request's budget. */
export function remainingBudgetMs(ctx: RequestContext, now = Date.now()): number {
  return ctx.deadline - now;
}
