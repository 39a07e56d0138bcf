/**
 * VitalPBX's transport: `app-key` and `tenant` headers on every call, the `{status, message, data}` envelope
 * unwrapped (a `status` other than "success" is an error even under HTTP 200), errors mapped to the gateway's.
 * The envelope's `message` is never passed on: the caller learns what failed, not the backend's words.
 */
import type { BackendHttp } from '../../src/backend-http';
import type { RequestContext } from '../../src/contract';
import { BackendAuthFailedError, BackendUnavailableError, GatewayError, NotFoundError } from '../../src/errors';
import { isRecord } from './map';

const BACKEND = 'vitalpbx';

export interface VitalpbxAuth {
  app_key: string;
  /** VitalPBX tenant name or id. */
  tenant: string | number;
}

export class VitalpbxClient {
  constructor(
    private readonly http: BackendHttp,
    private readonly auth: VitalpbxAuth,
  ) {}

  /** GET a path under /api/v2 and return the envelope's `data`. `what` names the resource for 404s; `list` marks a
   * read whose answer grows with the PBX (read up to the tenant's list cap). */
  async get(ctx: RequestContext, path: string, what: string, opts: { list?: boolean } = {}): Promise<unknown> {
    const res = await this.http.request({
      ctx,
      method: 'GET',
      url: path,
      headers: { 'app-key': this.auth.app_key, tenant: String(this.auth.tenant) },
      idempotent: true,
      list: opts.list,
    });
    const body = safeParse(res.text);
    const envelopeOk = isRecord(body) && body.status === 'success';
    if (res.status >= 200 && res.status < 300) {
      if (envelopeOk) return (body as { data?: unknown }).data;
      if (body === undefined) throw new BackendUnavailableError(BACKEND, `VitalPBX sent an ${res.text.trim() ? 'unreadable' : 'empty'} answer (HTTP ${res.status}).`);
      // HTTP 200 with status "error": the PHP server's way of refusing bad input.
      throw new BackendUnavailableError(BACKEND, `VitalPBX refused the request (status ${describeStatus(body)}).`);
    }
    throw toError(res.status, what);
  }
}

function safeParse(text: string): unknown {
  try {
    return text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeStatus(body: unknown): string {
  return isRecord(body) && typeof body.status === 'string' ? JSON.stringify(body.status.slice(0, 20)) : 'missing';
}

function toError(status: number, what: string): GatewayError {
  if (status === 401 || status === 403) return new BackendAuthFailedError(BACKEND, `VitalPBX refused the gateway's app-key or tenant (HTTP ${status}).`);
  if (status === 404) return new NotFoundError(`No ${what}.`);
  return new BackendUnavailableError(BACKEND, `VitalPBX failed (HTTP ${status}).`);
}
