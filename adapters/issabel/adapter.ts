/**
 * The Issabel adapter: extensions and ring groups over pbxapi v2 (v1 answers accepted), absorbing its quirks:
 * a missing number answers 200 with no results, PUT creates as readily as it updates, POST picks the number,
 * and a comma DELETE stops half-way at the first missing number.
 */
import { defineAdapter, type AdapterContext, type BatchDeleteItem, type Capabilities, type Extension, type ExtensionPatch, type ListPage, type NewExtension, type PbxAdapter, type RingGroup, type RingGroupCreate, type RingGroupPatch, type WriteOptions, type RequestContext } from '../../src/contract';
import { BackendUnavailableError, ConflictError, NotFoundError, SettingsWouldBeLostError, UnprocessableError } from '../../src/errors';
import { batchFailure } from '../../src/extensions';
import { IssabelClient, type IssabelAuth } from './client';
import configSchema from './config.schema.json';
import { EXTENSION_SOURCES, RING_GROUP_SOURCES, isNumber, isRecord, numberFromLocation, str, toCanonical, toDevice, toIssabelBody, toIssabelRingGroup, toRingGroup, type Raw } from './map';
import { DEMO_USER, startIssabelSimulator } from './simulator';
import { preservingUpdateBody, settingsAnUpdateLoses, unaccepted } from './update-rules';

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
  readonly capabilities: Capabilities;
  readonly client: IssabelClient;
  private readonly domain: string | null;
  /** The device technology new extensions get: `sip` (pbxapi's default) or `pjsip` for a PJSIP-only PBX. */
  private readonly tech: string;

  constructor(private readonly setup: AdapterContext) {
    this.client = new IssabelClient(setup.http, setup.config.auth as unknown as IssabelAuth, setup.state, setup.config.base_url);
    this.domain = new URL(setup.config.base_url).hostname || null;
    this.tech = (setup.config as { tech?: string }).tech ?? 'sip';
    this.capabilities = Object.freeze({ ...capabilities, device_technology: this.tech });
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
    const rows = await this.client.results(ctx, 'extensions', { list: true });
    return new Set(rows.filter(isRecord).map((r) => str(r.extension) ?? ''));
  }

  /** Every number the PBX's extensions and ring groups use: one plan for both (dialplan conflicts otherwise). */
  private async usedNumbers(ctx: RequestContext): Promise<{ extensions: Set<string>; ringGroups: Set<string> }> {
    const [extensions, groups] = await Promise.all([this.existingNumbers(ctx), this.client.results(ctx, 'ringgroups', { list: true })]);
    return { extensions, ringGroups: new Set(groups.filter(isRecord).map((r) => str(r.extension) ?? str(r.id) ?? '')) };
  }

  async listExtensions(ctx: RequestContext): Promise<ListPage> {
    // No paging on Issabel: all of them, by number, for the gateway's own paging.
    const rows = await this.client.results(ctx, 'extensions', { list: true });
    return { items: rows.filter(isRecord).map((r) => this.canonical(r)).sort(byNumber), next: null };
  }

  async getExtension(ctx: RequestContext, id: string): Promise<Extension> {
    return this.canonical(await this.getRaw(ctx, id));
  }

  /**
   * The last write whose reload was held back, with the body it sent: `applyChanges` sends that body again,
   * reloading. An update rebuilds the record from its body (update-rules.ts), so an empty PUT would erase
   * settings; the same body again leaves the record as the first PUT made it.
   */
  private deferred: { id: string; body: Raw } | undefined;
  /** A ring group write held its reload back (and no extension write since would carry it): a reload is owed. */
  private reloadOwed = false;

  async createExtension(ctx: RequestContext, input: NewExtension, opts: WriteOptions = {}): Promise<Extension> {
    const body: Raw = { ...toIssabelBody(input), tech: this.tech };
    let number: string;
    if (input.extension !== undefined) {
      number = input.extension;
      if (!isNumber(number)) throw new UnprocessableError('Issabel extension numbers are digits only.', [{ pointer: '/extension', detail: 'digits only on this backend' }]);
      await this.createAt(ctx, number, body, opts);
    } else {
      number = await this.createAutoNumbered(ctx, body, opts);
    }
    this.deferred = opts.deferApply ? { id: number, body: { name: body.name, secret: body.secret } } : undefined;
    // The read-back is needed: PUT and POST answer no body, and the record holds what pbxapi filled in. It is the
    // create's answer, so a batch reads nothing more after it.
    return this.canonical(await this.getRaw(ctx, number));
  }

  /**
   * PUT creates a free number, but silently overwrites a taken one: that would be data loss. Look first, always,
   * `numberChecked` and `numbers` notwithstanding: a GET by number is one call (the index's walk would cost as much
   * and be up to 30 s old), and a batch's list is seconds to minutes old by its later rows, while this look leaves
   * the PUT a window of one round trip.
   */
  private async createAt(ctx: RequestContext, number: string, body: Raw, opts: WriteOptions): Promise<void> {
    // Above the minimum by one call per create: the only guard against the PUT overwriting another client's extension.
    const [existing] = await this.client.results(ctx, `extensions/${number}`);
    if (isRecord(existing)) throw new ConflictError(`Extension ${number} already exists in this tenant.`, [{ pointer: '/extension', detail: 'already exists' }]);
    // pbxapi checks the number against every kind (ring groups, queues, conferences...) and answers 409.
    const res = await this.client.call(ctx, 'PUT', `extensions/${number}`, { data: withReload(body, opts), idempotent: true, sources: EXTENSION_SOURCES });
    if (res.status === 200) this.setup.logger.warn({ extension: number }, 'extension appeared between the existence check and the PUT; Issabel updated it');
  }

  /**
   * POST picks the next free number from the extensions alone (the smallest N whose N+1 is free), then refuses
   * it with 409 when another kind (a ring group) holds it; on a PBX with no extension it picks none and fails
   * with a 500 (extensions.php post()). In both cases the gateway picks a number no extension and no ring group
   * uses, the same way, and creates it there. Only then does it spend the calls to read both lists.
   */
  private async createAutoNumbered(ctx: RequestContext, body: Raw, opts: WriteOptions): Promise<string> {
    try {
      const res = await this.client.call(ctx, 'POST', 'extensions', { data: withReload(body, opts), idempotent: false, sources: EXTENSION_SOURCES });
      const picked = numberFromLocation(res.headers.location);
      if (!picked) throw new BackendUnavailableError(this.backend, 'Issabel created an extension but did not say its number.');
      return picked;
    } catch (err) {
      if (!(err instanceof ConflictError || err instanceof BackendUnavailableError)) throw err;
      const used = await this.usedNumbers(ctx);
      if (err instanceof BackendUnavailableError) {
        // A 500 on an empty PBX created nothing; on any other PBX it may have half-created: never send it again.
        if (used.extensions.size > 0) throw err;
        throw new UnprocessableError('This Issabel PBX has no extension yet, so it cannot pick the next number: create the first one with a number.', [{ pointer: '/extension', detail: 'required while the PBX has no extension' }]);
      }
      const number = nextFreeNumber(used.extensions, new Set([...used.extensions, ...used.ringGroups]));
      await this.createAt(ctx, number, body, opts);
      return number;
    }
  }

  async updateExtension(ctx: RequestContext, id: string, patch: ExtensionPatch, opts: WriteOptions = {}): Promise<Extension> {
    // PUT on a missing number would create it: check it exists first. The record also says what an update
    // would reset (update-rules.ts): refused before anything is written unless the caller accepts the loss.
    const current = await this.getRaw(ctx, id);
    if (Object.keys(patch).length === 0) return this.canonical(current);
    const refused = unaccepted(settingsAnUpdateLoses(current), opts.acceptLoss);
    if (refused.length) throw new SettingsWouldBeLostError(this.backend, refused);
    const body = preservingUpdateBody(current, { name: patch.name, secret: patch.password });
    await this.client.call(ctx, 'PUT', `extensions/${id}`, { data: withReload(body, opts), idempotent: true, sources: EXTENSION_SOURCES });
    this.deferred = opts.deferApply ? { id, body } : undefined;
    // PUT answers 200 with no body: the new state is the old one with the patch applied.
    return this.canonical({ ...current, ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.password !== undefined ? { secret: patch.password } : {}) });
  }

  /** pbxapi has no reload call of its own: the last deferred write is sent again, this time reloading. */
  async applyChanges(ctx: RequestContext): Promise<void> {
    const last = this.deferred;
    if (last) await this.client.call(ctx, 'PUT', `extensions/${last.id}`, { data: last.body, idempotent: true });
    else if (this.reloadOwed) await this.reloadPbx(ctx);
    this.deferred = undefined;
    this.reloadOwed = false;
  }

  /** After a ring group write: a held-back reload is owed; one that reloaded settled every earlier hold. */
  private groupWritten(opts: WriteOptions): void {
    if (opts.deferApply) this.reloadOwed = true;
    else {
      this.deferred = undefined;
      this.reloadOwed = false;
    }
  }

  async deleteExtension(ctx: RequestContext, id: string): Promise<void> {
    if (!isNumber(id)) throw new NotFoundError(`No extension '${id}'.`);
    await this.client.call(ctx, 'DELETE', `extensions/${id}`, { idempotent: true, what: `extension '${id}'` });
    // extensions.php delete() reloads whatever the body says: every change held back so far is applied.
    this.deferred = undefined;
    this.reloadOwed = false;
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
    // A DELETE that failed part-way stopped before apply-changes (extensions.php delete()): the numbers it did
    // delete are still live in Asterisk until the next reload. Run one.
    if (failure !== undefined && after && present.some((id) => !after!.has(id))) await this.reloadPbx(ctx);
    return ids.map((id): BatchDeleteItem => {
      if (!present.includes(id)) return { id, status: 'not_found' };
      if (after && !after.has(id)) return { id, status: 'deleted' };
      if (!after && failure === undefined) return { id, status: 'deleted' };
      return batchFailure(id, failure ?? new BackendUnavailableError(this.backend, 'Issabel answered the delete, but the extension is still there.'));
    });
  }

  /**
   * Apply-changes on its own. pbxapi has no call for it, but every write runs it: a ring group PUT with an empty
   * body writes nothing (rest.php put() updates only the fields sent) and reloads. Without a ring group, an
   * extension whose update would lose nothing is sent its own preserving body. Never an empty extension PUT:
   * that rebuilds the record (update-rules.ts). Returns whether a reload ran; a failure is logged, not thrown,
   * since the caller's own operation already happened.
   */
  private async reloadPbx(ctx: RequestContext): Promise<boolean> {
    try {
      const groups = (await this.client.results(ctx, 'ringgroups', { list: true })).filter(isRecord);
      const group = groups.map((r) => str(r.extension) ?? str(r.id)).find((n): n is string => !!n && isNumber(n));
      if (group) {
        await this.client.call(ctx, 'PUT', `ringgroups/${group}`, { data: {}, idempotent: true });
        return true;
      }
      for (const number of [...(await this.existingNumbers(ctx))].filter(isNumber).slice(0, 3)) {
        const raw = await this.getRaw(ctx, number);
        if (settingsAnUpdateLoses(raw).length) continue;
        await this.client.call(ctx, 'PUT', `extensions/${number}`, { data: preservingUpdateBody(raw, {}), idempotent: true });
        return true;
      }
    } catch (err) {
      this.setup.logger.warn({ err }, 'apply-changes after a partial delete failed');
      return false;
    }
    this.setup.logger.warn('apply-changes after a partial delete: no write could run it without changing a record; run Apply Changes on the PBX');
    return false;
  }

  async listDevices(ctx: RequestContext, id: string) {
    return [toDevice(await this.getRaw(ctx, id))];
  }

  // Ring groups

  private ringGroup(raw: Raw): RingGroup {
    return toRingGroup(raw, this.setup.tenant);
  }

  async listRingGroups(ctx: RequestContext): Promise<RingGroup[]> {
    const rows = await this.client.results(ctx, 'ringgroups', { params: { fields: '*' }, list: true });
    return rows.filter(isRecord).map((r) => this.ringGroup(r)).sort(byNumber);
  }

  /** v2 answers a missing ring group 404; an empty result list means the same. */
  async getRingGroup(ctx: RequestContext, id: string): Promise<RingGroup> {
    if (!isNumber(id)) throw new NotFoundError(`No ring group '${id}'.`);
    const [raw] = await this.client.results(ctx, `ringgroups/${id}`, { params: { fields: '*' }, what: `ring group '${id}'` });
    if (!isRecord(raw)) throw new NotFoundError(`No ring group '${id}'.`);
    return this.ringGroup(raw);
  }

  /**
   * With a number, pbxapi checks it against every kind itself (409). Without one, it picks the next number from
   * the ring groups alone and checks nothing (rest.php post(), ringgroups.php post()), so it can take an
   * extension's number: the gateway picks a number no extension and no ring group uses, the vendor's way
   * (600 on a PBX with none), and sends it.
   */
  async createRingGroup(ctx: RequestContext, input: RingGroupCreate, opts: WriteOptions = {}): Promise<RingGroup> {
    let wanted = input.extension;
    if (wanted !== undefined) {
      const taken = await this.getRingGroup(ctx, wanted).then(
        () => true,
        (err: unknown) => (err instanceof NotFoundError ? false : Promise.reject(err)),
      );
      if (taken) throw new ConflictError(`Ring group ${wanted} already exists.`, [{ pointer: '/extension', detail: 'already exists' }]);
    } else {
      const used = await this.usedNumbers(ctx);
      wanted = nextFreeNumber(used.ringGroups, new Set([...used.extensions, ...used.ringGroups]), FIRST_RING_GROUP);
    }
    const res = await this.client.call(ctx, 'POST', 'ringgroups', { data: withReload(toIssabelRingGroup({ ...input, extension: wanted }), opts), idempotent: false, sources: RING_GROUP_SOURCES });
    this.groupWritten(opts);
    const number = numberFromLocation(res.headers.location) ?? wanted;
    if (!number) throw new BackendUnavailableError(this.backend, 'Issabel created a ring group but did not say its number.');
    return this.getRingGroup(ctx, number);
  }

  async updateRingGroup(ctx: RequestContext, id: string, patch: RingGroupPatch, opts: WriteOptions = {}): Promise<RingGroup> {
    // v1 servers create on a PUT to a missing number: check it exists first.
    await this.getRingGroup(ctx, id);
    if (Object.keys(patch).length) {
      await this.client.call(ctx, 'PUT', `ringgroups/${id}`, { data: withReload(toIssabelRingGroup(patch), opts), idempotent: true, sources: RING_GROUP_SOURCES, what: `ring group '${id}'` });
      this.groupWritten(opts);
    }
    return this.getRingGroup(ctx, id);
  }

  /** ringgroups.php delete() reads a JSON body (an empty one is a 400) and hands it to applyChanges: `reload: false` holds it. */
  async deleteRingGroup(ctx: RequestContext, id: string, opts: WriteOptions = {}): Promise<void> {
    if (!isNumber(id)) throw new NotFoundError(`No ring group '${id}'.`);
    await this.client.call(ctx, 'DELETE', `ringgroups/${id}`, { data: withReload({}, opts), idempotent: true, what: `ring group '${id}'` });
    this.groupWritten(opts);
  }
}

/** ringgroups.php `$initial_exten_n`: the number pbxapi gives the first ring group. */
const FIRST_RING_GROUP = 600;

/** A write's body with `reload: false` when the batch holds apply-changes back. */
const withReload = (body: Raw, opts: WriteOptions): Raw => (opts.deferApply ? { ...body, reload: false } : body);

/**
 * pbxapi's pick (the smallest number N of the kind whose N+1 is free, `first` when the kind has none), with
 * "free" meaning free in every kind: the walk goes on from N+1 past numbers another kind holds.
 */
export function nextFreeNumber(ofKind: Set<string>, used: Set<string>, first = 1000): string {
  const nums = [...ofKind].filter(isNumber).map(Number).sort((a, b) => a - b);
  const n = nums.find((x) => !ofKind.has(String(x + 1)));
  let candidate = n === undefined ? first : n + 1;
  while (used.has(String(candidate))) candidate++;
  return String(candidate);
}

export const issabel = defineAdapter({
  backend: 'issabel',
  configSchema,
  capabilities,
  // No documented limit; every pbxapi call is a PHP request that opens an AMI login: kept gentle (README "Pacing").
  pacing: { rate_per_s: 10, burst: 10 },
  create: (setup) => new IssabelAdapter(setup),
  async startSimulator() {
    const { sim, server } = await startIssabelSimulator();
    sim.seedDemo();
    return { baseUrl: `${server.url}/pbxapi`, auth: { ...DEMO_USER }, close: () => server.close() };
  },
});

