/**
 * The OpenAPI 3.1 document of the unified API, built from the JSON Schemas in schemas/ (OpenAPI 3.1 speaks
 * JSON Schema 2020-12, so they go in as they are, only their references rewritten) and from the one table of
 * operations below. A test checks that this table and the routes the app serves are the same set.
 */
import batchDeleteResult from '../schemas/batch-delete-result.schema.json';
import callSummary from '../schemas/call-summary.schema.json';
import device from '../schemas/device.schema.json';
import eventPage from '../schemas/event-page.schema.json';
import changeEvent from '../schemas/event.schema.json';
import extensionCreate from '../schemas/extension-create.schema.json';
import extensionPatch from '../schemas/extension-patch.schema.json';
import extension from '../schemas/extension.schema.json';
import job from '../schemas/job.schema.json';
import migrationCreate from '../schemas/migration-create.schema.json';
import problem from '../schemas/problem.schema.json';
import queries from '../schemas/queries.schema.json';
import queue from '../schemas/queue.schema.json';
import ringGroupCreate from '../schemas/ring-group-create.schema.json';
import ringGroupPatch from '../schemas/ring-group-patch.schema.json';
import ringGroup from '../schemas/ring-group.schema.json';
import tenant from '../schemas/tenant.schema.json';
import voicemailMessage from '../schemas/voicemail-message.schema.json';
import desiredState from '../schemas/desired-state.schema.json';
import desiredStatePlan from '../schemas/desired-state-plan.schema.json';

import webhook from '../schemas/webhook.schema.json';
import webhookDelivery from '../schemas/webhook-delivery.schema.json';


type Json = Record<string, unknown>;
const SCHEMAS = [migrationCreate, job, extension, extensionCreate, extensionPatch, problem, tenant, batchDeleteResult, device, queue, callSummary, voicemailMessage, ringGroup, ringGroupCreate, ringGroupPatch, desiredState, desiredStatePlan, webhook, webhookDelivery, changeEvent, eventPage] as Json[];

const fileOf = (s: Json) => String(s.$id).split('/').pop()!;
const pascal = (s: string) => s.replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase());
/** file name -> component name (its title) */
const COMPONENT_OF: Record<string, string> = Object.fromEntries(SCHEMAS.map((s) => [fileOf(s), String(s.title)]));
/** `file#/$defs/x` -> component name: every definition is hoisted into components/schemas under its title. */
const DEF_COMPONENT: Record<string, string> = Object.fromEntries(
  SCHEMAS.flatMap((s) => Object.entries((s.$defs ?? {}) as Record<string, Json>).map(([k, d]) => [`${fileOf(s)}#/$defs/${k}`, String(d.title ?? pascal(k))])),
);

/**
 * A schema as the document holds it: references rewritten to component pointers (`#/$defs/x` inside a file and
 * `other.schema.json#/$defs/x` across files alike, since every definition is a component of its own), no `$id`,
 * `$schema` or `$defs`, and a `default` said in the description instead: a code generator (openapi-typescript)
 * reads a default as "always there" and would make the property required of the client sending it.
 */
function rewriteRefs(node: unknown, self: string, key?: string): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, self));
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  // A `properties` map (or $defs) names properties, whose names are not keywords.
  const isMap = key === 'properties' || key === 'patternProperties';
  for (const [k, v] of Object.entries(node)) {
    if (!isMap && (k === '$id' || k === '$schema' || k === '$defs')) continue;
    if (!isMap && k === '$ref' && typeof v === 'string') {
      const [file, pointer = ''] = v.split('#');
      const target = file || self;
      out.$ref = `#/components/schemas/${pointer.startsWith('/$defs/') ? DEF_COMPONENT[`${target}#${pointer}`] : COMPONENT_OF[target]}`;
    } else if (!isMap && k === 'default') {
      continue;
    } else {
      out[k] = rewriteRefs(v, self, isMap ? undefined : k);
    }
  }
  const d = (node as Json).default;
  if (!isMap && d !== undefined) out.description = `${out.description ? `${String(out.description)} ` : ''}Default: \`${JSON.stringify(d)}\`.`;
  return out;
}

/** Every schema of schemas/ and every definition in them, each a component of its own. */
function componentSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SCHEMAS) {
    const self = fileOf(s);
    out[String(s.title)] = rewriteRefs(s, self);
    for (const [k, d] of Object.entries((s.$defs ?? {}) as Record<string, Json>)) out[DEF_COMPONENT[`${self}#/$defs/${k}`]] = rewriteRefs(d, self);
  }
  return { ...out, ...EXTRA_SCHEMAS };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const collection = (item: Json, paged = false) => ({
  type: 'object',
  additionalProperties: false,
  required: paged ? ['items', 'next_page_token'] : ['items'],
  properties: { items: { type: 'array', items: item }, ...(paged ? { next_page_token: { type: ['string', 'null'], description: 'Opaque; null on the last page.' } } : {}) },
});

/** Answers built here rather than in schemas/ (nothing in the gateway validates against them). */
const EXTRA_SCHEMAS: Record<string, Json> = {
  ImportPlan: {
    title: 'ImportPlan',
    description: 'A dry run of an import: what each row would do.',
    type: 'object',
    additionalProperties: false,
    required: ['dry_run', 'summary', 'items'],
    properties: { dry_run: { const: true }, summary: ref('PlanSummary'), items: { type: 'array', items: ref('PlanItem') } },
  },
  ImportResult: {
    title: 'ImportResult',
    description: 'An import applied within its request: a result per row.',
    type: 'object',
    additionalProperties: false,
    required: ['dry_run', 'summary', 'outcome', 'items'],
    properties: { dry_run: { const: false }, summary: ref('PlanSummary'), outcome: ref('ImportOutcome'), items: { type: 'array', items: ref('ItemResult') } },
  },
  MigrationPlan: {
    title: 'MigrationPlan',
    description: 'A dry run of a migration: what each source extension would do on the target (lossy: fields the target cannot hold).',
    type: 'object',
    additionalProperties: false,
    required: ['dry_run', 'from', 'to', 'summary', 'items'],
    properties: { dry_run: { const: true }, from: { type: 'string' }, to: { type: 'string' }, summary: ref('PlanSummary'), items: { type: 'array', items: ref('PlanItem') } },
  },
  DesiredStateApplied: {
    title: 'DesiredStateApplied',
    description: 'An apply started: one job per tenant that has writes (none when the tenants already match the file).',
    type: 'object',
    additionalProperties: false,
    required: ['fingerprint', 'jobs'],
    properties: { fingerprint: { type: 'string', description: "The plan's fingerprint, as checked." }, jobs: { type: 'array', items: ref('Job') } },
  },
  ReadinessReport: {
    title: 'ReadinessReport',
    description: 'Per tenant, whether its backend answered an authenticated call in the last 30 s (probed when not); only the problem type when it did not.',
    type: 'object',
    additionalProperties: false,
    required: ['status', 'tenants'],
    properties: {
      status: { type: 'string', enum: ['ready', 'degraded', 'unready'] },
      tenants: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'backend', 'ready', 'checked_at'],
          properties: {
            name: { type: 'string' },
            backend: { type: 'string' },
            ready: { type: 'boolean' },
            checked_at: { type: 'string', format: 'date-time' },
            problem: { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { type: 'string' } } },
          },
        },
      },
    },
  },
  DirectoryPage: {
    title: 'DirectoryPage',
    description: 'A page of matches across tenants; a tenant that failed is listed under unavailable, not fatal.',
    type: 'object',
    additionalProperties: false,
    required: ['items', 'next_page_token', 'unavailable'],
    properties: {
      ...collection(ref('Extension'), true).properties,
      unavailable: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['tenant', 'backend', 'problem'], properties: { tenant: { type: 'string' }, backend: { type: 'string' }, problem: ref('Problem') } } },
    },
  },
};
const JOB = ref('Job');
const TEXT = { type: 'string' };

interface Answer {
  status: number;
  description: string;
  /** The JSON schema of an `application/json` answer. */
  schema?: Json;
  /** Other content: media type -> schema. */
  content?: Record<string, Json>;
  /** Response headers besides the ones every answer has (components/headers). */
  headers?: string[];
}

interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  tag: string;
  summary: string;
  query?: keyof typeof queries.$defs;
  /** A JSON request body: its component. */
  body?: string;
  /** A request body in other media types: media type -> schema. */
  bodies?: Record<string, Json>;
  ok: Answer;
  /** Other answers that are not problems (202 for work going on as a job, a redirect, a 503 of readiness). */
  also?: Answer[];
  /** Answered without an API key. */
  public?: boolean;
  /** Calls a backend (so 502, 503 and 504 are possible). */
  backend?: boolean;
  /** Honours `Idempotency-Key` (so 409 in progress, 422 reused, 503 state-unavailable, Idempotency-Replayed). */
  idempotent?: boolean;
  /** Reads the state store (jobs): 503 state-unavailable. */
  state?: boolean;
  /** Problems this operation may answer besides the common ones, with what they mean here. */
  problems?: Record<number, string>;
}

const T = { name: 'tenant', in: 'path', required: true, schema: { type: 'string' }, description: 'A configured tenant this API key may use.' };
const ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The backend's own id of the extension (a UUID or a number, as the backend gives it)." };
const RG_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The backend's own id of the ring group." };
const WEBHOOK_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The subscription's id, as configured (webhooks.subscriptions[].id)." };
const JOB_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The job's id (a migration's is its job's)." };
const IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', pattern: '^[\\x21-\\x7E]{1,255}$' },
  description: 'The first answer is kept 24 h and replayed (Idempotency-Replayed: true) to a request with the same key, body and target.',
};

const NOT_FOUND_JOB = 'Unknown job';
const JOB_STATE_409 = 'The job is not in a state this allows (resume: failed or interrupted only; cancel: not done)';
const json = (schema: Json) => ({ 'application/json': { schema } });

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', tag: 'operations', summary: 'The process serves', public: true, ok: { status: 200, description: 'Alive', schema: { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { const: 'ok' } } } } },
  { method: 'get', path: '/readyz', tag: 'operations', summary: 'Whether each tenant backend answered recently; 503 when none is usable', public: true, ok: { status: 200, description: 'Ready, or degraded (some tenant is down)', schema: ref('ReadinessReport') }, also: [{ status: 503, description: 'Unready: no tenant is usable', schema: ref('ReadinessReport') }] },
  { method: 'get', path: '/metrics', tag: 'operations', summary: 'Prometheus metrics', public: true, ok: { status: 200, description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: TEXT } } } },
  { method: 'get', path: '/openapi.json', tag: 'operations', summary: 'This document', public: true, ok: { status: 200, description: 'OpenAPI 3.1', schema: { type: 'object', additionalProperties: true, description: 'An OpenAPI 3.1 document' } } },
  { method: 'get', path: '/', tag: 'operations', summary: 'The root: a browser lands on the console', public: true, ok: { status: 302, description: 'To /console/', headers: ['Location'] } },
  {
    method: 'get', path: '/console', tag: 'operations', summary: 'The web console (sign in with an API key)', public: true,
    ok: { status: 200, description: 'The console page (at /console/)', content: { 'text/html': { schema: TEXT } } },
    also: [
      { status: 301, description: 'To /console/ (the page is served with a trailing slash)', headers: ['Location'] },
      { status: 503, description: 'The console is not built (npm run build)', content: { 'text/plain': { schema: TEXT } } },
    ],
  },
  { method: 'get', path: '/console/styles.css', tag: 'operations', summary: "The console's style sheet", public: true, ok: { status: 200, description: 'CSS', content: { 'text/css': { schema: TEXT } } } },
  { method: 'get', path: '/docs', tag: 'operations', summary: 'This document as a page', public: true, ok: { status: 200, description: 'HTML', content: { 'text/html': { schema: TEXT } } } },
  { method: 'get', path: '/v1/tenants', tag: 'tenants', summary: 'The tenants this API key may use', query: 'none', ok: { status: 200, description: 'Tenants', schema: collection(ref('Tenant')) } },
  { method: 'get', path: '/v1/tenants/{tenant}', tag: 'tenants', summary: 'One tenant and its capabilities', query: 'none', ok: { status: 200, description: 'The tenant', schema: ref('Tenant') } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'A page of extensions', query: 'listExtensions', backend: true, ok: { status: 200, description: 'A page', schema: collection(ref('Extension'), true) }, problems: { 501: 'The backend cannot list extensions' } },
  {
    method: 'post', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'Create an extension (Idempotency-Key honoured)', query: 'none', body: 'ExtensionCreate', backend: true, idempotent: true,
    ok: { status: 201, description: 'Created, with its password (given or generated), once', schema: ref('Extension'), headers: ['Location'] },
    problems: { 409: 'conflict: the number exists already; idempotency-in-progress: the first request with this Idempotency-Key still runs; idempotency-outcome-unknown: its outcome was lost and could not be settled', 422: 'unprocessable: a field the backend cannot store, or a value it refused; idempotency-key-reused: the key was first used with another body or target', 501: 'The backend is read-only, or cannot pick a number (leave out extension only where auto_number)' },
  },
  {
    method: 'delete', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'Delete several extensions; one result per id (Idempotency-Key honoured)', query: 'batchDelete', backend: true, idempotent: true,
    ok: { status: 200, description: 'Per-id results, in order', schema: ref('BatchDeleteResult') },
    problems: { 409: 'idempotency-in-progress: the first request with this Idempotency-Key still runs', 422: 'idempotency-key-reused: the key was first used with another target', 501: 'The backend cannot delete' },
  },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'One extension', query: 'getExtension', backend: true, ok: { status: 200, description: 'The extension', schema: ref('Extension') }, problems: { 501: 'The backend cannot read one extension' } },
  {
    method: 'patch', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'Change the fields sent; accept_loss names the settings the backend would reset', query: 'updateExtension', body: 'ExtensionPatch', backend: true,
    ok: { status: 200, description: 'The extension as it now is', schema: ref('Extension') },
    problems: { 409: 'settings-would-be-lost: the backend would reset settings not named (lost[]); nothing was written. Send again with accept_loss naming them', 422: 'A field the backend cannot store, or a value it refused', 501: 'The backend is read-only' },
  },
  { method: 'delete', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'Delete an extension', query: 'none', backend: true, ok: { status: 204, description: 'Deleted' }, problems: { 501: 'The backend is read-only' } },
  { method: 'post', path: '/v1/tenants/{tenant}/extensions/{id}/direct-hash/regenerate', tag: 'extensions', summary: 'Give the direct SIP URI a new hash', query: 'none', backend: true, ok: { status: 200, description: 'The extension', schema: ref('Extension') }, problems: { 501: 'The backend has no direct SIP URI' } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/devices', tag: 'extension details', summary: 'Devices of an extension', query: 'devices', backend: true, ok: { status: 200, description: 'Devices', schema: collection(ref('Device')) }, problems: { 501: 'The backend has no devices' } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/queues', tag: 'extension details', summary: 'Queues the extension is a member of', query: 'none', backend: true, ok: { status: 200, description: 'Queues', schema: collection(ref('QueueMembership')) }, problems: { 501: 'The backend has no queues' } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/call-summary', tag: 'extension details', summary: 'Call counts by direction', query: 'none', backend: true, ok: { status: 200, description: 'Counts', schema: ref('CallSummary') }, problems: { 501: 'The backend has no call records' } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/voicemail', tag: 'extension details', summary: 'Voicemail messages', query: 'none', backend: true, ok: { status: 200, description: 'Messages', schema: collection(ref('VoicemailMessage')) }, problems: { 501: 'The backend has no voicemail' } },
  { method: 'get', path: '/v1/extensions', tag: 'across tenants', summary: 'Search every tenant this key may see; failing tenants are listed under unavailable', query: 'directory', backend: true, ok: { status: 200, description: 'A page of matches', schema: ref('DirectoryPage') } },
  {
    method: 'get', path: '/v1/tenants/{tenant}/extensions/export', tag: 'across tenants', summary: 'Stream every extension as CSV or NDJSON (format)', query: 'exportExtensions', backend: true,
    ok: {
      status: 200,
      description: 'Every extension, streamed window by window: CSV with a header row (format=csv), or one JSON extension a line (format=ndjson, the default; a failure part-way ends it with an {"error": problem} line)',
      content: { 'text/csv': { schema: TEXT }, 'application/x-ndjson': { schema: TEXT } },
      headers: ['Content-Disposition'],
    },
    problems: { 501: 'The backend cannot list extensions' },
  },
  {
    method: 'post', path: '/v1/tenants/{tenant}/extensions/import', tag: 'across tenants', summary: 'Plan (dry_run, the default) or apply a CSV or NDJSON import, with a result per row; one that cannot finish in the request (or async=true) goes on as a job: 202, Location /v1/jobs/{id} (Idempotency-Key honoured: a retry answers the same job)', query: 'importExtensions', backend: true, idempotent: true,
    bodies: {
      'text/csv': { schema: { type: 'string', description: 'A header row naming columns among extension, name, description, password; a row per extension (up to 10 MB).' } },
      'application/x-ndjson': { schema: { type: 'string', description: 'One JSON object a line: {extension, name?, description?, password?} (up to 10 MB).' } },
      'application/ndjson': { schema: { type: 'string', description: 'As application/x-ndjson.' } },
      'application/jsonl': { schema: { type: 'string', description: 'As application/x-ndjson.' } },
    },
    ok: { status: 200, description: 'The plan (dry run), or a result per row (applied within the request)', schema: { oneOf: [ref('ImportPlan'), ref('ImportResult')] } },
    also: [{ status: 202, description: 'Going on as a job; the rows done within the request are its first results', schema: JOB, headers: ['Location'] }],
    problems: { 409: 'idempotency-in-progress: the first request with this Idempotency-Key still runs', 413: 'A body over 10 MB', 415: 'A body that is not CSV or NDJSON', 422: 'unprocessable: fields the target cannot store and accept_loss does not name; idempotency-key-reused: the key was first used with another body or target', 501: 'The backend is read-only' },
  },
  {
    method: 'post', path: '/v1/migrations', tag: 'across tenants', summary: 'Plan (dry_run, the default) or start a migration between two tenants (a job)', query: 'none', body: 'MigrationCreate', backend: true, state: true,
    ok: { status: 200, description: 'The plan (dry run)', schema: ref('MigrationPlan') },
    also: [{ status: 202, description: 'The migration, started as a job', schema: JOB, headers: ['Location'] }],
    problems: { 404: 'An unknown tenant (from or to)', 422: 'Fields the target cannot store (lossy) that accept_loss does not name', 501: 'The target is read-only, or the source cannot list' },
  },
  { method: 'get', path: '/v1/migrations/{id}', tag: 'across tenants', summary: 'Progress and per-item results of a migration (the job, as at /v1/jobs/{id})', query: 'none', state: true, ok: { status: 200, description: 'The migration', schema: JOB }, problems: { 404: 'Unknown migration' } },
  { method: 'post', path: '/v1/migrations/{id}/resume', tag: 'across tenants', summary: 'Resume an interrupted or failed migration, skipping what is done', query: 'none', backend: true, state: true, ok: { status: 202, description: 'The migration, running again', schema: JOB, headers: ['Location'] }, problems: { 404: 'Unknown migration', 409: JOB_STATE_409 } },
  { method: 'post', path: '/v1/migrations/{id}/cancel', tag: 'across tenants', summary: 'Cancel a migration: no more rows are started; the rest are not_done', query: 'none', state: true, ok: { status: 200, description: 'The migration, cancelled', schema: JOB }, also: [{ status: 202, description: 'The instance running it was told (cancel_requested): it stops at its next row', schema: JOB }], problems: { 404: 'Unknown migration', 409: JOB_STATE_409 } },
  { method: 'get', path: '/v1/jobs/{id}', tag: 'jobs', summary: 'A job (an import run in the background, or a migration): status, progress and a result per row', query: 'none', state: true, ok: { status: 200, description: 'The job', schema: JOB }, problems: { 404: NOT_FOUND_JOB } },
  { method: 'post', path: '/v1/jobs/{id}/resume', tag: 'jobs', summary: 'Take up a failed (backend fault) or interrupted job: rows done stay done, the rest are planned again against the target as it is now', query: 'none', backend: true, state: true, ok: { status: 202, description: 'The job, running again', schema: JOB, headers: ['Location'] }, problems: { 404: NOT_FOUND_JOB, 409: JOB_STATE_409 } },
  { method: 'post', path: '/v1/jobs/{id}/cancel', tag: 'jobs', summary: 'Cancel a job: no more rows are started; the rest are not_done with the reason', query: 'none', state: true, ok: { status: 200, description: 'The job, cancelled', schema: JOB }, also: [{ status: 202, description: 'The instance running it was told (cancel_requested): it stops at its next row', schema: JOB }], problems: { 404: NOT_FOUND_JOB, 409: JOB_STATE_409 } },
  {
    method: 'post', path: '/v1/desired-state/plan', tag: 'desired state', summary: 'What applying a desired-state file would do, per tenant and item, with the fingerprint an apply needs (read scope; secrets when the file has passwords)', query: 'none', body: 'DesiredState', backend: true,
    ok: { status: 200, description: 'The plan', schema: ref('DesiredStatePlan') },
  },
  {
    method: 'post', path: '/v1/desired-state/apply', tag: 'desired state', summary: "Plan again and apply: one job per tenant with writes, in an order where nothing conflicts, one apply-changes per tenant (write scope)", query: 'desiredStateApply', body: 'DesiredState', backend: true, state: true,
    ok: { status: 200, description: 'Nothing to write: the tenants match the file', schema: ref('DesiredStateApplied') },
    also: [{ status: 202, description: 'Started: a job per tenant with writes (GET /v1/jobs/{id})', schema: ref('DesiredStateApplied') }],
    problems: { 409: 'plan-stale: the file or the tenants differ from what the plan with this fingerprint read; nothing was written', 422: 'unprocessable: an invalid item, or a field a backend cannot hold that accept_loss does not name; prune-too-large: a prune over max_prune_share of a tenant. Nothing was written' },
  },
  {
    method: 'post', path: '/v1/desired-state/drift', tag: 'desired state', summary: 'What differs on the PBXes from a desired-state file: missing, changed (with the fields), extra (where the file prunes)', query: 'none', body: 'DesiredState', backend: true,
    ok: { status: 200, description: 'The drift', schema: ref('DesiredDrift') },
  },
  { method: 'get', path: '/v1/tenants/{tenant}/desired-state', tag: 'desired state', summary: 'The tenant as a desired-state file (no passwords, no prune): planned as it is, it has no changes', query: 'none', backend: true, ok: { status: 200, description: 'A desired-state file', schema: ref('DesiredState') }, problems: { 501: 'The backend cannot list extensions' } },
  {
    method: 'get', path: '/v1/events', tag: 'events', summary: 'The change feed: events after a cursor, of the tenants this key may use (wait: long polling)', query: 'events', state: true,
    ok: { status: 200, description: 'A page of events, oldest first', schema: ref('EventPage') },
    problems: { 403: 'forbidden: a tenant asked for that this key may not use', 410: 'cursor-expired: events after this cursor are no longer kept; resynchronise from a full list, then follow from resume_after' },
  },
  { method: 'get', path: '/v1/webhooks', tag: 'webhooks', summary: 'The webhook subscriptions this key may see (every tenant each covers is the key\'s), with the state of their deliveries', query: 'none', state: true, ok: { status: 200, description: 'Subscriptions', schema: collection(ref('Webhook')) } },
  { method: 'get', path: '/v1/webhooks/{id}/deliveries', tag: 'webhooks', summary: 'The recent delivery attempts of a subscription (the last 100), newest first', query: 'none', state: true, ok: { status: 200, description: 'Attempts', schema: collection(ref('WebhookDelivery')) }, problems: { 404: 'No such subscription, or not one this key may see' } },
  { method: 'post', path: '/v1/webhooks/{id}/enable', tag: 'webhooks', summary: 'Enable a subscription again (after consecutive failures disabled it): it delivers what it missed, from its cursor, while the events are kept', query: 'none', state: true, ok: { status: 200, description: 'The subscription, enabled', schema: ref('Webhook') }, problems: { 404: 'No such subscription, or not one this key may see' } },
  { method: 'get', path: '/v1/tenants/{tenant}/ring-groups', tag: 'ring groups', summary: 'Ring groups', query: 'view', backend: true, ok: { status: 200, description: 'Ring groups', schema: collection(ref('RingGroup')) }, problems: { 501: 'The backend has no ring groups' } },
  { method: 'post', path: '/v1/tenants/{tenant}/ring-groups', tag: 'ring groups', summary: 'Create a ring group', query: 'none', body: 'RingGroupCreate', backend: true, ok: { status: 201, description: 'Created', schema: ref('RingGroup'), headers: ['Location'] }, problems: { 409: 'The number exists already', 422: 'A value the backend refused', 501: 'The backend has no ring groups' } },
  { method: 'get', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'One ring group', query: 'view', backend: true, ok: { status: 200, description: 'The ring group', schema: ref('RingGroup') }, problems: { 501: 'The backend has no ring groups' } },
  { method: 'patch', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'Change the fields sent', query: 'none', body: 'RingGroupPatch', backend: true, ok: { status: 200, description: 'The ring group', schema: ref('RingGroup') }, problems: { 422: 'A value the backend refused', 501: 'The backend has no ring groups' } },
  { method: 'delete', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'Delete a ring group', query: 'none', backend: true, ok: { status: 204, description: 'Deleted' }, problems: { 501: 'The backend has no ring groups' } },
];

/** What each status means wherever it is answered (an operation may say more); the problem types, by slug. */
const PROBLEM_TEXT: Record<number, string> = {
  400: 'validation: a body, query or header that does not match its schema (errors[] has a pointer per fault); malformed-request: a body that does not parse or decompress',
  401: 'unauthenticated: no API key, or an unknown one (WWW-Authenticate: Bearer)',
  403: 'forbidden: the key may not use this tenant, or lacks the scope (scope)',
  404: 'not-found: an unknown tenant or id',
  409: 'conflict',
  413: 'payload-too-large: a body over the limit (server.body_limit, 1 MB by default)',
  415: 'unsupported-media-type: a body that is not JSON (or any body on a GET), or in a Content-Encoding or charset the gateway does not read',
  422: 'unprocessable: a field the backend cannot store, or a value it refused',
  429: 'too-many-requests: this API key is over its rate limit, or too many failed authentications came from this address (Retry-After)',
  501: 'unsupported: the backend lacks this capability (backend, capability)',
  502: 'backend-unavailable, backend-auth-failed or outcome-uncertain: the backend failed, refused the gateway credentials, or a create answer was lost',
  503: 'rate-limited, backend-circuit-open or backend-busy: the backend cannot be called now; state-unavailable: the shared store did not answer (Retry-After)',
  504: 'backend-timeout: the backend did not answer in time',
};
const STATE_503 = 'state-unavailable: the shared store (Redis) did not answer in 500 ms; nothing was done (Retry-After)';

/** Headers of answers, each declared once. */
const HEADERS: Record<string, Json> = {
  'X-Request-Id': { description: "The request's id: the caller's own X-Request-Id when it is 1 to 128 of letters, digits and ._:-, else a new UUID. On every answer.", schema: { type: 'string' } },
  'RateLimit-Policy': { description: "The API key's rate limit: `<requests>;w=<window seconds>`.", schema: { type: 'string' } },
  'RateLimit-Limit': { description: 'Requests the key may make in the window.', schema: { type: 'integer' } },
  'RateLimit-Remaining': { description: 'Requests left in this window.', schema: { type: 'integer', minimum: 0 } },
  'RateLimit-Reset': { description: 'Seconds until the window ends.', schema: { type: 'integer', minimum: 1 } },
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
  Location: { description: 'Where the resource (or the job) is.', schema: { type: 'string' } },
  'Idempotency-Replayed': { description: 'true when this is the answer kept for the Idempotency-Key, replayed.', schema: { type: 'string', enum: ['true'] } },
  'WWW-Authenticate': { description: 'The scheme to authenticate with: Bearer (an API key).', schema: { type: 'string' } },
  'Content-Disposition': { description: 'attachment; filename="<tenant>-extensions.<csv|ndjson>"', schema: { type: 'string' } },
};
const TAGS: Record<string, string> = {
  operations: 'For operators and people: health, readiness, metrics, this document, the web console. No API key.',
  tenants: 'The tenants an API key may use, each with its backend and what that backend can do.',
  extensions: 'Extensions (SIP accounts) of one tenant, the same whatever its backend.',
  'extension details': "An extension's devices, queues, call summary and voicemail, where the backend has them.",
  'across tenants': 'Search across tenants, export and import, and migrations from one tenant to another.',
  jobs: 'Bulk work going on in the background (imports too large for their request, migrations).',
  'ring groups': 'Ring groups: one number that rings several extensions.',
  'desired state': 'A file of the extensions and ring groups each tenant should have: planned, applied, checked for drift, exported.',
  events: 'Change events of extensions and ring groups, whether written through the gateway or found changed on the PBX: a feed after a cursor.',
  webhooks: 'Change events pushed to the receivers of the config, signed (Standard Webhooks): each subscription\'s state and attempts, and enabling one again.',
};
const RATE_LIMIT_HEADERS = ['RateLimit-Policy', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'];
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

function queryParameters(name: keyof typeof queries.$defs | undefined) {
  if (!name) return [];
  const def = queries.$defs[name] as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(def.properties ?? {}).map(([param, schema]) => {
    const { description, ...rest } = schema;
    return { name: param, in: 'query', required: def.required?.includes(param) ?? false, ...(description ? { description } : {}), schema: rest };
  });
}

/** The problems an operation may answer, with what each means there. */
function problemsOf(op: Operation): Record<number, string> {
  const out: Record<number, string> = { 415: PROBLEM_TEXT[415] };
  if (op.method !== 'get') out[413] = PROBLEM_TEXT[413];
  if (!op.public) {
    Object.assign(out, { 400: PROBLEM_TEXT[400], 401: PROBLEM_TEXT[401], 403: PROBLEM_TEXT[403], 429: PROBLEM_TEXT[429] });
    if (/\{(tenant|id)\}/.test(op.path)) out[404] = PROBLEM_TEXT[404];
    if (op.backend) Object.assign(out, { 502: PROBLEM_TEXT[502], 503: PROBLEM_TEXT[503], 504: PROBLEM_TEXT[504] });
    if (op.idempotent || op.state) out[503] = op.backend ? PROBLEM_TEXT[503] : STATE_503;
  }
  return { ...out, ...(op.problems ?? {}) };
}

export function buildOpenApi(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) {
    const jobPath = /^\/v1\/(jobs|migrations)\//.test(op.path);
    const params = [
      ...(op.path.includes('{tenant}') ? [T] : []),
      ...(op.path.includes('{id}') ? [jobPath ? JOB_ID : op.path.startsWith('/v1/webhooks/') ? WEBHOOK_ID : op.path.includes('/ring-groups/') ? RG_ID : ID] : []),
      ...queryParameters(op.query),
      ...(op.idempotent ? [IDEMPOTENCY_KEY] : []),
    ];
    // Every answer has X-Request-Id; every answer of an authenticated /v1 request the rate limit's headers.
    const headersOf = (names: string[], status: number) => {
      const all = ['X-Request-Id', ...(!op.public && status !== 401 ? RATE_LIMIT_HEADERS : []), ...names];
      return Object.fromEntries([...new Set(all)].map((n) => [n, headerRef(n)]));
    };
    const answer = (a: Answer, extra: string[] = []) => ({
      description: a.description,
      headers: headersOf([...(a.headers ?? []), ...extra], a.status),
      ...(a.schema ? { content: json(a.schema) } : a.content ? { content: a.content } : {}),
    });
    const responses: Record<string, Json> = {};
    const replayed = op.idempotent ? ['Idempotency-Replayed'] : [];
    for (const a of [op.ok, ...(op.also ?? [])]) responses[a.status] = answer(a, a.status < 300 ? replayed : []);
    const problems = problemsOf(op);
    for (const status of Object.keys(problems).map(Number).sort((a, b) => a - b)) {
      const extra = status === 401 ? ['WWW-Authenticate'] : status === 429 || status === 503 ? ['Retry-After'] : [];
      responses[status] = {
        description: problems[status],
        headers: headersOf([...extra, ...(op.idempotent && status < 500 && status !== 401 && status !== 429 ? replayed : [])], status),
        content: { 'application/problem+json': { schema: ref('Problem') } },
      };
    }
    const requestBody = op.body
      ? { required: true, content: json(ref(op.body)) }
      : op.bodies
        ? { required: true, content: op.bodies }
        : undefined;
    paths[op.path] = {
      ...(paths[op.path] ?? {}),
      [op.method]: {
        tags: [op.tag],
        summary: op.summary,
        operationId: op.path === '/' ? 'getRoot' : `${op.method}${op.path.replace(/[{}]/g, '').replace(/[/.-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
        ...(op.public ? { security: [] } : {}),
        ...(params.length ? { parameters: params } : {}),
        ...(requestBody ? { requestBody } : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'pbx-gateway',
      version,
      description: 'One REST API to manage PBX extensions on PBXes of different vendors. Errors are application/problem+json (RFC 9457).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [
      {
        url: '{origin}',
        description: 'A running gateway (npm start serves on http://127.0.0.1:8080)',
        variables: { origin: { default: 'http://127.0.0.1:8080', description: 'Scheme, host and port of the gateway' } },
      },
    ],
    security: [{ apiKey: [] }],
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name, description: TAGS[name] })),
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' } },
      headers: HEADERS,
      schemas: componentSchemas(),
    },
  };
}
