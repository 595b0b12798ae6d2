import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { StaffSignInClient } from '@app/cloudentity';
import { DomainError, type AdminRole } from '@app/common';
import { adminConfig, serverConfig, type AdminConfig, type ServerConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import type { CookieOptions, Request } from 'express';
import { ConsoleSessionsRepository } from './console-sessions.repository.js';

/** A signed-in staff member, as the console's pages and guard see them. */
export interface ConsoleSession {
  subject: string;
  name: string | null;
  roles: AdminRole[];
  /** The synchronizer token every form of this session carries (CSRF). */
  csrfToken: string;
}

const SIGN_IN_TTL_SECONDS = 600;
/** Longer than any console address a page links to; anything longer returns to /console. */
export const MAX_RETURN_TO = 512;
const SESSION_VALUE = /^[A-Za-z0-9_-]{43}$/;

const hashId = (id: string) => createHash('sha256').update(id).digest();
const newId = () => randomBytes(32).toString('base64url');

/**
 * Only a path inside the console may be returned to after sign-in (no open redirect), and only a
 * short one: it is stored with each pending sign-in, which anyone may start.
 */
export function safeReturnTo(value: unknown): string {
  return typeof value === 'string' &&
    value.length <= MAX_RETURN_TO &&
    /^\/console(\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*)?$/.test(value) &&
    !value.startsWith('//')
    ? value
    : '/console';
}

/**
 * Console sign-in and sessions. The browser holds a random id in a cookie (`__Host-broker_console`
 * over HTTPS: Secure, Path=/, no Domain; `broker_console` on plain-HTTP local runs), HttpOnly,
 * SameSite=Lax; Postgres holds its SHA-256 with the subject, roles, CSRF token and timeouts, so
 * any replica serves the session and a database reader cannot use one.
 */
@Injectable()
export class ConsoleSessionService {
  constructor(
    private readonly repository: ConsoleSessionsRepository,
    private readonly signIn: StaffSignInClient,
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
    @Inject(adminConfig.KEY) private readonly admin: AdminConfig,
  ) {}

  get enabled(): boolean {
    return this.signIn.enabled;
  }

  private https(req: Request): boolean {
    return req.secure || this.config.publicUrl.startsWith('https:');
  }

  cookieName(req: Request, pending = false): string {
    const base = pending ? 'broker_console_signin' : 'broker_console';
    return this.https(req) ? `__Host-${base}` : base;
  }

  cookieOptions(req: Request, maxAgeSeconds: number): CookieOptions {
    return { httpOnly: true, sameSite: 'lax', secure: this.https(req), path: '/', maxAge: maxAgeSeconds * 1000 };
  }

  private readCookie(req: Request, name: string): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) {
        const value = part.slice(eq + 1).trim();
        if (SESSION_VALUE.test(value)) return value;
      }
    }
    return undefined;
  }

  private redirectUri(): string {
    return `${this.config.publicUrl}/console/callback`;
  }

  /** Starts a sign-in: the IdP URL and the pending cookie's value. */
  async start(returnTo: unknown): Promise<{ url: string; pendingId: string }> {
    if (!this.enabled) throw new DomainError('not_found', 'The security console is not configured');
    const start = await this.signIn.start(this.redirectUri());
    const pendingId = newId();
    await this.repository.createPending(
      hashId(pendingId),
      { state: start.state, nonce: start.nonce, verifier: start.verifier, return_to: safeReturnTo(returnTo) },
      SIGN_IN_TTL_SECONDS,
    );
    return { url: start.url, pendingId };
  }

  get signInTtlSeconds(): number {
    return SIGN_IN_TTL_SECONDS;
  }

  get absoluteSeconds(): number {
    return this.admin.console.absoluteHours * 3600;
  }

  private get idleSeconds(): number {
    return this.admin.console.idleMinutes * 60;
  }

  /**
   * Completes a sign-in begun in this browser: the pending row is consumed once, its state must
   * match, the callback's `iss` is checked (RFC 9207), the code is exchanged and the ID token
   * verified. A staff member without a broker role is refused (`forbidden`). Returns a new session
   * id (never the pending one: no fixation).
   */
  async finish(
    req: Request,
    query: { code?: unknown; state?: unknown; iss?: unknown },
  ): Promise<{ sessionId: string; returnTo: string }> {
    if (!this.enabled) throw new DomainError('not_found', 'The security console is not configured');
    const pendingId = this.readCookie(req, this.cookieName(req, true));
    const pending = pendingId ? await this.repository.takePending(hashId(pendingId)) : null;
    const state = typeof query.state === 'string' ? query.state : '';
    if (!pending || !sameText(pending.state, state) || typeof query.code !== 'string' || query.code === '') {
      throw new DomainError('unauthorized', 'This sign-in is not valid any more; start again from the console');
    }
    const identity = await this.signIn.finish({ code: query.code, iss: query.iss }, this.redirectUri(), pending);
    if (identity.roles.length === 0) {
      throw new DomainError('forbidden', 'Your account has neither broker:admin nor broker:auditor');
    }
    await this.repository.purge(this.idleSeconds);
    const sessionId = newId();
    await this.repository.createActive(
      hashId(sessionId),
      { subject: identity.subject, name: identity.name, roles: identity.roles, csrf_token: newId() },
      this.absoluteSeconds,
    );
    return { sessionId, returnTo: safeReturnTo(pending.return_to) };
  }

  /** The live session of this request (touching it), or null. */
  async resolve(req: Request): Promise<ConsoleSession | null> {
    const id = this.readCookie(req, this.cookieName(req));
    if (!id) return null;
    const row = await this.repository.touch(hashId(id), this.idleSeconds);
    if (!row) return null;
    const roles = row.roles.filter((r): r is AdminRole => r === 'admin' || r === 'auditor');
    return { subject: row.subject, name: row.name, roles, csrfToken: row.csrf_token };
  }

  async signOut(req: Request): Promise<void> {
    const id = this.readCookie(req, this.cookieName(req));
    if (id) await this.repository.delete(hashId(id));
  }

  /** The form's `_csrf` against the session's token, in constant time. */
  checkCsrf(session: ConsoleSession, presented: unknown): void {
    if (typeof presented !== 'string' || !sameText(presented, session.csrfToken)) {
      throw new DomainError('forbidden', 'The form has expired or did not come from the console; reload the page');
    }
  }
}

function sameText(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
