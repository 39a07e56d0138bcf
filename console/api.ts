import type { Capabilities, Extension, Problem, Tenant } from '../schemas/types.js';

export type { Capabilities, Extension, Problem, Tenant };

/** The console talks to the gateway's own unified API with the staff member's key: it can do nothing more. */

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.title}: ${problem.detail}`);
  }
}

const KEY = 'pbxgw.console.key';

export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.key ?? ''}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const p = parsed as Problem | undefined;
    throw new ApiError(p && typeof p.title === 'string' ? p : { type: 'about:blank', title: `HTTP ${res.status}`, status: res.status, detail: res.statusText });
  }
  return parsed as T;
}
