/**
 * The one place where errors become HTTP answers: RFC 9457 problems, `application/problem+json`.
 * Only what the GatewayError says for the caller is sent; causes (backend bodies, stack traces) go to the log.
 */
import type { NextFunction, Request, Response } from 'express';
import { asGatewayError, ConflictError, GatewayError, MalformedRequestError, PayloadTooLargeError, PlanStaleError, PruneTooLargeError, SettingsWouldBeLostError, UnprocessableError, UnsupportedMediaTypeError, ValidationError } from '../errors';
import type { Problem } from '../../schemas/types';

export function toProblem(err: GatewayError, requestId?: string): Problem {
  const problem: Problem = { type: `/problems/${err.slug}`, title: err.title, status: err.status, detail: err.message };
  if (requestId) problem.instance = requestId;
  if ((err instanceof ValidationError || err instanceof UnprocessableError || err instanceof ConflictError || err instanceof SettingsWouldBeLostError || err instanceof PlanStaleError || err instanceof PruneTooLargeError) && err.errors.length) {
    problem.errors = err.errors;
  }
  return { ...problem, ...err.extra };
}

export function sendProblem(res: Response, err: GatewayError): void {
  if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
  // RFC 9110 §11.6.1: a 401 says how to authenticate. API keys are bearer tokens (RFC 6750).
  if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="pbx-gateway"');
  res.status(err.status).type('application/problem+json').send(JSON.stringify(toProblem(err, res.locals.requestId as string | undefined)));
}

/**
 * body-parser's own errors (bad JSON, too large, an encoding it does not read) arrive as plain errors with a
 * `type`; a body that fails to decompress (corrupt gzip, deflate or br) or is cut short arrives as the stream's
 * own error with an HTTP status set on it (http-errors' `status` and `expose`). None of them is the gateway's
 * failure.
 */
function fromBodyParser(err: unknown): GatewayError | undefined {
  if (!err || typeof err !== 'object' || err instanceof GatewayError) return undefined;
  const { type, status, expose } = err as { type?: unknown; status?: unknown; expose?: unknown };
  if (type === 'entity.parse.failed') return new MalformedRequestError('The request body is not valid JSON.');
  if (type === 'entity.too.large') return new PayloadTooLargeError('The request body is larger than the gateway accepts.');
  if (type === 'encoding.unsupported') return new UnsupportedMediaTypeError('The request body is in a Content-Encoding the gateway does not read; send it as is, or gzip, deflate or br.');
  if (type === 'charset.unsupported') return new UnsupportedMediaTypeError('The request body is in a charset the gateway does not read; send UTF-8.');
  if (expose === true && status === 400) return new MalformedRequestError('The request body could not be read: it does not decompress as its Content-Encoding says, or it ended early.');
  return undefined;
}

export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const gatewayError = fromBodyParser(err) ?? asGatewayError(err);
  const log = req.log;
  // Our own failures are errors; a backend's are warnings (they are about the PBX, not the gateway); refusals of
  // the caller's request (4xx, 501) are ordinary answers.
  if (gatewayError.status === 500) log?.error({ err, problem: gatewayError.slug }, 'request failed');
  else if (gatewayError.status >= 502) log?.warn({ err, problem: gatewayError.slug }, 'backend failed');
  else log?.info({ problem: gatewayError.slug, status: gatewayError.status }, 'request refused');
  if (res.headersSent) return void res.end();
  sendProblem(res, gatewayError);
}
