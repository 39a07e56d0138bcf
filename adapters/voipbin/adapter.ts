/**
 * The VoIPBIN adapter: the unified extension operations over VoIPBIN's `/v1.0/extensions`, absorbing its quirks
 * (soft delete, PUT replacing all three fields, 500 for a duplicate number, paging clamped at 100).
 */
import { defineAdapter, type AdapterContext, type Capabilities, type Extension, type ExtensionPatch, type ListPage, type ListPageRequest, type NewExtension, type PbxAdapter, type RequestContext, type WriteOptions } from '../../src/contract';
import { BackendUnavailableError, ConflictError, NotFoundError } from '../../src/errors';
import { allExtensions } from '../../src/paging';
import { newRequestContext } from '../../src/request-context';
import { VoipbinClient, VoipbinFailedError, type VoipbinAuth } from './client';
import configSchema from './config.schema.json';
import { asVoipbinExtension, isDeleted, isUuid, mergedPutBody, toCanonical, type VoipbinExtension } from './map';
import { DEMO_ACCESSKEY, startVoipbinSimulator } from './simulator';

export const capabilities: Capabilities = Object.freeze({
  extensions: { list: true, get: true, create: true, update: true, delete: true, batch_delete: true, auto_number: false },
  writable_fields: ['extension', 'name', 'description', 'password'],
  direct_uri: true,
  devices: false,
  queues: false,
  call_summary: false,
  voicemail: false,
  ring_groups: false,
}) as Capabilities;

/** VoIPBIN clamps page_size to 100. */
const MAX_PAGE = 100;

export function loginUrlFor(baseUrl: string): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + '/');
  return new URL('../auth/login', url).toString();
}

class VoipbinAdapter implements PbxAdapter {
  readonly backend = 'voipbin';
  readonly capabilities = capabilities;
  private readonly client: VoipbinClient;

  constructor(private readonly setup: AdapterContext) {
    const cfg = setup.config as AdapterContext['config'] & { login_url?: string };
    this.client = new VoipbinClient(setup.http, cfg.auth as VoipbinAuth, cfg.login_url ?? loginUrlFor(cfg.base_url), setup.state, setup.logger);
  }

  private canonical(raw: VoipbinExtension): Extension {
    return toCanonical(raw, this.setup.tenant);
  }

  private expectExtension(body: unknown): VoipbinExtension {
    const raw = asVoipbinExtension(body);
    if (!raw) throw new BackendUnavailableError(this.backend, 'VoIPBIN answered with something that is not an extension.');
    return raw;
  }

  /** The live record, or NotFound: a malformed id never reaches VoIPBIN, a soft-deleted one is gone. */
  private async getRaw(ctx: RequestContext, id: string): Promise<VoipbinExtension> {
    if (!isUuid(id)) throw new NotFoundError(`No extension '${id}'.`);
    const raw = this.expectExtension(await this.client.call(ctx, 'GET', `extensions/${id}`, { idempotent: true, extensionId: id }));
    if (isDeleted(raw)) throw new NotFoundError(`No extension '${id}'.`);
    return raw;
  }

  async listExtensions(ctx: RequestContext, req: ListPageRequest): Promise<ListPage> {
    const body = (await this.client.call(ctx, 'GET', 'extensions', {
      idempotent: true,
      params: { page_size: Math.min(Math.max(req.limit, 1), MAX_PAGE), page_token: req.cursor ?? undefined },
    })) as { result?: unknown; next_page_token?: unknown } | undefined;
    if (!body || !Array.isArray(body.result)) throw new BackendUnavailableError(this.backend, 'VoIPBIN answered the list without a result array.');
    const raws = body.result.map((r) => this.expectExtension(r));
    const token = typeof body.next_page_token === 'string' && body.next_page_token !== '' ? body.next_page_token : null;
    // The last non-empty page still carries a token; only an empty page ends the list.
    return { items: raws.filter((r) => !isDeleted(r)).map((r) => this.canonical(r)), next: raws.length > 0 ? token : null };
  }

  async getExtension(ctx: RequestContext, id: string): Promise<Extension> {
    return this.canonical(await this.getRaw(ctx, id));
  }

  /**
   * VoIPBIN answers a duplicate number with a bare 500 (and has no look-up by number): the number is looked for
   * first, so that a taken one is a plain 409 and no create is sent that is bound to fail half-way. The look is a
   * walk of the whole list (11 calls for 1,000 extensions), so it is made only when the core has not: a batch
   * checked its numbers against its own walk (`numberChecked`), and a single create asks the gateway's index of
   * numbers (`numbers`), which walks at most once per refresh. Both may be stale (another client creates the
   * number meanwhile): VoIPBIN's own refusal still ends in a 409, through afterFailedCreate.
   */
  async createExtension(ctx: RequestContext, input: NewExtension, opts: WriteOptions = {}): Promise<Extension> {
    const number = input.extension!;
    if (!opts.numberChecked && (opts.numbers ? await opts.numbers.taken(ctx, number) : await this.hasNumber(ctx, number))) {
      throw new ConflictError(`Extension ${number} already exists in this tenant.`, [{ pointer: '/extension', detail: 'already exists' }]);
    }
    const body = { extension: number, password: input.password, name: input.name, detail: input.description ?? '' };
    try {
      // The answer is the record VoIPBIN stored: it is the create's read-back (a batch reads nothing after it).
      return this.canonical(this.expectExtension(await this.client.call(ctx, 'POST', 'extensions', { data: body, idempotent: false })));
    } catch (err) {
      if (err instanceof VoipbinFailedError && err.vendorStatus === 500) return this.afterFailedCreate(ctx, input, err);
      throw err;
    }
  }

  private async hasNumber(ctx: RequestContext, number: string): Promise<boolean> {
    for await (const existing of allExtensions(ctx, this, MAX_PAGE)) if (existing.extension === number) return true;
    return false;
  }

  /**
   * VoIPBIN's create answers a plain 500 for every failure (bin-registrar-manager/pkg/extensionhandler/extension.go):
   * a duplicate number (its SIP AOR exists), the account's resource limit, or any later step, and it rolls nothing
   * back. So after a 500 the adapter looks the number up and says what it found: the extension as sent (stored,
   * then a later step failed: it is created), someone else's (created meanwhile by another client: 409), or none
   * (not created: 502 with VoIPBIN's reason code, never its message).
   */
  private async afterFailedCreate(ctx: RequestContext, input: NewExtension, failure: VoipbinFailedError): Promise<Extension> {
    const number = input.extension!;
    const reason = failure.vendorReason ? `500 ${failure.vendorReason}` : 'HTTP 500';
    let found: Extension | undefined;
    try {
      // A budget of its own, as the gateway's own reconciliation has: the request's may be spent.
      for await (const ext of allExtensions(newRequestContext(ctx.requestId, 5000), this, MAX_PAGE)) {
        if (ext.extension === number) {
          found = ext;
          break;
        }
      }
    } catch {
      throw this.failedCreate(failure, `VoIPBIN failed the create of extension ${number} (${reason}), and whether it was created could not be checked.`);
    }
    if (!found) {
      throw this.failedCreate(
        failure,
        `VoIPBIN refused to create extension ${number} (${reason}): it was not created. Likely causes: the account's extension limit, or a SIP account that an earlier failed create of this number left behind (that number then fails every time).`,
      );
    }
    if (found.password === input.password && found.name === input.name && (found.description ?? '') === (input.description ?? '')) {
      // Stored as sent, then a later step failed: the extension exists, and it is this create's.
      return found;
    }
    throw new ConflictError(`Extension ${number} was created by another client while this create ran.`, [{ pointer: '/extension', detail: 'already exists' }]);
  }

  private failedCreate(failure: VoipbinFailedError, detail: string): VoipbinFailedError {
    return new VoipbinFailedError(failure.vendorStatus, failure.vendorReason, detail);
  }

  async updateExtension(ctx: RequestContext, id: string, patch: ExtensionPatch): Promise<Extension> {
    const current = await this.getRaw(ctx, id);
    if (Object.keys(patch).length === 0) return this.canonical(current);
    // PUT writes "" into any of name/detail/password it is not given: always send all three, merged.
    const data = mergedPutBody(current, patch);
    return this.canonical(this.expectExtension(await this.client.call(ctx, 'PUT', `extensions/${id}`, { data, idempotent: true, extensionId: id })));
  }

  async deleteExtension(ctx: RequestContext, id: string): Promise<void> {
    // DELETE is soft and answers 200 again for a deleted extension: read first so a second delete is a 404.
    await this.getRaw(ctx, id);
    await this.client.call(ctx, 'DELETE', `extensions/${id}`, { idempotent: true, extensionId: id });
  }

  async regenerateDirectHash(ctx: RequestContext, id: string): Promise<Extension> {
    await this.getRaw(ctx, id);
    const raw = await this.client.call(ctx, 'POST', `extensions/${id}/direct-hash-regenerate`, { idempotent: false, extensionId: id });
    return this.canonical(this.expectExtension(raw));
  }
}

export const voipbin = defineAdapter({
  backend: 'voipbin',
  configSchema,
  capabilities,
  // VoIPBIN's own per-customer limit, shared by every client of the customer (bin-api-manager internal/config,
  // customer_ratelimit.go; README "Pacing").
  pacing: { rate_per_s: 16.7, burst: 33 },
  create: (setup) => new VoipbinAdapter(setup),
  async startSimulator() {
    const { sim, server } = await startVoipbinSimulator();
    sim.seedDemo();
    return { baseUrl: `${server.url}/v1.0`, auth: { accesskey: DEMO_ACCESSKEY }, close: () => server.close() };
  },
});
