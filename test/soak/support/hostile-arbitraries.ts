import fc from 'fast-check';

/**
 * Hostile values for property-based tests of the broker's HTTP surface (test/e2e/hostile-input and
 * the soak suite): strings of every kind, SQL and HTML, broken escapes, huge numbers, odd dates
 * and IPs, state-shaped tokens, assembled into query strings some of whose parameters are sent
 * unencoded.
 */

/** Percent-encodes every byte but the unreserved ones (works for lone surrogates too). */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export const NASTY = [
  '',
  '%',
  '%zz',
  '%00',
  '%E0%A4%A',
  '\u0000',
  "' OR '1'='1' --",
  '"; DROP TABLE audit_events; --',
  '<script>alert(1)</script>',
  '../../../etc/passwd',
  '99999999999999999999999',
  '-1',
  '0',
  '1e309',
  'NaN',
  'null',
  '[]',
  '{}',
  'true',
  '2025-13-45T99:99:99Z',
  '1970-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999999+99:99',
  '300.1.1.1/99',
  '::1/129',
  '10.0.0.0/8',
  '\uD800',
  '😀'.repeat(40),
  'a'.repeat(3000),
  'login.*',
  '*.*',
  '%2F..%2F',
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
];

export const value = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(...NASTY),
  fc.integer().map(String),
  fc.uuid(),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.ipV4(),
  fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
  fc.base64String({ maxLength: 60 }),
);

/** A query string of up to 6 parameters, keys mostly known to the route, some sent raw (unencoded). */
export function queryOf(keys: string[]) {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...keys) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  );
  return fc
    .array(fc.record({ key, value, raw: fc.boolean() }), { maxLength: 6 })
    .map((ps) => ps.map((p) => (p.raw ? `${p.key}=${p.value}` : `${pct(p.key)}=${pct(p.value)}`)).join('&'));
}

/** Parameters the callback reads or an IdP may send. */
export const CALLBACK_KEYS = [
  'code',
  'state',
  'iss',
  'error',
  'error_description',
  'session_state',
  'scope',
  'id_token',
  'nonce',
];

/** Parameters of /api/audit/events, /export and /verify. */
export const AUDIT_KEYS = [
  'type',
  'outcome',
  'developer',
  'email',
  'profile',
  'organization',
  'ip',
  'since',
  'until',
  'q',
  'order',
  'limit',
  'cursor',
  'format',
  'from_id',
  'to_id',
];

/** Parameters of /api/developers and /api/developers/:id/logins. */
export const DEVELOPER_KEYS = ['email', 'organization', 'status', 'limit', 'cursor'];
