import { ASYNC_COMMIT, preparedQuery, preparedStatement } from '@app/database';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ConsumedLoginState, NewLoginState } from './login-state.store.js';

/**
 * One row per started login in `login_states` (the `state` handle, the nonce and the PKCE
 * verifier). Each operation is exactly one SQL statement (one round trip); a state is used at
 * most once because consuming it is a `DELETE … RETURNING`. Raw SQL: this is the hot path. Both
 * writes commit asynchronously (ASYNC_COMMIT): the login's audit event, written after them with a
 * synchronous commit, makes them durable; a crash of Postgres before that loses at most a state
 * whose login had not finished, which then fails as an unknown state and is started again.
 */
const SAVE_STATE = preparedStatement(
  'login_states.save',
  `INSERT INTO login_states (handle, profile_id, provider, nonce, code_verifier, browser_binding, expires_at)
   VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
   RETURNING ${ASYNC_COMMIT}`,
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
     RETURNING nonce, code_verifier, expires_at, ${ASYNC_COMMIT}
   )
   SELECT nonce, code_verifier, expires_at > now() AS live FROM consumed`,
);

/** All SQL of the `login_states` table. Errors are the driver's; LoginStateStore maps them. */
@Injectable()
export class LoginStateRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(state: NewLoginState, ttlSeconds: number): Promise<void> {
    await preparedQuery(this.dataSource, SAVE_STATE, [
      state.handle,
      state.profileId,
      state.provider,
      state.nonce,
      state.codeVerifier,
      state.browserBinding,
      ttlSeconds,
    ]);
  }

  /**
   * Deletes the matching row (handle, profile, provider, and the browser binding when one was
   * stored) and returns it with whether it was still live; null when none matched.
   */
  async consume(
    handle: string,
    profileId: string,
    provider: string,
    browserBinding: string | null,
  ): Promise<(ConsumedLoginState & { live: boolean }) | null> {
    const rows = await preparedQuery<{ nonce: string; code_verifier: string; live: boolean }>(
      this.dataSource,
      CONSUME_STATE,
      [handle, profileId, provider, browserBinding],
    );
    const row = rows[0];
    return row ? { nonce: row.nonce, codeVerifier: row.code_verifier, live: row.live } : null;
  }

  /** Deletes expired rows; returns how many. */
  async deleteExpired(): Promise<number> {
    const rows = await this.dataSource.query<{ n: number }[]>(
      `WITH purged AS (DELETE FROM login_states WHERE expires_at <= now() RETURNING 1) SELECT count(*)::int AS n FROM purged`,
    );
    return rows[0]?.n ?? 0;
  }
}
