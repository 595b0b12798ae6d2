import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { StoredProfile, TibProfile } from './profile.model.js';

interface Row {
  document_text: string;
  version: number;
  updated_at: Date;
}

const toStored = (r: Row): StoredProfile => ({
  profile: JSON.parse(r.document_text) as TibProfile,
  version: r.version,
  updatedAt: r.updated_at,
});

/** The channel every broker LISTENs on; the payload is the profile id. */
export const PROFILES_CHANNEL = 'profiles_changed';

/** All SQL of the profiles table. Writes take the caller's transaction manager. */
@Injectable()
export class ProfilesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  async findAll(): Promise<StoredProfile[]> {
    const rows: Row[] = await this.dataSource.query(
      'SELECT document_text, version, updated_at FROM profiles ORDER BY id',
    );
    return rows.map(toStored);
  }

  async findById(id: string, manager?: EntityManager): Promise<StoredProfile | null> {
    const rows: Row[] = await (manager ?? this.dataSource).query(
      'SELECT document_text, version, updated_at FROM profiles WHERE id = $1',
      [id],
    );
    return rows[0] ? toStored(rows[0]) : null;
  }

  async lockById(id: string, manager: EntityManager): Promise<StoredProfile | null> {
    const rows: Row[] = await manager.query(
      'SELECT document_text, version, updated_at FROM profiles WHERE id = $1 FOR UPDATE',
      [id],
    );
    return rows[0] ? toStored(rows[0]) : null;
  }

  /** Inserts unless the id exists; null when it does. */
  async insert(profile: TibProfile, manager: EntityManager): Promise<StoredProfile | null> {
    const rows: Row[] = await manager.query(
      `INSERT INTO profiles (id, action_type, provider_name, document, document_text) VALUES ($1, $2, $3, $4::jsonb, $5)
       ON CONFLICT (id) DO NOTHING RETURNING document_text, version, updated_at`,
      [profile.ID, profile.ActionType, profile.ProviderName, JSON.stringify(profile), JSON.stringify(profile)],
    );
    return rows[0] ? toStored(rows[0]) : null;
  }

  async replace(profile: TibProfile, manager: EntityManager): Promise<StoredProfile> {
    const result: unknown = await manager.query(
      `UPDATE profiles SET action_type = $2, provider_name = $3, document = $4::jsonb, document_text = $5, version = version + 1, updated_at = now()
       WHERE id = $1 RETURNING document_text, version, updated_at`,
      [profile.ID, profile.ActionType, profile.ProviderName, JSON.stringify(profile), JSON.stringify(profile)],
    );
    // TypeORM answers UPDATE … RETURNING with [rows, affected], INSERT/SELECT with rows.
    const rows = (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as Row[];
    if (!rows[0]) throw new Error(`profile ${profile.ID} vanished during its update`);
    return toStored(rows[0]);
  }

  async delete(id: string, manager: EntityManager): Promise<void> {
    await manager.query('DELETE FROM profiles WHERE id = $1', [id]);
  }

  /** Delivered to every broker's LISTEN when the transaction commits (never on rollback). */
  async notifyChanged(id: string, manager: EntityManager): Promise<void> {
    await manager.query('SELECT pg_notify($1, $2)', [PROFILES_CHANNEL, id]);
  }
}
