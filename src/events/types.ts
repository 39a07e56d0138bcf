/**
 * Change events: the one stream of what changed on every tenant, whether the gateway wrote it (`source: gateway`)
 * or it was found by comparing a PBX with its last snapshot (`source: pbx`). The log keeps them in order, for a
 * retention time, in the state store; the feed (`GET /v1/events`) and the webhook deliveries read from it.
 */
import type { Extension, RingGroup } from '../../schemas/types';

export type EventObject = 'extension' | 'ring_group';
export type EventAction = 'created' | 'updated' | 'deleted';
export type EventType = `${EventObject}.${EventAction}`;
export const EVENT_TYPES: readonly EventType[] = ['extension.created', 'extension.updated', 'extension.deleted', 'ring_group.created', 'ring_group.updated', 'ring_group.deleted'];

export interface ChangeEvent {
  /** Unique and stable: a receiver de-duplicates on it (it is the `webhook-id` of each delivery). */
  id: string;
  /** The event's place in the log: strictly increasing; `GET /v1/events?after=<cursor>` starts after it. */
  cursor: string;
  type: EventType;
  /** ISO 8601, when the gateway emitted it. */
  time: string;
  tenant: string;
  backend: string;
  /** `gateway`: a write through the gateway (key_id, request_id say whose); `pbx`: found by comparison. */
  source: 'gateway' | 'pbx';
  key_id?: string;
  request_id?: string;
  /** For `*.updated`: the canonical fields that changed (`password` when it did; its value is never carried). */
  changed_fields?: string[];
  /** The canonical object after the change (for `*.deleted`: as it was last seen), without any secret. */
  data: Extension | RingGroup;
}

/** An event as emitted, before the log gives it its id, cursor and time. */
export type NewEvent = Omit<ChangeEvent, 'id' | 'cursor' | 'time'>;

export interface EventPage {
  events: ChangeEvent[];
  /** The cursor to ask with next (the last event's, or the one asked with when the page is empty). */
  next: string;
}

export interface EventLog {
  /** Append in order; returns the events as stored. */
  append(events: NewEvent[]): Promise<ChangeEvent[]>;
  /**
   * Events after `after` (absent: from the oldest retained), in log order, at most `limit`, only of the given
   * tenants and types when given. Throws CursorExpiredError (a 410 problem) when `after` is older than the
   * retention: the client must resynchronise from a full list.
   */
  read(opts: { after?: string; limit: number; tenants?: ReadonlySet<string>; types?: ReadonlySet<string> }): Promise<EventPage>;
  /** Wait until an event newer than `after` may exist, or `ms` pass (long polling; a tail). */
  waitFor?(after: string | undefined, ms: number, signal?: AbortSignal): Promise<void>;
}
