/**
 * The adapter contract: what every backend adapter implements, and what the gateway core may assume.
 * Modelled on small driver interfaces (unstorage's defineDriver, kysely's Dialect): one factory per backend,
 * one object per tenant, capability flags that drive the 501 answers and the shared contract suite.
 */
import type { Logger } from 'pino';
import type { BatchDeleteItem, CallSummary, Capabilities, Device, Extension, ExtensionPatch, QueueMembership, RingGroup, RingGroupCreate, RingGroupPatch, TenantConfig, VoicemailMessage } from '../schemas/types';
import type { BackendHttp } from './backend-http';
import type { RequestContext } from './request-context';
import type { StateStore } from './state/store';

export type { RequestContext };
export type { BatchDeleteItem, CallSummary, Capabilities, Device, Extension, ExtensionPatch, QueueMembership, RingGroup, RingGroupCreate, RingGroupPatch, TenantConfig, VoicemailMessage };

/** One window of the backend's own list, starting at `cursor` (null: the start). */
export interface ListPageRequest {
  cursor: string | null;
  /** How many items the gateway would like; the adapter may return fewer (its backend's page limit) or, for an unpaged backend, all of them. */
  limit: number;
}

export interface ListPage {
  /** In the backend's stable order. Re-reading the same cursor must give the same window while the data is unchanged. */
  items: Extension[];
  /** Cursor of the window after this one, or null when there is none. May lead to an empty window. */
  next: string | null;
}

/** A create as the adapter receives it: the gateway has validated it and always supplies a password. */
export interface NewExtension {
  extension?: string;
  name: string;
  description?: string | null;
  password: string;
}

/** For writes in a batch: `deferApply` asks a backend with an apply-changes step (a PBX reload) to hold it
 * back; the batch ends with one `applyChanges()`. Backends without such a step ignore it. */
export interface WriteOptions {
  deferApply?: boolean;
  /** Settings of the backend's record the caller accepts to lose on an update (SettingsWouldBeLostError names
   * them); a group name (`device_options`) accepts every setting under it. */
  acceptLoss?: readonly string[];
  /**
   * For a create with a number: the caller has checked the number free against a list of the tenant it read for
   * this work (a batch's plan reads the whole list once, src/bulk/plan.ts). An adapter whose own duplicate check
   * is a walk of the whole list skips it; one whose backend would overwrite a taken number rather than refuse it
   * keeps its own check (the list may be minutes old by the time a late row is written). Whatever is skipped, a
   * backend's refusal of a duplicate still has to end in a 409.
   */
  numberChecked?: boolean;
  /**
   * For a create with a number and no `numberChecked`: the gateway's index of the tenant's numbers
   * (src/number-index.ts). An adapter whose own duplicate check would walk the whole list asks this instead; an
   * adapter with a cheaper exact check (one GET by number) ignores it. `taken` resolves true only from a list read
   * during the call (an older "taken" is read again first); false may be stale, so a backend refusal of a
   * duplicate must still be told apart and answered 409.
   */
  numbers?: { taken(ctx: RequestContext, number: string): Promise<boolean> };
}

/**
 * Every method takes the calling request's context first and hands it to each backend call it makes (in the
 * BackendRequest), so that the call forwards the request id and stops when the request's time budget is spent.
 */
export interface PbxAdapter {
  readonly backend: string;
  readonly capabilities: Capabilities;
  listExtensions(ctx: RequestContext, req: ListPageRequest): Promise<ListPage>;
  /** Throws NotFoundError when the id does not name a live extension of this tenant. */
  getExtension(ctx: RequestContext, id: string): Promise<Extension>;
  /** Throws ConflictError when the number is taken: the adapter checks before writing. */
  createExtension(ctx: RequestContext, input: NewExtension, opts?: WriteOptions): Promise<Extension>;
  /** Fields left out of the patch keep their values. */
  updateExtension(ctx: RequestContext, id: string, patch: ExtensionPatch, opts?: WriteOptions): Promise<Extension>;
  /** Apply the changes held back by deferred writes (one PBX reload for a whole batch). */
  applyChanges?(ctx: RequestContext): Promise<void>;
  deleteExtension(ctx: RequestContext, id: string): Promise<void>;
  /** Backends with a native batch delete implement this; others get the gateway's one-by-one fallback. */
  deleteExtensions?(ctx: RequestContext, ids: string[]): Promise<BatchDeleteItem[]>;
  /** Only where capabilities.direct_uri is true. */
  regenerateDirectHash?(ctx: RequestContext, id: string): Promise<Extension>;
  /** Extension details, each only where the matching capability flag is true. Devices carry their passwords;
   * the gateway removes them unless asked. All throw NotFoundError for an unknown extension id. */
  listDevices?(ctx: RequestContext, extensionId: string): Promise<Device[]>;
  listQueues?(ctx: RequestContext, extensionId: string): Promise<QueueMembership[]>;
  getCallSummary?(ctx: RequestContext, extensionId: string): Promise<CallSummary>;
  listVoicemail?(ctx: RequestContext, extensionId: string): Promise<VoicemailMessage[]>;
  /** Ring groups, only where capabilities.ring_groups is true. Missing ids throw NotFoundError. */
  listRingGroups?(ctx: RequestContext): Promise<RingGroup[]>;
  getRingGroup?(ctx: RequestContext, id: string): Promise<RingGroup>;
  /** `opts.deferApply` as for extensions: a backend with an apply-changes step holds it back for `applyChanges()`. */
  createRingGroup?(ctx: RequestContext, input: RingGroupCreate, opts?: WriteOptions): Promise<RingGroup>;
  updateRingGroup?(ctx: RequestContext, id: string, patch: RingGroupPatch, opts?: WriteOptions): Promise<RingGroup>;
  deleteRingGroup?(ctx: RequestContext, id: string, opts?: WriteOptions): Promise<void>;
  /** Release timers and sockets. */
  close?(): Promise<void>;
}

export interface AdapterContext {
  /** The gateway tenant name. */
  tenant: string;
  /** The tenant's config entry, validated against the adapter's own schema, `base_url` resolved. */
  config: TenantConfig & { base_url: string };
  /** An HTTP client bound to the tenant's backend: timeouts, request ids, redacted logging, 429 handling. */
  http: BackendHttp;
  logger: Logger;
  /** Shared state for this tenant (e.g. backend sessions, so several gateway instances log in once). */
  state: StateStore;
}

/** A running simulator of the backend, as the demo and the tests start it. */
export interface SimulatedBackend {
  /** The base_url a tenant uses to reach it. */
  baseUrl: string;
  /** Credentials that the simulator accepts, in the shape of the tenant's `auth` config. */
  auth: Record<string, unknown>;
  close(): Promise<void>;
}

export interface AdapterFactory {
  readonly backend: string;
  /** JSON Schema of one tenant entry for this backend (backend, base_url, auth, and any own settings). */
  readonly configSchema: object;
  /** Fixed per backend; the adapter instance reports the same flags, plus tenant settings such as `device_technology`. */
  readonly capabilities: Capabilities;
  /** Default outbound pacing of one vendor account (a token bucket: calls per second and burst), from the vendor's
   * documented limit or a conservative guess (the adapter's README says which); false: none. A tenant's own
   * `pacing` overrides it. */
  readonly pacing?: { rate_per_s: number; burst: number } | false;
  create(ctx: AdapterContext): PbxAdapter;
  /** Start the backend's in-process simulator, seeded for the demo. */
  startSimulator?(): Promise<SimulatedBackend>;
}

export function defineAdapter(factory: AdapterFactory): AdapterFactory {
  return factory;
}
