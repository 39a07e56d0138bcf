/** Defensive readers for loosely typed backend JSON (PHP servers send numbers as strings, nulls as ""). */

export type Raw = Record<string, unknown>;

export const isRecord = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** 3, "3", " 3 " -> 3; anything else (fractions, "", "3x", null) -> null. */
export function int(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return null;
}
