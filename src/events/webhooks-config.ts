/**
 * The `webhooks:` part of the config: what the schema cannot check (URLs that must parse whole and be https, or
 * http on a loopback host only when allowed; ids that are unique; tenants that exist) and the defaults filled in.
 */
import { isIP } from 'node:net';
import type { WebhooksConfig, WebhookSubscriptionConfig } from '../../schemas/types';
import type { FieldFault } from '../errors';
import { urlWithoutCredentials } from '../log';
import type { EventType } from './types';

export interface WebhookSubscription {
  id: string;
  url: string;
  secret: string;
  /** Absent: every type. */
  types?: EventType[];
  /** Absent: every tenant. */
  tenants?: string[];
}

export interface WebhookSettings {
  subscriptions: WebhookSubscription[];
  maxConsecutiveFailures: number;
  timeoutMs: number;
  retry: { initialMs: number; maxMs: number; giveUpAfterMs: number };
}

export const DEFAULT_WEBHOOK_SETTINGS: Omit<WebhookSettings, 'subscriptions'> = {
  maxConsecutiveFailures: 20,
  timeoutMs: 10_000,
  retry: { initialMs: 5_000, maxMs: 3_600_000, giveUpAfterMs: 24 * 3_600_000 },
};

export function webhookSettings(cfg: WebhooksConfig | undefined): WebhookSettings {
  const d = DEFAULT_WEBHOOK_SETTINGS;
  return {
    subscriptions: (cfg?.subscriptions ?? []).map((s: WebhookSubscriptionConfig) => ({ id: s.id, url: s.url, secret: s.secret, ...(s.types ? { types: s.types as EventType[] } : {}), ...(s.tenants ? { tenants: s.tenants } : {}) })),
    maxConsecutiveFailures: cfg?.max_consecutive_failures ?? d.maxConsecutiveFailures,
    timeoutMs: cfg?.timeout_ms ?? d.timeoutMs,
    retry: {
      initialMs: cfg?.retry?.initial_ms ?? d.retry.initialMs,
      maxMs: cfg?.retry?.max_ms ?? d.retry.maxMs,
      giveUpAfterMs: cfg?.retry?.give_up_after_ms ?? d.retry.giveUpAfterMs,
    },
  };
}

/** 127.0.0.0/8, ::1 (and IPv4 mapped into IPv6), `localhost`: a receiver on this host. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host) || /^::ffff:7f[0-9a-f]{2}:/.test(host);
  return false;
}

/** Faults of the webhooks section the schema cannot see, with their pointers; added to `faults`. */
export function webhookFaults(cfg: WebhooksConfig | undefined, tenants: ReadonlySet<string>, faults: FieldFault[]): void {
  if (!cfg || typeof cfg !== 'object' || !Array.isArray(cfg.subscriptions)) return; // the schema reports it
  const ids = new Set<string>();
  cfg.subscriptions.forEach((s, i) => {
    if (!s || typeof s !== 'object') return;
    const at = `/webhooks/subscriptions/${i}`;
    if (typeof s.id === 'string') {
      if (ids.has(s.id)) faults.push({ pointer: `${at}/id`, detail: `duplicate subscription id '${s.id}'` });
      ids.add(s.id);
    }
    if (typeof s.url === 'string') {
      const problem = urlProblem(s.url, cfg.allow_http_loopback === true);
      if (problem) faults.push({ pointer: `${at}/url`, detail: problem });
    }
    (Array.isArray(s.tenants) ? s.tenants : []).forEach((t, j) => {
      if (typeof t === 'string' && !tenants.has(t)) faults.push({ pointer: `${at}/tenants/${j}`, detail: `unknown tenant '${t}'` });
    });
  });
}

function urlProblem(value: string, allowHttpLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a usable URL (it does not parse)';
  }
  if (!/^https?:\/\/[^/?#\\]/i.test(value.trim()) || !url.hostname) return 'must name a host (https://host[:port]/...)';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return 'must be an https URL';
  if (!isLoopbackHost(url.hostname)) return 'must be an https URL (plain http is allowed only for a loopback host, with webhooks.allow_http_loopback: true)';
  if (!allowHttpLoopback) return 'must be an https URL (set webhooks.allow_http_loopback: true to allow plain http to this loopback host)';
  return undefined;
}

/** A URL as shown to API callers and in logs: no user, password, query or fragment (a credential may sit there). */
export const displayUrl = urlWithoutCredentials;

/** The secrets of the webhooks section, for the logger to scrub: signing secrets and any URL credential. */
export function webhookSecrets(subscriptions: readonly Pick<WebhookSubscription, 'url' | 'secret'>[]): string[] {
  const out: string[] = [];
  for (const s of subscriptions) {
    out.push(s.secret, s.secret.replace(/^whsec_/, ''));
    try {
      const u = new URL(s.url);
      if (u.password) out.push(decodeURIComponent(u.password));
      for (const v of u.searchParams.values()) if (v.length >= 8) out.push(v);
    } catch {
      // an unparsable URL is a config fault, reported elsewhere
    }
  }
  return out;
}
