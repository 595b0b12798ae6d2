import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { validateFaults } from './emulator-control.controller.js';
import type { EmulatorContext, PortalFaults, RecordedRequest } from './emulator.context.js';
import { EmulatorModule } from './emulator.module.js';
import { EmulatorState, randomToken, validateContract, type PortalContract } from './emulator.state.js';
import { leanRoutes } from './lean-routes.js';
import { requestFront, rethrowFrontError } from './request-pipeline.js';

export type { PortalFaults, RecordedRequest } from './emulator.context.js';
export { DEFAULT_CONTRACT, EmulatorState } from './emulator.state.js';
export type { Developer, Nonce, Organisation, PortalContract, Session, Team, User } from './emulator.state.js';

export interface PortalEmulatorOptions {
  port?: number;
  host?: string;
  apiSecret: string;
  adminToken: string;
  /** How long a nonce from `POST /api/sso` stays usable (default 60000, as the Dashboard documents). */
  nonceTtlMs?: number;
  /** How many of the latest requests `requests` keeps (default 10000; 0 records none). */
  maxRecordedRequests?: number;
  /**
   * Answer the routes a login hits on plain node:http (lean-routes.ts) instead of through Nest
   * (default true). The answers are the same either way; false serves everything through Nest.
   */
  leanRoutes?: boolean;
  /** Where the real portal's behaviour is unknown (§E13): which plausible behaviour to play. */
  contract?: Partial<PortalContract>;
  /** The clock (default Date.now), for tests that need fixed timestamps. */
  now?: () => number;
  /** Makes nonces, session ids and admin API tokens from a byte count (default: random base64url). */
  randomToken?: (bytes: number) => string;
}

export interface PortalEmulator {
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  setFaults(f: PortalFaults): void;
  clearFaults(): void;
  /** Switches the emulated behaviour where the real portal's is unknown (fields not given are kept). */
  setContract(c: Partial<PortalContract>): void;
  /**
   * The requests received (except the emulator's own /__emulator routes), oldest first, for
   * header/body assertions: only the latest `maxRecordedRequests`. Clear it with `splice(0)`.
   */
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
  const maxRecordedRequests = options.maxRecordedRequests ?? 10_000;
  if (!Number.isSafeInteger(maxRecordedRequests) || maxRecordedRequests < 0) {
    throw new Error('maxRecordedRequests must be a non-negative integer');
  }
  const host = options.host ?? '127.0.0.1';
  const ctx: EmulatorContext = {
    state: new EmulatorState(
      options.nonceTtlMs ?? 60_000,
      options.now,
      options.randomToken ?? randomToken,
      options.contract ?? {},
    ),
    apiSecret: options.apiSecret,
    adminToken: options.adminToken,
    faults: null,
    faultMatches: 0,
    requests: [],
    maxRecordedRequests,
  };
  // No `logger` option: Nest would apply it to the process-wide Logger, which a broker running
  // in the same test process also uses.
  const app = await NestFactory.create<NestExpressApplication>(EmulatorModule.forRoot(ctx), {
    bodyParser: false,
    forceCloseConnections: true,
  });
  app.disable('x-powered-by');
  app.use(rethrowFrontError);
  // The request front replaces Express as the server's request listener: it reads, records and
  // faults every request, answers the lean routes itself and hands the rest to Express.
  const server: Server = app.getHttpServer();
  const express = app.getHttpAdapter().getInstance() as (req: IncomingMessage, res: ServerResponse) => void;
  if (!server.listeners('request').includes(express)) throw new Error('the Nest HTTP server does not serve Express');
  server.removeListener('request', express);
  server.on('request', requestFront(ctx, express, options.leanRoutes === false ? null : leanRoutes(ctx)));
  await app.listen(options.port ?? 0, host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    setFaults: (f) => {
      ctx.faults = validateFaults(f);
      ctx.faultMatches = 0;
    },
    clearFaults: () => {
      ctx.faults = null;
    },
    setContract: (c) => {
      ctx.state.contract = validateContract(c, ctx.state.contract);
    },
    requests: ctx.requests,
    state: ctx.state,
    stop: () => (stopping ??= app.close()),
  };
}
