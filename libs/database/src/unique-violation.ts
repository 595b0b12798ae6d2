import { QueryFailedError } from 'typeorm';

/**
 * Whether a statement failed on the unique index or constraint `constraint` (SQLSTATE 23505): the
 * raw pg error of a prepared query (preparedQuery) or TypeORM's QueryFailedError around it.
 */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = (error instanceof QueryFailedError ? error.driverError : error) as {
    code?: unknown;
    constraint?: unknown;
  } | null;
  return e?.code === '23505' && e.constraint === constraint;
}
