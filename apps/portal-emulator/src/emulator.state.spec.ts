import { EmulatorState, NONCE_RETENTION_MS } from './emulator.state.js';

const TTL = 60_000;

function setup() {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const state = new EmulatorState(TTL, () => clock);
  const advance = (ms: number) => {
    clock += ms;
  };
  const nonce = (email: string) => state.createNonce({ ForSection: 'portal', EmailAddress: email }).value;
  /** TIB's first login for `email` with SSO key `key`. */
  const login = (email: string, key: string) => state.createDeveloper({ nonce: nonce(email), sso_key: key, email });
  return { state, advance, nonce, login };
}

describe('EmulatorState lookups', () => {
  it('should find users by email case-insensitively and follow email changes and deletions', () => {
    const { state, nonce } = setup();
    const ada = state.createUser({ Email: 'Ada@Example.com', Role: 'consumer-admin', OrganisationID: 1 });
    expect(state.findUserByEmail(' ada@example.COM ')).toBe(ada);
    state.updateUser(ada.ID, { Email: 'ada.l@example.com' });
    expect(state.findUserByEmail('ada@example.com')).toBeUndefined();
    expect(state.findUserByEmail('ADA.L@example.com')).toBe(ada);
    state.updateUser(ada.ID, { Email: 'ADA.L@example.com' });
    expect(state.findUserByEmail('ada.l@example.com')).toBe(ada);
    const dev = state.createDeveloper({ nonce: nonce('x@example.com'), sso_key: 'k', email: 'x@example.com' });
    state.updateDeveloper(dev.developer.id, { nonce: nonce('x@example.com'), email: 'y@example.com' });
    expect(state.findUserByEmail('x@example.com')).toBeUndefined();
    expect(state.findUserByEmail('y@example.com')).toBe(dev.user);
    expect(() => state.createUser({ Email: 'Y@example.com', Role: 'consumer-admin' })).toThrow(
      'Email is already taken',
    );
    state.deleteUser(ada.ID);
    expect(state.findUserByEmail('ada.l@example.com')).toBeUndefined();
    expect(state.createUser({ Email: 'ada.l@example.com', Role: 'consumer-admin' }).ID).not.toBe(ada.ID);
  });

  it('should find developers by SSO key, the first created when two share one, and forget deleted ones', () => {
    const { state, nonce, login } = setup();
    const ada = login('ada@example.com', 'ada-key');
    const bob = login('bob@example.com', 'bob-key');
    expect(state.findDeveloperBySsoKey('ada-key')).toBe(ada.developer);
    expect(state.findDeveloperBySsoKey('')).toBeUndefined();
    // A PUT may give Bob Ada's key: the lookup answers Ada, who had the key first.
    state.updateDeveloper(bob.developer.id, { nonce: nonce('bob@example.com'), sso_key: 'ada-key' });
    expect(state.findDeveloperBySsoKey('bob-key')).toBeUndefined();
    expect(state.findDeveloperBySsoKey('ada-key')).toBe(ada.developer);
    state.updateDeveloper(ada.developer.id, { nonce: nonce('ada@example.com'), sso_key: 'ada-new' });
    expect(state.findDeveloperBySsoKey('ada-key')).toBe(bob.developer);
    expect(state.findDeveloperBySsoKey('ada-new')).toBe(ada.developer);
    state.deleteUser(bob.user.ID);
    expect(state.findDeveloperBySsoKey('ada-key')).toBeUndefined();
    expect(ada.developer.ssoKey).toBe('ada-new');
  });

  it('should link a returning login by SSO key, then by email, as before', () => {
    const { state, login } = setup();
    const first = login('ada@example.com', 'ada-key');
    const again = login('ADA@example.com', 'ada-key');
    expect([again.user, again.created]).toEqual([first.user, false]);
    const linked = login('ada@example.com', 'other-key');
    expect(linked.user).toBe(first.user);
    expect(state.findDeveloperBySsoKey('other-key')?.userId).toBe(first.user.ID);
    expect(state.findDeveloperBySsoKey('ada-key')).toBeUndefined();
  });
});

describe('EmulatorState nonce retention', () => {
  it('should drop nonces only once they are expired for NONCE_RETENTION_MS, and refuse them the same way', () => {
    const { state, advance, nonce } = setup();
    const old = nonce('old@example.com');
    advance(TTL + 1);
    const expired = nonce('recent@example.com');
    expect(() => state.login(old)).toThrow('invalid, expired or already used');
    advance(NONCE_RETENTION_MS);
    for (let i = 0; i < 300; i++) nonce(`n${i}@example.com`);
    expect(state.nonces.has(old)).toBe(false);
    expect(state.nonces.has(expired)).toBe(true);
    expect(() => state.login(old)).toThrow('invalid, expired or already used');
    expect(() => state.updateDeveloper('1', { nonce: old })).toThrow();
    expect(state.nonces.size).toBe(301);
  });
});

describe('EmulatorState developer SSO naming an admin account (contract adminDeveloperSso)', () => {
  function withAdmin(adminDeveloperSso: 'refuse' | 'login') {
    const { state } = setup();
    state.contract = { ...state.contract, adminDeveloperSso };
    const team = state.createTeam(1, 'Partners');
    const admin = state.createUser({ Email: 'root@example.com', Role: 'provider-admin', Active: true });
    const nonce = () =>
      state.createNonce({ ForSection: 'portal', EmailAddress: 'root@example.com', GroupID: String(team.ID) }).value;
    const unchanged = () =>
      expect(state.getUser(admin.ID)).toMatchObject({ Role: 'provider-admin', OrganisationID: 0, Teams: [] });
    return { state, admin, nonce, unchanged };
  }

  it('should refuse it on every developer route under refuse (the default)', () => {
    expect(new EmulatorState(TTL).contract.adminDeveloperSso).toBe('refuse');
    const { state, nonce, unchanged } = withAdmin('refuse');
    const create = () => state.createDeveloper({ nonce: nonce(), sso_key: 'root-key', email: 'root@example.com' });
    expect(create).toThrow('This account is an admin account.');
    expect(() => state.login(nonce())).toThrow('This account is an admin account.');
    expect(state.findDeveloperBySsoKey('root-key')).toBeUndefined();
    unchanged();
  });

  it('should link and sign the admin in as the admin it is under login, never placing it in the nonce team', () => {
    const { state, admin, nonce, unchanged } = withAdmin('login');
    const linked = state.createDeveloper({ nonce: nonce(), sso_key: 'root-key', email: 'root@example.com' });
    expect([linked.user, linked.created]).toEqual([admin, false]);
    expect(state.developerBySsoKey('root-key').user).toBe(admin);
    state.updateDeveloper(linked.developer.id, { nonce: nonce(), sso_key: 'root-key' });
    expect(state.login(nonce()).user).toBe(admin);
    unchanged();

    // Switched back to refuse: the linked admin is not served by the SSO-key lookup or the update.
    state.contract = { ...state.contract, adminDeveloperSso: 'refuse' };
    expect(() => state.developerBySsoKey('root-key')).toThrow('Developer not found');
    expect(() => state.updateDeveloper(linked.developer.id, { nonce: nonce() })).toThrow('Developer not found');
    unchanged();
  });
});

describe('EmulatorState sessions of a deactivated user (contract deactivationEndsSessions)', () => {
  function signedIn(deactivationEndsSessions?: boolean) {
    const { state, nonce } = setup();
    if (deactivationEndsSessions !== undefined) state.contract = { ...state.contract, deactivationEndsSessions };
    const user = state.createUser({ Email: 'ada@example.com', Role: 'consumer-admin', Active: true });
    const { session } = state.login(nonce('ada@example.com'));
    state.updateUser(user.ID, { Active: false });
    return { state, nonce, user, session };
  }

  it('should keep an open session under false (the default): only new sign-ins are refused', () => {
    expect(new EmulatorState(TTL).contract.deactivationEndsSessions).toBe(false);
    const { state, nonce, user, session } = signedIn();
    expect(state.sessionUser(session.id)).toBe(user);
    expect(() => state.login(nonce('ada@example.com'))).toThrow('This account is not active.');
  });

  it('should sign the open session out under true, and back in once the user is active again', () => {
    const { state, nonce, user, session } = signedIn(true);
    expect(state.sessionUser(session.id)).toBeUndefined();
    expect(() => state.login(nonce('ada@example.com'))).toThrow('This account is not active.');
    state.updateUser(user.ID, { Active: true });
    expect(state.sessionUser(session.id)).toBe(user);
  });

  it('should end a deleted user session under either position', () => {
    for (const ends of [true, false]) {
      const { state, user, session } = signedIn(ends);
      state.deleteUser(user.ID);
      expect(state.sessionUser(session.id)).toBeUndefined();
    }
  });
});
