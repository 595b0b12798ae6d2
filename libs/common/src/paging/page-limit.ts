import { DomainError } from '../domain-error.js';

/** The page size of a list route when the client names none. */
export const DEFAULT_PAGE_LIMIT = 100;
/** The largest page a list route hands out. */
export const MAX_PAGE_LIMIT = 1000;

/** The `limit` of a paged list route: 100 when absent, else a whole number from 1 to 1000. */
export function pageLimit(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_PAGE_LIMIT;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_LIMIT) {
    throw new DomainError('validation_failed', `limit: expected a whole number from 1 to ${MAX_PAGE_LIMIT}`, {
      parameter: 'limit',
    });
  }
  return n;
}
