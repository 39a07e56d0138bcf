/**
 * The gateway's one error family. Adapters and the core throw these; src/http/problems.ts is the one place
 * that turns them into HTTP answers. Messages (`detail`) are written for the API caller: they never carry a
 * backend's raw body or a secret. The original error is kept as `cause` for logs, never for answers.
 */

export interface FieldFault {
  /** RFC 6901 pointer into the request body, or `/query/<name>`. */
  pointer: string;
  detail: string;
}

export abstract class GatewayError extends Error {
  abstract readonly status: number;
  /** Problem type slug: `/problems/<slug>`. */
  abstract readonly slug: string;
  /** Fixed per type (RFC 9457 `title`). */
  abstract readonly title: string;
  /** Extra problem members (snake_case), e.g. `backend`, `capability`. */
  readonly extra: Record<string, unknown> = {};
  /** Sent as `Retry-After` (and `retry_after`) when set. */
  retryAfterSeconds?: number;
  /**
   * Whether a write of the failed operation may have reached the backend. `false` is a promise that nothing
   * that writes was sent with this request context (the failure came from a read before the write, or before
   * any call left the gateway): set by backend-http (which sees every call and its context; the core gives each
   * create a context object of its own) or by an adapter, read by the core to tell a create that failed from one
   * whose answer was lost. Left undefined when not known: the core then assumes a write may have been sent.
   */
  writeSent?: boolean;

  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends GatewayError {
  readonly status = 400;
  readonly slug = 'validation';
  readonly title = 'The request is not valid';
  constructor(
    readonly errors: FieldFault[],
    detail = 'The request has invalid fields; see errors.',
  ) {
    super(detail);
  }
}

export class MalformedRequestError extends GatewayError {
  readonly status = 400;
  readonly slug = 'malformed-request';
  readonly title = 'The request body could not be read';
}

export class UnauthenticatedError extends GatewayError {
  readonly status = 401;
  readonly slug = 'unauthenticated';
  readonly title = 'Authentication required';
}

export class ForbiddenError extends GatewayError {
  readonly status = 403;
  readonly slug = 'forbidden';
  readonly title = 'Not allowed for this API key';
}

export class NotFoundError extends GatewayError {
  readonly status = 404;
  readonly slug = 'not-found';
  readonly title = 'Not found';
}

export class ConflictError extends GatewayError {
  readonly status = 409;
  readonly slug = 'conflict';
  readonly title = 'Conflict with the current state';
  constructor(
    detail: string,
    readonly errors: FieldFault[] = [],
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

/** A desired-state apply whose file or tenants differ from what its plan read: plan again, review, apply. */
export class PlanStaleError extends GatewayError {
  readonly status = 409;
  readonly slug = 'plan-stale';
  readonly title = 'The plan is stale';
  readonly errors: FieldFault[] = [{ pointer: '/query/fingerprint', detail: 'does not match the file and the tenants as they are now' }];
}

/** A prune that would delete more of a tenant than the apply allows: nothing is written. */
export class PruneTooLargeError extends GatewayError {
  readonly status = 422;
  readonly slug = 'prune-too-large';
  readonly title = 'The prune would delete too much of a tenant';
  readonly errors: FieldFault[] = [{ pointer: '/query/max_prune_share', detail: 'is lower than the share the prune deletes' }];
}

/** A write the backend answered, whose object, read back, differs from what was written. */
export class VerificationFailedError extends GatewayError {
  readonly status = 502;
  readonly slug = 'verification-failed';
  readonly title = 'The target does not show the change';
}

/** One setting of the backend's record that a write would change although the caller did not ask for it. */
export interface LostSetting {
  /** The setting's name in the backend's own record (`view=full`'s `vendor`), dotted: `followme`, `device_options.rtcp_mux`. */
  setting: string;
  detail: string;
}

/**
 * The backend's write path would reset or drop settings the caller did not ask to change, and cannot be given
 * them back: refused before anything is written, unless the caller accepts each loss by name (`accept_loss`).
 */
export class SettingsWouldBeLostError extends GatewayError {
  readonly status = 409;
  readonly slug = 'settings-would-be-lost';
  readonly title = 'The backend would lose settings this write did not ask to change';
  readonly errors: FieldFault[];
  constructor(backend: string, readonly lost: LostSetting[]) {
    super(`Backend '${backend}' would change ${lost.map((l) => l.setting).join(', ')} on this write; nothing was written. Accept the loss by naming the settings in accept_loss, or change them on the PBX first.`);
    this.errors = lost.map((l) => ({ pointer: '/query/accept_loss', detail: `${l.setting}: ${l.detail}` }));
    Object.assign(this.extra, { backend, lost });
  }
}

/** A field the tenant's backend cannot store, or a value it refused: nothing is dropped silently. */
export class UnprocessableError extends GatewayError {
  readonly status = 422;
  readonly slug = 'unprocessable';
  readonly title = 'The backend cannot store this request';
  constructor(
    detail: string,
    readonly errors: FieldFault[],
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

/** A request body in a media type (or content encoding) the route does not read: JSON for the API's writes. */
export class UnsupportedMediaTypeError extends GatewayError {
  readonly status = 415;
  readonly slug = 'unsupported-media-type';
  readonly title = 'The request body is not in a type the gateway reads';
}

export class PayloadTooLargeError extends GatewayError {
  readonly status = 413;
  readonly slug = 'payload-too-large';
  readonly title = 'The request body is too large';
}

export class UnsupportedError extends GatewayError {
  readonly status = 501;
  readonly slug = 'unsupported';
  readonly title = "The tenant's backend does not support this operation";
  constructor(backend: string, capability: string) {
    super(`Backend '${backend}' does not support '${capability}'.`);
    Object.assign(this.extra, { backend, capability });
  }
}

/** A failure of the tenant's backend, not of the caller's request: names the backend. */
export abstract class BackendError extends GatewayError {
  constructor(backend: string, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.extra.backend = backend;
  }
}

/** The backend refused the gateway's own credentials (after a fresh login, where it has logins). */
export class BackendAuthFailedError extends BackendError {
  readonly status = 502;
  readonly slug = 'backend-auth-failed';
  readonly title = "The backend refused the gateway's credentials";
}

/** The backend answered 5xx, reset the connection, or sent something unreadable. */
export class BackendUnavailableError extends BackendError {
  readonly status = 502;
  readonly slug = 'backend-unavailable';
  readonly title = 'The backend failed';
}

export class BackendTimeoutError extends BackendError {
  readonly status = 504;
  readonly slug = 'backend-timeout';
  readonly title = 'The backend did not answer in time';
}

/** The backend is rate limiting us and its wait does not fit this request's time budget. */
export class RateLimitedError extends GatewayError {
  readonly status = 503;
  readonly slug = 'rate-limited';
  readonly title = 'The backend is rate limiting requests';
  constructor(backend: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(`Backend '${backend}' asked to wait ${retryAfterSeconds} s before retrying.`, options);
    this.retryAfterSeconds = retryAfterSeconds;
    Object.assign(this.extra, { backend, retry_after: retryAfterSeconds });
  }
}

/** The backend is failing and its circuit is open: calls fail fast until a probe succeeds. */
export class CircuitOpenError extends GatewayError {
  readonly status = 503;
  readonly slug = 'backend-circuit-open';
  readonly title = 'The backend is failing; calls to it are paused';
  constructor(backend: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(`Backend '${backend}' failed repeatedly; calls resume after a probe in about ${retryAfterSeconds} s.`, options);
    this.retryAfterSeconds = retryAfterSeconds;
    Object.assign(this.extra, { backend, retry_after: retryAfterSeconds });
  }
}

/** Too many calls already waiting for this backend (the bulkhead is full). */
export class BackendBusyError extends GatewayError {
  readonly status = 503;
  readonly slug = 'backend-busy';
  readonly title = 'Too many calls are waiting for this backend';
  constructor(backend: string, options?: { cause?: unknown }) {
    super(`Backend '${backend}' has too many calls in flight; try again shortly.`, options);
    this.retryAfterSeconds = 1;
    Object.assign(this.extra, { backend, retry_after: 1 });
  }
}

/** The caller's API key is over its rate limit. */
export class TooManyRequestsError extends GatewayError {
  readonly status = 429;
  readonly slug = 'too-many-requests';
  readonly title = 'Too many requests for this API key';
  constructor(retryAfterSeconds: number) {
    super(`This API key is over its rate limit; retry in ${retryAfterSeconds} s.`);
    this.retryAfterSeconds = retryAfterSeconds;
    this.extra.retry_after = retryAfterSeconds;
  }
}

/** Too many failed authentications from one client address: its next failures are refused until the window ends. */
export class TooManyFailedAuthenticationsError extends TooManyRequestsError {
  constructor(retryAfterSeconds: number) {
    super(retryAfterSeconds);
    this.message = `Too many failed authentications from this address; retry in ${retryAfterSeconds} s.`;
  }
}

/** An Idempotency-Key reused with another request, or still in use by a running one. */
export class IdempotencyConflictError extends GatewayError {
  readonly status = 409;
  readonly slug = 'idempotency-in-progress';
  readonly title = 'A request with this Idempotency-Key is still running';
}

export class IdempotencyMismatchError extends GatewayError {
  readonly status = 422;
  readonly slug = 'idempotency-key-reused';
  readonly title = 'This Idempotency-Key was used with a different request';
}

/**
 * A write whose outcome the gateway cannot tell (its answer was lost and the backend could not confirm it either
 * way): the caller should check before trying again. `outcome: "uncertain"` in the problem.
 */
export class OutcomeUncertainError extends BackendError {
  readonly status = 502;
  readonly slug = 'outcome-uncertain';
  readonly title = 'The backend may or may not have carried out this write';
  constructor(backend: string, detail: string, options?: { cause?: unknown }) {
    super(backend, detail, options);
    this.extra.outcome = 'uncertain';
  }
}

/** An Idempotency-Key whose first request ended with an outcome the gateway could not learn: not run again. */
export class IdempotencyOutcomeUnknownError extends GatewayError {
  readonly status = 409;
  readonly slug = 'idempotency-outcome-unknown';
  readonly title = 'The first request with this Idempotency-Key has an unknown outcome';
  constructor(detail: string) {
    super(detail);
    this.extra.outcome = 'uncertain';
  }
}

/** The shared state store (Redis) is unreachable or too slow, and this request needs it: nothing was done. */
export class StateUnavailableError extends GatewayError {
  readonly status = 503;
  readonly slug = 'state-unavailable';
  readonly title = 'The shared state store is unavailable';
  constructor(detail = 'The shared state store did not answer in time; nothing was done. Retry shortly.', options?: { cause?: unknown }) {
    super(detail, options);
    this.retryAfterSeconds = 2;
    this.extra.retry_after = 2;
  }
}

/** A change-feed cursor older than the events' retention: events after it are gone, so the client must start over. */
export class CursorExpiredError extends GatewayError {
  readonly status = 410;
  readonly slug = 'cursor-expired';
  readonly title = 'The cursor is older than the events kept';
  constructor(resumeAfter: string) {
    super('Events after this cursor are no longer kept. Resynchronise from a full list: keep resume_after, list the extensions and ring groups of each tenant, then follow the feed with after=resume_after.');
    this.extra.resume_after = resumeAfter;
  }
}

/** Anything that is not a GatewayError becomes this at the edge: the caller learns nothing of the internals. */
export class InternalError extends GatewayError {
  readonly status = 500;
  readonly slug = 'internal';
  readonly title = 'Internal error';
}

export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new InternalError('The gateway failed to handle this request.', { cause: err });
}
