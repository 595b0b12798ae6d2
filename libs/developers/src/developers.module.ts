import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DevelopersController } from './developers.controller.js';
import { DevelopersRepository } from './developers.repository.js';
import { DevelopersService } from './developers.service.js';
import { DeveloperEntity } from './entities/developer.entity.js';
import { PortalOrgLinkEntity } from './entities/portal-org-link.entity.js';
import { IssuedTokensRepository } from './issued-tokens.repository.js';
import { IssuedTokensStore } from './issued-tokens.store.js';
import { OrganisationLinksRepository } from './organisation-links.repository.js';
import { OrganisationLinksService } from './organisation-links.service.js';

/** Developers, organisation links, the tokens issued to them, and the `/api/developers` routes. */
@Module({
  imports: [TypeOrmModule.forFeature([DeveloperEntity, PortalOrgLinkEntity]), AuditModule],
  controllers: [DevelopersController],
  providers: [
    DevelopersRepository,
    DevelopersService,
    OrganisationLinksRepository,
    OrganisationLinksService,
    IssuedTokensRepository,
    IssuedTokensStore,
  ],
  exports: [DevelopersService, OrganisationLinksService, IssuedTokensStore],
})
export class DevelopersModule {}
