import { randomBytes } from 'node:crypto';
import { All, Controller, Param, Req, Res, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { LoginFlowService } from './login-flow.service.js';
import { LoginRateLimitGuard } from './login-rate-limit.guard.js';
import type { LoginOutcome } from './login-outcome.js';

function send(res: Response, outcome: LoginOutcome): void {
  res.setHeader('Cache-Control', 'no-store');
  switch (outcome.kind) {
    case 'redirect':
      // Location (encoded as Express does) and no body: the browser follows it. Express's own
      // redirect() also negotiates and writes an HTML/text body nobody reads, on every login.
      res.location(outcome.location).status(outcome.status).end();
      return;
    case 'page':
      res.status(outcome.status).type('html').send(outcome.html);
      return;
    case 'json':
      res.status(outcome.status).json(outcome.body);
      return;
    case 'text':
      res.status(outcome.status).type('text').send(outcome.text);
      return;
  }
}

/** Ties a login's state to the browser that started it (login CSRF defence); one per browser. */
export const BINDING_COOKIE = 'sso_broker_login';

function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** TIB's login routes (any method, as TIB registers them). */
@ApiTags('login')
@UseGuards(LoginRateLimitGuard)
@Controller('auth')
export class LoginController {
  constructor(private readonly flow: LoginFlowService) {}

  @All(':id/:provider')
  @ApiOperation({ summary: 'Start a login: 302 to the IdP (state, nonce and PKCE kept server-side)' })
  @ApiParam({ name: 'id', description: 'Profile ID' })
  @ApiParam({ name: 'provider', description: 'A UseProviders Name, e.g. openid-connect' })
  @ApiResponse({ status: 302, description: 'To the IdP, or to FailureRedirect?error=<code>' })
  @ApiResponse({ status: 404, description: 'Unknown profile or provider' })
  async start(@Param('id') id: string, @Param('provider') provider: string, @Req() req: Request, @Res() res: Response) {
    // Reuse the browser's binding so several tabs can sign in at once.
    let binding = readCookie(req, BINDING_COOKIE);
    if (!binding || !/^[A-Za-z0-9_-]{32,64}$/.test(binding)) binding = randomBytes(24).toString('base64url');
    const outcome = await this.flow.start(id, provider, req, binding);
    res.cookie(BINDING_COOKIE, binding, {
      httpOnly: true,
      sameSite: 'lax',
      secure: req.secure,
      path: '/auth',
      maxAge: 15 * 60 * 1000,
    });
    send(res, outcome);
  }

  @All(':id/:provider/callback')
  @ApiOperation({ summary: 'Finish a login: verify, map, provision in the portal, 302 to ReturnURL?nonce=…' })
  @ApiResponse({ status: 302, description: 'To the portal, or to FailureRedirect?error=<code>' })
  async callback(
    @Param('id') id: string,
    @Param('provider') provider: string,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    send(res, await this.flow.callback(id, provider, req, readCookie(req, BINDING_COOKIE)));
  }
}
