/**
 * The VitalPBX adapter: read-only extensions (the published API v2 has no write calls for them) and the
 * extension details VitalPBX has: devices, queues, call summary, voicemail.
 */
import { defineAdapter, type AdapterContext, type Capabilities, type Extension, type ListPage, type PbxAdapter, type RequestContext } from '../../src/contract';
import { BackendUnavailableError, NotFoundError, UnsupportedError } from '../../src/errors';
import { VitalpbxClient, type VitalpbxAuth } from './client';
import configSchema from './config.schema.json';
import { isRecord, toCallSummary, toCanonical, toDevice, toQueues, toVoicemail, type Raw } from './map';
import { DEMO_APP_KEY, startVitalpbxSimulator } from './simulator';

export const capabilities: Capabilities = Object.freeze({
  extensions: { list: true, get: true, create: false, update: false, delete: false, batch_delete: false, auto_number: false },
  writable_fields: [],
  direct_uri: false,
  devices: true,
  queues: true,
  call_summary: true,
  voicemail: true,
  ring_groups: false,
}) as Capabilities;

class VitalpbxAdapter implements PbxAdapter {
  readonly backend = 'vitalpbx';
  readonly capabilities = capabilities;
  private readonly client: VitalpbxClient;
  private readonly domain: string | null;

  constructor(private readonly setup: AdapterContext) {
    this.client = new VitalpbxClient(setup.http, setup.config.auth as unknown as VitalpbxAuth);
    // The SIP registrar of a VitalPBX extension is the PBX itself.
    this.domain = new URL(setup.config.base_url).hostname || null;
  }

  private canonical(raw: Raw): Extension {
    return toCanonical(raw, this.setup.tenant, this.domain);
  }

  /** Extension ids are numbers: anything else never reaches VitalPBX (it would answer 200 with an error). */
  private path(id: string, sub = ''): string {
    if (!/^\d{1,18}$/.test(id)) throw new NotFoundError(`No extension '${id}'.`);
    return `extensions/${id}${sub}`;
  }

  async listExtensions(ctx: RequestContext): Promise<ListPage> {
    const data = await this.client.get(ctx, 'extensions', 'extensions', { list: true });
    if (!Array.isArray(data)) throw new BackendUnavailableError(this.backend, 'VitalPBX answered the list without an array.');
    // No paging on VitalPBX: all of them, in a stable order (by extension_id) for the gateway's own paging.
    const items = data.filter(isRecord).map((r) => this.canonical(r));
    items.sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
    return { items, next: null };
  }

  async getExtension(ctx: RequestContext, id: string): Promise<Extension> {
    const data = await this.client.get(ctx, this.path(id), `extension '${id}'`);
    // Documented as a one-element array; accept a bare object too.
    const raw = Array.isArray(data) ? data.find(isRecord) : isRecord(data) ? data : undefined;
    if (!raw) throw new NotFoundError(`No extension '${id}'.`);
    return this.canonical(raw);
  }

  createExtension(): Promise<Extension> {
    throw new UnsupportedError(this.backend, 'extensions.create');
  }
  updateExtension(): Promise<Extension> {
    throw new UnsupportedError(this.backend, 'extensions.update');
  }
  deleteExtension(): Promise<void> {
    throw new UnsupportedError(this.backend, 'extensions.delete');
  }

  async listDevices(ctx: RequestContext, id: string) {
    const data = await this.client.get(ctx, this.path(id, '/devices'), `extension '${id}'`);
    return (Array.isArray(data) ? data : []).filter(isRecord).map(toDevice);
  }
  async listQueues(ctx: RequestContext, id: string) {
    return toQueues(await this.client.get(ctx, this.path(id, '/queues'), `extension '${id}'`));
  }
  async getCallSummary(ctx: RequestContext, id: string) {
    return toCallSummary(await this.client.get(ctx, this.path(id, '/cdr_summary'), `extension '${id}'`));
  }
  async listVoicemail(ctx: RequestContext, id: string) {
    return toVoicemail(await this.client.get(ctx, this.path(id, '/voicemail_records'), `extension '${id}'`, { list: true }));
  }
}

export const vitalpbx = defineAdapter({
  backend: 'vitalpbx',
  configSchema,
  capabilities,
  // No documented limit; an on-prem PHP API on the PBX itself: kept gentle (README "Pacing").
  pacing: { rate_per_s: 10, burst: 20 },
  create: (setup) => new VitalpbxAdapter(setup),
  async startSimulator() {
    const { sim, server } = await startVitalpbxSimulator();
    sim.seedDemo();
    return { baseUrl: `${server.url}/api/v2`, auth: { app_key: DEMO_APP_KEY, tenant: 'vitalpbx' }, close: () => server.close() };
  },
});
