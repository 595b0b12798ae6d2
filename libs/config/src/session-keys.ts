import { hkdfSync, randomBytes } from 'node:crypto';
import type { BrokerConfig } from './broker-config.js';

/** What a derived key is for; each purpose gets its own key, so one leaking reveals no other. */
export type SessionKeyPurpose = 'token-store' | 'token-store-lookup' | 'cursor';

/** Injection token for the {@link SessionKeys} of this process. */
export const SESSION_KEYS = Symbol('SESSION_KEYS');

/** Without TYK_IB_SESSION_SECRET: one random secret for the whole process (never written anywhere). */
let processSecret: Buffer | null = null;

/**
 * Keys derived from `TYK_IB_SESSION_SECRET` with HKDF-SHA-256, one per purpose (the purpose is
 * HKDF's `info`). Instances sharing the secret derive the same keys, so what one encrypts or
 * signs another can read. Without the secret the keys are random per process (the config loader
 * warns what that breaks).
 */
export class SessionKeys {
  private readonly derived = new Map<SessionKeyPurpose, Buffer>();
  private readonly secret: Buffer;

  constructor(sessionSecret: string) {
    this.secret = sessionSecret === '' ? (processSecret ??= randomBytes(32)) : Buffer.from(sessionSecret, 'utf8');
  }

  static fromConfig(config: BrokerConfig): SessionKeys {
    return new SessionKeys(config.sessionSecret);
  }

  /** A 32-byte key for the purpose (the same for every call and every instance with the secret). */
  key(purpose: SessionKeyPurpose): Buffer {
    let key = this.derived.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', this.secret, 'portal-sso-broker', `portal-sso-broker/${purpose}`, 32));
      this.derived.set(purpose, key);
    }
    return key;
  }
}
