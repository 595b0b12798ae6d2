import { Controller, Delete, HttpCode, Inject, Post, UseFilters, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from './auth.guards.js';
import { EMULATOR_CONTEXT, type EmulatorContext, type PortalFaults } from './emulator.context.js';
import { EmulatorError, validateContract, type PortalContract } from './emulator.state.js';
import { PortalApiErrorFilter } from './error.filters.js';
import { decodeBody, JsonBodyParam } from './json-body.decorator.js';
import type { JsonBody } from './request-pipeline.js';

/** Checks a faults object coming from outside (HTTP or the programmatic API). */
export function validateFaults(input: PortalFaults): PortalFaults {
  // The programmatic API has no JSON decode in front: a value of the wrong type is refused here.
  if (typeof input !== 'object' || input === null) throw new EmulatorError('invalid', 'faults must be an object');
  const { latencyMs, failStatus, paths, methods, loseAnswer, skip, times } = input;
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (latencyMs !== undefined && (!Number.isSafeInteger(latencyMs) || latencyMs < 0)) {
    throw new EmulatorError('invalid', 'latencyMs must be a non-negative integer');
  }
  if (failStatus !== undefined && (!Number.isSafeInteger(failStatus) || failStatus < 400 || failStatus > 599)) {
    throw new EmulatorError('invalid', 'failStatus must be an HTTP error status (400-599)');
  }
  if (paths !== undefined && !(strings(paths) && paths.every((p) => p.startsWith('/')))) {
    throw new EmulatorError('invalid', 'paths must be path prefixes starting with /');
  }
  if (methods !== undefined && !(strings(methods) && methods.every((m) => /^[A-Z]+$/.test(m)))) {
    throw new EmulatorError('invalid', 'methods must be upper-case HTTP methods');
  }
  if (loseAnswer !== undefined && typeof loseAnswer !== 'boolean') {
    throw new EmulatorError('invalid', 'loseAnswer must be a boolean');
  }
  for (const [name, count] of [
    ['skip', skip],
    ['times', times],
  ] as const) {
    if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) {
      throw new EmulatorError('invalid', `${name} must be a non-negative integer`);
    }
  }
  return {
    ...(latencyMs !== undefined && { latencyMs }),
    ...(failStatus !== undefined && { failStatus }),
    ...(paths !== undefined && { paths: [...paths] }),
    ...(methods !== undefined && { methods: [...methods] }),
    ...(loseAnswer !== undefined && { loseAnswer }),
    ...(skip !== undefined && { skip }),
    ...(times !== undefined && { times }),
  };
}

/** Not part of the portal: lets a test that runs the emulator as a child process inject faults. */
@Controller('__emulator')
@UseGuards(AdminTokenGuard)
@UseFilters(PortalApiErrorFilter)
export class EmulatorControlController {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  @Post('faults')
  @HttpCode(200)
  setFaults(@JsonBodyParam() body: JsonBody): PortalFaults {
    const input = decodeBody(
      body,
      {
        latencyMs: 'int',
        failStatus: 'int',
        paths: 'strings',
        methods: 'strings',
        loseAnswer: 'bool',
        skip: 'int',
        times: 'int',
      },
      'Request body malformed',
    );
    this.ctx.faults = validateFaults(input);
    this.ctx.faultMatches = 0;
    return this.ctx.faults;
  }

  /** Switches the behaviour where the real portal's is unknown (PortalContract), for child-process runs. */
  @Post('contract')
  @HttpCode(200)
  setContract(@JsonBodyParam() body: JsonBody): PortalContract {
    const input = decodeBody(
      body,
      {
        teamsWrite: 'string',
        unknownTeams: 'string',
        maxPerPage: 'int',
        perPageOverMax: 'string',
        adminDeveloperSso: 'string',
        deactivationEndsSessions: 'bool',
      },
      'Request body malformed',
    ) as Partial<PortalContract>;
    this.ctx.state.contract = validateContract(input, this.ctx.state.contract);
    return this.ctx.state.contract;
  }

  @Delete('faults')
  clearFaults() {
    this.ctx.faults = null;
    return { status: 'ok' };
  }
}
