import { type DynamicModule, Module } from '@nestjs/common';
import { AdminTokenGuard, ApiSecretGuard } from './auth.guards.js';
import { EmulatorControlController } from './emulator-control.controller.js';
import { EMULATOR_CONTEXT, type EmulatorContext } from './emulator.context.js';
import { PortalApiController } from './portal-api.controller.js';
import { SsoApiController } from './sso-api.controller.js';
import { SsoController } from './sso.controller.js';

@Module({})
export class EmulatorModule {
  static forRoot(ctx: EmulatorContext): DynamicModule {
    return {
      module: EmulatorModule,
      controllers: [SsoApiController, SsoController, PortalApiController, EmulatorControlController],
      providers: [{ provide: EMULATOR_CONTEXT, useValue: ctx }, ApiSecretGuard, AdminTokenGuard],
    };
  }
}
