/**
 * Change events as the gateway runs them: one log, one snapshot store and one recorder of gateway writes (handed
 * to the tenants as they are built and to the app for the feed), and one detector of outside changes.
 */
import type { Logger } from 'pino';
import type { TenantEventsConfig } from '../../schemas/types';
import type { Config } from '../config';
import type { Tenant } from '../extensions';
import type { Metrics } from '../metrics';
import type { StateStore } from '../state/store';
import { ChangeDetector, type DetectorDeps } from './detect';
import { createEventLog } from './log';
import { ChangeRecorder } from './observe';
import { createSnapshots } from './snapshot';
import type { EventLog } from './types';

export interface ChangeEvents {
  log: EventLog;
  recorder: ChangeRecorder;
  detector: ChangeDetector;
  /** Start comparing tenants at their intervals. */
  start(): void;
  /** Stop comparing (a comparison under way finishes first). */
  stop(): Promise<void>;
}

export function startChangeEvents(opts: {
  store: StateStore;
  logger: Logger;
  metrics?: Metrics;
  retentionMs?: number;
  tenants: () => ReadonlyMap<string, Tenant>;
  config: () => Pick<Config, 'tenants'>;
  detector?: Partial<Pick<DetectorDeps, 'tickMs' | 'leaseMs' | 'walkBudgetMs' | 'now'>>;
}): ChangeEvents {
  const log = createEventLog(opts.store, { retentionMs: opts.retentionMs });
  const recorder = new ChangeRecorder({ log, snapshots: createSnapshots(opts.store), logger: opts.logger, metrics: opts.metrics });
  const detector = new ChangeDetector({
    tenants: opts.tenants,
    settings: () => Object.fromEntries(Object.entries(opts.config().tenants).map(([name, t]) => [name, t.events as TenantEventsConfig | false | undefined])),
    recorder,
    store: opts.store,
    logger: opts.logger,
    ...opts.detector,
  });
  return {
    log,
    recorder,
    detector,
    start: () => void detector.start(),
    stop: () => detector.stop(),
  };
}
