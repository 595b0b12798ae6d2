import { withTimeout } from '@app/common';
import { databaseConfig, type DatabaseConfig } from '@app/config';
import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import pg from 'pg';
import type { StoredProfile } from './profile.model.js';
import { PROFILES_CHANNEL, ProfilesRepository } from './profiles.repository.js';

/** How long an id found neither in memory nor in the database is answered from memory. */
const MISS_TTL_MS = 1000;
/** At most this many such ids are remembered (requests can name any id). */
const MAX_MISSES = 1000;

/**
 * How the cache finds out that its LISTEN connection died without an error or an end event (a
 * NAT or load balancer dropping an idle flow, a failover that sends no FIN/RST): such a connection
 * delivers no notification again, and without these checks the cache would serve what it holds
 * for ever.
 */
export interface ProfilesCacheTimings {
  /** `SELECT 1` on the LISTEN connection this often; no answer within timeoutMs → reconnect + reload. */
  heartbeatMs: number;
  /** For the heartbeat, for connecting and for LISTEN. */
  timeoutMs: number;
  /** TCP keepalive probes start after this much idle time (the OS notices a dead peer too). */
  keepAliveDelayMs: number;
  /** A full reload this often whatever happens: the safety net if a notification is ever missed. */
  fullReloadMs: number;
}

export const PROFILES_CACHE_TIMINGS = Symbol('PROFILES_CACHE_TIMINGS');

const DEFAULT_TIMINGS: ProfilesCacheTimings = {
  heartbeatMs: 30_000,
  timeoutMs: 10_000,
  keepAliveDelayMs: 10_000,
  fullReloadMs: 5 * 60_000,
};

/**
 * The login path's view of the profiles: all of them in memory, so a login never reads Postgres
 * for a profile it knows. Kept fresh across instances by Postgres LISTEN/NOTIFY on a dedicated
 * connection; after that connection drops, it reconnects and reloads everything (notifications
 * sent while it was away are lost, the reload makes up for them). A profile created through
 * another instance moments ago, whose notification has not arrived yet, is read from the database
 * on its first request (getOrLoad). A connection that died silently is found by a heartbeat
 * (ProfilesCacheTimings) and handled the same way; a full reload every few minutes is the last
 * safety net.
 */
/**
 * Closes a LISTEN connection the cache is done with: it no longer reconnects ('end') or reports
 * ('error', answered so that a late socket error is not an unhandled one), whatever state it is in.
 */
function discard(client: pg.Client): Promise<void> {
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  return client.end().catch(() => undefined);
}

@Injectable()
export class ProfilesCache implements OnApplicationShutdown {
  private readonly logger = new Logger(ProfilesCache.name);
  private readonly profiles = new Map<string, StoredProfile>();
  private client: pg.Client | null = null;
  private stopped = false;
  private reconnectDelayMs = 500;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** id → until when (ms) a lookup found nothing. */
  private readonly misses = new Map<string, number>();
  /** Lookups in flight, so that a burst of requests for one id reads the database once. */
  private readonly loading = new Map<string, Promise<StoredProfile | undefined>>();
  /** Counts every change to the map: a lookup that raced with one does not store what it read. */
  private changes = 0;
  /** One set per full reload in flight: the ids changed while its snapshot was being read. */
  private readonly changedDuringReload = new Set<Set<string>>();
  private readonly timings: ProfilesCacheTimings;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private fullReloadTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;

  constructor(
    @Inject(databaseConfig.KEY) private readonly database: DatabaseConfig,
    private readonly repository: ProfilesRepository,
    @Optional() @Inject(PROFILES_CACHE_TIMINGS) timings?: Partial<ProfilesCacheTimings>,
  ) {
    this.timings = { ...DEFAULT_TIMINGS, ...timings };
  }

  get(id: string): StoredProfile | undefined {
    return this.profiles.get(id);
  }

  all(): StoredProfile[] {
    return [...this.profiles.values()].sort((a, b) => (a.profile.ID < b.profile.ID ? -1 : 1));
  }

  /**
   * The profile from memory; when it is not there, one database read. Under load a notification
   * can arrive after the first login for a profile just created through another instance (or
   * worker), which would otherwise be a 404 there. A miss is remembered for MISS_TTL_MS, so
   * requests for unknown ids cost the database at most one lookup per id and second.
   */
  async getOrLoad(id: string): Promise<StoredProfile | undefined> {
    const known = this.profiles.get(id);
    if (known) return known;
    const until = this.misses.get(id);
    if (until !== undefined && until > Date.now()) return undefined;
    let pending = this.loading.get(id);
    if (!pending) {
      const before = this.changes;
      pending = this.repository
        .findById(id)
        .then((stored) => {
          // A change (a delete, a notification, a reload) came in meanwhile: it is newer.
          if (this.changes !== before) return this.profiles.get(id);
          if (stored) {
            this.profiles.set(id, stored);
            return stored;
          }
          if (this.misses.size >= MAX_MISSES) this.misses.clear();
          this.misses.set(id, Date.now() + MISS_TTL_MS);
          return undefined;
        })
        .finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  /** Applies a change this instance made, without waiting for its own notification. */
  put(stored: StoredProfile): void {
    this.changed(stored.profile.ID);
    const current = this.profiles.get(stored.profile.ID);
    if (!current || current.version <= stored.version) {
      this.profiles.set(stored.profile.ID, stored);
    }
  }

  remove(id: string): void {
    this.changed(id);
    this.profiles.delete(id);
  }

  private changed(id: string): void {
    this.changes++;
    this.misses.delete(id);
    for (const ids of this.changedDuringReload) ids.add(id);
  }

  async start(): Promise<void> {
    await this.listen();
    await this.reloadAll();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.timings.heartbeatMs);
    this.heartbeatTimer.unref();
    this.fullReloadTimer = setInterval(() => {
      this.reloadAll().catch((e: unknown) => this.logger.warn({ err: e }, 'periodic profiles reload failed'));
    }, this.timings.fullReloadMs);
    this.fullReloadTimer.unref();
  }

  /**
   * Replaces the map with a snapshot of the table. A put, remove or notification that lands while
   * findAll runs may be newer than the snapshot: such an id keeps what it has now (or stays
   * removed), so a reload never undoes an edit or brings a deleted profile back.
   */
  private async reloadAll(): Promise<void> {
    const changedMeanwhile = new Set<string>();
    this.changedDuringReload.add(changedMeanwhile);
    let all: StoredProfile[];
    try {
      all = await this.repository.findAll();
    } finally {
      this.changedDuringReload.delete(changedMeanwhile);
    }
    this.changes++;
    this.misses.clear();
    const previous = new Map(this.profiles);
    this.profiles.clear();
    for (const stored of all) {
      if (changedMeanwhile.has(stored.profile.ID)) continue;
      // An unchanged row keeps its object, as in refresh().
      const current = previous.get(stored.profile.ID);
      const same =
        current && current.version === stored.version && current.updatedAt.getTime() === stored.updatedAt.getTime();
      this.profiles.set(stored.profile.ID, same ? current : stored);
    }
    for (const id of changedMeanwhile) {
      const current = previous.get(id);
      if (current) this.profiles.set(id, current);
    }
  }

  /** A LISTEN connection that cannot answer `SELECT 1` in time is treated as lost. */
  private heartbeat(): void {
    const client = this.client;
    if (!client || this.heartbeatInFlight || this.stopped) return;
    this.heartbeatInFlight = true;
    withTimeout(client.query('SELECT 1'), this.timings.timeoutMs)
      .catch((e: unknown) => {
        this.logger.warn({ reason: e instanceof Error ? e.message : String(e) }, 'profiles LISTEN connection lost');
        this.scheduleReconnect(client);
      })
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  private async refresh(id: string): Promise<void> {
    const stored = await this.repository.findById(id);
    this.changed(id);
    if (!stored) {
      this.profiles.delete(id);
      return;
    }
    // The database is the truth (a profile deleted and created again starts at version 1), but
    // the same row coming back, e.g. our own change through NOTIFY, keeps its object: what the
    // login path derived from it stays valid.
    const current = this.profiles.get(id);
    if (current && current.version === stored.version && current.updatedAt.getTime() === stored.updatedAt.getTime()) {
      return;
    }
    this.profiles.set(id, stored);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.database.url ?? undefined,
      application_name: 'portal-sso-broker-listen',
      keepAlive: true,
      keepAliveInitialDelayMillis: this.timings.keepAliveDelayMs,
      connectionTimeoutMillis: this.timings.timeoutMs,
    });
    client.on('notification', (msg) => {
      if (msg.channel !== PROFILES_CHANNEL || !msg.payload) return;
      this.refresh(msg.payload).catch((e: unknown) => this.logger.warn({ err: e }, 'profile refresh failed'));
    });
    client.on('error', (e) => {
      this.logger.warn({ reason: e.message }, 'profiles LISTEN connection lost');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    try {
      await client.connect();
      await withTimeout(client.query(`LISTEN ${PROFILES_CHANNEL}`), this.timings.timeoutMs);
    } catch (e) {
      void discard(client); // destroys the socket when LISTEN hangs
      throw e;
    }
    if (this.stopped) {
      // Shut down while this reconnect was connecting: nobody would close it.
      await discard(client);
      return;
    }
    this.client = client;
    this.reconnectDelayMs = 500;
  }

  private scheduleReconnect(from: pg.Client): void {
    if (this.stopped || this.client !== from || this.reconnectTimer) return;
    this.client = null;
    void discard(from);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen()
        .then(() => this.reloadAll())
        .then(() => this.logger.log('profiles LISTEN connection restored'))
        .catch(() => {
          // LISTEN may be up while the reload failed: that connection goes too, and the retry
          // starts over (a reload must follow every new LISTEN, or missed changes stay missed).
          const fresh = this.client;
          if (fresh && fresh !== from) void discard(fresh);
          this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, 10000);
          this.client = from; // lets scheduleReconnect run again
          this.scheduleReconnect(from);
        });
    }, this.reconnectDelayMs);
    this.reconnectTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.fullReloadTimer) clearInterval(this.fullReloadTimer);
    const client = this.client;
    this.client = null;
    if (client) await discard(client);
  }
}
