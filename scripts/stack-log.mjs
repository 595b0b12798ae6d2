// The local stack's view of its children's logs: the broker logs JSON (pino) for production log
// pipelines; in `npm start`'s terminal that is some sixty lines of route mapping around the banner.
// Here each JSON line becomes one short human line, and start-up noise is dropped.

/** Nest's start-up chatter: every module and every mapped route, one line each. */
const NOISE_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
]);

const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Request ids of the calls npm start makes itself while setting up (hidden from the view). */
export const SETUP_REQUEST_PREFIX = 'npm-start-setup-';

/**
 * One line of a child's output as the local stack shows it, or null to hide it. Lines that are
 * not pino JSON pass through unchanged.
 */
export function formatLogLine(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (!entry || typeof entry !== 'object' || typeof entry.level !== 'number') return line;
  const level = entry.level;
  if (level < 40 && NOISE_CONTEXTS.has(entry.context)) return null;
  if (typeof entry.reqId === 'string' && entry.reqId.startsWith(SETUP_REQUEST_PREFIX)) return null;
  const tag = (LEVELS[level] ?? String(level)).padEnd(5);
  if (entry.req && entry.res && typeof entry.req.method === 'string') {
    const url = String(entry.req.url ?? '');
    return `${tag} ${entry.req.method} ${url} → ${entry.res.statusCode ?? '?'} (${entry.responseTime ?? '?'} ms)`;
  }
  const context = typeof entry.context === 'string' ? `${entry.context}: ` : '';
  const reason = entry.err?.message ?? entry.reason;
  return `${tag} ${context}${entry.msg ?? ''}${reason ? ` (${reason})` : ''}`;
}
