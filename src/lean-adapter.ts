/**
 * An axios adapter (axios' documented `adapter` option) that is one Node `http.request` on a keep-alive agent:
 * the gateway keeps axios as its client, and drops what its generic http adapter does on every call that a
 * backend call here never needs (redirect following, decompression and stream plumbing). Errors are AxiosErrors
 * with Node's codes (ECONNRESET, ECONNREFUSED) and ECONNABORTED for a timeout, as axios gives.
 *
 * What it keeps of axios' http adapter, because a backend is not to be trusted:
 * - `maxContentLength` (axios' meaning: the largest body read, -1 or unset for no limit): a Content-Length above
 *   it is refused before a byte of the body is read, and a body that grows past it is refused at that byte, its
 *   socket destroyed: nothing past the cap is kept, and the chunks are joined only when the body is whole.
 *   The error's code is ERR_ANSWER_TOO_LARGE (axios says ERR_BAD_RESPONSE, which here means a retry).
 * - `timeout` bounds the whole call, the body included: a backend that sends its headers and then drips its body
 *   a byte at a time is cut at the timeout like one that never answers.
 * - Proxies: the agent for each call comes from `agentFor`, which picks a proxy agent where one applies.
 */
import http from 'node:http';
import https from 'node:https';
import { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';

/** The code of the error for an answer larger than `maxContentLength`. */
export const ANSWER_TOO_LARGE = 'ERR_ANSWER_TOO_LARGE';

const BODY_TIMEOUT = Symbol('timed out reading the body');
/** A timeout (ECONNABORTED) that struck after the answer's headers had come: the backend answered, too slowly. */
export const isBodyTimeout = (err: unknown): boolean => typeof err === 'object' && err !== null && BODY_TIMEOUT in err;

export interface Target {
  secure: boolean;
  hostname: string;
  port: string;
  path: string;
}

/** An IPv6 literal without its URL brackets, as http.request wants it. */
const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '');

/** Where a call goes. A relative URL (every adapter call) is the base URL's parsed parts plus a string: no URL
 * object per call; an absolute one is parsed. */
function resolveTarget(url: string, baseURL: string | undefined, base: Map<string, Target>): Target {
  if (/^https?:\/\//i.test(url) || !baseURL) {
    const u = new URL(url, baseURL);
    return { secure: u.protocol === 'https:', hostname: bare(u.hostname), port: u.port, path: u.pathname + u.search };
  }
  let b = base.get(baseURL);
  if (!b) {
    const u = new URL(baseURL);
    b = { secure: u.protocol === 'https:', hostname: bare(u.hostname), port: u.port, path: u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/` };
    base.set(baseURL, b);
  }
  return { ...b, path: b.path + (url.startsWith('/') ? url.slice(1) : url) };
}

export interface LeanAdapterOptions {
  /** The agent that carries a call to this target: a keep-alive agent, or a proxy's. */
  agentFor: (target: Target) => http.Agent;
  /** Verify the TLS certificate of an https target (default true); also applies through a proxy's tunnel. */
  rejectUnauthorized?: boolean;
}

export function leanAdapter(opts: LeanAdapterOptions): AxiosAdapter {
  const bases = new Map<string, Target>();
  const rejectUnauthorized = opts.rejectUnauthorized ?? true;
  return (config: InternalAxiosRequestConfig) =>
    new Promise<AxiosResponse>((resolve, reject) => {
      const target = resolveTarget(config.url ?? '', config.baseURL, bases);
      const secure = target.secure;
      const body = typeof config.data === 'string' ? config.data : undefined;
      const headers = (config.headers as AxiosHeaders).toJSON() as Record<string, string>;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const max = config.maxContentLength !== undefined && config.maxContentLength >= 0 ? config.maxContentLength : Infinity;
      let settled = false;
      const fail = (err: AxiosError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // The socket goes with the call: whatever the backend still sends is never read, and a half-read
        // answer never comes back to the keep-alive pool.
        req.destroy();
        reject(err);
      };
      const tooLarge = (what: string) => fail(new AxiosError(`maxContentLength size of ${max} exceeded (${what})`, ANSWER_TOO_LARGE, config, req));
      const options: https.RequestOptions = {
        hostname: target.hostname,
        port: target.port || undefined,
        path: target.path,
        method: (config.method ?? 'get').toUpperCase(),
        headers,
        agent: opts.agentFor(target),
      };
      if (secure) options.rejectUnauthorized = rejectUnauthorized;
      let answered = false;
      const req = (secure ? https : http).request(options, (res) => {
        answered = true;
        const declared = Number(res.headers['content-length']);
        if (declared > max) return tooLarge(`Content-Length ${declared}`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (settled) return;
          size += c.length;
          if (size > max) return tooLarge(`${size} bytes read`);
          chunks.push(c);
        });
        res.on('error', (err: NodeJS.ErrnoException) => fail(AxiosError.from(err, err.code, config, req)));
        res.on('end', () => {
          if (settled) return;
          if (!res.complete) return fail(new AxiosError('The answer was cut off', 'ECONNRESET', config, req));
          settled = true;
          clearTimeout(timer);
          resolve({
            data: Buffer.concat(chunks, size).toString('utf8'),
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: new AxiosHeaders(res.headers as Record<string, string>),
            config,
            request: req,
          });
        });
      });
      // Armed once for the whole call, cleared only when the body is whole: headers and body share it.
      const timer = config.timeout
        ? setTimeout(() => {
            const err = new AxiosError(`timeout of ${config.timeout}ms exceeded${answered ? ' reading the body' : ''}`, 'ECONNABORTED', config, req);
            if (answered) Object.defineProperty(err, BODY_TIMEOUT, { value: true });
            fail(err);
          }, config.timeout)
        : undefined;
      req.on('error', (err: NodeJS.ErrnoException) => fail(AxiosError.from(err, err.code, config, req)));
      req.end(body);
    });
}
