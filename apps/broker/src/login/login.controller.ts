import { DomainError, RequestContext, type RequestContextData } from '@app/common';
import { All, Controller, Get, Param, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentLogin, LoginStep, type AuthenticatedLogin } from './login-attempt.js';
import { LoginFailureFilter } from './login-failure.filter.js';
import { LoginFailedException } from './login-failures.service.js';
import { LoginFlowService } from './login-flow.service.js';
import { sendLoginOutcome } from './login-outcome.js';
import { LoginRateLimitGuard } from './login-rate-limit.guard.js';
import { LoginGuard } from './login.guard.js';
import { LogoutService } from './logout.service.js';

/** TIB's login routes (any method, as TIB registers them). */
@ApiTags('login')
@UseGuards(LoginRateLimitGuard)
@UseFilters(LoginFailureFilter)
@Controller('auth')
export class LoginController {
  constructor(
    private readonly flow: LoginFlowService,
    private readonly logouts: LogoutService,
  ) {}

  @All(':id/:provider')
  @LoginStep('start')
  @UseGuards(LoginGuard)
  @ApiOperation({ summary: "Start a login: TIB's 307 to the IdP (state, nonce and PKCE kept server-side)" })
  @ApiParam({ name: 'id', description: 'Profile ID' })
  @ApiParam({ name: 'provider', description: 'A UseProviders Name, e.g. openid-connect' })
  @ApiResponse({ status: 307, description: 'To the IdP (GET and HEAD, as TIB)' })
  @ApiResponse({ status: 303, description: 'To the IdP, for any other method (a form POST): the IdP gets a GET' })
  @ApiResponse({ status: 302, description: 'To FailureRedirect?error=<code>' })
  @ApiResponse({
    status: 400,
    description: 'Unknown provider name: {"Status":"error","Error":"no provider for <name> exists"}',
  })
  @ApiResponse({ status: 404, description: 'Unknown profile' })
  start(@CurrentLogin() login: AuthenticatedLogin): never {
    // LoginGuard answers a start itself: passport redirects to the IdP, or the guard throws.
    throw new LoginFailedException(login.attempt, new DomainError('unavailable', 'The login start did not redirect'));
  }

  @All(':id/:provider/callback')
  @LoginStep('callback')
  @UseGuards(LoginGuard)
  @ApiOperation({ summary: 'Finish a login: verify, map, provision in the portal, 302 to ReturnURL?nonce=…' })
  @ApiResponse({ status: 302, description: 'To the portal, or to FailureRedirect?error=<code>' })
  async callback(
    @CurrentLogin() login: AuthenticatedLogin,
    @RequestContext() ctx: RequestContextData,
    @Res() res: Response,
  ): Promise<void> {
    sendLoginOutcome(res, await this.flow.complete(login.attempt, login.verified, ctx));
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
    sendLoginOutcome(res, await this.logouts.logout(id, provider, req));
  }
}
