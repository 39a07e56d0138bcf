/**
 * An axios adapter (axios' documented `adapter` option) that is one Node `http.request` on a keep-alive agent:
 * the gateway keeps axios as its client, and drops what its generic http adapter does on every call that a
 * backend call here never needs (redirect following, proxy lookup, decompression and stream plumbing). Errors
 * are AxiosErrors with Node's codes (ECONNRESET, ECONNREFUSED) and ECONNABORTED for a timeout, as axios gives.
 */
import http from 'node:http';
import https from 'node:https';
import { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';

interface Target {
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

export function leanAdapter(agents: { http: http.Agent; https: https.Agent }): AxiosAdapter {
  const bases = new Map<string, Target>();
  return (config: InternalAxiosRequestConfig) =>
    new Promise<AxiosResponse>((resolve, reject) => {
      const target = resolveTarget(config.url ?? '', config.baseURL, bases);
      const secure = target.secure;
      const body = typeof config.data === 'string' ? config.data : undefined;
      const headers = (config.headers as AxiosHeaders).toJSON() as Record<string, string>;
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = (secure ? https : http).request(
        {
          hostname: target.hostname,
          port: target.port || undefined,
          path: target.path,
          method: (config.method ?? 'get').toUpperCase(),
          headers,
          agent: secure ? agents.https : agents.http,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err: NodeJS.ErrnoException) => reject(AxiosError.from(err, err.code, config, req)));
          res.on('end', () => {
            clearTimeout(timer);
            if (!res.complete) return reject(new AxiosError('The answer was cut off', 'ECONNRESET', config, req));
            resolve({
              data: Buffer.concat(chunks).toString('utf8'),
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              headers: new AxiosHeaders(res.headers as Record<string, string>),
              config,
              request: req,
            });
          });
        },
      );
      const timer = config.timeout
        ? setTimeout(() => {
            req.destroy();
            reject(new AxiosError(`timeout of ${config.timeout}ms exceeded`, 'ECONNABORTED', config, req));
          }, config.timeout)
        : undefined;
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(AxiosError.from(err, err.code, config, req));
      });
      req.end(body);
    });
}
