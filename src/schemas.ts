/**
 * One Ajv setup for the whole gateway: validators are compiled once at load, and their faults are turned into
 * RFC 6901 pointers. Bodies are validated strictly (no coercion); query strings are coerced, since every query
 * value arrives as a string.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import batchDeleteResultSchema from '../schemas/batch-delete-result.schema.json';
import configSchema from '../schemas/config.schema.json';
import extensionCreateSchema from '../schemas/extension-create.schema.json';
import extensionPatchSchema from '../schemas/extension-patch.schema.json';
import extensionSchema from '../schemas/extension.schema.json';
import problemSchema from '../schemas/problem.schema.json';
import queriesSchema from '../schemas/queries.schema.json';
import tenantSchema from '../schemas/tenant.schema.json';
import deviceSchema from '../schemas/device.schema.json';
import migrationCreateSchema from '../schemas/migration-create.schema.json';
import ringGroupSchema from '../schemas/ring-group.schema.json';
import ringGroupCreateSchema from '../schemas/ring-group-create.schema.json';
import ringGroupPatchSchema from '../schemas/ring-group-patch.schema.json';
import queueSchema from '../schemas/queue.schema.json';
import callSummarySchema from '../schemas/call-summary.schema.json';
import voicemailMessageSchema from '../schemas/voicemail-message.schema.json';
import desiredStateSchema from '../schemas/desired-state.schema.json';
import type { FieldFault } from './errors';
import { ValidationError } from './errors';

function makeAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, coerceTypes: coerce, useDefaults: coerce, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}

/** For bodies, answers, config: exact types. */
export const ajv = makeAjv(false);
/** For query strings only. */
const queryAjv = makeAjv(true);

for (const s of [migrationCreateSchema, ringGroupSchema, ringGroupCreateSchema, ringGroupPatchSchema, deviceSchema, queueSchema, callSummarySchema, voicemailMessageSchema, extensionSchema, extensionCreateSchema, extensionPatchSchema, problemSchema, tenantSchema, batchDeleteResultSchema, configSchema, desiredStateSchema]) {
  ajv.addSchema(s);
}
queryAjv.addSchema(queriesSchema);

const byId = (schema: { $id: string }) => ajv.getSchema(schema.$id) as ValidateFunction;
const DECIMAL = /^[0-9]+$/;

/**
 * A query validator. Ajv's coercion reads a query integer the way JavaScript's Number() does (`0x10` is 16,
 * `1e1` is 10, ` 7 ` is 7, `16.0` is 16): an integer in a query must be written in decimal digits only, so that
 * is checked on the raw strings first, for every integer the query's definition has.
 */
function query(name: string): ValidateFunction {
  const validate = queryAjv.getSchema(`${queriesSchema.$id}#/$defs/${name}`) as ValidateFunction;
  const def = (queriesSchema.$defs as Record<string, { properties?: Record<string, { type?: unknown }> }>)[name];
  const integers = Object.entries(def.properties ?? {})
    .filter(([, p]) => p.type === 'integer')
    .map(([k]) => k);
  if (!integers.length) return validate;
  const checked = function (this: unknown, data: unknown): boolean {
    const record = data && typeof data === 'object' ? (data as Record<string, unknown>) : {};
    const faults: ErrorObject[] = integers
      .filter((k) => typeof record[k] === 'string' && !DECIMAL.test(record[k] as string))
      .map((k) => ({ keyword: 'type', instancePath: `/${escapePointer(k)}`, schemaPath: `#/properties/${escapePointer(k)}/type`, params: { type: 'integer' }, message: 'must be a whole number written in decimal digits' }));
    const ok = validate.call(this, data);
    const bad = new Set(faults.map((f) => f.instancePath));
    checked.errors = faults.length || !ok ? [...faults, ...(validate.errors ?? []).filter((e) => !bad.has(e.instancePath))] : null;
    return ok && !faults.length;
  } as ValidateFunction;
  return Object.assign(checked, { schema: validate.schema, schemaEnv: validate.schemaEnv });
}

export const validators = {
  extension: byId(extensionSchema),
  extensionCreate: byId(extensionCreateSchema),
  extensionPatch: byId(extensionPatchSchema),
  problem: byId(problemSchema),
  tenant: byId(tenantSchema),
  batchDeleteResult: byId(batchDeleteResultSchema),
  device: byId(deviceSchema),
  migrationCreate: byId(migrationCreateSchema),
  ringGroup: byId(ringGroupSchema),
  ringGroupCreate: byId(ringGroupCreateSchema),
  ringGroupPatch: byId(ringGroupPatchSchema),
  queue: byId(queueSchema),
  callSummary: byId(callSummarySchema),
  voicemailMessage: byId(voicemailMessageSchema),
  config: byId(configSchema),
  desiredState: byId(desiredStateSchema),
  query: {
    listExtensions: query('listExtensions'),
    getExtension: query('getExtension'),
    updateExtension: query('updateExtension'),
    devices: query('devices'),
    view: query('view'),
    exportExtensions: query('exportExtensions'),
    importExtensions: query('importExtensions'),
    directory: query('directory'),
    events: query('events'),
    batchDelete: query('batchDelete'),
    desiredStateApply: query('desiredStateApply'),
    none: query('none'),
  },
};

/** What a pattern means, for the patterns whose text says nothing to a caller. */
const PATTERN_DETAILS: Record<string, string> = {
  '^[^\\p{Cc}\\p{Cs}\\p{Zl}\\p{Zp}]*$': 'must be one line of text: no control characters (CR, LF, NUL, tab...), line or paragraph separators, or lone surrogates',
};

/** Ajv faults as pointers: a missing or unknown property points at that property, not at its parent. */
export function toFieldFaults(errors: ErrorObject[] | null | undefined, prefix = ''): FieldFault[] {
  const faults: FieldFault[] = [];
  // The faults inside each branch of a failed oneOf/anyOf are noise: one line per alternative tried. Report the
  // alternation once, with the schema's own description of what it accepts.
  const alternations = (errors ?? []).filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.schemaPath + '/');
  for (const e of errors ?? []) {
    if (alternations.some((p) => e.schemaPath.startsWith(p))) continue;
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') {
      const described = (e.parentSchema as { description?: string } | undefined)?.description;
      faults.push({ pointer: prefix + e.instancePath, detail: described ? `must be ${described}` : 'does not match any accepted form' });
      continue;
    }
    let pointer = e.instancePath;
    let detail = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      pointer += '/' + escapePointer(String(e.params.missingProperty));
      detail = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      pointer += '/' + escapePointer(String(e.params.additionalProperty));
      detail = 'is not a known field';
    } else if (e.keyword === 'enum') {
      detail = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    } else if (e.keyword === 'pattern' && Object.hasOwn(PATTERN_DETAILS, String(e.params.pattern))) {
      detail = PATTERN_DETAILS[String(e.params.pattern)];
    } else if (e.keyword === 'if') {
      continue; // the failing `then` branch is reported on its own
    }
    faults.push({ pointer: prefix + pointer, detail });
  }
  return faults;
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Validate (and, for queries, coerce in place) or throw a ValidationError with every fault. */
export function check<T>(validate: ValidateFunction, data: unknown, prefix = ''): T {
  if (!validate(data)) throw new ValidationError(toFieldFaults(validate.errors, prefix));
  return data as T;
}
