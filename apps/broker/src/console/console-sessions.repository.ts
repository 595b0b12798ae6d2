import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  return_to: string | null;
}

export interface ConsoleSessionRow {
  subject: string;
  name: string | null;
  roles: string[];
  csrf_token: string;
}

/** Expired rows removed by each sign-in start (see createPending). */
const PURGE_ON_START = 100;

/** TypeORM answers UPDATE/DELETE … RETURNING on Postgres with [rows, count]. */
function returned<T>(result: unknown): T[] {
  if (Array.isArray(result) && Array.isArray(result[0])) return result[0] as T[];
  return result as T[];
}

/** Every statement on `console_sessions`; ids arrive here already hashed. */
@Injectable()
export class ConsoleSessionsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores a sign-in in progress and, in the same statement, removes up to PURGE_ON_START expired
   * rows (oldest first; rows another start is removing are skipped, not waited for). Abandoned
   * sign-ins are never taken, and purge() runs only when a staff member completes one, so without
   * this anyone could fill the table with pending rows. Each start adds one row and removes up to
   * PURGE_ON_START expired ones, so expired rows cannot pile up: the table holds about the
   * (rate-limited) starts of the last ten minutes and the live sessions.
   */
  async createPending(idHash: Buffer, pending: PendingSignIn, ttlSeconds: number): Promise<void> {
    await this.dataSource.query(
      `WITH expired AS (
         DELETE FROM console_sessions WHERE id_hash IN (
           SELECT id_hash FROM console_sessions WHERE expires_at <= now()
            ORDER BY expires_at LIMIT $7 FOR UPDATE SKIP LOCKED))
       INSERT INTO console_sessions (id_hash, kind, state, nonce, verifier, return_to, expires_at)
       VALUES ($1, 'pending', $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [idHash, pending.state, pending.nonce, pending.verifier, pending.return_to, ttlSeconds, PURGE_ON_START],
    );
  }

  /** The sign-in in progress, consumed once (a replayed callback finds nothing). */
  async takePending(idHash: Buffer): Promise<PendingSignIn | null> {
    const result: unknown = await this.dataSource.query(
      `DELETE FROM console_sessions WHERE id_hash = $1 AND kind = 'pending' AND expires_at > now()
       RETURNING state, nonce, verifier, return_to`,
      [idHash],
    );
    return returned<PendingSignIn>(result)[0] ?? null;
  }

  async createActive(idHash: Buffer, row: ConsoleSessionRow, absoluteSeconds: number): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO console_sessions (id_hash, kind, subject, name, roles, csrf_token, expires_at)
       VALUES ($1, 'active', $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [idHash, row.subject, row.name, row.roles, row.csrf_token, absoluteSeconds],
    );
  }

  /**
   * The live session, touched (idle timeout restarts) in the same statement; null when unknown,
   * past its absolute expiry or idle too long.
   */
  async touch(idHash: Buffer, idleSeconds: number): Promise<ConsoleSessionRow | null> {
    const result: unknown = await this.dataSource.query(
      `UPDATE console_sessions SET last_seen_at = now()
        WHERE id_hash = $1 AND kind = 'active' AND expires_at > now()
          AND last_seen_at > now() - make_interval(secs => $2)
       RETURNING subject, name, roles, csrf_token`,
      [idHash, idleSeconds],
    );
    return returned<ConsoleSessionRow>(result)[0] ?? null;
  }

  async delete(idHash: Buffer): Promise<void> {
    await this.dataSource.query(`DELETE FROM console_sessions WHERE id_hash = $1`, [idHash]);
  }

  /** Removes expired and idle rows (run on each sign-in: the table stays as small as the staff). */
  async purge(idleSeconds: number): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM console_sessions
        WHERE expires_at <= now() OR (kind = 'active' AND last_seen_at <= now() - make_interval(secs => $1))`,
      [idleSeconds],
    );
  }
}
