import { Controller, Get, Header, HttpCode, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService, AuditStreamService } from '@app/audit';
import { withTimeout } from '@app/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Request } from 'express';
import { MetricsTokenGate } from '../metrics/metrics-token.gate.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicator: HealthIndicatorService,
    private readonly audit: AuditService,
    private readonly stream: AuditStreamService,
    private readonly gate: MetricsTokenGate,
  ) {}

  /** TIB answers 200 with an empty body; monitoring scripts written for TIB rely on it. */
  @Get()
  @HttpCode(200)
  @Header('Content-Length', '0')
  @ApiOperation({ summary: 'TIB-compatible liveness: 200, empty body' })
  tib(): void {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers' })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness: the database answers (503 when it does not); details include the audit protection and the SIEM stream state (with BROKER_METRICS_TOKEN set, only for Authorization: Bearer <token>)',
    description:
      '`details.audit.protection` is `weak` (with the reason) when the database role could rewrite the audit log; `details.audit.checkpoints` is `stopped` (with `checkpointProblem`) when the newest signed checkpoint is not one the broker can trust, `overdue` (with `checkpointsOverdue`) when sealed events have waited for a checkpoint longer than three checkpoint intervals, `passed_over` (with `checkpointsPassedOver`) for 24 hours after this instance passed over untrusted checkpoints appended at the end; `details.audit.fullVerify` is `overdue` (with `fullVerifyOverdue`) when no full verify the broker trusts has completed for three BROKER_AUDIT_FULL_VERIFY_HOURS periods (e.g. its lock is held elsewhere); `details.audit_sealer.state` is `stalled` (readiness stays 200) when the oldest unsealed event (`oldestUnsealedSeconds`) is older than BROKER_AUDIT_SEALER_STALLED_SECONDS (`stalledAfterSeconds`), else `ok`.',
  })
  @ApiBearerAuth()
  async ready(@Req() req: Request) {
    const database = () => this.db.pingCheck('database', { timeout: 1500 });
    // The audit and SIEM details tell an attacker when events are not reaching the SIEM and name
    // internal hosts: with BROKER_METRICS_TOKEN set they are for callers carrying it, as /metrics
    // is. A probe without it still gets the status (and the 503 while the database is down).
    // A wrong token is counted and audited (MetricsTokenGate), and still gets the reduced body.
    if (!(await this.gate.admits(req, 'health'))) return this.health.check([database]);
    return this.health.check([
      database,
      // Informational: a weak set-up still serves logins (issue 14), so it stays "up".
      async () => {
        const audit = this.indicator.check('audit');
        try {
          const [p, checkpoints, fullVerify] = await Promise.all([
            this.audit.protection(),
            this.audit.checkpointState(),
            this.audit.fullVerifyState(),
          ]);
          return audit.up({
            protection: p.protection,
            ...(p.reason ? { reason: p.reason } : {}),
            ...checkpoints,
            ...fullVerify,
          });
        } catch {
          return audit.down({ message: 'the audit tables cannot be read' });
        }
      },
      () => this.streamState(),
      () => this.sealerState(),
    ]);
  }

  /**
   * The sealer's state as details: always `up`, `state: 'stalled'` once the oldest unsealed event
   * is older than BROKER_AUDIT_SEALER_STALLED_SECONDS. A stalled sealer is shared by every replica
   * (one database): failing readiness for it would take them all out of rotation and stop every
   * login, while events are still written and wait for their seal.
   */
  private async sealerState() {
    const check = this.indicator.check('audit_sealer');
    try {
      const state = await withTimeout(this.audit.sealerState(), 1500);
      return check.up({ ...state });
    } catch {
      return check.up({ state: 'unknown' });
    }
  }

  /**
   * The SIEM stream's state as details: always `up`, since a SIEM outage must not take the
   * broker out of rotation (events wait in Postgres and are delivered when it is back).
   */
  private async streamState() {
    const check = this.indicator.check('audit_stream');
    try {
      const status = await withTimeout(this.stream.status(), 1500);
      return check.up({ ...status });
    } catch {
      return check.up({ state: 'unknown' });
    }
  }
}
