/**
 * What a log line may say about an error. A failed query (TypeORM's QueryFailedError, pg's
 * DatabaseError) carries the statement, its parameters and the server's message and detail, which
 * echo the values sent: a whole profile with its client secret, an email (issue 13). Of those only
 * the SQLSTATE and the names of the table, column and constraint are kept. Other errors keep their
 * type, message and stack, clipped.
 */
export function loggableError(error: unknown): Record<string, unknown> {
  if (error === null || typeof error !== 'object') {
    return { type: typeof error };
  }
  const e = error as Record<string, unknown>;
  const type = error instanceof Error ? error.name : (error.constructor?.name ?? 'object');
  const driver = (isRecord(e.driverError) ? e.driverError : null) ?? (isDriverError(e) ? e : null);
  if (driver || 'parameters' in e || 'query' in e) {
    const d = driver ?? {};
    return {
      type,
      ...(driver && driver !== e && isRecord(driver) ? { driverType: driver.constructor?.name } : {}),
      ...pick(d, ['code', 'table', 'column', 'constraint', 'routine', 'severity']),
      // The frames only: the stack's first line repeats the message.
      ...(typeof e.stack === 'string' ? { stack: e.stack.split('\n').slice(1).join('\n').slice(0, 4000) } : {}),
    };
  }
  return {
    type,
    ...(typeof e.code === 'string' ? { code: e.code.slice(0, 64) } : {}),
    ...(typeof e.message === 'string' ? { message: e.message.slice(0, 500) } : {}),
    ...(typeof e.stack === 'string' ? { stack: e.stack.slice(0, 4000) } : {}),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object';
}

/** pg's DatabaseError: a SQLSTATE code with the server's severity and routine. */
function isDriverError(e: Record<string, unknown>): boolean {
  return typeof e.code === 'string' && typeof e.severity === 'string' && 'routine' in e;
}

function pick(from: Record<string, unknown>, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = from[k];
    if (typeof v === 'string' && v !== '') out[k] = v.slice(0, 128);
  }
  return out;
}
