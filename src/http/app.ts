/**
 * The Express facade: createApp builds the whole unified API from its dependencies and never listens, so tests
 * drive it directly and main.ts decides about ports and signals.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { MalformedRequestError, NotFoundError } from '../errors';
import type { Tenant } from '../extensions';
import { redactUrl } from '../log';
import { runWithContext } from '../request-context';
import { ApiKeys, authenticate } from './auth';
import type { ApiKeyConfig } from '../../schemas/types';
import { errorHandler } from './problems';
import { detailRoutes } from './routes/details';
import { extensionRoutes } from './routes/extensions';
import { ringGroupRoutes } from './routes/ring-groups';
import { tenantRoutes } from './routes/tenants';

export interface AppDeps {
  tenants: ReadonlyMap<string, Tenant>;
  apiKeys: readonly ApiKeyConfig[];
  logger: Logger;
  /** Time budget of one request, backend calls included (default 15 s). */
  requestBudgetMs?: number;
  /** Largest accepted JSON body (default 1 MB). */
  bodyLimit?: string;
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const budget = deps.requestBudgetMs ?? 15_000;

  // Request id, logger, time budget: first, so that every later line and backend call carries them.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    req.log = deps.logger.child({ req_id: requestId });
    const started = performance.now();
    res.on('finish', () => {
      req.log!.info(
        { method: req.method, url: redactUrl(req.originalUrl), status: res.statusCode, ms: Math.round(performance.now() - started) },
        'request',
      );
    });
    runWithContext({ requestId, deadline: Date.now() + budget }, next);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use(express.json({ limit: deps.bodyLimit ?? '1mb', strict: true }));
  app.use((req: Request, _res: Response, next: NextFunction) => {
    // A body the gateway did not parse must not pass for an empty one.
    if (req.body === undefined && Number(req.get('content-length') ?? 0) > 0) {
      return next(new MalformedRequestError('Send the request body as JSON with `Content-Type: application/json`.'));
    }
    next();
  });

  app.use('/v1', authenticate(new ApiKeys(deps.apiKeys)));
  app.use(tenantRoutes(deps.tenants));
  app.use(extensionRoutes(deps.tenants));
  app.use(detailRoutes(deps.tenants));
  app.use(ringGroupRoutes(deps.tenants));

  app.use((req: Request, _res: Response, next: NextFunction) => next(new NotFoundError(`No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}
