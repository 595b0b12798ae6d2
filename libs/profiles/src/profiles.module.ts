import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ProfileEntity } from './profile.entity.js';
import { ProfilesCache } from './profiles.cache.js';
import { ProfilesController } from './profiles.controller.js';
import { ProfilesRepository } from './profiles.repository.js';
import { ProfilesService } from './profiles.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([ProfileEntity]), AuditModule],
  controllers: [ProfilesController],
  providers: [ProfilesRepository, ProfilesCache, ProfilesService],
  exports: [ProfilesService],
})
export class ProfilesModule {}
