import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DevelopersController } from './developers.controller.js';
import { DevelopersService } from './developers.service.js';
import { DeveloperEntity } from './entities/developer.entity.js';
import { PortalOrgLinkEntity } from './entities/portal-org-link.entity.js';
import { OrganisationLinksService } from './organisation-links.service.js';

/** Developers and organisation links, and the `/api/developers` routes. */
@Module({
  imports: [TypeOrmModule.forFeature([DeveloperEntity, PortalOrgLinkEntity]), AuditModule],
  controllers: [DevelopersController],
  providers: [DevelopersService, OrganisationLinksService],
  exports: [DevelopersService, OrganisationLinksService],
})
export class DevelopersModule {}
