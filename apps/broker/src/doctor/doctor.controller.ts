import { AdminRoles } from '@app/common';
import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { DoctorReport } from './doctor-report.js';
import { DoctorService } from './doctor.service.js';

/** `GET /api/profiles/{id}/check`: the setup doctor for one profile, in TIB's envelope. */
@ApiTags('profiles (TIB-compatible)')
@ApiSecurity('tib-secret')
@AdminRoles('admin')
@Controller('api/profiles')
export class DoctorController {
  constructor(private readonly doctor: DoctorService) {}

  @Get(':id/check')
  @ApiOperation({
    summary:
      'Check a profile end to end without a user (IdP discovery, keys, client, redirect URI, portal secrets and teams, risky settings); Data.ok is false when any item fails',
  })
  @ApiParam({ name: 'id' })
  async check(@Param('id') id: string): Promise<{ Status: 'ok'; ID: string; Data: DoctorReport }> {
    return { Status: 'ok', ID: id, Data: await this.doctor.check(id) };
  }
}
