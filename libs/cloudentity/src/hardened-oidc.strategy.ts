// Over 300 lines (mostly comments), one job: the hardened passport-openidconnect strategy. Each
// override below depends on the others' per-request state, and the documentation of every
// hardening belongs next to its code; the back channel, crypto, discovery and state store are
// in their own files.
import { DomainError, type ErrorCode } from '@app/common';
import { Logger } from '@nestjs/common';
import type { JWTPayload } from 'jose';
import OpenIDConnectStrategy from 'passport-openidconnect';
import { LoginStateStore } from './login-state.store.js';
import { OidcBackChannel, type BackChannelDependencies, type ClientAuthMethod } from './oidc-back-channel.js';
import { randomToken, s256, sha256Hex } from './oidc-crypto.js';
import type { DiscoveryDocument } from './oidc-discovery.service.js';
import type { OidcClientSettings, VerifiedLogin } from './oidc-settings.js';

/** What every strategy instance shares: the state store, and the back channel's HTTP client and key sets. */
export interface StrategyDependencies extends BackChannelDependencies {
  stateStore: LoginStateStore;
}

interface LoginAttempt {
  step: LoginStep;
  /** Start: freshly generated. Finish: read back from the consumed state. */
  nonce: string;
  codeVerifier: string;
  /** Hash of the caller's browser binding for this request, or null. */
  browserBinding: string | null;
  idToken?: string;
  idTokenClaims?: JWTPayload;
  /** The first DomainError our own code raised; wins over whatever the strategy makes of it. */
  failure?: DomainError;
}

/** The two steps of a login: `start` redirects to the IdP, `finish` handles its callback. */
export type LoginStep = 'start' | 'finish';

/** The query parameters a callback may carry into the strategy (validated strings only). */
export interface CallbackParams {
  code: string;
  state: string;
}

/** SHA-256 (hex) of a browser binding value, as stored with the state; null without one. */
export function bindingHash(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : sha256Hex(value);
}

type Done = (err: unknown, ...results: unknown[]) => void;

/**
 * Passport's action functions, as passport's `authenticate` middleware binds them to the
 * request on its per-request copy of the named strategy (CloudentityStrategy). A login step
 * reports its outcome to them; failures always arrive as `error(DomainError)` with the login code.
 */
export interface StrategyActions {
  success(user: unknown, info?: unknown): void;
  redirect(url: string, status?: number): void;
  error(err: DomainError): void;
}

/**
 * The members of passport-openidconnect's Strategy that its type declarations leave out but
 * that it reads on `this` for every call (strategy.js): we shadow them on the per-request object.
 */
interface PerRequestStrategy {
  _oauth2: unknown;
  _stateStore: unknown;
  _verify: unknown;
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
  redirect(url: string, status?: number): void;
  pass(): void;
  error(err: unknown): void;
}

/** Per-request objects (created with Object.create) and their attempt. */
const ATTEMPTS = new WeakMap<object, LoginAttempt>();

/**
 * passport-openidconnect 0.1.2, hardened by extension (oidc-rp.md §3 lists what it lacks). One
 * instance per (profile, provider, discovery document), built by OidcStrategyRegistry and reused
 * for every login. Passport knows one strategy by name, CloudentityStrategy; for each request it
 * hands this instance passport's bound action functions (`authenticateFor`), and the instance
 * runs on `Object.create(instance)` with the actions forwarded (the way passport-saml's
 * MultiSamlStrategy serves many IdPs under one name) and these per-request parts shadowed:
 *
 * - `_stateStore`: our Postgres store (LoginStateStore) instead of the one-slot session store.
 *   The state is 256 random bits; the nonce and the PKCE verifier are stored with it and come
 *   back only through the single-use `DELETE … RETURNING`.
 * - `authorizationParams`: always adds the nonce and an S256 code challenge (the package sends
 *   neither PKCE nor, by default, a nonce).
 * - `_oauth2`: the package's oauth@0.10 client is replaced by OidcBackChannel
 *   (oidc-back-channel.ts: undici, PKCE, client_secret_basic or _post), which verifies the ID
 *   token with jose before handing it to the strategy. The strategy's own claim checks then run
 *   on a token that is already trusted (its `exp` check has no clock tolerance, so it is the
 *   stricter of the two).
 * - `_verify`: userinfo through OidcBackChannel, only after the ID token is valid, same `sub`,
 *   claims merged over the ID token's. `skipUserProfile: true` keeps the package from fetching it.
 *
 * Each of our continuations records the DomainError it raises, so what the strategy reports
 * (`fail` or `error`) is mapped back to that code; only the strategy's own ID-token claim checks
 * (`fail`) and truly unexpected throws are mapped here. The shared instance's own store, client
 * and verify function refuse to work, so it cannot be used without a per-request object.
 */
export class HardenedOidcStrategy extends OpenIDConnectStrategy {
  private readonly logger = new Logger(HardenedOidcStrategy.name);
  private readonly backChannel: OidcBackChannel;

  constructor(
    readonly settings: Readonly<OidcClientSettings>,
    readonly discovery: DiscoveryDocument,
    private readonly deps: StrategyDependencies,
  ) {
    const scopes = [...new Set(settings.scopes.filter((s) => s !== '' && s !== 'openid'))];
    const refuse = () => {
      throw new Error('HardenedOidcStrategy must run on a per-request object (see authenticateFor())');
    };
    super(
      {
        issuer: discovery.issuer,
        authorizationURL: discovery.authorization_endpoint,
        tokenURL: discovery.token_endpoint,
        userInfoURL: discovery.userinfo_endpoint ?? '',
        clientID: settings.clientId,
        clientSecret: settings.clientSecret,
        callbackURL: settings.callbackUrl,
        // The package prepends `openid` itself; an empty array would give "openid ".
        scope: scopes.length > 0 ? scopes : undefined,
        skipUserProfile: true,
        passReqToCallback: true,
        store: { store: refuse, verify: refuse },
      },
      refuse,
    );
    this.backChannel = new OidcBackChannel(settings, discovery, deps);
    (this as unknown as PerRequestStrategy)._oauth2 = {
      getOAuthAccessToken: refuse,
      get: refuse,
    };
  }

  /** How this client authenticates at the token endpoint (see chooseClientAuth). */
  get clientAuth(): ClientAuthMethod {
    return this.backChannel.clientAuth;
  }

  override authenticate(req: Parameters<OpenIDConnectStrategy['authenticate']>[0], options?: object): void {
    if (!ATTEMPTS.has(this)) {
      throw new Error('HardenedOidcStrategy must run on a per-request object (see authenticateFor())');
    }
    super.authenticate(req, options);
  }

  override authorizationParams(): object {
    const attempt = ATTEMPTS.get(this);
    if (!attempt) throw new Error('HardenedOidcStrategy must run on a per-request object (see authenticateFor())');
    return {
      nonce: attempt.nonce,
      code_challenge: s256(attempt.codeVerifier),
      code_challenge_method: 'S256',
    };
  }

  /**
   * Runs one login step for a request, reporting to passport's actions: `start` redirects to the
   * authorize URL (after storing the state, bound to the browser when a binding is given),
   * `finish` consumes the state, exchanges the code, verifies everything and succeeds with a
   * VerifiedLogin. The strategy sees a synthetic request holding only the parameters this step
   * allows, so a stray `?code=` on the start route cannot switch it into the callback branch,
   * nor can a callback without a code start a new login.
   */
  authenticateFor(
    actions: StrategyActions,
    step: LoginStep,
    params: CallbackParams | null,
    browserBinding: string | undefined,
  ): void {
    const attempt: LoginAttempt = {
      step,
      nonce: step === 'start' ? randomToken() : '',
      codeVerifier: step === 'start' ? randomToken() : '',
      browserBinding: bindingHash(browserBinding),
    };
    const self = Object.create(this) as PerRequestStrategy & Pick<HardenedOidcStrategy, 'authenticate'>;
    ATTEMPTS.set(self, attempt);
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    const internal = (what: string) =>
      new DomainError(step === 'start' ? 'unavailable' : 'idp_error', `The login ${step} ended unexpectedly (${what})`);
    self._stateStore = this.stateStoreFor(attempt, self);
    self._oauth2 = this.tokenClientFor(attempt, self);
    self._verify = this.verifyFor(attempt, self);
    self.success = (user, info) =>
      settle(() => (step === 'finish' ? actions.success(user, info) : actions.error(internal('success'))));
    self.redirect = (url, status) =>
      settle(() => (step === 'start' ? actions.redirect(url, status) : actions.error(internal('redirect'))));
    self.fail = (challenge) => settle(() => actions.error(this.failureFor(attempt, challenge)));
    self.error = (err) => settle(() => actions.error(this.errorFor(attempt, err)));
    self.pass = () => settle(() => actions.error(internal('pass')));
    const query: Record<string, string> = params ? { code: params.code, state: params.state } : {};
    try {
      self.authenticate({ query, headers: {}, method: 'GET', url: '/' } as never, {});
    } catch (error: unknown) {
      self.error(error);
    }
  }

  /** Runs a continuation handed to us by the strategy; a throw inside it ends the attempt. */
  private guarded(self: PerRequestStrategy, fn: () => void): void {
    try {
      fn();
    } catch (error: unknown) {
      self.error(error);
    }
  }

  /**
   * Keeps the first failure of the attempt. An error that is not a DomainError (a bug, a driver
   * error the store did not map) gets the code of the stage that raised it.
   */
  private record(attempt: LoginAttempt, error: unknown, stage: ErrorCode): DomainError {
    const domain = error instanceof DomainError ? error : this.unexpected(attempt, error, stage);
    attempt.failure ??= domain;
    return domain;
  }

  private stateStoreFor(attempt: LoginAttempt, self: PerRequestStrategy) {
    const { profileId, providerName } = this.settings;
    return {
      store: (_req: unknown, ctx: { nonce?: string }, _appState: unknown, _meta: unknown, cb: Done) => {
        if (ctx.nonce !== attempt.nonce) {
          cb(
            this.record(
              attempt,
              new DomainError('unavailable', 'The login nonce was not carried into the state'),
              'unavailable',
            ),
          );
          return;
        }
        const handle = randomToken();
        this.deps.stateStore
          .save({
            handle,
            profileId,
            provider: providerName,
            nonce: attempt.nonce,
            codeVerifier: attempt.codeVerifier,
            browserBinding: attempt.browserBinding,
          })
          .then(
            () => this.guarded(self, () => cb(null, handle)),
            (error: unknown) => this.guarded(self, () => cb(this.record(attempt, error, 'unavailable'))),
          );
      },
      verify: (_req: unknown, handle: unknown, cb: Done) => {
        if (typeof handle !== 'string') {
          attempt.failure ??= stateInvalid();
          cb(null, false, { message: 'missing state' });
          return;
        }
        // A state bound to a browser completes only in that browser (login CSRF); the store
        // checks the binding in the statement that consumes the state.
        this.deps.stateStore.consume(handle, profileId, providerName, attempt.browserBinding).then(
          (consumed) =>
            this.guarded(self, () => {
              if (!consumed) {
                attempt.failure ??= stateInvalid();
                cb(null, false, { message: 'unknown state' });
                return;
              }
              attempt.nonce = consumed.nonce;
              attempt.codeVerifier = consumed.codeVerifier;
              cb(null, { nonce: consumed.nonce });
            }),
          (error: unknown) => this.guarded(self, () => cb(this.record(attempt, error, 'unavailable'))),
        );
      },
    };
  }

  /** Stands in for oauth's OAuth2 client: the strategy reads these three fields and calls one method. */
  private tokenClientFor(attempt: LoginAttempt, self: PerRequestStrategy) {
    return {
      _authorizeUrl: this.discovery.authorization_endpoint,
      _accessTokenUrl: this.discovery.token_endpoint,
      _clientId: this.settings.clientId,
      getOAuthAccessToken: (code: unknown, _params: unknown, cb: Done) => {
        this.exchangeCode(attempt, code).then(
          (tokens) =>
            this.guarded(self, () => {
              const refreshToken = typeof tokens.refresh_token === 'string' ? tokens.refresh_token : undefined;
              cb(null, tokens.access_token, refreshToken, tokens);
            }),
          (error: unknown) => this.guarded(self, () => cb(this.record(attempt, error, 'token_exchange_failed'))),
        );
      },
      get: (_url: unknown, _token: unknown, cb: Done) => cb(new Error('userinfo is fetched by the broker')),
    };
  }

  private verifyFor(attempt: LoginAttempt, self: PerRequestStrategy) {
    // Exactly 9 parameters: with passReqToCallback the strategy picks the argument list by
    // Function.length (oidc-rp.md §3.5); 9 gives (req, iss, profile, context, idToken,
    // accessToken, refreshToken, params, done).
    const verify = (
      _req: unknown,
      _iss: unknown,
      _profile: unknown,
      _context: unknown,
      idToken: unknown,
      accessToken: unknown,
      _refreshToken: unknown,
      _params: unknown,
      done: Done,
    ): void => {
      this.complete(attempt, idToken, accessToken).then(
        (login) => this.guarded(self, () => done(null, login)),
        (error: unknown) => this.guarded(self, () => done(this.record(attempt, error, 'userinfo_failed'))),
      );
    };
    if (verify.length !== 9) throw new Error('verify must take 9 parameters');
    return verify;
  }

  private async exchangeCode(
    attempt: LoginAttempt,
    code: unknown,
  ): Promise<Record<string, unknown> & { access_token: string }> {
    const redeemed = await this.backChannel.redeem(code, attempt.codeVerifier, attempt.nonce);
    attempt.idTokenClaims = redeemed.idTokenClaims;
    attempt.idToken = redeemed.idToken;
    return redeemed.tokens;
  }

  private async complete(attempt: LoginAttempt, idToken: unknown, accessToken: unknown): Promise<VerifiedLogin> {
    const idClaims = attempt.idTokenClaims;
    if (!idClaims || idToken !== attempt.idToken || typeof idClaims.sub !== 'string') {
      throw new DomainError('id_token_invalid', 'The strategy handed over an ID token that was not verified');
    }
    const claims = await this.backChannel.claimsFor(idClaims as JWTPayload & { sub: string }, accessToken);
    return { issuer: this.discovery.issuer, subject: idClaims.sub, claims, idTokenClaims: idClaims };
  }

  /**
   * A `fail` from the strategy: the state store said no (recorded as state_invalid), or one of
   * the package's own ID-token claim checks did (they run after ours, so only its stricter `exp`).
   */
  private failureFor(attempt: LoginAttempt, challenge: unknown): DomainError {
    if (attempt.failure) return attempt.failure;
    const message =
      challenge !== null &&
      typeof challenge === 'object' &&
      typeof (challenge as { message?: unknown }).message === 'string'
        ? (challenge as { message: string }).message
        : '';
    if (attempt.step === 'start') return new DomainError('idp_error', 'The login was refused');
    return /nonce/i.test(message)
      ? new DomainError('nonce_mismatch', 'The ID token does not carry the nonce of this login')
      : new DomainError('id_token_invalid', 'The ID token was rejected');
  }

  /** An `error` from the strategy: ours (recorded, or wrapped in InternalOAuthError) or its own. */
  private errorFor(attempt: LoginAttempt, error: unknown): DomainError {
    if (attempt.failure) return attempt.failure;
    if (error instanceof DomainError) return error;
    // The strategy wraps what our token client reports in InternalOAuthError.oauthError.
    const cause = (error as { oauthError?: unknown } | null)?.oauthError;
    if (cause instanceof DomainError) return cause;
    return this.unexpected(attempt, error, attempt.step === 'start' ? 'unavailable' : 'idp_error');
  }

  private unexpected(attempt: LoginAttempt, error: unknown, code: ErrorCode): DomainError {
    this.logger.error(
      `Unexpected ${error instanceof Error ? error.name : typeof error} in the login ${attempt.step} of profile ${this.settings.profileId}`,
    );
    return new DomainError(code, `The login ${attempt.step} could not be processed`);
  }
}

function stateInvalid(): DomainError {
  return new DomainError('state_invalid', 'The login state is missing, unknown, expired or already used');
}
