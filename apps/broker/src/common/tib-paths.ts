/**
 * The two path families TIB defines and the broker answers in TIB's ways (its error envelope,
 * its exact `application/json`, its unparsed login bodies): one definition for every place that
 * asks. Paths as Express routes them (no query string); callers lowercase when the rule is
 * case-insensitive.
 */

/** TIB's login routes, `/auth/:id/:provider[/callback|/logout]`, any method. */
export function isLoginPath(path: string): boolean {
  return path.startsWith('/auth/');
}

/** TIB's profiles API, `/api/profiles` and below. */
export function isProfilesPath(path: string): boolean {
  return path === '/api/profiles' || path.startsWith('/api/profiles/');
}
