/**
 * A backend session (a login token, a JWT pair) shared through the state store, so that several gateway
 * instances log in once between them, and renew once when the token expires. Within one process the caller
 * keeps its own single flight; across processes a short lock in the store decides who renews, and the others
 * wait for the new session to appear.
 */
import { createHash } from 'node:crypto';
import type { StateStore } from './state/store';

/** A session's name in the store: per backend server and account, so a tenant that moves to another server
 * (or another account) never picks up a session the old one issued. */
export function sessionName(kind: string, ...identity: string[]): string {
  return `${kind}:${createHash('sha256').update(identity.join('\u0000')).digest('hex').slice(0, 16)}`;
}

const LOCK_TTL_MS = 10_000;
const WAIT_STEP_MS = 50;
const WAIT_MAX_MS = 5_000;

export class SharedSession<T> {
  constructor(
    private readonly state: StateStore,
    private readonly name: string,
  ) {}

  async read(): Promise<T | undefined> {
    const raw = await this.state.get(this.name).catch(() => null);
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  async write(value: T, ttlMs: number): Promise<void> {
    await this.state.set(this.name, JSON.stringify(value), Math.max(1000, ttlMs)).catch(() => undefined);
  }

  async forget(): Promise<void> {
    await this.state.delete(this.name).catch(() => undefined);
  }

  /**
   * Get a session `usable` accepts: the stored one if it is, else one `obtain` makes (login or renewal). Only
   * one instance obtains at a time; the others wait for its result. A store that fails is worked around: the
   * session is obtained locally (an extra login is better than an error).
   */
  async obtain(usable: (s: T | undefined) => boolean, obtain: () => Promise<{ value: T; ttlMs: number }>): Promise<T> {
    const stored = await this.read();
    if (usable(stored)) return stored!;
    const locked = await this.state.setIfAbsent(`${this.name}:lock`, '1', LOCK_TTL_MS).catch(() => true);
    if (locked) {
      try {
        const { value, ttlMs } = await obtain();
        await this.write(value, ttlMs);
        return value;
      } finally {
        await this.state.delete(`${this.name}:lock`).catch(() => undefined);
      }
    }
    for (let waited = 0; waited < WAIT_MAX_MS; waited += WAIT_STEP_MS) {
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
      const s = await this.read();
      if (usable(s)) return s!;
    }
    const { value, ttlMs } = await obtain();
    await this.write(value, ttlMs);
    return value;
  }
}
