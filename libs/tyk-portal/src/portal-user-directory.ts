import { LruCache } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import { DEFAULT_PER_PAGE, MAX_PAGES, TykPortalClient } from './tyk-portal.client.js';
import type { PortalUser } from './tyk-portal.types.js';

/** Pages of `/portal-api/users` one lookup may read on the login path, whatever the portal's size. */
export const PAGES_PER_LOOKUP = 3;
/** How long "no portal user has this email" is believed without asking the portal again. */
export const MISS_TTL_MS = 60_000;
const MAX_EMAILS = 200_000;
/**
 * How long a walk of the whole list that found no such email vouches for the list: within it, an
 * exhaustive lookup of another email reads only from the last page on (where new users appear),
 * not the whole list again. Without it, every sign-in of an identity the portal does not know
 * (SSOOnlyForRegisteredUsers; anyone who can create IdP accounts) cost a walk of every page.
 */
export const COMPLETE_WALK_TTL_MS = 60_000;
const MAX_MISSES = 50_000;

export interface DirectoryLookupOptions {
  /**
   * Walk the whole list if needed (up to MAX_PAGES) instead of PAGES_PER_LOOKUP pages: for a
   * decision that must not err on a miss (refusing an unregistered developer).
   */
  exhaustive?: boolean;
  /**
   * Do not believe a remembered "not found": the portal has just created (or linked) the account,
   * so a miss from before that is out of date.
   */
  fresh?: boolean;
}

const norm = (email: string) => email.trim().toLowerCase();

/**
 * Finds portal user ids by email without walking the whole user list on each login. The
 * management API has no search by email, so every user seen on a page is remembered (bounded
 * LRU), and a lookup reads at most PAGES_PER_LOOKUP pages: first the last non-empty page seen and
 * the ones after it (where a user the portal just created appears), then the next pages of a sweep
 * that wraps around the list, shared by all lookups. A miss is remembered for MISS_TTL_MS. So a
 * login costs the same few requests on a portal of 100 users or of 100,000; on a large portal an
 * existing user may take a few logins to be found (placement then starts on a later login), and
 * the developer row keeps the id once found. The last page is found once per process (pages 1, 2,
 * 4, … then a binary search: about 2·log2(pages) requests). Per process.
 */
@Injectable()
export class PortalUserDirectory {
  private readonly logger = new Logger(PortalUserDirectory.name);
  private readonly ids = new LruCache<string, string>(MAX_EMAILS);
  /** Email → until when "not found" holds, and whether the whole list was walked to say so. */
  private readonly misses = new LruCache<string, { until: number; exhaustive: boolean }>(MAX_MISSES);
  /** Next page of the sweep (pages are claimed synchronously, so concurrent lookups read different pages). */
  private sweepPage = 1;
  /** The last page seen with users on it: new users are appended at the end of the list. */
  private tailPage = 1;
  /** Found once per process (about 2·log2(pages) requests), then kept up to date by lookups. */
  private tail: Promise<void> | null = null;
  /** When the last walk of every page began, if it read them all and every email fits the index. */
  private completeWalkAt = -Infinity;
  /** The walk of every page in progress: concurrent exhaustive lookups share it. */
  private fullWalk: Promise<unknown> | null = null;

  constructor(private readonly client: TykPortalClient) {}

  /** The portal user id for an email, or null when none was found within this lookup's budget. */
  async findUserId(email: string, options: DirectoryLookupOptions = {}): Promise<string | null> {
    const key = norm(email);
    const hit = this.ids.get(key);
    if (hit !== undefined) return hit;
    const exhaustive = options.exhaustive === true;
    const miss = this.misses.get(key);
    // A bounded lookup's miss says nothing to an exhaustive one.
    if (options.fresh !== true && miss !== undefined && miss.until > Date.now() && (miss.exhaustive || !exhaustive)) {
      return null;
    }

    const found = exhaustive ? await this.walkAll(key) : await this.search(key, PAGES_PER_LOOKUP);
    if (found !== null) {
      this.misses.delete(key);
      return found;
    }
    this.misses.set(key, { until: Date.now() + MISS_TTL_MS, exhaustive });
    return null;
  }

  /** Remembers a user id learnt elsewhere (e.g. a user read by id). */
  remember(email: string, portalUserId: string): void {
    if (email.trim() === '' || portalUserId === '') return;
    this.ids.set(norm(email), portalUserId);
    this.misses.delete(norm(email));
  }

  /** Forgets an email whose remembered id turned out wrong (the user was deleted or changed). */
  forget(email: string): void {
    this.ids.delete(norm(email));
  }

  private index(users: PortalUser[]): void {
    for (const u of users) {
      if (u.Email !== '' && u.ID !== '') this.ids.set(norm(u.Email), u.ID);
    }
  }

  /**
   * Finds the last non-empty page: pages 1, 2, 4, 8, … until an empty one, then a binary search
   * between the last full and the first empty page. Indexes every page it reads.
   */
  private async discoverTail(): Promise<void> {
    let full = 0;
    let empty = 0;
    for (let page = 1; page <= MAX_PAGES; page *= 2) {
      const users = await this.client.listUsersPage(page, DEFAULT_PER_PAGE);
      if (users.length === 0) {
        empty = page;
        break;
      }
      this.index(users);
      full = page;
    }
    if (empty === 0) empty = Math.min(full * 2, MAX_PAGES + 1);
    while (full > 0 && empty - full > 1) {
      const mid = Math.floor((full + empty) / 2);
      const users = await this.client.listUsersPage(mid, DEFAULT_PER_PAGE);
      if (users.length === 0) {
        empty = mid;
      } else {
        this.index(users);
        full = mid;
      }
    }
    this.tailPage = Math.max(this.tailPage, full, 1);
  }

  private async search(key: string, budget: number): Promise<string | null> {
    if (!this.tail) {
      this.tail = this.discoverTail().catch((error: unknown) => {
        this.tail = null;
        throw error;
      });
    }
    await this.tail;
    const known = this.ids.get(key);
    if (known !== undefined) return known;
    let left = budget;
    // The tail first: a user the portal created moments ago is on the last page or just after it.
    for (let page = this.tailPage; left > 0; page++) {
      left--;
      const users = await this.client.listUsersPage(page, DEFAULT_PER_PAGE);
      if (users.length === 0) break;
      this.tailPage = Math.max(this.tailPage, page);
      this.index(users);
      const id = this.ids.get(key);
      if (id !== undefined) return id;
    }
    // Then the next pages of the sweep over the whole list.
    while (left > 0) {
      left--;
      const page = this.sweepPage++;
      const users = await this.client.listUsersPage(page, DEFAULT_PER_PAGE);
      if (users.length === 0) {
        // Past the end: start over from the first page next time.
        this.sweepPage = 1;
        if (page === 1) break;
        continue;
      }
      this.tailPage = Math.max(this.tailPage, page);
      this.index(users);
      const id = this.ids.get(key);
      if (id !== undefined) return id;
    }
    return null;
  }

  /**
   * Every page, newest first: from the last page seen to the end of the list (a user the portal
   * created moments ago is there, also when another process added many users since this one last
   * looked), then from page 1 up to where that started. Within COMPLETE_WALK_TTL_MS of a walk
   * that read every page, only the first part: what was not on the list then can only have been
   * added at its end. Concurrent lookups share one walk of every page.
   */
  private async walkAll(key: string): Promise<string | null> {
    for (;;) {
      const known = this.ids.get(key);
      if (known !== undefined) return known;
      if (Date.now() - this.completeWalkAt < COMPLETE_WALK_TTL_MS) {
        return (await this.walkPages(key, Math.max(1, this.tailPage), MAX_PAGES, true)).foundId;
      }
      if (!this.fullWalk) break;
      // Someone is reading every page: its index (or its vouching for the list) answers this too.
      await this.fullWalk.catch(() => undefined);
    }
    const walk = this.walkEveryPage(key);
    this.fullWalk = walk;
    try {
      return await walk;
    } finally {
      if (this.fullWalk === walk) this.fullWalk = null;
    }
  }

  /** Reads every page unless `key` turns up (its id); records a walk that read them all. */
  private async walkEveryPage(key: string): Promise<string | null> {
    const began = Date.now();
    const start = Math.max(1, this.tailPage);
    const tail = await this.walkPages(key, start, MAX_PAGES, true);
    if (tail.foundId !== null) return tail.foundId;
    let { read, users, complete } = tail;
    if (start > 1) {
      const head = await this.walkPages(key, 1, start - 1, false);
      if (head.foundId !== null) return head.foundId;
      read += head.read;
      users += head.users;
      complete &&= head.complete;
    }
    if (complete && users <= MAX_EMAILS) this.completeWalkAt = began;
    this.logger.debug(`no portal user with that email among ${read} pages`);
    return null;
  }

  /**
   * Reads pages `from`..`to` until an empty page or the email (its id); `atTail` moves the tail
   * along. `complete`: every page of the range was read (the end of the list, or `to` of a
   * bounded range; not MAX_PAGES of a list that goes on, nor a portal that ignores `page`).
   */
  private async walkPages(
    key: string,
    from: number,
    to: number,
    atTail: boolean,
  ): Promise<{ foundId: string | null; read: number; users: number; complete: boolean }> {
    let previousFirst = '';
    let read = 0;
    let seen = 0;
    const result = (foundId: string | null, complete: boolean) => ({ foundId, read, users: seen, complete });
    for (let page = from; page <= to; page++) {
      const users = await this.client.listUsersPage(page, DEFAULT_PER_PAGE);
      if (users.length === 0) return result(null, true); // past the end
      // A portal that ignores `page` and answers the same page again.
      if (page > from && users[0].ID === previousFirst) return result(null, false);
      previousFirst = users[0].ID;
      read++;
      seen += users.length;
      if (atTail) this.tailPage = Math.max(this.tailPage, page);
      this.index(users);
      const found = users.find((u) => norm(u.Email) === key);
      if (found && found.ID !== '') return result(found.ID, false);
    }
    return result(null, to < MAX_PAGES);
  }
}
