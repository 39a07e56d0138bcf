/**
 * The Issabel adapter: extensions and ring groups over pbxapi v2 (v1 answers accepted), absorbing its quirks:
 * a missing number answers 200 with no results, PUT creates as readily as it updates, POST picks the number,
 * and a comma DELETE stops half-way at the first missing number.
 */
import { defineAdapter, type AdapterContext, type BatchDeleteItem, type Capabilities, type Extension, type ExtensionPatch, type ListPage, type NewExtension, type PbxAdapter, type RingGroup, type RingGroupCreate, type RingGroupPatch, type WriteOptions, type RequestContext } from '../../src/contract';
import { BackendUnavailableError, ConflictError, NotFoundError, UnprocessableError } from '../../src/errors';
import { batchFailure } from '../../src/extensions';
import { IssabelClient, type IssabelAuth } from './client';
import configSchema from './config.schema.json';
import { EXTENSION_SOURCES, RING_GROUP_SOURCES, isNumber, isRecord, numberFromLocation, str, toCanonical, toDevice, toIssabelBody, toIssabelRingGroup, toRingGroup, type Raw } from './map';
import { DEMO_USER, startIssabelSimulator } from './simulator';

export const capabilities: Capabilities = Object.freeze({
  extensions: { list: true, get: true, create: true, update: true, delete: true, batch_delete: true, auto_number: true },
  writable_fields: ['extension', 'name', 'password'],
  direct_uri: false,
  devices: true,
  queues: false,
  call_summary: false,
  voicemail: false,
  ring_groups: true,
}) as Capabilities;

const byNumber = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id);

class IssabelAdapter implements PbxAdapter {
  readonly backend = 'issabel';
  readonly capabilities = capabilities;
  readonly client: IssabelClient;
  private readonly domain: string | null;

  constructor(private readonly setup: AdapterContext) {
    this.client = new IssabelClient(setup.http, setup.config.auth as unknown as IssabelAuth, setup.state, setup.config.base_url);
    this.domain = new URL(setup.config.base_url).hostname || null;
  }

  private canonical(raw: Raw): Extension {
    return toCanonical(raw, this.setup.tenant, this.domain);
  }

  /** The record, or NotFound: Issabel answers a missing number with 200 and `results: []`. */
  private async getRaw(ctx: RequestContext, id: string): Promise<Raw> {
    if (!isNumber(id)) throw new NotFoundError(`No extension '${id}'.`);
    const [raw] = await this.client.results(ctx, `extensions/${id}`, { what: `extension '${id}'` });
    if (!isRecord(raw)) throw new NotFoundError(`No extension '${id}'.`);
    return raw;
  }

  private async existingNumbers(ctx: RequestContext): Promise<Set<string>> {
    const rows = await this.client.results(ctx, 'extensions');
    return new Set(rows.filter(isRecord).map((r) => str(r.extension) ?? ''));
  }

  async listExtensions(ctx: RequestContext): Promise<ListPage> {
    // No paging on Issabel: all of them, by number, for the gateway's own paging.
    const rows = await this.client.results(ctx, 'extensions');
    return { items: rows.filter(isRecord).map((r) => this.canonical(r)).sort(byNumber), next: null };
  }

  async getExtension(ctx: RequestContext, id: string): Promise<Extension> {
    return this.canonical(await this.getRaw(ctx, id));
  }

  /** The last write whose reload was held back: `applyChanges` reloads through it. */
  private deferred: string | undefined;

  async createExtension(ctx: RequestContext, input: NewExtension, opts: WriteOptions = {}): Promise<Extension> {
    const body = toIssabelBody(input, !opts.deferApply);
    let number: string;
    if (input.extension !== undefined) {
      number = input.extension;
      if (!isNumber(number)) throw new UnprocessableError('Issabel extension numbers are digits only.', [{ pointer: '/extension', detail: 'digits only on this backend' }]);
      // PUT creates a free number, but silently overwrites a taken one: that would be data loss. Look first.
      const [existing] = await this.client.results(ctx, `extensions/${number}`);
      if (isRecord(existing)) throw new ConflictError(`Extension ${number} already exists in this tenant.`, [{ pointer: '/extension', detail: 'already exists' }]);
      const res = await this.client.call(ctx, 'PUT', `extensions/${number}`, { data: body, idempotent: true, sources: EXTENSION_SOURCES });
      if (res.status === 200) this.setup.logger.warn({ extension: number }, 'extension appeared between the existence check and the PUT; Issabel updated it');
    } else {
      // POST picks the next free number and answers 201 with no body: the number is in Location.
      const res = await this.client.call(ctx, 'POST', 'extensions', { data: body, idempotent: false, sources: EXTENSION_SOURCES });
      const picked = numberFromLocation(res.headers.location);
      if (!picked) throw new BackendUnavailableError(this.backend, 'Issabel created an extension but did not say its number.');
      number = picked;
    }
    this.deferred = opts.deferApply ? number : undefined;
    return this.canonical(await this.getRaw(ctx, number));
  }

  async updateExtension(ctx: RequestContext, id: string, patch: ExtensionPatch, opts: WriteOptions = {}): Promise<Extension> {
    // PUT on a missing number would create it: check it exists first.
    const current = await this.getRaw(ctx, id);
    if (Object.keys(patch).length === 0) return this.canonical(current);
    await this.client.call(ctx, 'PUT', `extensions/${id}`, { data: toIssabelBody(patch, !opts.deferApply), idempotent: true, sources: EXTENSION_SOURCES });
    this.deferred = opts.deferApply ? id : undefined;
    // PUT answers 200 with no body: the new state is the old one with the patch applied.
    return this.canonical({ ...current, ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.password !== undefined ? { secret: patch.password } : {}) });
  }

  /** pbxapi has no reload call of its own: an empty PUT of the last deferred extension runs apply-changes. */
  async applyChanges(ctx: RequestContext): Promise<void> {
    const id = this.deferred;
    if (!id) return;
    await this.client.call(ctx, 'PUT', `extensions/${id}`, { data: {}, idempotent: true });
    this.deferred = undefined;
  }

  async deleteExtension(ctx: RequestContext, id: string): Promise<void> {
    if (!isNumber(id)) throw new NotFoundError(`No extension '${id}'.`);
    await this.client.call(ctx, 'DELETE', `extensions/${id}`, { idempotent: true, what: `extension '${id}'` });
  }

  /**
   * One comma DELETE for the whole batch. Issabel deletes one at a time and stops at the first missing number,
   * so the adapter sends only numbers it has just seen, then reads the list back: each result says what is
   * true afterwards, whatever the DELETE answered.
   */
  async deleteExtensions(ctx: RequestContext, ids: string[]): Promise<BatchDeleteItem[]> {
    const before = await this.existingNumbers(ctx);
    const present = ids.filter((id) => isNumber(id) && before.has(id));
    let failure: unknown;
    if (present.length) {
      try {
        await this.client.call(ctx, 'DELETE', `extensions/${present.join(',')}`, { idempotent: true });
      } catch (err) {
        failure = err;
      }
    }
    let after: Set<string> | undefined;
    try {
      after = present.length ? await this.existingNumbers(ctx) : before;
    } catch (err) {
      failure ??= err;
    }
    return ids.map((id): BatchDeleteItem => {
      if (!present.includes(id)) return { id, status: 'not_found' };
      if (after && !after.has(id)) return { id, status: 'deleted' };
      if (!after && failure === undefined) return { id, status: 'deleted' };
      return batchFailure(id, failure ?? new BackendUnavailableError(this.backend, 'Issabel answered the delete, but the extension is still there.'));
    });
  }

  async listDevices(ctx: RequestContext, id: string) {
    return [toDevice(await this.getRaw(ctx, id))];
  }

  // Ring groups

  private ringGroup(raw: Raw): RingGroup {
    return toRingGroup(raw, this.setup.tenant);
  }

  async listRingGroups(ctx: RequestContext): Promise<RingGroup[]> {
    const rows = await this.client.results(ctx, 'ringgroups', { params: { fields: '*' } });
    return rows.filter(isRecord).map((r) => this.ringGroup(r)).sort(byNumber);
  }

  /** v2 answers a missing ring group 404; an empty result list means the same. */
  async getRingGroup(ctx: RequestContext, id: string): Promise<RingGroup> {
    if (!isNumber(id)) throw new NotFoundError(`No ring group '${id}'.`);
    const [raw] = await this.client.results(ctx, `ringgroups/${id}`, { params: { fields: '*' }, what: `ring group '${id}'` });
    if (!isRecord(raw)) throw new NotFoundError(`No ring group '${id}'.`);
    return this.ringGroup(raw);
  }

  async createRingGroup(ctx: RequestContext, input: RingGroupCreate): Promise<RingGroup> {
    if (input.extension !== undefined) {
      const taken = await this.getRingGroup(ctx, input.extension).then(
        () => true,
        (err: unknown) => (err instanceof NotFoundError ? false : Promise.reject(err)),
      );
      if (taken) throw new ConflictError(`Ring group ${input.extension} already exists.`, [{ pointer: '/extension', detail: 'already exists' }]);
    }
    const res = await this.client.call(ctx, 'POST', 'ringgroups', { data: toIssabelRingGroup(input), idempotent: false, sources: RING_GROUP_SOURCES });
    const number = numberFromLocation(res.headers.location) ?? input.extension;
    if (!number) throw new BackendUnavailableError(this.backend, 'Issabel created a ring group but did not say its number.');
    return this.getRingGroup(ctx, number);
  }

  async updateRingGroup(ctx: RequestContext, id: string, patch: RingGroupPatch): Promise<RingGroup> {
    // v1 servers create on a PUT to a missing number: check it exists first.
    await this.getRingGroup(ctx, id);
    if (Object.keys(patch).length) {
      await this.client.call(ctx, 'PUT', `ringgroups/${id}`, { data: toIssabelRingGroup(patch), idempotent: true, sources: RING_GROUP_SOURCES, what: `ring group '${id}'` });
    }
    return this.getRingGroup(ctx, id);
  }

  async deleteRingGroup(ctx: RequestContext, id: string): Promise<void> {
    if (!isNumber(id)) throw new NotFoundError(`No ring group '${id}'.`);
    await this.client.call(ctx, 'DELETE', `ringgroups/${id}`, { idempotent: true, what: `ring group '${id}'` });
  }
}

export const issabel = defineAdapter({
  backend: 'issabel',
  configSchema,
  capabilities,
  create: (setup) => new IssabelAdapter(setup),
  async startSimulator() {
    const { sim, server } = await startIssabelSimulator();
    sim.seedDemo();
    return { baseUrl: `${server.url}/pbxapi`, auth: { ...DEMO_USER }, close: () => server.close() };
  },
});

