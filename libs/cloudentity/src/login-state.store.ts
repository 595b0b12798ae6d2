import { DomainError } from '@app/common';
import { oidcConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { LoginStateRepository } from './login-state.repository.js';
import { RANDOM_TOKEN_PATTERN } from './oidc-crypto.js';

export interface NewLoginState {
  handle: string;
  profileId: string;
  provider: string;
  nonce: string;
  codeVerifier: string;
  /** SHA-256 (hex) of a value only the starting browser holds (e.g. a cookie), or null. */
  browserBinding: string | null;
}

export interface ConsumedLoginState {
  nonce: string;
  codeVerifier: string;
}

/** How often expired rows are deleted, in the background. */
const PURGE_INTERVAL_MS = 60_000;

/**
 * Started logins, shared by every broker instance (so any instance can finish a login another one
 * started and several tabs can log in at once): the rules (handle shape, expiry, the database
 * being down is `unavailable` and never logs the statement's parameters) and the purge timer.
 * The SQL is in LoginStateRepository.
 */
@Injectable()
export class LoginStateStore implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(LoginStateStore.name);
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly states: LoginStateRepository,
    @Inject(oidcConfig.KEY) private readonly config: OidcConfig,
  ) {}

  onModuleInit(): void {
    this.purgeTimer = setInterval(() => void this.purgeExpired(), PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purgeTimer);
  }

  /** Stores a new login state; expires after config.loginStateTtlSeconds. */
  async save(state: NewLoginState): Promise<void> {
    try {
      await this.states.insert(state, this.config.loginStateTtlSeconds);
    } catch {
      // The driver error may quote the statement's parameters (nonce, verifier): not logged.
      this.logger.error(`Could not store a login state for profile ${state.profileId}`);
      throw new DomainError('unavailable', 'The login could not be started: the database is unavailable');
    }
  }

  /**
   * Deletes and returns the state with this handle if it belongs to this profile and provider,
   * was started by this browser (`browserBinding`, the hash stored by `save`; a state saved
   * without one matches any) and has not expired; null when it is unknown, already used,
   * expired or someone else's. Only a matching call consumes the row, in the same statement that
   * checks it. A malformed handle is rejected without a query.
   */
  async consume(
    handle: string,
    profileId: string,
    provider: string,
    browserBinding: string | null,
  ): Promise<ConsumedLoginState | null> {
    if (!RANDOM_TOKEN_PATTERN.test(handle)) return null;
    let row: (ConsumedLoginState & { live: boolean }) | null;
    try {
      row = await this.states.consume(handle, profileId, provider, browserBinding);
    } catch {
      this.logger.error(`Could not read a login state for profile ${profileId}`);
      throw new DomainError('unavailable', 'The login could not be finished: the database is unavailable');
    }
    if (!row || !row.live) return null;
    return { nonce: row.nonce, codeVerifier: row.codeVerifier };
  }

  /** Deletes expired states; runs on a timer, never on the login path. Returns the count. */
  async purgeExpired(): Promise<number> {
    try {
      return await this.states.deleteExpired();
    } catch {
      this.logger.warn('Purging expired login states failed; will retry');
      return 0;
    }
  }
}
