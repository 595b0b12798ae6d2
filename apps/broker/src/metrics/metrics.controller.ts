import { DomainError } from '@app/common';
import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { scrapeMetrics } from '../cluster/cluster-metrics.js';
import { BrokerMetrics } from './broker-metrics.service.js';
import { MetricsTokenGate } from './metrics-token.gate.js';

@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly gate: MetricsTokenGate,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics; with BROKER_METRICS_TOKEN set, only for Authorization: Bearer <token>',
  })
  @ApiBearerAuth()
  @ApiResponse({ status: 401, description: 'BROKER_METRICS_TOKEN is set and the request does not carry it' })
  @ApiResponse({ status: 429, description: 'Too many failed attempts from this client in the current minute' })
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!(await this.gate.admits(req, 'metrics'))) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new DomainError('unauthorized', 'Metrics need Authorization: Bearer <BROKER_METRICS_TOKEN>');
    }
    // Under BROKER_WORKERS > 1, every worker's metrics merged (cluster-metrics.ts).
    res.type(this.metrics.registry.contentType).send(await scrapeMetrics(this.metrics.registry));
  }
}
