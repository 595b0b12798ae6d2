import { databaseConfig, type DatabaseConfig } from '@app/config';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { StoredProfile } from './profile.model.js';
import { PROFILES_CHANNEL, ProfilesRepository } from './profiles.repository.js';

/**
 * The login path's view of the profiles: all of them in memory, so a login never reads Postgres
 * for its profile. Kept fresh across instances by Postgres LISTEN/NOTIFY on a dedicated
 * connection; after that connection drops, it reconnects and reloads everything (notifications
 * sent while it was away are lost, the reload makes up for them).
 */
@Injectable()
export class ProfilesCache implements OnApplicationShutdown {
  private readonly logger = new Logger(ProfilesCache.name);
  private readonly profiles = new Map<string, StoredProfile>();
  private client: pg.Client | null = null;
  private stopped = false;
  private reconnectDelayMs = 500;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(databaseConfig.KEY) private readonly database: DatabaseConfig,
    private readonly repository: ProfilesRepository,
  ) {}

  get(id: string): StoredProfile | undefined {
    return this.profiles.get(id);
  }

  all(): StoredProfile[] {
    return [...this.profiles.values()].sort((a, b) => (a.profile.ID < b.profile.ID ? -1 : 1));
  }

  /** Applies a change this instance made, without waiting for its own notification. */
  put(stored: StoredProfile): void {
    const current = this.profiles.get(stored.profile.ID);
    if (!current || current.version <= stored.version) {
      this.profiles.set(stored.profile.ID, stored);
    }
  }

  remove(id: string): void {
    this.profiles.delete(id);
  }

  async start(): Promise<void> {
    await this.listen();
    await this.reloadAll();
  }

  private async reloadAll(): Promise<void> {
    const all = await this.repository.findAll();
    this.profiles.clear();
    for (const stored of all) this.profiles.set(stored.profile.ID, stored);
  }

  private async refresh(id: string): Promise<void> {
    const stored = await this.repository.findById(id);
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
    await client.connect();
    await client.query(`LISTEN ${PROFILES_CHANNEL}`);
    this.client = client;
    this.reconnectDelayMs = 500;
  }

  private scheduleReconnect(from: pg.Client): void {
    if (this.stopped || this.client !== from || this.reconnectTimer) return;
    this.client = null;
    from.removeAllListeners('end');
    from.end().catch(() => undefined);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen()
        .then(() => this.reloadAll())
        .then(() => this.logger.log('profiles LISTEN connection restored'))
        .catch(() => {
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
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
