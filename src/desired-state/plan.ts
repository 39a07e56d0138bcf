/**
 * Desired state, planned: one tenant's section of a desired-state file compared with what the tenant holds now.
 * Each item is create, update (with its field diff), delete (a prune), unchanged, lossy (a field the backend
 * cannot hold; `then` says what an apply accepting the loss does) or invalid (with the reason), and the items
 * that write come in the order an apply runs them, so that nothing conflicts:
 *
 *   1. ring group deletes    (their numbers free for extensions created next)
 *   2. extension creates     (members exist before the ring groups that list them)
 *   3. extension updates
 *   4. ring group updates    (new members exist; members about to be deleted are dropped first)
 *   5. extension deletes     (no longer a member of any group that stays)
 *   6. ring group creates    (numbers freed by step 5, members created in step 2)
 *
 * Pure: the reads are done before (src/desired-state/read.ts), so the same plan can be made again from them.
 */
import type { Capabilities, Extension, RingGroup } from '../contract';
import type { DesiredAction, DesiredExtension, DesiredItem, DesiredRingGroup, DesiredSummary, DesiredTenant, DesiredTenantPlan } from '../../schemas/types';
import { escapePointer } from '../schemas';
import type { PlanItem } from '../bulk/plan';

/** What was read of a tenant to plan it. */
export interface TenantReading {
  extensions: Map<string, Extension>;
  /** Absent: the backend has no ring groups. */
  ringGroups?: Map<string, RingGroup>;
}

/** An unresolved `${NAME}`: the CLI resolves them from its environment; reaching the gateway, one is a mistake. */
export const ENV_REFERENCE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/;

const HIDDEN = '(hidden)';
const PHASE: Record<string, number> = { 'ring_group:delete': 1, 'extension:create': 2, 'extension:update': 3, 'ring_group:update': 4, 'extension:delete': 5, 'ring_group:create': 6 };

/** The action an apply runs for an item: its own, or a lossy item's `then`. */
export function effectiveAction(item: Pick<DesiredItem, 'action' | 'then'>): DesiredAction {
  return item.action === 'lossy' ? (item.then ?? 'unchanged') : item.action;
}

export const writes = (item: Pick<DesiredItem, 'action' | 'then'>) => ['create', 'update', 'delete'].includes(effectiveAction(item));

const norm = <T>(v: T | undefined | null): T | null => (v === undefined || v === '' ? null : v);
const same = (a: unknown, b: unknown) => JSON.stringify(norm(a)) === JSON.stringify(norm(b));

export function planTenant(name: string, backend: string, caps: Capabilities, want: DesiredTenant, have: TenantReading): DesiredTenantPlan {
  const items: Omit<DesiredItem, 'row'>[] = [];
  const writable = new Set<string>(caps.writable_fields);
  const base = `/tenants/${escapePointer(name)}`;
  const prune = want.prune ?? false;
  const manageGroups = want.ring_groups !== undefined;
  /** Numbers the file gives, with the kind that has them first. */
  const claimed = new Map<string, 'extension' | 'ring_group'>();
  const invalid = (kind: DesiredItem['kind'], extension: string, pointer: string, reason: string) => items.push({ kind, extension, action: 'invalid', reason, pointer });

  // Extensions the tenant will have after the apply (for ring group members), and numbers a prune frees.
  const wantedExtensions = new Set((want.extensions ?? []).map((e) => e.extension));
  const wantedGroups = new Set((want.ring_groups ?? []).map((g) => g.extension));
  const extensionDeleted = (n: string) => prune && !wantedExtensions.has(n) && have.extensions.has(n);
  const groupDeleted = (n: string) => prune && manageGroups && !wantedGroups.has(n) && !!have.ringGroups?.has(n);

  (want.extensions ?? []).forEach((d, i) => {
    const pointer = `${base}/extensions/${i}`;
    const n = d.extension;
    if (claimed.has(n)) return invalid('extension', n, pointer, `number ${n} appears earlier in the file`);
    claimed.set(n, 'extension');
    if (d.password !== undefined && ENV_REFERENCE.test(d.password)) return invalid('extension', n, pointer, 'the password is an unresolved ${...} reference: the CLI resolves them from its environment; the API takes the password itself');
    const current = have.extensions.get(n);
    const lossy = lossyFields(d, writable, current);
    if (!current) {
      if (have.ringGroups?.has(n) && !groupDeleted(n)) return invalid('extension', n, pointer, `number ${n} is a ring group's on this tenant`);
      if (!caps.extensions.create) return invalid('extension', n, pointer, `backend '${backend}' cannot create extensions`);
      return items.push(withLoss({ kind: 'extension', extension: n, action: 'create', pointer }, lossy));
    }
    const changes = extensionChanges(d, current, writable);
    if (Object.keys(changes).length && !caps.extensions.update) return invalid('extension', n, pointer, `backend '${backend}' cannot update extensions`);
    const action = Object.keys(changes).length ? 'update' : 'unchanged';
    items.push(withLoss({ kind: 'extension', extension: n, action, target_id: current.id, pointer, ...(action === 'update' ? { changes } : {}) }, lossy));
  });

  (want.ring_groups ?? []).forEach((d, i) => {
    const pointer = `${base}/ring_groups/${i}`;
    const n = d.extension;
    if (!caps.ring_groups || !have.ringGroups) return invalid('ring_group', n, pointer, `backend '${backend}' has no ring groups`);
    if (claimed.has(n)) return invalid('ring_group', n, pointer, `number ${n} appears earlier in the file (as ${claimed.get(n) === 'extension' ? 'an extension' : 'a ring group'})`);
    claimed.set(n, 'ring_group');
    const missing = d.members.filter((m) => !(wantedExtensions.has(m) || (have.extensions.has(m) && !extensionDeleted(m))));
    if (missing.length) return invalid('ring_group', n, pointer, `member${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are not extensions' : 'is not an extension'} of this tenant after the apply`);
    const current = have.ringGroups.get(n);
    if (!current) {
      if (have.extensions.has(n) && !extensionDeleted(n)) return invalid('ring_group', n, pointer, `number ${n} is an extension's on this tenant`);
      return items.push({ kind: 'ring_group', extension: n, action: 'create', pointer });
    }
    const changes = groupChanges(d, current);
    items.push({ kind: 'ring_group', extension: n, action: Object.keys(changes).length ? 'update' : 'unchanged', target_id: current.id, pointer, ...(Object.keys(changes).length ? { changes } : {}) });
  });

  if (prune) {
    for (const [n, e] of [...have.extensions].sort(([a], [b]) => byNumber(a, b))) {
      if (wantedExtensions.has(n)) continue;
      items.push(caps.extensions.delete ? { kind: 'extension', extension: n, action: 'delete', target_id: e.id } : { kind: 'extension', extension: n, action: 'invalid', reason: `backend '${backend}' cannot delete extensions (the file prunes)` });
    }
    if (manageGroups) for (const [n, g] of [...(have.ringGroups ?? [])].sort(([a], [b]) => byNumber(a, b))) if (!wantedGroups.has(n)) items.push({ kind: 'ring_group', extension: n, action: 'delete', target_id: g.id });
  }

  const order = (i: Omit<DesiredItem, 'row'>) => PHASE[`${i.kind}:${effectiveAction(i)}`] ?? 7;
  const sorted = items.map((item, i) => ({ item, i })).sort((a, b) => order(a.item) - order(b.item) || a.i - b.i);
  const planned: DesiredItem[] = sorted.map(({ item }, i) => ({ row: i + 1, ...item }));
  const total = have.extensions.size + (manageGroups ? (have.ringGroups?.size ?? 0) : 0);
  const deletes = planned.filter((i) => i.action === 'delete').length;
  return { tenant: name, backend, prune, ...(prune ? { prune_share: total ? deletes / total : 0 } : {}), summary: summaryOf(planned), items: planned };
}

/** Fields the file sets that the backend cannot write, where the PBX does not hold that value already (clearing a
 * field it cannot hold loses nothing; a read-only backend's own values, exported, plan unchanged). */
function lossyFields(d: DesiredExtension, writable: Set<string>, current: Extension | undefined): string[] {
  return (['description', 'password'] as const).filter((f) => norm(d[f]) !== null && !writable.has(f) && !(current && same(current[f], d[f])));
}

function withLoss(item: Omit<DesiredItem, 'row'>, lossy: string[]): Omit<DesiredItem, 'row'> {
  if (!lossy.length) return item;
  return { ...item, action: 'lossy', then: item.action as 'create' | 'update' | 'unchanged', lossy };
}

function extensionChanges(d: DesiredExtension, current: Extension, writable: Set<string>): NonNullable<DesiredItem['changes']> {
  const changes: NonNullable<DesiredItem['changes']> = {};
  if (current.name !== d.name) changes.name = { from: current.name, to: d.name };
  if (d.description !== undefined && writable.has('description') && !same(current.description, d.description)) changes.description = { from: norm(current.description), to: norm(d.description) };
  if (d.password !== undefined && writable.has('password') && current.password !== d.password) changes.password = { from: HIDDEN, to: HIDDEN };
  return changes;
}

function groupChanges(d: DesiredRingGroup, current: RingGroup): NonNullable<DesiredItem['changes']> {
  const changes: NonNullable<DesiredItem['changes']> = {};
  if (current.name !== d.name) changes.name = { from: current.name, to: d.name };
  if (d.strategy !== undefined && current.strategy !== d.strategy) changes.strategy = { from: current.strategy, to: d.strategy };
  if (d.ring_time !== undefined && current.ring_time !== d.ring_time) changes.ring_time = { from: current.ring_time, to: d.ring_time };
  if (!same(current.members, d.members)) changes.members = { from: current.members, to: d.members };
  return changes;
}

/** Numbers in numeric order (others by text): files and plans list them so. */
export const byNumber = (a: string, b: string) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a.localeCompare(b));

/** A writing plan item as a job row (src/jobs.ts): a lossy item runs as what it would be. */
export function toJobRow(i: DesiredItem, row = i.row): PlanItem {
  return { row, kind: i.kind, extension: i.extension, action: effectiveAction(i) as 'create' | 'update' | 'delete', ...(i.changes ? { changes: i.changes } : {}), ...(i.lossy ? { lossy: i.lossy } : {}), ...(i.target_id ? { target_id: i.target_id } : {}) };
}

export function summaryOf(items: Pick<DesiredItem, 'action'>[]): DesiredSummary {
  const s: DesiredSummary = { create: 0, update: 0, delete: 0, unchanged: 0, lossy: 0, invalid: 0 };
  for (const i of items) s[i.action]++;
  return s;
}
