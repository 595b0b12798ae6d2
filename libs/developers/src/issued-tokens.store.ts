import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { SESSION_KEYS, type SessionKeys } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IssuedTokensRepository } from './issued-tokens.repository.js';

/**
 * A token taken out of the store at an erasure, still sealed (base64, JSON-safe for the outbox):
 * the profile that issued it says where to revoke it; only {@link IssuedTokensStore.unseal} reads it.
 */
export interface SealedToken {
  profile_id: string;
  lookup: string;
  sealed: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Tyk keys and OAuth access tokens are far shorter; anything longer is not kept. */
const MAX_TOKEN_BYTES = 4096;
/** The longest row life asked for (a year); longer or unknown lifetimes keep the row until replaced. */
const MAX_TTL_SECONDS = 366 * 24 * 3600;

/**
 * The token actions' identity cache in Postgres (the `TokenCache` port of @app/tyk-portal): the
 * previous token of a (profile, user), shared by every broker instance and kept across restarts.
 * The token is sealed with AES-256-GCM (the cache key as associated data) and looked up by an HMAC
 * of the cache key, each with its own key derived from TYK_IB_SESSION_SECRET. A row sealed under
 * another secret reads as "no previous token" (nothing to revoke), never as an error. Never logs
 * a token or a cache key.
 */
@Injectable()
export class IssuedTokensStore {
  private readonly logger = new Logger(IssuedTokensStore.name);
  private readonly sealKey: Buffer;
  private readonly lookupKey: Buffer;
  private warnedUnreadable = false;

  constructor(
    private readonly repository: IssuedTokensRepository,
    @Inject(SESSION_KEYS) keys: SessionKeys,
  ) {
    this.sealKey = keys.key('token-store');
    this.lookupKey = keys.key('token-store-lookup');
  }

  private lookup(key: string): Buffer {
    return createHmac('sha256', this.lookupKey).update(key, 'utf8').digest();
  }

  async get(key: string): Promise<string | null> {
    const lookup = this.lookup(key);
    const sealed = await this.repository.find(lookup);
    return sealed ? this.open(lookup, sealed) : null;
  }

  /** The token of a {@link SealedToken}; null when it was sealed under another session secret. */
  unseal(token: SealedToken): string | null {
    return this.open(Buffer.from(token.lookup, 'base64'), Buffer.from(token.sealed, 'base64'));
  }

  /**
   * The profiles under which the developer has an unexpired token on record (deprovisioning finds
   * the tokens of a profile deleted since, which it can no longer look up by cache key).
   */
  profilesOf(developerId: string): Promise<string[]> {
    return this.repository.liveProfilesOf(developerId);
  }

  /**
   * Removes every token issued to the developer, in the caller's (the erasure's) transaction, and
   * returns the unexpired ones still sealed, for revocation by the deprovisioning outbox.
   */
  async takeForDeveloper(developerId: string, manager: EntityManager): Promise<SealedToken[]> {
    const rows = await this.repository.takeForDeveloper(developerId, manager);
    return rows
      .filter((r) => r.live)
      .map((r) => ({
        profile_id: r.profile_id,
        lookup: r.lookup.toString('base64'),
        sealed: r.sealed.toString('base64'),
      }));
  }

  private open(lookup: Buffer, sealed: Buffer): string | null {
    try {
      const iv = sealed.subarray(0, IV_BYTES);
      const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, iv).setAAD(lookup);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      if (!this.warnedUnreadable) {
        this.warnedUnreadable = true;
        this.logger.warn(
          'a stored token was sealed under another TYK_IB_SESSION_SECRET and cannot be revoked; set the same secret on every instance',
        );
      }
      return null;
    }
  }

  /** Forgets the token of this cache key (deprovisioning, once it is revoked). */
  async delete(key: string): Promise<void> {
    await this.repository.remove(this.lookup(key));
  }

  async set(
    key: string,
    value: string,
    ttlSeconds: number | undefined,
    owner: { profileId: string; developerId: string | null },
  ): Promise<void> {
    const plain = Buffer.from(value, 'utf8');
    if (plain.length > MAX_TOKEN_BYTES) {
      this.logger.warn(`a token of ${plain.length} bytes is not kept; it will not be revoked at the next login`);
      return;
    }
    const lookup = this.lookup(key);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv).setAAD(lookup);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    const ttl =
      ttlSeconds !== undefined && Number.isInteger(ttlSeconds) && ttlSeconds > 0 && ttlSeconds <= MAX_TTL_SECONDS
        ? ttlSeconds
        : null;
    await this.repository.save(lookup, Buffer.concat([iv, cipher.getAuthTag(), body]), ttl, owner);
  }
}
