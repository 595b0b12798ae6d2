import { maskSecrets } from '@app/common';

export interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Field-level differences between two profile documents, secrets masked on both sides (a changed
 * secret shows as a change of `********` to `********`, so auditors see that it changed).
 */
export function profileDiff(before: unknown, after: unknown): FieldChange[] {
  const changes: FieldChange[] = [];
  const walk = (a: unknown, b: unknown, path: string, rawA: unknown, rawB: unknown) => {
    if (isObject(a) && isObject(b) && isObject(rawA) && isObject(rawB)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk(a[key], b[key], path ? `${path}.${key}` : key, rawA[key], rawB[key]);
      }
      return;
    }
    if (JSON.stringify(rawA) !== JSON.stringify(rawB)) {
      changes.push({ path, before: a ?? null, after: b ?? null });
    }
  };
  walk(maskSecrets(before), maskSecrets(after), '', before, after);
  return changes;
}
