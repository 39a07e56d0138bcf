/**
 * Reading tenants for a desired-state plan, and the fingerprint of what was read.
 *
 * Calls: one walk of the extension list (which also refreshes the tenant's number index), one list of ring groups
 * where the backend has them, and one read per extension only where the file gives a password and the list does
 * not show the current one (nothing else is compared that the list lacks).
 *
 * The fingerprint covers the file and everything read, so an apply can tell that neither changed since its plan.
 * Passwords enter it keyed (HMAC) with a key kept in the state store, so that instances sharing the store agree
 * and a fingerprint, which is not secret, cannot be used to test a guessed password.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Extension, RequestContext, RingGroup } from '../contract';
import type { DesiredState, DesiredTenant } from '../../schemas/types';
import { existingByNumber } from '../bulk/plan';
import { ringGroups, type Tenant } from '../extensions';
import type { StateStore } from '../state/store';
import type { TenantReading } from './plan';

const KEY = 'desired-state:fingerprint-key';
const KEY_TTL_MS = 3650 * 24 * 3600_000;

export async function readTenant(ctx: RequestContext, tenant: Tenant, want: DesiredTenant | undefined): Promise<TenantReading> {
  const extensions = await existingByNumber(ctx, tenant);
  const needPassword = (want?.extensions ?? []).filter((d) => d.password !== undefined && extensions.get(d.extension)?.password === undefined && extensions.has(d.extension));
  for (const d of needPassword) {
    const current = extensions.get(d.extension)!;
    extensions.set(d.extension, await tenant.adapter.getExtension(ctx, current.id));
  }
  if (!tenant.adapter.capabilities.ring_groups || !tenant.adapter.listRingGroups) return { extensions };
  const groups = await ringGroups(ctx, tenant).list();
  return { extensions, ringGroups: new Map(groups.map((g) => [g.extension, g])) };
}

/** The key that passwords are hashed with in fingerprints: the same for every instance sharing the store. */
export async function fingerprintKey(store: StateStore): Promise<string> {
  const existing = await store.get(KEY);
  if (existing) return existing;
  await store.setIfAbsent(KEY, randomBytes(32).toString('hex'), KEY_TTL_MS);
  return (await store.get(KEY)) ?? '';
}

const keyed = (key: string, password: string | undefined) => (password === undefined ? null : createHmac('sha256', key).update(password).digest('hex'));

function extensionFacts(e: Extension, key: string) {
  return [e.extension, e.id, e.name, e.description ?? null, keyed(key, e.password)];
}

function groupFacts(g: RingGroup) {
  return [g.extension, g.id, g.name, g.strategy, g.ring_time, g.members];
}

/** Of the file (passwords keyed) and of each tenant's reading, in a stable order. */
export function fingerprint(file: DesiredState, readings: Map<string, TenantReading>, key: string): string {
  const hash = createHash('sha256');
  const tenants = Object.keys(file.tenants).sort();
  for (const name of tenants) {
    const want = file.tenants[name]!;
    hash.update(JSON.stringify([name, want.prune ?? false, want.ring_groups === undefined]));
    for (const d of want.extensions ?? []) hash.update(JSON.stringify([d.extension, d.name, d.description, keyed(key, d.password)]));
    for (const d of want.ring_groups ?? []) hash.update(JSON.stringify([d.extension, d.name, d.strategy, d.ring_time, d.members]));
    const have = readings.get(name);
    if (!have) continue;
    for (const n of [...have.extensions.keys()].sort()) hash.update(JSON.stringify(extensionFacts(have.extensions.get(n)!, key)));
    for (const n of [...(have.ringGroups?.keys() ?? [])].sort()) hash.update(JSON.stringify(groupFacts(have.ringGroups!.get(n)!)));
  }
  return hash.digest('hex');
}
