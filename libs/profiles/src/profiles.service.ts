import { AuditService } from '@app/audit';
import { actorOf, DomainError, getCaseInsensitive, goFoldName, type AdminPrincipal } from '@app/common';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { decodeProfileOrThrow, isProfileId } from './profile.codec.js';
import { profileDiff } from './profile-diff.js';
import type { StoredProfile, TibProfile } from './profile.model.js';
import { ProfilesCache } from './profiles.cache.js';
import { ProfilesRepository } from './profiles.repository.js';

/** Who made a change, for the audit log. */
export interface ChangeContext {
  actor: string;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/** The audit actor of a profile change: the admin's role and id (actorOf), or `system`. */
export function changeActor(principal: AdminPrincipal | undefined): string {
  return principal ? actorOf(principal) : 'system';
}

/**
 * Profile CRUD with TIB's semantics and messages. Every change and its audit event commit in
 * one transaction, then every broker's cache learns of it through NOTIFY.
 */
@Injectable()
export class ProfilesService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProfilesService.name);

  constructor(
    private readonly repository: ProfilesRepository,
    private readonly cache: ProfilesCache,
    private readonly audit: AuditService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.cache.start();
    this.logger.log(`${this.cache.all().length} profile(s) loaded`);
  }

  /** For the login path: from memory, never a database read. */
  cached(id: string): StoredProfile | undefined {
    return this.cache.get(id);
  }

  /**
   * For the login path: from memory, or, for an id it does not know yet, one database read (a
   * profile created through another instance before its notification arrived). Ids that are not
   * profile ids are not looked up.
   */
  cachedOrLoad(id: string): Promise<StoredProfile | undefined> {
    return isProfileId(id) ? this.cache.getOrLoad(id) : Promise.resolve(undefined);
  }

  cachedAll(): StoredProfile[] {
    return this.cache.all();
  }

  list(): Promise<StoredProfile[]> {
    return this.repository.findAll();
  }

  async get(id: string): Promise<StoredProfile> {
    // An ID no profile can have (e.g. with a NUL, which Postgres text cannot even hold) is not found.
    const stored = isProfileId(id) ? await this.repository.findById(id) : null;
    if (!stored) throw new DomainError('profile_not_found', 'Profile not found');
    return stored;
  }

  async create(id: string, body: unknown, ctx: ChangeContext): Promise<StoredProfile> {
    const profile = this.decodeForId(id, body);
    const stored = await this.repository.transaction(async (manager) => {
      const inserted = await this.repository.insert(profile, manager);
      if (!inserted) throw new DomainError('profile_exists', 'Object ID already exists');
      await this.audit.record(this.event('profile.created', id, ctx, profileDiff({}, profile)), manager);
      await this.repository.notifyChanged(id, manager);
      return inserted;
    });
    this.cache.put(stored);
    return stored;
  }

  async update(id: string, body: unknown, ctx: ChangeContext, expectedVersion?: number): Promise<StoredProfile> {
    const profile = this.decodeForId(id, body);
    const stored = await this.repository.transaction(async (manager) => {
      const current = await this.repository.lockById(id, manager);
      if (!current) throw new DomainError('not_found', 'Object ID does not exist, operation not permitted');
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new DomainError(
          'profile_version_conflict',
          `Profile ${id} was changed concurrently (version ${current.version}, If-Match ${expectedVersion}); reload and retry`,
        );
      }
      const updated = await this.repository.replace(profile, manager);
      await this.audit.record(
        this.event('profile.updated', id, ctx, profileDiff(current.profile, profile), current.version, updated.version),
        manager,
      );
      await this.repository.notifyChanged(id, manager);
      return updated;
    });
    this.cache.put(stored);
    return stored;
  }

  async remove(id: string, ctx: ChangeContext, expectedVersion?: number): Promise<void> {
    if (!isProfileId(id)) throw new DomainError('not_found', 'Object ID does not exist');
    await this.repository.transaction(async (manager) => {
      const current = await this.repository.lockById(id, manager);
      if (!current) throw new DomainError('not_found', 'Object ID does not exist');
      if (expectedVersion !== undefined && current.version !== expectedVersion) {
        throw new DomainError('profile_version_conflict', `Profile ${id} was changed concurrently; reload and retry`);
      }
      await this.repository.delete(id, manager);
      await this.audit.record(this.event('profile.deleted', id, ctx, profileDiff(current.profile, {})), manager);
      await this.repository.notifyChanged(id, manager);
    });
    this.cache.remove(id);
  }

  /**
   * Imports a TIB profiles.json array: all entries are validated first, then created or replaced
   * in one transaction, so a file with one bad entry imports nothing.
   */
  async importProfiles(list: unknown, ctx: ChangeContext): Promise<{ created: string[]; replaced: string[] }> {
    if (!Array.isArray(list)) {
      throw new DomainError('profile_invalid', 'a profiles file must be a JSON array of profiles');
    }
    const profiles = list.map((entry, i) => decodeProfileOrThrow(entry, `[${i}].`));
    const seen = new Set<string>();
    profiles.forEach((p, i) => {
      if (seen.has(p.ID)) throw new DomainError('profile_invalid', `[${i}].ID: duplicate ID ${p.ID} in the file`);
      seen.add(p.ID);
    });
    const created: string[] = [];
    const replaced: string[] = [];
    const stored = await this.repository.transaction(async (manager) => {
      const out: StoredProfile[] = [];
      for (const profile of profiles) {
        const current = await this.repository.lockById(profile.ID, manager);
        if (current) {
          const updated = await this.repository.replace(profile, manager);
          await this.audit.record(
            this.event(
              'profile.updated',
              profile.ID,
              ctx,
              profileDiff(current.profile, profile),
              current.version,
              updated.version,
              true,
            ),
            manager,
          );
          replaced.push(profile.ID);
          out.push(updated);
        } else {
          const inserted = await this.repository.insert(profile, manager);
          if (!inserted) {
            throw new DomainError('conflict', `Profile ${profile.ID} was created concurrently; retry the import`);
          }
          await this.audit.record(
            this.event('profile.created', profile.ID, ctx, profileDiff({}, profile), undefined, 1, true),
            manager,
          );
          created.push(profile.ID);
          out.push(inserted);
        }
        await this.repository.notifyChanged(profile.ID, manager);
      }
      return out;
    });
    stored.forEach((s) => this.cache.put(s));
    return { created, replaced };
  }

  private decodeForId(id: string, body: unknown): TibProfile {
    // TIB unmarshals the body into its Profile struct first: an array, a string, a number or a
    // boolean body, or an ID (in any case) that is not a string or null, fails there, before the ID
    // comparison, as "Failed to decode body data". JSON null decodes to the zero profile (no ID).
    if (body !== null && (typeof body !== 'object' || Array.isArray(body) || !idTypeDecodes(body))) {
      throw new DomainError('bad_request', 'Failed to decode body data');
    }
    const bodyId = body !== null ? idOf(body as Record<string, unknown>) : undefined;
    if (bodyId !== id) {
      throw new DomainError('profile_id_mismatch', 'Object ID and URI resource ID do not match');
    }
    // decodeProfile reads the ID the same way (getCaseInsensitive, scalar), so it stores the ID checked above.
    return decodeProfileOrThrow(body);
  }

  private event(
    type: 'profile.created' | 'profile.updated' | 'profile.deleted',
    id: string,
    ctx: ChangeContext,
    changes: ReturnType<typeof profileDiff>,
    fromVersion?: number,
    toVersion?: number,
    imported = false,
  ) {
    return {
      type,
      outcome: 'success' as const,
      actor: ctx.actor,
      target: `profile:${id}`,
      profileId: id,
      ip: ctx.ip ?? null,
      userAgent: ctx.userAgent ?? null,
      requestId: ctx.requestId ?? null,
      details: {
        changes,
        ...(fromVersion !== undefined ? { fromVersion } : {}),
        ...(toVersion !== undefined ? { toVersion } : {}),
        ...(imported ? { imported: true } : {}),
      },
    };
  }
}

/** Whether every key Go's decoder would put into Profile.ID (any case) holds a string or null. */
function idTypeDecodes(body: object): boolean {
  return Object.entries(body).every(([k, v]) => goFoldName(k) !== 'ID' || v === null || typeof v === 'string');
}

/**
 * The body's ID as Go's decoder (and decodeProfile) reads it: the last key that folds to `ID`
 * and is not null; undefined when there is none.
 */
function idOf(body: Record<string, unknown>): string | undefined {
  const v = getCaseInsensitive(body, 'ID', true);
  return typeof v === 'string' ? v : undefined;
}
