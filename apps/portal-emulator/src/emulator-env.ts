import type { PortalEmulatorOptions } from './emulator.js';

/**
 * The options `main.ts` starts the emulator with, read from its environment; a bad value throws an
 * Error naming the variable (main prints it and exits 1). Env: PORTAL_EMULATOR_PORT (3001, the
 * portal's default), PORTAL_EMULATOR_HOST (127.0.0.1), PORTAL_API_SECRET and PORTAL_ADMIN_TOKEN
 * (both required), PORTAL_EMULATOR_MAX_RECORDED_REQUESTS (0: the request log is only readable
 * in-process, so a process of its own keeps none), PORTAL_EMULATOR_TEAMS_WRITE (ids or names: what
 * `Teams` on a user update means), PORTAL_EMULATOR_MAX_PER_PAGE (20: the server-side page size cap),
 * PORTAL_EMULATOR_PER_PAGE_OVER_MAX (clamp or reject: what a larger `per_page` gets),
 * PORTAL_EMULATOR_ADMIN_DEVELOPER_SSO (refuse or login: a developer SSO naming an admin account) and
 * PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS (false or true: whether `Active: false` signs a user's
 * open sessions out). Each switch takes exactly one of its words, in lower case, as set.
 */
export function emulatorOptionsFromEnv(env: NodeJS.ProcessEnv): PortalEmulatorOptions {
  const apiSecret = env.PORTAL_API_SECRET;
  const adminToken = env.PORTAL_ADMIN_TOKEN;
  if (!apiSecret || !adminToken) {
    throw new Error('PORTAL_API_SECRET and PORTAL_ADMIN_TOKEN must be set');
  }
  const rawPort = env.PORTAL_EMULATOR_PORT ?? '3001';
  if (!/^\d+$/.test(rawPort) || Number(rawPort) > 65535) {
    throw new Error(`PORTAL_EMULATOR_PORT must be a port number, got "${rawPort}"`);
  }
  const rawMax = env.PORTAL_EMULATOR_MAX_RECORDED_REQUESTS ?? '0';
  if (!/^\d+$/.test(rawMax)) {
    throw new Error(`PORTAL_EMULATOR_MAX_RECORDED_REQUESTS must be a count, got "${rawMax}"`);
  }
  const rawPerPage = env.PORTAL_EMULATOR_MAX_PER_PAGE ?? '20';
  if (!/^\d+$/.test(rawPerPage) || Number(rawPerPage) < 1) {
    throw new Error(`PORTAL_EMULATOR_MAX_PER_PAGE must be a positive count, got "${rawPerPage}"`);
  }
  const teamsWrite = env.PORTAL_EMULATOR_TEAMS_WRITE ?? 'ids';
  if (teamsWrite !== 'ids' && teamsWrite !== 'names') {
    throw new Error(`PORTAL_EMULATOR_TEAMS_WRITE must be ids or names, got "${teamsWrite}"`);
  }
  const perPageOverMax = env.PORTAL_EMULATOR_PER_PAGE_OVER_MAX ?? 'clamp';
  if (perPageOverMax !== 'clamp' && perPageOverMax !== 'reject') {
    throw new Error(`PORTAL_EMULATOR_PER_PAGE_OVER_MAX must be clamp or reject, got "${perPageOverMax}"`);
  }
  const adminDeveloperSso = env.PORTAL_EMULATOR_ADMIN_DEVELOPER_SSO ?? 'refuse';
  if (adminDeveloperSso !== 'refuse' && adminDeveloperSso !== 'login') {
    throw new Error(`PORTAL_EMULATOR_ADMIN_DEVELOPER_SSO must be refuse or login, got "${adminDeveloperSso}"`);
  }
  const endsSessions = env.PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS ?? 'false';
  if (endsSessions !== 'true' && endsSessions !== 'false') {
    throw new Error(`PORTAL_EMULATOR_DEACTIVATION_ENDS_SESSIONS must be true or false, got "${endsSessions}"`);
  }
  return {
    port: Number(rawPort),
    host: env.PORTAL_EMULATOR_HOST ?? '127.0.0.1',
    apiSecret,
    adminToken,
    maxRecordedRequests: Number(rawMax),
    contract: {
      teamsWrite,
      maxPerPage: Number(rawPerPage),
      perPageOverMax,
      adminDeveloperSso,
      deactivationEndsSessions: endsSessions === 'true',
    },
  };
}
