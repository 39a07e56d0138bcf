/**
 * A tiny toolkit for backend simulators: a simulator is a pure function from a request to a response,
 * so the same vendor twin can sit behind a real HTTP server (the demo, the simulator half of the contract
 * suite) or behind nock (the nock half), and faults can be injected in one generic way.
 *
 * Vendor-free on purpose: each adapter's simulator.ts supplies the handler.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SimRequest {
  method: string;
  /** Path without query string, e.g. `/v1.0/extensions/abc`. */
  path: string;
  /** Query parameters; repeated keys keep the last value. */
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Parsed JSON when the body was JSON, the raw text otherwise, undefined when empty. */
  body: unknown;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent verbatim; anything else is sent as JSON; undefined means no body. */
  body?: unknown;
}

export type SimHandler = (req: SimRequest) => SimResponse;

/** Faults a test (or a curious user of the demo) can inject into the next request(s). */
export type SimFault =
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'garbage' }
  | { kind: 'reset' }
  | { kind: 'hang' }
  /** The request is carried out, then the connection drops before the answer: the caller cannot know. */
  | { kind: 'lose-answer' }
  /** The request is carried out and answered, but only after `ms`. */
  | { kind: 'slow'; ms: number }
  /** The answer is cut off half-way through its body. */
  | { kind: 'truncate' };

export interface RunningSimulator {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Queue a fault for the next request that reaches the server, or for the one after `skip` more. */
  injectFault(fault: SimFault, skip?: number): void;
  /** Number of requests the server has received (faulted ones included). */
  requestCount(): number;
  close(): Promise<void>;
}

export function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  if (contentType?.includes('json') || /^[[{]/.test(raw.trim())) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  // Form bodies (some vendors log in with form fields).
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  return raw;
}

export function toSimRequest(method: string, rawUrl: string, headers: http.IncomingHttpHeaders, raw: string): SimRequest {
  const url = new URL(rawUrl, 'http://simulator.local');
  const flatHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) flatHeaders[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return {
    method: method.toUpperCase(),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: flatHeaders,
    body: parseBody(raw, flatHeaders['content-type']),
  };
}

export function encodeBody(res: SimResponse): { text: string | undefined; contentType: string | undefined } {
  if (res.body === undefined) return { text: undefined, contentType: undefined };
  if (typeof res.body === 'string') return { text: res.body, contentType: undefined };
  return { text: JSON.stringify(res.body), contentType: 'application/json; charset=utf-8' };
}

/** Serve a simulator handler on a loopback port (0 picks a free one). */
export async function serveSimulator(handler: SimHandler, port = 0, host = '127.0.0.1'): Promise<RunningSimulator> {
  const faults: { fault: SimFault; skip: number }[] = [];
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      count++;
      const next = faults[0];
      let fault: SimFault | undefined;
      if (next && next.skip > 0) next.skip--;
      else if (next) fault = faults.shift()!.fault;
      if (fault && fault.kind !== 'lose-answer' && fault.kind !== 'slow' && fault.kind !== 'truncate') return applyFault(fault, req, res);
      let answer: SimResponse;
      try {
        answer = handler(toSimRequest(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8')));
      } catch {
        answer = { status: 500, body: '<html><body>simulator error</body></html>' };
      }
      const { text, contentType } = encodeBody(answer);
      const headers: Record<string, string> = { ...(answer.headers ?? {}) };
      if (contentType && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = contentType;
      if (fault?.kind === 'lose-answer') return void req.socket.destroy();
      if (fault?.kind === 'truncate') {
        const full = text ?? '';
        res.writeHead(answer.status, { ...headers, 'content-length': String(Buffer.byteLength(full) + 100) });
        res.write(full.slice(0, Math.floor(full.length / 2)));
        setTimeout(() => req.socket.destroy(), 10);
        return;
      }
      const send = () => {
        res.writeHead(answer.status, headers);
        res.end(text);
      };
      if (fault?.kind === 'slow') setTimeout(send, fault.ms).unref();
      else send();
    });
  });
  // Like a real server's: a client's keep-alive agent reuses sockets only when the announced timeout leaves it a
  // margin (Node's agent drops a socket whose server announces 1 s). close() cuts every connection anyway.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    injectFault: (fault, skip = 0) => void faults.push({ fault, skip }),
    requestCount: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function applyFault(fault: SimFault, req: http.IncomingMessage, res: http.ServerResponse): void {
  switch (fault.kind) {
    case 'status':
      res.writeHead(fault.status, fault.headers ?? {});
      res.end(fault.body ?? '');
      return;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html><body>502 Bad Gateway</body></html>');
      return;
    case 'reset':
      req.socket.destroy();
      return;
    case 'hang':
      // Never answer; the socket is destroyed when the server closes.
      return;
    default:
      return;
  }
}
