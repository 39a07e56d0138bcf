/**
 * The probe (probe.ts) run synchronously in a child process, so a test file can declare its tests from what the
 * tenants say about themselves. Plain `node` with the TypeScript loader in ts-register.js: no build needed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { GatewaySpec } from './gateway';
import type { Facts } from './probe';

export function discoverSync(specs: GatewaySpec[]): Facts[] {
  const res = spawnSync(process.execPath, ['-r', path.join(__dirname, 'ts-register.js'), path.join(__dirname, 'probe.ts')], {
    input: JSON.stringify(specs),
    encoding: 'utf8',
    cwd: path.resolve(__dirname, '../..'),
    timeout: 300_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (res.status === 0) {
    try {
      const facts = JSON.parse(res.stdout) as Facts[];
      if (Array.isArray(facts) && facts.length === specs.length) return facts;
    } catch {
      // reported below
    }
  }
  const why = res.error ? res.error.message : `exit ${res.status ?? res.signal}: ${(res.stderr || res.stdout || '').trim().split('\n').slice(-5).join(' | ')}`;
  return specs.map(() => ({ ok: false, error: `the probe could not run (${why})` }));
}
