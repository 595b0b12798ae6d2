import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { All, Controller, Get, Inject, Param, Req, Res, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { bindingCookie, newBinding, reachedOverHttps, readBinding } from './login-binding.js';
import { LoginFlowService } from './login-flow.service.js';
import { LoginRateLimitGuard } from './login-rate-limit.guard.js';
import type { LoginOutcome } from './login-outcome.js';
import { LogoutService } from './logout.service.js';

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

/** TIB's login routes (any method, as TIB registers them). */
@ApiTags('login')
@UseGuards(LoginRateLimitGuard)
@Controller('auth')
export class LoginController {
  constructor(
    private readonly flow: LoginFlowService,
    private readonly logouts: LogoutService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  @All(':id/:provider')
  @ApiOperation({ summary: 'Start a login: 302 to the IdP (state, nonce and PKCE kept server-side)' })
  @ApiParam({ name: 'id', description: 'Profile ID' })
  @ApiParam({ name: 'provider', description: 'A UseProviders Name, e.g. openid-connect' })
  @ApiResponse({ status: 302, description: 'To the IdP, or to FailureRedirect?error=<code>' })
  @ApiResponse({ status: 404, description: 'Unknown profile or provider' })
  async start(@Param('id') id: string, @Param('provider') provider: string, @Req() req: Request, @Res() res: Response) {
    // Reuse the browser's binding so several tabs can sign in at once (see login-binding.ts).
    const https = reachedOverHttps(req, this.config.publicUrl);
    const binding = readBinding(req, https) ?? newBinding();
    const outcome = await this.flow.start(id, provider, req, binding);
    const cookie = bindingCookie(https, this.config.oidc.loginStateTtlSeconds);
    res.cookie(cookie.name, binding, cookie.options);
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
    const binding = readBinding(req, reachedOverHttps(req, this.config.publicUrl));
    send(res, await this.flow.callback(id, provider, req, binding));
  }

  @Get(':id/:provider/logout')
  @ApiOperation({
    summary: 'Sign out at the IdP (RP-initiated logout)',
    description:
      '302 to the discovery `end_session_endpoint` with `client_id`, `post_logout_redirect_uri` (ProviderConfig.PostLogoutRedirectURL, default the ReturnURL origin) and `state`; straight to the post-logout URL when the IdP has none.',
  })
  @ApiParam({ name: 'id', description: 'Profile ID' })
  @ApiParam({ name: 'provider', description: 'A UseProviders Name, e.g. openid-connect' })
  @ApiResponse({ status: 302, description: 'To the IdP end-session endpoint or the post-logout URL' })
  async logout(
    @Param('id') id: string,
    @Param('provider') provider: string,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    send(res, await this.logouts.logout(id, provider, req));
  }
}
