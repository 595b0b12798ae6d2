import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { validateFaults } from './emulator-control.controller.js';
import type { EmulatorContext, PortalFaults, RecordedRequest } from './emulator.context.js';
import { EmulatorModule } from './emulator.module.js';
import { EmulatorState } from './emulator.state.js';
import { requestPipeline } from './request-pipeline.js';

export type { PortalFaults, RecordedRequest } from './emulator.context.js';
export { EmulatorState } from './emulator.state.js';
export type { Developer, Nonce, Organisation, Session, Team, User } from './emulator.state.js';

export interface PortalEmulatorOptions {
  port?: number;
  host?: string;
  apiSecret: string;
  adminToken: string;
  /** How long a nonce from `POST /api/sso` stays usable (default 60000, as the Dashboard documents). */
  nonceTtlMs?: number;
}

export interface PortalEmulator {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  setFaults(f: PortalFaults): void;
  clearFaults(): void;
  /** Every request received (except the emulator's own /__emulator routes), for header/body assertions. */
  requests: RecordedRequest[];
  /** Read access to orgs, teams, users, developers, nonces and sessions, for assertions. */
  state: EmulatorState;
  /** Closes the listener and open connections, so the port refuses connections. */
  stop(): Promise<void>;
}

/**
 * Starts an in-memory stand-in for the Tyk Enterprise Developer Portal: the Dashboard-compatible
 * SSO API (`/api/sso`, `/api/portal/developers*`), the browser hand-off (`/sso`, `/`) and the
 * Management API (`/portal-api` users, organisations, teams), per specs/tyk-portal.md section A.
 */
export async function startPortalEmulator(options: PortalEmulatorOptions): Promise<PortalEmulator> {
  if (!options.apiSecret) throw new Error('apiSecret is required');
  if (!options.adminToken) throw new Error('adminToken is required');
  const host = options.host ?? '127.0.0.1';
  const ctx: EmulatorContext = {
    state: new EmulatorState(options.nonceTtlMs ?? 60_000),
    apiSecret: options.apiSecret,
    adminToken: options.adminToken,
    faults: null,
    requests: [],
  };
  // No `logger` option: Nest would apply it to the process-wide Logger, which a broker running
  // in the same test process also uses.
  const app = await NestFactory.create<NestExpressApplication>(EmulatorModule.forRoot(ctx), {
    bodyParser: false,
    forceCloseConnections: true,
  });
  app.disable('x-powered-by');
  app.use(requestPipeline(ctx));
  await app.listen(options.port ?? 0, host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    setFaults: (f) => {
      ctx.faults = validateFaults(f);
    },
    clearFaults: () => {
      ctx.faults = null;
    },
    requests: ctx.requests,
    state: ctx.state,
    stop: () => (stopping ??= app.close()),
  };
}
