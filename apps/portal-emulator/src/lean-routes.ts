import { Logger } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { ADMIN_TOKEN_REFUSED, API_SECRET_REFUSED, authorised } from './auth.guards.js';
import type { EmulatorContext } from './emulator.context.js';
import { EmulatorError, type EmulatorErrorKind } from './emulator.state.js';
import { DASHBOARD_STATUS, dashboardError, PORTAL_API_STATUS, portalApiError } from './error.filters.js';
import { HTML_TYPE, sendJson, sendText } from './http-reply.js';
import { loginFailedPage } from './html.js';
import { decodeBody } from './json-body.decorator.js';
import type { JsonBody, LeanRouter } from './request-pipeline.js';
import {
  DASHBOARD_MALFORMED,
  idOf,
  nonceCreated,
  PORTAL_API_MALFORMED,
  PORTAL_DEVELOPER,
  SSO_REQUEST,
  USER_UPDATE,
} from './schemas.js';
import { SESSION_COOKIE } from './sso.controller.js';
import { developerJson, paginate, teamIndexElem, userIndexElem, userShow } from './views.js';

/**
 * The routes a login hits, answered straight on node:http instead of through Nest and Express
 * (the emulator runs beside the broker in the benchmark, on the same two cores). Each one is the
 * same as its Nest controller method (sso-api, portal-api, sso controllers), which stays the
 * reference and serves everything else: same state calls, same status codes, headers, bodies and
 * error shapes (test/e2e/portal-emulator.e2e-spec.ts compares both paths answer by answer).
 *
 * A request is answered here only when it is plainly one of these routes; anything unusual goes to
 * Express, which then does exactly what it did before: another method (HEAD too), a conditional GET
 * (Express may answer 304), a path Express matches only loosely (other letter case, trailing or
 * doubled slashes, `#` or blanks in the URL), an empty or undecodable path parameter, and a
 * browser `/sso` request with an Accept header other than `*\/*` (Express negotiates the body).
 */

type Outcome = [status: number, body: unknown];

interface Surface {
  secret: (ctx: EmulatorContext) => string;
  refused: string;
  status: Readonly<Record<EmulatorErrorKind, number>>;
  error: (message: string) => unknown;
}

const DASHBOARD: Surface = {
  secret: (ctx) => ctx.apiSecret,
  refused: API_SECRET_REFUSED,
  status: DASHBOARD_STATUS,
  error: dashboardError,
};

const PORTAL_API: Surface = {
  secret: (ctx) => ctx.adminToken,
  refused: ADMIN_TOKEN_REFUSED,
  status: PORTAL_API_STATUS,
  error: portalApiError,
};

/** Characters for which Express's URL parsing leaves its fast path (parseurl). */
const UNUSUAL_URL = /[\t\n\f\r #\u00a0\ufeff]/;

/** Nest's answer to an exception no filter handles (BaseExceptionFilter). */
const logger = new Logger('ExceptionsHandler');
function internalError(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  sendJson(req, res, 500, { statusCode: 500, message: 'Internal server error' });
  if (error instanceof Error) logger.error(error.message, error.stack);
  else logger.error(error);
}

/** A route parameter as Express decodes it; undefined (leave it to Express) when empty or undecodable. */
function param(segment: string): string | undefined {
  if (segment === '') return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function leanRoutes(ctx: EmulatorContext): LeanRouter {
  const { state } = ctx;

  /** The guard, the handler, the surface's exception filter, as Nest runs them. */
  function answer(req: IncomingMessage, res: ServerResponse, surface: Surface, handler: () => Outcome): true {
    if (!authorised(req, surface.secret(ctx))) {
      sendJson(req, res, surface.status.unauthorised, surface.error(surface.refused));
      return true;
    }
    let outcome: Outcome;
    try {
      outcome = handler();
    } catch (e) {
      if (e instanceof EmulatorError) sendJson(req, res, surface.status[e.kind], surface.error(e.message));
      else internalError(req, res, e);
      return true;
    }
    sendJson(req, res, outcome[0], outcome[1]);
    return true;
  }

  /** `/api/...`: the Dashboard-compatible SSO API (SsoApiController). */
  function dashboard(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    parts: string[],
    body: JsonBody,
  ): boolean {
    if (parts.length === 3 && parts[2] === 'sso') {
      if (method !== 'POST') return false;
      return answer(req, res, DASHBOARD, () => [
        200,
        nonceCreated(state.createNonce(decodeBody(body, SSO_REQUEST, DASHBOARD_MALFORMED)).value),
      ]);
    }
    if (parts.length < 4 || parts[2] !== 'portal' || parts[3] !== 'developers') return false;
    if (parts.length === 4) {
      if (method !== 'POST') return false;
      return answer(req, res, DASHBOARD, () => {
        const { user, developer, created } = state.createDeveloper(
          decodeBody(body, PORTAL_DEVELOPER, DASHBOARD_MALFORMED),
        );
        return [created ? 201 : 200, developerJson(user, developer)];
      });
    }
    if (parts.length === 5) {
      const id = method === 'PUT' ? param(parts[4]) : undefined;
      if (id === undefined) return false;
      return answer(req, res, DASHBOARD, () => {
        const { user, developer } = state.updateDeveloper(id, decodeBody(body, PORTAL_DEVELOPER, DASHBOARD_MALFORMED));
        return [200, developerJson(user, developer)];
      });
    }
    if (parts.length === 6 && parts[4] === 'ssokey') {
      const key = method === 'GET' ? param(parts[5]) : undefined;
      if (key === undefined) return false;
      return answer(req, res, DASHBOARD, () => {
        const { user, developer } = state.developerBySsoKey(key);
        return [200, developerJson(user, developer)];
      });
    }
    return false;
  }

  /** `/portal-api/...`: the Management API reads and the user update (PortalApiController). */
  function portalApi(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    parts: string[],
    query: string,
    body: JsonBody,
  ): boolean {
    if (parts[2] === 'users') {
      if (parts.length === 3) {
        if (method !== 'GET') return false;
        return answer(req, res, PORTAL_API, () => [
          200,
          paginate(state.users.values(), parseQuery(query), state.contract).map(userIndexElem),
        ]);
      }
      const id = parts.length === 4 ? param(parts[3]) : undefined;
      if (id === undefined) return false;
      if (method === 'GET') {
        return answer(req, res, PORTAL_API, () => [200, userShow(state, state.getUser(idOf(id, 'not-found', 'User')))]);
      }
      if (method !== 'PUT') return false;
      return answer(req, res, PORTAL_API, () => {
        const userId = idOf(id, 'invalid', 'User');
        return [200, userShow(state, state.updateUser(userId, decodeBody(body, USER_UPDATE, PORTAL_API_MALFORMED)))];
      });
    }
    if (parts[2] === 'organisations' && parts.length === 5 && parts[4] === 'teams' && method === 'GET') {
      const org = param(parts[3]);
      if (org === undefined) return false;
      return answer(req, res, PORTAL_API, () => {
        const orgId = state.getOrg(idOf(org, 'not-found', 'Organisation')).ID;
        return [200, paginate(state.teamsOf(orgId), parseQuery(query), state.contract).map(teamIndexElem)];
      });
    }
    return false;
  }

  /** `GET /sso?nonce=`: the browser hand-off (SsoController.login), for a client that negotiates nothing. */
  function handOff(req: IncomingMessage, res: ServerResponse, query: string): boolean {
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '*/*') return false;
    const nonce = parseQuery(query).nonce;
    let sessionId: string;
    try {
      sessionId = state.login(typeof nonce === 'string' ? nonce : undefined).session.id;
    } catch (e) {
      if (!(e instanceof EmulatorError)) {
        internalError(req, res, e);
        return true;
      }
      sendText(req, res, e.kind === 'refused' ? 403 : 401, HTML_TYPE, loginFailedPage(e.message));
      return true;
    }
    // res.cookie(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/' }) then
    // res.redirect(302, '/'), which for text/plain (the first type Express offers) writes this:
    const text = 'Found. Redirecting to /';
    res.statusCode = 302;
    res.setHeader('Set-Cookie', `${SESSION_COOKIE}=${encodeURIComponent(sessionId)}; Path=/; HttpOnly; SameSite=Lax`);
    res.setHeader('Location', '/');
    res.setHeader('Vary', 'Accept');
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Content-Length', String(text.length));
    res.end(text);
    return true;
  }

  return (req, res, path, query, body) => {
    const method = req.method ?? '';
    if (method === 'GET') {
      if (req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) return false;
    } else if (method !== 'POST' && method !== 'PUT') {
      return false;
    }
    const url = req.url ?? '';
    if (url.charCodeAt(0) !== 0x2f || UNUSUAL_URL.test(url)) return false;
    if (path === '/sso') return method === 'GET' && handOff(req, res, query);
    const parts = path.split('/');
    if (parts[1] === 'api') return dashboard(req, res, method, parts, body);
    if (parts[1] === 'portal-api') return portalApi(req, res, method, parts, query, body);
    return false;
  };
}
