import { Controller, Get, Header, Inject, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { EMULATOR_CONTEXT, type EmulatorContext } from './emulator.context.js';
import { EmulatorError } from './emulator.state.js';
import { homePage, loginFailedPage, signedOutPage } from './html.js';

export const SESSION_COOKIE = 'portal-session';

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The browser side of SSO: `/sso?nonce=` opens the portal session, `/` shows who is signed in. */
@Controller()
export class SsoController {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  @Get('sso')
  login(@Query('nonce') nonce: unknown, @Res() res: Response): void {
    try {
      const { session } = this.ctx.state.login(typeof nonce === 'string' ? nonce : undefined);
      // SameSite=Lax, not the portal's default Strict: the hand-off arrives from the broker's site.
      res.cookie(SESSION_COOKIE, session.id, { httpOnly: true, sameSite: 'lax', path: '/' });
      res.redirect(302, '/');
    } catch (e) {
      if (!(e instanceof EmulatorError)) throw e;
      res
        .status(e.kind === 'refused' ? 403 : 401)
        .type('html')
        .send(loginFailedPage(e.message));
    }
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  home(@Req() req: Request): string {
    const user = this.ctx.state.sessionUser(cookie(req, SESSION_COOKIE));
    return user ? homePage(this.ctx.state, user) : signedOutPage();
  }
}
