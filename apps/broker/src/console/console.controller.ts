import { AuditService, EXPORT_CONTENT_TYPES, type AuditExportFormat } from '@app/audit';
import { DomainError } from '@app/common';
import { DevelopersService } from '@app/developers';
import {
  Controller,
  Get,
  Header,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
  StreamableFile,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ConsoleSessionService, type ConsoleSession } from './console-session.service.js';
import { ConsoleSignInRateLimitGuard } from './console-sign-in-limit.guard.js';
import { ConsoleExceptionFilter, ConsoleGuard, ConsolePublic, ConsoleRoles, StaffSession } from './console.guard.js';
import { ConsoleViewsService } from './console-views.service.js';
import { ConsoleAssets } from './console-assets.js';
import { EVENT_FILTERS, type EventFilterValues } from './views/pages.js';

function eventFilters(query: Record<string, unknown>): EventFilterValues {
  const out: EventFilterValues = {};
  for (const key of EVENT_FILTERS) {
    const v = query[key];
    if (typeof v === 'string' && v !== '') out[key] = v;
  }
  return out;
}

const context = (req: Request) => ({
  ip: req.ip ?? null,
  userAgent: req.get('user-agent') ?? null,
  requestId: typeof (req as { id?: unknown }).id === 'string' ? ((req as { id?: unknown }).id as string) : null,
});

/** The security console: server-rendered pages over the same services as the admin API. */
@ApiExcludeController()
@Controller('console')
@UseGuards(ConsoleGuard)
@UseFilters(ConsoleExceptionFilter)
export class ConsoleController {
  private readonly assets = ConsoleAssets.load();

  constructor(
    private readonly sessions: ConsoleSessionService,
    private readonly views: ConsoleViewsService,
    private readonly audit: AuditService,
    private readonly developers: DevelopersService,
  ) {}

  /**
   * The console's static files: the URLs the pages use carry the content hash (`?v=`), so a year's
   * cache is safe; the ETag answers a revalidation with 304. Unknown names are 404.
   */
  @Get('assets/:name')
  @ConsolePublic()
  asset(@Param('name') name: string, @Req() req: Request, @Res() res: Response): void {
    const file = this.assets.get(name);
    if (!file) throw new DomainError('not_found', 'There is no such file.');
    res.setHeader('Content-Type', file.type);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', file.etag);
    // If-None-Match compares weakly (RFC 9110 §13.1.2), whatever Cache-Control the request has
    // (Express's req.fresh would answer 200 to a fetch() revalidation, which sends no-cache).
    // helmet sets nosniff.
    const presented = (req.headers['if-none-match'] ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''));
    if (presented.includes(file.etag) || presented.includes('*')) {
      res.status(304).end();
      return;
    }
    res.status(200).end(file.body);
  }

  @Get('sign-in')
  @ConsolePublic()
  @UseGuards(ConsoleSignInRateLimitGuard)
  async signIn(@Req() req: Request, @Res() res: Response, @Query('return_to') returnTo?: string): Promise<void> {
    const { url, pendingId } = await this.sessions.start(returnTo);
    res.cookie(
      this.sessions.cookieName(req, true),
      pendingId,
      this.sessions.cookieOptions(req, this.sessions.signInTtlSeconds),
    );
    res.redirect(302, url);
  }

  @Get('callback')
  @ConsolePublic()
  async callback(@Req() req: Request, @Res() res: Response, @Query() query: Record<string, unknown>): Promise<void> {
    res.clearCookie(this.sessions.cookieName(req, true), this.sessions.cookieOptions(req, 0));
    const { sessionId, returnTo } = await this.sessions.finish(req, query);
    res.cookie(
      this.sessions.cookieName(req),
      sessionId,
      this.sessions.cookieOptions(req, this.sessions.absoluteSeconds),
    );
    res.redirect(302, returnTo);
  }

  @Post('sign-out')
  async signOut(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.sessions.signOut(req);
    res.clearCookie(this.sessions.cookieName(req), this.sessions.cookieOptions(req, 0));
    res.redirect(303, '/console/signed-out');
  }

  @Get('signed-out')
  @ConsolePublic()
  @Header('Content-Type', 'text/html; charset=utf-8')
  signedOut(): string {
    return this.views.signedOut();
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  overview(@StaffSession() session: ConsoleSession): Promise<string> {
    return this.views.overview(session);
  }

  @Post('verify')
  async verify(@StaffSession() session: ConsoleSession, @Res() res: Response): Promise<void> {
    await this.views.verifyChain(session);
    res.redirect(303, '/console#chain');
  }

  @Get('events')
  @Header('Content-Type', 'text/html; charset=utf-8')
  events(@StaffSession() session: ConsoleSession, @Query() query: Record<string, unknown>): Promise<string> {
    const cursor = typeof query.cursor === 'string' ? query.cursor : undefined;
    return this.views.events(session, eventFilters(query), cursor);
  }

  @Get('events/export')
  async export(@Query() query: Record<string, unknown>): Promise<StreamableFile> {
    const format =
      query.format === 'csv' ? 'csv' : query.format === 'ndjson' || query.format === undefined ? 'ndjson' : null;
    if (!format) throw new DomainError('validation_failed', 'format: expected ndjson or csv');
    const { limit: _limit, order: _order, ...filters } = eventFilters(query);
    const stream = await this.audit.exportEvents(filters, format);
    const f: AuditExportFormat = format;
    return new StreamableFile(stream, {
      type: EXPORT_CONTENT_TYPES[f],
      disposition: `attachment; filename="audit-events.${f}"`,
    });
  }

  @Get('developers')
  @Header('Content-Type', 'text/html; charset=utf-8')
  developerList(@StaffSession() session: ConsoleSession, @Query() query: Record<string, unknown>): Promise<string> {
    return this.views.developers(
      session,
      typeof query.email === 'string' ? query.email : '',
      typeof query.cursor === 'string' ? query.cursor : undefined,
    );
  }

  @Get('developers/:id')
  @Header('Content-Type', 'text/html; charset=utf-8')
  developer(@StaffSession() session: ConsoleSession, @Param('id', ParseUUIDPipe) id: string): Promise<string> {
    return this.views.developer(session, id);
  }

  @Post('developers/:id/block')
  @ConsoleRoles('admin')
  async block(
    @StaffSession() s: ConsoleSession,
    @Param('id', ParseUUIDPipe) id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.developers.block(id, `admin:${s.subject}`, context(req));
    res.redirect(303, `/console/developers/${id}`);
  }

  @Post('developers/:id/unblock')
  @ConsoleRoles('admin')
  async unblock(
    @StaffSession() s: ConsoleSession,
    @Param('id', ParseUUIDPipe) id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.developers.unblock(id, `admin:${s.subject}`, context(req));
    res.redirect(303, `/console/developers/${id}`);
  }

  @Get('profiles')
  @Header('Content-Type', 'text/html; charset=utf-8')
  async profileList(@StaffSession() session: ConsoleSession): Promise<string> {
    return this.views.profiles(session);
  }

  @Get('profiles/:id')
  @Header('Content-Type', 'text/html; charset=utf-8')
  profile(@StaffSession() session: ConsoleSession, @Param('id') id: string): Promise<string> {
    return this.views.profile(session, id);
  }
}
