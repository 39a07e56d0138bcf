/**
 * Webhook deliveries: every subscription of the config gets the change events that match its types and tenants,
 * one at a time in log order (so in order per extension), signed with the Standard Webhooks scheme.
 *
 * - Each subscription has a cursor into the event log, kept in the state store: a 2xx answer moves it past the
 *   event; anything else (another code, a redirect, no answer in time, no connection) is retried with exponential
 *   backoff and jitter until `give_up_after_ms` after the first attempt, when the event is given up (recorded as
 *   such) and the next one is sent. A receiver de-duplicates on `webhook-id`, the event's id: delivery is at least
 *   once.
 * - After `max_consecutive_failures` failed attempts in a row the subscription is disabled; enabling it again
 *   delivers what it missed, from its cursor, while the log keeps those events (a cursor older than the log's
 *   retention goes on from the oldest event kept, and the state says so).
 * - One instance delivers a subscription at a time: a lease in the state store (`webhook:<id>:lease`), renewed
 *   while it is held; the others wait for it to lapse. The state is reread before every attempt, so an instance
 *   that takes over goes on where the other stopped.
 * - The last attempts (event id, type, attempt number, time, answer code or failure kind, duration) are kept per
 *   subscription; never the secret, never the receiver's answer body.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { ApiKeyConfig, Webhook as WebhookView, WebhookDelivery } from '../../schemas/types';
import { CursorExpiredError, NotFoundError } from '../errors';
import type { Metrics } from '../metrics';
import type { RedisStore } from '../state/redis';
import type { StateStore } from '../state/store';
import { START_CURSOR } from './log';
import type { ChangeEvent, EventLog } from './types';
import { displayUrl, type WebhookSettings, type WebhookSubscription } from './webhooks-config';

/** State and attempts outlive any retention of events; they are rewritten at every attempt. */
const KEEP_MS = 400 * 24 * 3600_000;
const ATTEMPTS_KEPT = 100;

/** What the store keeps per subscription. */
interface SubscriptionState {
  /** The last event handled (delivered or given up); null: from the oldest event kept. */
  cursor: string | null;
  enabled: boolean;
  /** When this subscription was first seen (it gets the events from then on). */
  since: string;
  consecutive_failures: number;
  disabled_at?: string;
  disabled_reason?: string;
  /** The event being retried. */
  retry?: { event_id: string; attempt: number; first_at: number; next_at: number };
  skipped?: { at: string; detail: string };
  last_attempt?: WebhookDelivery;
}

export interface WebhooksOptions {
  logger: Logger;
  metrics?: Metrics;
  /** How long a lease lasts unless renewed (default 15 s, or three delivery timeouts when longer). */
  leaseMs?: number;
  /** How often an idle subscription looks again: for a lease held elsewhere, a disabled state, new events on a log
   * that cannot be waited on (default 1 s). */
  idleMs?: number;
  /** For the jitter (tests make it fixed). */
  random?: () => number;
}

type Outcome = { ok: true; status: number; ms: number } | { ok: false; status?: number; failure: NonNullable<WebhookDelivery['failure']>; ms: number };

const RENEW_IF_EQUALS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/** The newest deliverer of each store: an app built again on the same store (a config reload) takes over. */
const newest = new WeakMap<StateStore, Webhooks>();

export class Webhooks {
  /** This instance, as a lease holder. */
  readonly instance = randomUUID();
  private readonly stop = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly held = new Set<string>();
  private readonly byId: Map<string, WebhookSubscription>;
  private readonly leaseMs: number;
  private readonly idleMs: number;
  private readonly random: () => number;
  private readonly wakers = new Map<string, AbortController>();

  constructor(
    private readonly store: StateStore,
    private readonly events: () => EventLog | undefined,
    private readonly settings: WebhookSettings,
    private readonly opts: WebhooksOptions,
  ) {
    this.byId = new Map(settings.subscriptions.map((s) => [s.id, s]));
    this.leaseMs = opts.leaseMs ?? Math.max(15_000, 3 * settings.timeoutMs);
    this.idleMs = opts.idleMs ?? 1000;
    this.random = opts.random ?? Math.random;
  }

  /** Start delivering; the deliverer built before on the same store (a config reload) is stopped first. */
  start(): this {
    const previous = newest.get(this.store);
    newest.set(this.store, this);
    const begin = () => {
      if (this.stop.signal.aborted) return;
      for (const sub of this.settings.subscriptions) this.loops.push(this.loop(sub));
    };
    if (previous) void previous.close().then(begin, begin);
    else begin();
    return this;
  }

  /** Stop: no new attempt starts; one under way ends (within its timeout) and is recorded; leases released. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.loops);
    await Promise.all([...this.held].map((id) => this.release(id)));
    if (newest.get(this.store) === this) newest.delete(this.store);
  }

  get subscriptions(): readonly WebhookSubscription[] {
    return this.settings.subscriptions;
  }

  /** A key sees a subscription when every tenant it covers is the key's; one for every tenant only with `*`. */
  static visibleTo(key: Pick<ApiKeyConfig, 'tenants'>, sub: WebhookSubscription): boolean {
    if (key.tenants.includes('*')) return true;
    return sub.tenants !== undefined && sub.tenants.every((t) => key.tenants.includes(t));
  }

  subscription(id: string, key: Pick<ApiKeyConfig, 'tenants'>): WebhookSubscription {
    const sub = this.byId.get(id);
    // One answer for unknown and not visible: a key learns nothing of subscriptions it may not see.
    if (!sub || !Webhooks.visibleTo(key, sub)) throw new NotFoundError(`No webhook subscription '${id}'.`);
    return sub;
  }

  async view(sub: WebhookSubscription): Promise<WebhookView> {
    const state = await this.readState(sub.id);
    const view: WebhookView = {
      id: sub.id,
      url: displayUrl(sub.url),
      types: sub.types ?? null,
      tenants: sub.tenants ?? null,
      state: !state || state.enabled ? 'enabled' : 'disabled',
      consecutive_failures: state?.consecutive_failures ?? 0,
      cursor: state?.cursor ?? null,
      lag_seconds: state ? await this.lagSeconds(sub, state) : 0,
      last_attempt: state?.last_attempt ?? null,
    };
    if (state?.since) view.since = state.since;
    if (state?.disabled_at) Object.assign(view, { disabled_at: state.disabled_at, disabled_reason: state.disabled_reason });
    if (state?.retry && state.enabled) view.next_attempt_at = new Date(state.retry.next_at).toISOString();
    if (state?.skipped) view.skipped = state.skipped;
    return view;
  }

  /** The recent attempts, newest first. */
  async deliveries(sub: WebhookSubscription): Promise<WebhookDelivery[]> {
    const raw = await this.store.get(this.key(sub.id, 'attempts'));
    return raw ? (JSON.parse(raw) as WebhookDelivery[]).reverse() : [];
  }

  /** Enable (again): failures forgotten, the event it stopped at sent at once, then what it missed. */
  async enable(sub: WebhookSubscription): Promise<WebhookView> {
    const state = (await this.readState(sub.id)) ?? (await this.initialState());
    const { disabled_at: _at, disabled_reason: _reason, retry: _retry, ...rest } = state;
    await this.saveState(sub.id, { ...rest, enabled: true, consecutive_failures: 0 });
    this.opts.logger.info({ webhook: sub.id }, 'webhook subscription enabled');
    this.wakers.get(sub.id)?.abort();
    return this.view(sub);
  }

  // --- the delivery loop -------------------------------------------------------------------------------------

  private async loop(sub: WebhookSubscription): Promise<void> {
    // Said once when steps start failing (the state store is down, say) and once when they work again, not at
    // every step in between.
    let failing = false;
    while (!this.stop.signal.aborted) {
      let wait: { ms: number; after?: string | null };
      try {
        wait = await this.step(sub);
        if (failing) this.opts.logger.info({ webhook: sub.id }, 'webhook deliveries going on again');
        failing = false;
      } catch (err) {
        if (!failing) this.opts.logger.warn({ err, webhook: sub.id }, 'webhook deliveries paused: a step failed; trying again every idle interval');
        failing = true;
        wait = { ms: this.idleMs };
      }
      if (wait.ms > 0 && !this.stop.signal.aborted) await this.pause(sub.id, wait);
    }
  }

  /** Wait for `ms`, for new events after `after` when given, for an enable, or for close. */
  private async pause(id: string, wait: { ms: number; after?: string | null }): Promise<void> {
    const waker = new AbortController();
    this.wakers.set(id, waker);
    const signal = AbortSignal.any([this.stop.signal, waker.signal]);
    const log = this.events();
    try {
      if (wait.after !== undefined && log?.waitFor) await log.waitFor(wait.after ?? undefined, wait.ms, signal);
      else await sleep(wait.ms, signal);
    } finally {
      this.wakers.delete(id);
    }
  }

  /** One attempt at the next event, or how long to wait before looking again. */
  private async step(sub: WebhookSubscription): Promise<{ ms: number; after?: string | null }> {
    const idle = { ms: this.idleMs };
    const log = this.events();
    if (!log || !(await this.hold(sub.id))) return idle;
    let state = await this.readState(sub.id);
    if (!state) {
      state = await this.initialState();
      await this.saveState(sub.id, state);
    }
    if (!state.enabled) {
      await this.release(sub.id);
      return idle;
    }
    const renewBy = this.leaseMs / 3;
    if (state.retry && state.retry.next_at > Date.now()) return { ms: Math.min(state.retry.next_at - Date.now(), renewBy) };

    let page;
    try {
      page = await log.read({ after: state.cursor ?? undefined, limit: 1, ...this.filters(sub) });
    } catch (err) {
      if (!(err instanceof CursorExpiredError)) throw err;
      const detail = `events after cursor ${state.cursor} were no longer kept when this subscription came to them; it went on from the oldest event kept`;
      this.opts.logger.warn({ webhook: sub.id, cursor: state.cursor }, 'webhook subscription missed events past the retention');
      await this.saveState(sub.id, { ...state, cursor: null, retry: undefined, skipped: { at: new Date().toISOString(), detail } });
      return { ms: 0 };
    }
    const event = page.events[0];
    if (!event) {
      // Events that do not match are passed over: the cursor moves to the last one looked at.
      if (page.next !== (state.cursor ?? undefined)) {
        state = { ...state, cursor: page.next };
        await this.saveState(sub.id, state);
      }
      return { ms: renewBy, after: state.cursor };
    }
    const retry = state.retry?.event_id === event.id ? state.retry : undefined;
    const attempt = (retry?.attempt ?? 0) + 1;
    const firstAt = retry?.first_at ?? Date.now();
    if (!(await this.hold(sub.id))) return idle;
    const at = new Date();
    const outcome = await this.send(sub, event, at);
    // Closing meanwhile: the attempt's outcome is still recorded below (close waits for it), then the loop ends.

    const record: WebhookDelivery = { event_id: event.id, event_type: event.type, tenant: event.tenant, attempt, at: at.toISOString(), outcome: outcome.ok ? 'delivered' : 'failed', duration_ms: Math.round(outcome.ms) };
    if (outcome.status !== undefined) record.status_code = outcome.status;
    if (!outcome.ok) record.failure = outcome.failure;
    const next: SubscriptionState = { ...state, last_attempt: record };
    if (outcome.ok) {
      Object.assign(next, { cursor: event.cursor, retry: undefined, consecutive_failures: 0 });
      this.opts.metrics?.webhookDelivery(sub.id, 'delivered');
      this.opts.metrics?.webhookLag(sub.id, Math.max(0, Date.now() - Date.parse(event.time)) / 1000);
    } else {
      next.consecutive_failures = state.consecutive_failures + 1;
      const delay = this.backoff(attempt);
      if (Date.now() + delay - firstAt > this.settings.retry.giveUpAfterMs) {
        record.outcome = 'given_up';
        Object.assign(next, { cursor: event.cursor, retry: undefined });
        this.opts.logger.warn({ webhook: sub.id, event_id: event.id, attempts: attempt }, 'webhook event given up after its retry time');
      } else {
        next.retry = { event_id: event.id, attempt, first_at: firstAt, next_at: Date.now() + delay };
      }
      this.opts.metrics?.webhookDelivery(sub.id, record.outcome);
      if (next.consecutive_failures >= this.settings.maxConsecutiveFailures) {
        Object.assign(next, { enabled: false, disabled_at: new Date().toISOString(), disabled_reason: `${next.consecutive_failures} consecutive failed attempts` });
        this.opts.logger.warn({ webhook: sub.id, failures: next.consecutive_failures }, 'webhook subscription disabled after consecutive failures');
      }
    }
    await this.saveAttempt(sub.id, record);
    await this.saveState(sub.id, next);
    return { ms: 0 };
  }

  private backoff(attempt: number): number {
    return backoffMs(attempt, this.settings.retry, this.random());
  }

  private async send(sub: WebhookSubscription, event: ChangeEvent, at: Date): Promise<Outcome> {
    const payload = JSON.stringify({ type: event.type, timestamp: event.time, data: event });
    const url = new URL(sub.url);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'pbx-gateway-webhooks',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(sub.secret).sign(event.id, at, payload),
    };
    // fetch refuses a URL with credentials: they are sent the way the URL means them, as Basic authentication.
    if (url.username || url.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    try {
      // Not cut by close: an attempt under way ends (within its timeout) and is recorded, so a receiver that
      // answered is not sent the event again by the next deliverer.
      const res = await fetch(url, { method: 'POST', headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(this.settings.timeoutMs) });
      // The answer's body is not read (nor kept): only its code counts.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, ms: elapsed() };
      return { ok: false, status: res.status, failure: res.status >= 300 && res.status < 400 ? 'redirect' : 'http_status', ms: elapsed() };
    } catch (err) {
      return { ok: false, failure: (err as Error)?.name === 'TimeoutError' ? 'timeout' : 'network', ms: elapsed() };
    }
  }

  private filters(sub: WebhookSubscription) {
    return { ...(sub.tenants ? { tenants: new Set(sub.tenants) } : {}), ...(sub.types ? { types: new Set<string>(sub.types) } : {}) };
  }

  private async lagSeconds(sub: WebhookSubscription, state: SubscriptionState): Promise<number> {
    const log = this.events();
    if (!log) return 0;
    let oldest: ChangeEvent | undefined;
    try {
      oldest = (await log.read({ after: state.cursor ?? undefined, limit: 1, ...this.filters(sub) })).events[0];
    } catch (err) {
      if (!(err instanceof CursorExpiredError)) throw err;
      oldest = (await log.read({ limit: 1, ...this.filters(sub) })).events[0];
    }
    return oldest ? Math.max(0, Date.now() - Date.parse(oldest.time)) / 1000 : 0;
  }

  /** A new subscription starts after the newest event: it gets what happens from now on. Its cursor is a real
   * place in the log (the start of it when it is empty), so events dropped before it reaches them are noticed. */
  private async initialState(): Promise<SubscriptionState> {
    const log = this.events() as (EventLog & { head?: () => Promise<string> }) | undefined;
    const head = log?.head ? await log.head() : START_CURSOR;
    return { cursor: head, enabled: true, since: new Date().toISOString(), consecutive_failures: 0 };
  }

  // --- state in the store ------------------------------------------------------------------------------------

  private key(id: string, part: 'state' | 'attempts' | 'lease'): string {
    return `webhook:${id}:${part}`;
  }

  private async readState(id: string): Promise<SubscriptionState | undefined> {
    const raw = await this.store.get(this.key(id, 'state'));
    return raw ? (JSON.parse(raw) as SubscriptionState) : undefined;
  }

  private async saveState(id: string, state: SubscriptionState): Promise<void> {
    await this.store.set(this.key(id, 'state'), JSON.stringify(state), KEEP_MS);
  }

  private async saveAttempt(id: string, record: WebhookDelivery): Promise<void> {
    const raw = await this.store.get(this.key(id, 'attempts'));
    const attempts = raw ? (JSON.parse(raw) as WebhookDelivery[]) : [];
    attempts.push(record);
    await this.store.set(this.key(id, 'attempts'), JSON.stringify(attempts.slice(-ATTEMPTS_KEPT)), KEEP_MS);
  }

  /** Take the lease, or renew it while it is still ours; false when another instance holds it. */
  private async hold(id: string): Promise<boolean> {
    const key = this.key(id, 'lease');
    if (this.held.has(id)) {
      if (await this.renew(key)) return true;
      this.held.delete(id);
    }
    if (await this.store.setIfAbsent(key, this.instance, this.leaseMs)) {
      this.held.add(id);
      return true;
    }
    return false;
  }

  private async renew(key: string): Promise<boolean> {
    if (this.store.kind === 'redis') {
      const redis = this.store as RedisStore;
      return Number(await redis.client.eval(RENEW_IF_EQUALS, 1, redis.prefix + key, this.instance, String(Math.ceil(this.leaseMs)))) === 1;
    }
    if ((await this.store.get(key)) !== this.instance) return false;
    await this.store.set(key, this.instance, this.leaseMs);
    return true;
  }

  private async release(id: string): Promise<void> {
    if (!this.held.delete(id)) return;
    await this.store.deleteIfEquals?.(this.key(id, 'lease'), this.instance).catch(() => undefined);
  }
}

/**
 * The wait after failed attempt `n` (1, 2...): doubling from `initialMs` up to `maxMs`, its second half random
 * (`random` in [0, 1)), so receivers that failed together are not all retried at the same moment.
 */
export function backoffMs(attempt: number, retry: { initialMs: number; maxMs: number }, random: number): number {
  const full = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(full / 2 + (full / 2) * random);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
