/**
 * The OpenAPI 3.1 document of the unified API, built from the JSON Schemas in schemas/ (OpenAPI 3.1 speaks
 * JSON Schema 2020-12, so they go in as they are, only their references rewritten) and from the one table of
 * operations below. A test checks that this table and the routes the app serves are the same set.
 */
import batchDeleteResult from '../schemas/batch-delete-result.schema.json';
import callSummary from '../schemas/call-summary.schema.json';
import device from '../schemas/device.schema.json';
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

type Json = Record<string, unknown>;
const SCHEMAS = [migrationCreate, job, extension, extensionCreate, extensionPatch, problem, tenant, batchDeleteResult, device, queue, callSummary, voicemailMessage, ringGroup, ringGroupCreate, ringGroupPatch] as Json[];

/** file name -> component name (its title) */
const COMPONENT_OF: Record<string, string> = Object.fromEntries(
  SCHEMAS.map((s) => [String(s.$id).split('/').pop()!, String(s.title)]),
);

/** `#/$defs/x` inside a schema, and `other.schema.json#/$defs/x` across files, as component pointers. */
function rewriteRefs(node: unknown, self: string): unknown {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, self));
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$id' || k === '$schema') continue;
    if (k === '$ref' && typeof v === 'string') {
      const [file, pointer = ''] = v.split('#');
      const target = file ? COMPONENT_OF[file] : self;
      out.$ref = `#/components/schemas/${target}${pointer}`;
    } else {
      out[k] = rewriteRefs(v, self);
    }
  }
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const collection = (item: Json, paged = false) => ({
  type: 'object',
  required: paged ? ['items', 'next_page_token'] : ['items'],
  properties: { items: { type: 'array', items: item }, ...(paged ? { next_page_token: { type: ['string', 'null'] } } : {}) },
});

const PLAN_ITEM = { type: 'object', required: ['row', 'extension', 'action'], properties: { row: { type: 'integer' }, extension: { type: ['string', 'null'] }, action: { enum: ['create', 'update', 'skip', 'conflict', 'invalid'] }, reason: { type: 'string' }, changes: { type: 'object' }, lossy: { type: 'array', items: { type: 'string' } }, target_id: { type: 'string' } } };
const ITEM_RESULT = { type: 'object', required: ['row', 'extension', 'action', 'status'], properties: { row: { type: 'integer' }, extension: { type: ['string', 'null'] }, action: { type: 'string' }, status: { enum: ['done', 'failed', 'skipped', 'not_done'] }, id: { type: 'string' }, reason: { type: 'string' }, error: ref('Problem') } };
const PLAN_OR_RESULTS = { type: 'object', required: ['dry_run', 'summary', 'items'], properties: { dry_run: { type: 'boolean' }, summary: { type: 'object' }, outcome: { type: 'object' }, items: { type: 'array', items: { anyOf: [PLAN_ITEM, ITEM_RESULT] } } } };
const JOB = ref('Job');

interface Operation {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  tag: string;
  summary: string;
  query?: keyof typeof queries.$defs;
  body?: string;
  ok: { status: number; schema?: Json; description: string };
  /** A 202 answer besides `ok` (work that goes on in the background). */
  accepted?: { schema: Json; description: string };
  /** Answered without an API key. */
  public?: boolean;
  /** Problems this operation may answer besides the common ones. */
  problems?: number[];
}

const T = { name: 'tenant', in: 'path', required: true, schema: { type: 'string' } };
const ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The backend's own id of the extension (a UUID or a number, as the backend gives it)." };
const JOB_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "The job's id (a migration's is its job's)." };

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', tag: 'operations', summary: 'The process serves', public: true, ok: { status: 200, description: 'Alive', schema: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } } } },
  { method: 'get', path: '/readyz', tag: 'operations', summary: 'Whether each tenant backend answered recently; 503 when none is usable', public: true, ok: { status: 200, description: 'Ready or degraded', schema: { type: 'object', required: ['status', 'tenants'], properties: { status: { enum: ['ready', 'degraded', 'unready'] }, tenants: { type: 'array' } } } } },
  { method: 'get', path: '/metrics', tag: 'operations', summary: 'Prometheus metrics', public: true, ok: { status: 200, description: 'Prometheus text format' } },
  { method: 'get', path: '/openapi.json', tag: 'operations', summary: 'This document', public: true, ok: { status: 200, description: 'OpenAPI 3.1' } },
  { method: 'get', path: '/console', tag: 'operations', summary: 'The web console (sign in with an API key)', public: true, ok: { status: 200, description: 'HTML' } },
  { method: 'get', path: '/console/styles.css', tag: 'operations', summary: "The console's style sheet", public: true, ok: { status: 200, description: 'CSS' } },
  { method: 'get', path: '/docs', tag: 'operations', summary: 'This document as a page', public: true, ok: { status: 200, description: 'HTML' } },
  { method: 'get', path: '/v1/tenants', tag: 'tenants', summary: 'The tenants this API key may use', query: 'none', ok: { status: 200, description: 'Tenants', schema: collection(ref('Tenant')) } },
  { method: 'get', path: '/v1/tenants/{tenant}', tag: 'tenants', summary: 'One tenant and its capabilities', query: 'none', ok: { status: 200, description: 'The tenant', schema: ref('Tenant') } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'A page of extensions', query: 'listExtensions', ok: { status: 200, description: 'A page', schema: collection(ref('Extension'), true) } },
  { method: 'post', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'Create an extension (Idempotency-Key honoured)', query: 'none', body: 'ExtensionCreate', ok: { status: 201, description: 'Created, with its password', schema: ref('Extension') }, problems: [409, 422, 501] },
  { method: 'delete', path: '/v1/tenants/{tenant}/extensions', tag: 'extensions', summary: 'Delete several extensions; one result per id (Idempotency-Key honoured)', query: 'batchDelete', ok: { status: 200, description: 'Per-id results', schema: ref('BatchDeleteResult') }, problems: [501] },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'One extension', query: 'getExtension', ok: { status: 200, description: 'The extension', schema: ref('Extension') } },
  { method: 'patch', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'Change the fields sent', query: 'none', body: 'ExtensionPatch', ok: { status: 200, description: 'The extension as it now is', schema: ref('Extension') }, problems: [422, 501] },
  { method: 'delete', path: '/v1/tenants/{tenant}/extensions/{id}', tag: 'extensions', summary: 'Delete an extension', query: 'none', ok: { status: 204, description: 'Deleted' }, problems: [501] },
  { method: 'post', path: '/v1/tenants/{tenant}/extensions/{id}/direct-hash/regenerate', tag: 'extensions', summary: 'Give the direct SIP URI a new hash', query: 'none', ok: { status: 200, description: 'The extension', schema: ref('Extension') }, problems: [501] },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/devices', tag: 'extension details', summary: 'Devices of an extension', query: 'devices', ok: { status: 200, description: 'Devices', schema: collection(ref('Device')) }, problems: [501] },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/queues', tag: 'extension details', summary: 'Queues the extension is a member of', query: 'none', ok: { status: 200, description: 'Queues', schema: collection(ref('QueueMembership')) }, problems: [501] },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/call-summary', tag: 'extension details', summary: 'Call counts by direction', query: 'none', ok: { status: 200, description: 'Counts', schema: ref('CallSummary') }, problems: [501] },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/{id}/voicemail', tag: 'extension details', summary: 'Voicemail messages', query: 'none', ok: { status: 200, description: 'Messages', schema: collection(ref('VoicemailMessage')) }, problems: [501] },
  { method: 'get', path: '/v1/extensions', tag: 'across tenants', summary: 'Search every tenant this key may see; failing tenants are listed under unavailable', query: 'directory', ok: { status: 200, description: 'A page of matches', schema: { ...collection(ref('Extension'), true), required: ['items', 'next_page_token', 'unavailable'], properties: { ...collection(ref('Extension'), true).properties, unavailable: { type: 'array', items: { type: 'object', required: ['tenant', 'backend', 'problem'], properties: { tenant: { type: 'string' }, backend: { type: 'string' }, problem: ref('Problem') } } } } } } },
  { method: 'get', path: '/v1/tenants/{tenant}/extensions/export', tag: 'across tenants', summary: 'Stream every extension as CSV or NDJSON', query: 'exportExtensions', ok: { status: 200, description: 'text/csv or application/x-ndjson, streamed' }, problems: [501] },
  { method: 'post', path: '/v1/tenants/{tenant}/extensions/import', tag: 'across tenants', summary: 'Plan (dry_run, the default) or apply a CSV or NDJSON import, with a result per row; one that cannot finish in the request (or async=true) goes on as a job: 202, Location /v1/jobs/{id} (Idempotency-Key honoured: a retry answers the same job)', query: 'importExtensions', ok: { status: 200, description: 'Plan or per-row results (202: the job)', schema: PLAN_OR_RESULTS }, accepted: { description: 'Going on as a job (Location: /v1/jobs/{id})', schema: JOB }, problems: [422, 501] },
  { method: 'post', path: '/v1/migrations', tag: 'across tenants', summary: 'Plan (dry_run, the default) or start a migration between two tenants (a job)', query: 'none', body: 'MigrationCreate', ok: { status: 200, description: 'The plan (dry run); a real run answers 202 with the migration', schema: PLAN_OR_RESULTS }, accepted: { description: 'The migration, started (Location: /v1/migrations/{id})', schema: JOB }, problems: [422, 501] },
  { method: 'get', path: '/v1/migrations/{id}', tag: 'across tenants', summary: 'Progress and per-item results of a migration (the job, as at /v1/jobs/{id})', query: 'none', ok: { status: 200, description: 'The migration', schema: JOB } },
  { method: 'post', path: '/v1/migrations/{id}/resume', tag: 'across tenants', summary: 'Resume an interrupted or failed migration, skipping what is done', query: 'none', ok: { status: 202, description: 'The migration, running again', schema: JOB }, problems: [409] },
  { method: 'post', path: '/v1/migrations/{id}/cancel', tag: 'across tenants', summary: 'Cancel a migration: no more rows are started; the rest are not_done', query: 'none', ok: { status: 200, description: 'The migration, cancelled', schema: JOB }, accepted: { description: 'The instance running it was told (cancel_requested): it stops at its next row', schema: JOB }, problems: [409] },
  { method: 'get', path: '/v1/jobs/{id}', tag: 'jobs', summary: 'A job (an import run in the background, or a migration): status, progress and a result per row', query: 'none', ok: { status: 200, description: 'The job', schema: JOB } },
  { method: 'post', path: '/v1/jobs/{id}/resume', tag: 'jobs', summary: 'Take up a failed (backend fault) or interrupted job: rows done stay done, the rest are planned again against the target as it is now', query: 'none', ok: { status: 202, description: 'The job, running again', schema: JOB }, problems: [409] },
  { method: 'post', path: '/v1/jobs/{id}/cancel', tag: 'jobs', summary: 'Cancel a job: no more rows are started; the rest are not_done with the reason', query: 'none', ok: { status: 200, description: 'The job, cancelled', schema: JOB }, accepted: { description: 'The instance running it was told (cancel_requested): it stops at its next row', schema: JOB }, problems: [409] },
  { method: 'get', path: '/v1/tenants/{tenant}/ring-groups', tag: 'ring groups', summary: 'Ring groups', query: 'view', ok: { status: 200, description: 'Ring groups', schema: collection(ref('RingGroup')) }, problems: [501] },
  { method: 'post', path: '/v1/tenants/{tenant}/ring-groups', tag: 'ring groups', summary: 'Create a ring group', query: 'none', body: 'RingGroupCreate', ok: { status: 201, description: 'Created', schema: ref('RingGroup') }, problems: [409, 422, 501] },
  { method: 'get', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'One ring group', query: 'view', ok: { status: 200, description: 'The ring group', schema: ref('RingGroup') }, problems: [501] },
  { method: 'patch', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'Change the fields sent', query: 'none', body: 'RingGroupPatch', ok: { status: 200, description: 'The ring group', schema: ref('RingGroup') }, problems: [422, 501] },
  { method: 'delete', path: '/v1/tenants/{tenant}/ring-groups/{id}', tag: 'ring groups', summary: 'Delete a ring group', query: 'none', ok: { status: 204, description: 'Deleted' }, problems: [501] },
];

const PROBLEM_TEXT: Record<number, string> = {
  400: 'Invalid body or query (errors[] has a pointer per fault)',
  401: 'No or unknown API key',
  403: 'The key may not use this tenant, or lacks a scope',
  404: 'Unknown tenant or id',
  409: 'Conflict (number taken, idempotency key in use)',
  422: 'A field the backend cannot store, or a value it refused',
  415: 'A request body that is not JSON (the import route also reads CSV and NDJSON), or in an unknown Content-Encoding',
  429: 'This API key is over its rate limit, or too many failed authentications came from this address',
  501: 'The backend lacks this capability',
  502: 'The backend failed or refused the gateway credentials',
  503: 'The backend is rate limiting, busy, or its circuit is open (Retry-After)',
  504: 'The backend did not answer in time',
};

function queryParameters(name: keyof typeof queries.$defs | undefined) {
  if (!name) return [];
  const def = queries.$defs[name] as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(def.properties ?? {}).map(([param, schema]) => ({ name: param, in: 'query', required: def.required?.includes(param) ?? false, schema }));
}

export function buildOpenApi(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) {
    const jobPath = /^\/v1\/(jobs|migrations)\//.test(op.path);
    const params = [...(op.path.includes('{tenant}') ? [T] : []), ...(op.path.includes('{id}') ? [jobPath ? JOB_ID : ID] : []), ...queryParameters(op.query)];
    if (op.path.endsWith('/extensions/import')) params.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } } as never);
    if (op.method === 'post' && op.body && op.path.endsWith('/extensions')) params.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } } as never);
    if (op.method === 'delete' && op.query === 'batchDelete') params.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } } as never);
    const problems = op.public ? [] : [400, 401, 403, 404, 429, 502, 503, 504, ...(op.method === 'get' ? [] : [415]), ...(op.problems ?? [])];
    const responses: Json = {
      [op.ok.status]: { description: op.ok.description, ...(op.ok.schema ? { content: { 'application/json': { schema: op.ok.schema } } } : {}) },
      ...(op.accepted ? { 202: { description: op.accepted.description, headers: { Location: { schema: { type: 'string' } } }, content: { 'application/json': { schema: op.accepted.schema } } } } : {}),
    };
    for (const status of [...new Set(problems)].sort()) {
      responses[status] = { description: PROBLEM_TEXT[status], content: { 'application/problem+json': { schema: ref('Problem') } } };
    }
    paths[op.path] = {
      ...(paths[op.path] ?? {}),
      [op.method]: {
        tags: [op.tag],
        summary: op.summary,
        operationId: `${op.method}${op.path.replace(/[{}]/g, '').replace(/[/.-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
        ...(op.public ? { security: [] } : {}),
        ...(params.length ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } } : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: { title: 'pbx-gateway', version, description: 'One REST API to manage PBX extensions on PBXes of different vendors.' },
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' } },
      schemas: Object.fromEntries(SCHEMAS.map((s) => [String(s.title), rewriteRefs(s, String(s.title))])),
    },
  };
}
