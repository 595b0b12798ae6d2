import { ProfilesService, providerSettings, type TibProfile } from '@app/profiles';
import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { landingPage, type LoginLink } from './html.js';

function links(profile: TibProfile): LoginLink[] {
  const cfg = providerSettings(profile) as { UseProviders?: { Name?: unknown }[] } | null;
  if (profile.ProviderName !== 'SocialProvider' || !Array.isArray(cfg?.UseProviders)) return [];
  return cfg.UseProviders.filter((p) => typeof p?.Name === 'string' && p.Name !== '').map((p) => ({
    name: profile.Name || profile.ID,
    provider: String(p.Name),
    href: `/auth/${encodeURIComponent(profile.ID)}/${encodeURIComponent(String(p.Name))}`,
  }));
}

/** The broker's landing page: the profiles a developer can sign in with. */
@ApiExcludeController()
@Controller()
export class HomeController {
  constructor(private readonly profiles: ProfilesService) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  home(): string {
    return landingPage(this.profiles.cachedAll().flatMap((s) => links(s.profile)));
  }
}
