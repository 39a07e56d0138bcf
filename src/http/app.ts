/**
 * The Express facade: createApp builds the whole unified API from its dependencies and never listens, so tests
 * drive it directly and main.ts decides about ports and signals.
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { NotFoundError, UnsupportedMediaTypeError } from '../errors';
import type { Tenant } from '../extensions';
import { redactUrl, RequestLog } from '../log';
import { Metrics } from '../metrics';
import { buildOpenApi } from '../openapi';
import { renderDocs } from './docs';
import { version as VERSION } from '../../package.json';
import { Readiness } from '../readiness';
import { newRequestContext } from '../request-context';
import { ApiKeys, presentedCredential } from './auth';
import { apiGuards, type AuthFailureLimit } from './guards';
import { MemoryStore, type StateStore } from '../state/store';
import type { ApiKeyConfig, RateLimitConfig } from '../../schemas/types';
import { errorHandler } from './problems';
import { bulkRoutes } from './routes/bulk';
import { consoleRoutes } from './console';
import { detailRoutes } from './routes/details';
import { migrationRoutes } from './routes/migrations';
import { Migrations } from '../migrations';
import { Jobs } from '../jobs';
import { jobRoutes } from './routes/jobs';
import { desiredStateRoutes } from './routes/desired-state';
import { DesiredStates } from '../desired-state';
import { directoryRoutes } from './routes/directory';
import { extensionRoutes } from './routes/extensions';
import { ringGroupRoutes } from './routes/ring-groups';
import { tenantRoutes } from './routes/tenants';
import { eventRoutes } from './routes/events';
import { createEventLog } from '../events/log';
import { webhookRoutes } from './routes/webhooks';
import { Webhooks, type WebhooksOptions } from '../events/webhooks';
import type { WebhookSettings } from '../events/webhooks-config';
import type { EventLog } from '../events/types';

export interface AppDeps {
  tenants: ReadonlyMap<string, Tenant>;
  apiKeys: readonly ApiKeyConfig[];
  logger: Logger;
  /** Time budget of one request, backend calls included (default 15 s). */
  requestBudgetMs?: number;
  /** Largest accepted JSON body (default 1 MB). */
  bodyLimit?: string;
  /** Shared state (rate-limit counters, idempotency records); default in memory. */
  store?: StateStore;
  /** Default per-key rate limit (default 600 requests a minute). */
  rateLimit?: RateLimitConfig;
  /** Prometheus metrics, shared across config reloads; default a fresh registry. */
  metrics?: Metrics;
  /** Failed authentications one client address may have in a window before they are 429 (default 10 a minute). */
  authFailures?: AuthFailureLimit;
  /** The change events' log (`app.locals.events`), shared with the tenants' observed writes; default in memory. */
  events?: EventLog;
  /** Webhook subscriptions (the config's `webhooks`): delivered from `app.locals.events` while the app lives. */
  webhooks?: WebhookSettings;
  /** Timing of the webhook deliverer (tests shorten it). */
  webhookOptions?: Pick<WebhooksOptions, 'idleMs' | 'leaseMs' | 'random'>;
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** The one route that reads a body other than JSON, and the types it reads. */
const IMPORT_PATH = /^\/v1\/tenants\/[^/]+\/extensions\/import\/?$/;
const IMPORT_TYPES = ['text/csv', 'application/x-ndjson', 'application/ndjson', 'application/jsonl'];

/**
 * `res.json` for this app only (Express' documented `app.response` prototype): the gateway uses none of what
 * Express' own does beyond stringify and send (JSON replacer, spaces and escape settings, charset parsing,
 * ETag and freshness checks: there is no ETag to be fresh against), and every JSON answer but a problem goes
 * through it.
 */
function leanJson(this: Response, body: unknown): Response {
  const text = JSON.stringify(body) ?? '';
  if (!this.hasHeader('content-type')) this.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (this.statusCode === 204 || this.statusCode === 304) {
    this.end();
    return this;
  }
  // No Content-Length of ours: `end` with the whole body before any header is sent has Node count and send it.
  this.end(text, 'utf8');
  return this;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.response.json = leanJson;
  const budget = deps.requestBudgetMs ?? 15_000;
  const metrics = deps.metrics ?? new Metrics({ defaultMetrics: false });

  // The access line, one per request, has fixed fields that cannot hold a secret (the request id, the key's id,
  // method, status, time, and the URL with credential parameters blanked), so it skips the redaction paths that
  // every other line walks; the last scrub of known secret values still runs on it.
  const accessLog = deps.logger.child({}, { redact: { paths: [], censor: '[REDACTED]' } });
  const keys = new ApiKeys(deps.apiKeys);

  // Bodies are parsed only for the methods that carry them: a GET pays nothing for it. JSON is the API's one body
  // type (`application/json`, or a `+json` type such as `application/merge-patch+json`).
  const json = express.json({ limit: deps.bodyLimit ?? '1mb', strict: true, type: ['application/json', 'application/*+json'] });
  // Imports arrive as CSV or NDJSON text; they are larger than API bodies (10,000 rows at most). Only the import
  // route reads them: anywhere else such a body is refused like any other that is not JSON.
  const text = express.text({ type: IMPORT_TYPES, limit: '10mb' });
  // A body is there when the request says so, by its length or by being chunked: one the gateway did not parse
  // must not pass for an empty one.
  const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  const unparsed = (req: Request) => req.body === undefined && hasBody(req);

  // First, one middleware (one router layer): the request id, logger and time budget that every later line and
  // backend call carries, the headers every answer carries, the access line and metrics, then the body.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    // An API answers JSON to programs: nothing in it may be framed, sniffed, cached, or run as a page.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    req.log = new RequestLog(deps.logger, { req_id: requestId });
    const started = performance.now();
    // On 'close', which also comes when the client went away before the answer was sent: that request is logged
    // too, as 499 (no answer reached the client).
    res.on('close', () => {
      const elapsed = performance.now() - started;
      const status = res.writableFinished ? res.statusCode : 499;
      // Route patterns only (never the ids in the URL); requests that matched no route share one label.
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics.request({ route, method: req.method, status, tenant: (res.locals.tenant as string | undefined) ?? '' }, elapsed / 1000);
      if (accessLog.isLevelEnabled('info')) {
        accessLog.info({ req_id: requestId, key_id: req.apiKey?.id, method: req.method, url: keys.redactCredentials(redactUrl(req.originalUrl), presentedCredential(req)), status, ms: Math.round(elapsed) }, 'request');
      }
    });
    req.ctx = newRequestContext(requestId, budget);

    const parsed = (err?: unknown) => {
      if (err) return next(err);
      if (unparsed(req)) {
        const type = req.headers['content-type'];
        return next(new UnsupportedMediaTypeError(type ? `A request body of type '${String(type).split(';')[0].trim().slice(0, 100)}' is not read here: send JSON with \`Content-Type: application/json\`.` : 'Send the request body as JSON with `Content-Type: application/json`.'));
      }
      next();
    };
    if (req.method === 'GET' || req.method === 'HEAD') return parsed();
    if (IMPORT_PATH.test(req.path)) return json(req, res, (err?: unknown) => (err ? next(err) : text(req, res, parsed)));
    json(req, res, parsed);
  });

  const store = deps.store ?? new MemoryStore();
  app.locals.events = deps.events ?? createEventLog(new MemoryStore());
  app.use('/v1', apiGuards(keys, store, deps.rateLimit ?? { requests: 600, window_s: 60 }, deps.authFailures));
  // Every route on the app's own router, none in a sub-router: a request is matched against route patterns
  // only, instead of entering and leaving one router per area on its way (measured: bench/README.md).
  tenantRoutes(app, deps.tenants);
  directoryRoutes(app, deps.tenants);
  // Before the extension routes: `/extensions/export` and `/extensions/import` are not extension ids.
  // Imports too large for their request and migrations run as jobs (`app.locals.jobs`: `close()` hands this
  // instance's runs over to another instance or the next start).
  const jobs = new Jobs(store, () => deps.tenants, deps.logger);
  app.locals.jobs = jobs;
  bulkRoutes(app, deps.tenants, store, jobs);
  extensionRoutes(app, deps.tenants, store);
  detailRoutes(app, deps.tenants);
  ringGroupRoutes(app, deps.tenants);
  migrationRoutes(app, new Migrations(store, () => deps.tenants, deps.logger, jobs));
  jobRoutes(app, jobs);
  desiredStateRoutes(app, deps.tenants, new DesiredStates(store, () => deps.tenants, jobs));
  eventRoutes(app, () => app.locals.events as EventLog);
  // Webhook deliveries run from the app's life (`app.locals.webhooks`: `close()` stops them; an app built again on
  // the same store, a config reload, takes them over).
  const webhooks = deps.webhooks?.subscriptions.length ? new Webhooks(store, () => app.locals.events as EventLog | undefined, deps.webhooks, { logger: deps.logger, metrics, ...deps.webhookOptions }).start() : undefined;
  app.locals.webhooks = webhooks;
  webhookRoutes(app, () => webhooks);

  // Operations and the console after the API: the API's requests, the many, are matched first.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const readiness = new Readiness(() => deps.tenants, { logger: deps.logger });
  app.get('/readyz', async (_req, res) => {
    const report = await readiness.report();
    res.status(report.status === 'unready' ? 503 : 200).json(report);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.text());
  });
  const openapi = buildOpenApi(VERSION);
  const docsPage = renderDocs(openapi);
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.get('/docs', (_req, res) => {
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    res.type('html').send(docsPage);
  });

  consoleRoutes(app);

  app.use((req: Request, _res: Response, next: NextFunction) => next(new NotFoundError(`No route for ${req.method} ${req.path}.`)));
  app.use(errorHandler);
  return app;
}
