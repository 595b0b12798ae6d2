import { DomainError } from '@app/common';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { preparedQuery, preparedStatement } from '@app/database';
import { DataSource } from 'typeorm';
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
 * One row per started login in `login_states` (the `state` handle, the nonce and the PKCE
 * verifier), so any broker instance can finish a login another one started and several tabs can
 * log in at once. Each operation is exactly one SQL statement (one round trip); a state is used
 * at most once because consuming it is a `DELETE … RETURNING`. Raw SQL: this is the hot path.
 */
const SAVE_STATE = preparedStatement(
  'login_states.save',
  `INSERT INTO login_states (handle, profile_id, provider, nonce, code_verifier, browser_binding, expires_at)
   VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
);

// A CTE so the driver reports the rows of a SELECT: still one statement, one round trip. The
// browser binding is part of the DELETE's condition: a callback from another browser (a leaked
// or planted callback URL) matches no row, so it cannot burn the login of the browser that
// started it. A state stored without a binding completes with any (or none).
const CONSUME_STATE = preparedStatement(
  'login_states.consume',
  `WITH consumed AS (
     DELETE FROM login_states
     WHERE handle = $1 AND profile_id = $2 AND provider = $3
       AND (browser_binding IS NULL OR browser_binding = $4::text)
     RETURNING nonce, code_verifier, expires_at
   )
   SELECT nonce, code_verifier, expires_at > now() AS live FROM consumed`,
);

@Injectable()
export class LoginStateStore implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(LoginStateStore.name);
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  onModuleInit(): void {
    this.purgeTimer = setInterval(() => void this.purgeExpired(), PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purgeTimer);
  }

  /** Stores a new login state; expires after config.oidc.loginStateTtlSeconds. */
  async save(state: NewLoginState): Promise<void> {
    try {
      await preparedQuery(this.dataSource, SAVE_STATE, [
        state.handle,
        state.profileId,
        state.provider,
        state.nonce,
        state.codeVerifier,
        state.browserBinding,
        this.config.oidc.loginStateTtlSeconds,
      ]);
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
    let rows: { nonce: string; code_verifier: string; live: boolean }[];
    try {
      rows = await preparedQuery(this.dataSource, CONSUME_STATE, [handle, profileId, provider, browserBinding]);
    } catch {
      this.logger.error(`Could not read a login state for profile ${profileId}`);
      throw new DomainError('unavailable', 'The login could not be finished: the database is unavailable');
    }
    const row = rows[0];
    if (!row || !row.live) return null;
    return { nonce: row.nonce, codeVerifier: row.code_verifier };
  }

  /** Deletes expired states; runs on a timer, never on the login path. Returns the count. */
  async purgeExpired(): Promise<number> {
    try {
      const rows: unknown[] = await this.dataSource.query(
        `WITH purged AS (DELETE FROM login_states WHERE expires_at <= now() RETURNING 1) SELECT count(*)::int AS n FROM purged`,
      );
      return (rows[0] as { n: number } | undefined)?.n ?? 0;
    } catch {
      this.logger.warn('Purging expired login states failed; will retry');
      return 0;
    }
  }
}
