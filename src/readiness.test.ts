/** /readyz is read without a key: per tenant up or down and a problem type, never a failure's detail. */
import { BackendUnavailableError } from './errors';
import type { Tenant } from './extensions';
import { Readiness } from './readiness';

it('shows a failing tenant as down with its problem type only; the detail goes to the log', async () => {
  const reason = 'pq: connection to postgres://registrar:S3cret@10.0.0.5:5432/bin_manager failed';
  const failing = { name: 'cloud', backend: 'backend-a', adapter: { listExtensions: async () => Promise.reject(new BackendUnavailableError('backend-a', `Backend A failed (${reason})`)) } } as unknown as Tenant;
  const fine = { name: 'box', backend: 'backend-b', adapter: { listExtensions: async () => ({ items: [], next: null }) } } as unknown as Tenant;
  const logged: object[] = [];
  const readiness = new Readiness(() => new Map([['cloud', failing], ['box', fine]]), { logger: { warn: (obj) => void logged.push(obj) } });
  const report = await readiness.report();
  expect(report.status).toBe('degraded');
  const cloud = report.tenants.find((t) => t.name === 'cloud')!;
  expect(cloud).toMatchObject({ ready: false, problem: { type: '/problems/backend-unavailable' } });
  expect(cloud.problem).toEqual({ type: '/problems/backend-unavailable' });
  expect(JSON.stringify(report)).not.toMatch(/postgres|S3cret|Backend A failed/);
  expect(logged).toHaveLength(1);
});
