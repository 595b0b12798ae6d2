import type { EntityManager } from 'typeorm';

/**
 * The rows of a statement with RETURNING. TypeORM answers UPDATE and DELETE with
 * `[rows, rowCount]` and INSERT or SELECT with the rows; this hides the difference.
 */
export async function returningRows<T>(m: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  const result = await m.query<unknown>(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}
