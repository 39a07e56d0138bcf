/**
 * Before/after comparison of a record (the canonical fields and `vendor`, the backend's own fields as
 * `?view=full` shows them), and which changes a write explains. Pure functions, unit-tested in diff.test.ts.
 */

export interface Change {
  /** `name`, `vendor.followme.enabled`, `vendor.extension_list`... */
  path: string;
  /** undefined: the setting is absent on that side. */
  before: unknown;
  after: unknown;
}

/** A field the write asked to change, from its value before to the value asked for. */
export interface AskedChange {
  from: unknown;
  to: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Every leaf that differs, by path. Arrays of scalars are compared whole; arrays of objects item by item. */
export function diffRecords(before: unknown, after: unknown, path = ''): Change[] {
  if (deepEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffRecords(before[k], after[k], join(path, k)));
  }
  if (Array.isArray(before) && Array.isArray(after) && [...before, ...after].some((x) => isObject(x) || Array.isArray(x))) {
    const n = Math.max(before.length, after.length);
    return Array.from({ length: n }, (_, i) => diffRecords(before[i], after[i], `${path}[${i}]`)).flat();
  }
  return [{ path, before, after }];
}

const DATE_LIKE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
function timeOf(v: unknown): number | undefined {
  if (typeof v !== 'string' || !DATE_LIKE.test(v.trim())) return undefined;
  const t = Date.parse(v.trim().replace(' ', 'T'));
  return Number.isNaN(t) ? undefined : t;
}

/** A change that is a record's own bookkeeping: a timestamp set or moved forward by the write (`updated_at`,
 * a vendor's `tm_update`). Not a setting, so not a loss. */
export function isTimestampBump(c: Change): boolean {
  const after = timeOf(c.after);
  if (after === undefined) return false;
  if (c.before === undefined || c.before === null || c.before === '') return true;
  const before = timeOf(c.before);
  return before !== undefined && after >= before;
}

/** The same value in the forms backends use: "" and null for nothing, "30" for 30, arrays item by item. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a) || isObject(b)) return deepEqual(a, b);
  const norm = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  return norm(a) === norm(b);
}

/**
 * Does the write explain this change? Yes when the changed setting held the asked field's old value and now
 * holds the asked value (the canonical field itself, or the vendor's own name for it: `detail` for
 * `description`, `extension_list` for `members`), or when it held a text with the old value inside and now has
 * the new value in its place (a caller id `"Old Name" <9900>`).
 */
export function explains(c: Change, asked: Record<string, AskedChange>): boolean {
  for (const [field, { from, to }] of Object.entries(asked)) {
    if (c.path === field) {
      if (sameValue(c.after, to)) return true;
      continue;
    }
    if (sameValue(c.before, from) && sameValue(c.after, to)) return true;
    if (typeof c.before === 'string' && typeof c.after === 'string' && typeof from === 'string' && from.length >= 3 && c.before.includes(from)) {
      if (c.after === c.before.split(from).join(String(to ?? ''))) return true;
    }
  }
  return false;
}

/** Changes the write did not ask for: neither explained by an asked field nor a timestamp moving forward. */
export function unaskedChanges(before: unknown, after: unknown, asked: Record<string, AskedChange>): { unasked: Change[]; timestamps: Change[] } {
  const changes = diffRecords(before, after);
  const unasked: Change[] = [];
  const timestamps: Change[] = [];
  for (const c of changes) {
    if (explains(c, asked)) continue;
    if (isTimestampBump(c)) timestamps.push(c);
    else unasked.push(c);
  }
  return { unasked, timestamps };
}

const SECRET_SEGMENT = /^(secret|password|passwd|pass|pin|token|.*_secret|.*_password|.*_token|app_key|accesskey)$/i;

/** A value for a message: JSON, shortened; never the value of a secret-named setting, nor a known password. */
export function show(path: string, v: unknown, secrets: readonly string[] = []): string {
  if (v === undefined) return '(absent)';
  const last = path.replace(/\[\d+\]$/, '').split('.').pop() ?? '';
  if (SECRET_SEGMENT.test(last) && v !== null && v !== '') return '[secret not shown]';
  let text = JSON.stringify(v) ?? String(v);
  for (const s of secrets) if (s.length >= 4) text = text.split(s).join('[password]');
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

export function describeChange(c: Change, secrets: readonly string[] = []): string {
  return `${c.path}: ${show(c.path, c.before, secrets)} -> ${show(c.path, c.after, secrets)}`;
}

/** Every setting named like a secret that holds a value, anywhere in a record (there should be none in
 * `vendor`: the gateway removes secrets from it). */
export function secretLookingSettings(v: unknown, path = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => secretLookingSettings(x, `${path}[${i}]`));
  if (!isObject(v)) return [];
  return Object.entries(v).flatMap(([k, x]) => {
    const p = join(path, k);
    if (SECRET_SEGMENT.test(k) && (typeof x === 'string' || typeof x === 'number') && x !== '') return [p];
    return secretLookingSettings(x, p);
  });
}

/** What a `settings-would-be-lost` refusal says, and what is wrong with it: it must name at least one setting,
 * each as {setting, detail}, and leave the record exactly as it was. */
export function judgeRefusal(what: string, body: unknown, before: unknown, after: unknown, secrets: readonly string[] = []): { problems: string[]; names: string[]; summary: string } {
  const lost = isObject(body) ? body.lost : undefined;
  const entries = Array.isArray(lost) ? (lost as unknown[]) : [];
  const problems: string[] = [];
  if (!entries.length) problems.push(`${what}: refused as settings-would-be-lost, but its 'lost' list is ${Array.isArray(lost) ? 'empty' : 'missing'}: a refusal must name what would be lost`);
  else if (!entries.every((l) => isObject(l) && typeof l.setting === 'string' && typeof l.detail === 'string')) problems.push(`${what}: refused as settings-would-be-lost, but not every 'lost' entry is {setting, detail}: ${JSON.stringify(lost).slice(0, 300)}`);
  const changed = diffRecords(before, after);
  if (changed.length) problems.push(`${what}: refused (settings-would-be-lost), yet the record changed:\n${changed.map((c) => `  ${describeChange(c, secrets)}`).join('\n')}`);
  const named = entries.map((l) => (isObject(l) ? { setting: String(l.setting), detail: String(l.detail) } : { setting: String(l), detail: '' }));
  const shown = named.slice(0, 8).map((l) => `${l.setting} (${l.detail})`);
  const more = named.length > 8 ? `; and ${named.slice(8).map((l) => l.setting).join(', ')}` : '';
  return { problems, names: named.map((l) => l.setting), summary: `${what}: refused, naming: ${shown.join('; ')}${more}` };
}

/** A change or its refusal's settings cover a path: `followme` covers `vendor.followme.enabled`. */
export function namedBy(names: readonly string[], path: string): boolean {
  return names.some((n) => [n, `vendor.${n}`].some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)));
}

/** After the losses were accepted by name: the changes that were neither asked, nor named by the refusal. */
export function unnamedChanges(before: unknown, after: unknown, asked: Record<string, AskedChange>, names: readonly string[]): { unnamed: Change[]; accepted: Change[]; timestamps: Change[] } {
  const { unasked, timestamps } = unaskedChanges(before, after, asked);
  return { unnamed: unasked.filter((c) => !namedBy(names, c.path)), accepted: unasked.filter((c) => namedBy(names, c.path)), timestamps };
}
