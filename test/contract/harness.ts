/**
 * The two ways the contract suite reaches a backend: nock at the HTTP boundary (no socket; every request is
 * intercepted and answered by the vendor's simulator handler in-process), and the same simulator served over
 * real HTTP on a loopback port. Faults are injected the same way in both.
 */
import nock from 'nock';
import { serveSimulator, toSimRequest, encodeBody, type SimFault, type SimHandler } from '../../src/simulator-kit';

/** What each vendor gives the suite: a fresh simulated backend and how to reach and fill it. */
export interface ContractBackend<S = unknown> {
  handler: SimHandler;
  /** The simulator object, for vendor-only cases in `extra`. */
  state: S;
  /** Path prefix of the API under the server root, e.g. `/v1.0`. */
  basePath: string;
  /** Tenant `auth` the backend accepts, and one it refuses. */
  auth: Record<string, unknown>;
  badAuth: Record<string, unknown>;
  /** The secret values inside badAuth, which must appear in no answer and no log line. */
  badAuthSecrets: string[];
  /** Other tenant settings the backend needs (e.g. a vendor's own tenant field). */
  tenantExtra?: Record<string, unknown>;
  /** Put extensions straight into the backend (not through the gateway); returns their ids in order. */
  seed(list: { extension: string; name: string; description?: string; password?: string }[]): string[];
  /** An id of the backend's own form that names no extension. */
  unknownId(): string;
  /** How many requests the backend has received. */
  requestCount(): number;
}

export interface RunningFake {
  baseUrl: string;
  inject(fault: SimFault): void;
  close(): Promise<void>;
}

export type FakeMode = 'nock' | 'simulator';

let hostCounter = 0;

export async function startFake(mode: FakeMode, backend: ContractBackend): Promise<RunningFake> {
  if (mode === 'simulator') {
    const server = await serveSimulator(backend.handler);
    return { baseUrl: server.url + backend.basePath, inject: (f) => server.injectFault(f), close: () => server.close() };
  }
  const origin = `http://backend-${++hostCounter}.contract.test`;
  const faults: SimFault[] = [];
  const scope = nock(origin).persist();
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    scope.intercept(/.*/, method).reply(async function (uri, requestBody) {
      const fault = faults.shift();
      if (fault?.kind === 'reset') {
        // nock destroys the request with this error; the mock socket re-emits it, and when the client has not
        // attached its own listener yet that would be an unhandled 'error' event in the test process.
        (this.req as unknown as { socket?: NodeJS.EventEmitter }).socket?.on('error', () => undefined);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      // Never answered: the gateway's own timeout must end it. (Settling it later would emit an error on a
      // request the client has long abandoned.)
      if (fault?.kind === 'hang') return new Promise<never>(() => undefined);
      if (fault?.kind === 'garbage') return [200, '<html><body>502 Bad Gateway</body></html>', { 'content-type': 'application/json' }];
      if (fault?.kind === 'status') return [fault.status, fault.body ?? '', fault.headers ?? {}];
      const raw = typeof requestBody === 'string' ? requestBody : JSON.stringify(requestBody);
      const headers = this.req.headers as Record<string, string>;
      const answer = backend.handler(toSimRequest(method, uri, headers, raw));
      if (fault?.kind === 'lose-answer' || fault?.kind === 'truncate') {
        (this.req as unknown as { socket?: NodeJS.EventEmitter }).socket?.on('error', () => undefined);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.ms));
      const { text, contentType } = encodeBody(answer);
      return [answer.status, text ?? '', { ...(contentType ? { 'content-type': contentType } : {}), ...(answer.headers ?? {}) }];
    });
  }
  return {
    baseUrl: origin + backend.basePath,
    inject: (f) => faults.push(f),
    async close() {
      nock.removeInterceptor({ hostname: new URL(origin).hostname });
      scope.persist(false);
      nock.cleanAll();
    },
  };
}

/**
 * nock for one describe block: intercepting, with only loopback connections let through (the simulators over
 * HTTP). Each test file loads its own nock, and each would patch http again on top of the last: restored after.
 */
export function useNock(): void {
  beforeAll(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
  });
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
}
