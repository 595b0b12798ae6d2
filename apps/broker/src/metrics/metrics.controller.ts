import { DomainError } from '@app/common';
import { serverConfig, type ServerConfig } from '@app/config';
import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { scrapeMetrics } from '../cluster/cluster-metrics.js';
import { BrokerMetrics } from './broker-metrics.service.js';
import { MetricsToken } from './metrics-token.js';

@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  private readonly token: MetricsToken;

  constructor(
    private readonly metrics: BrokerMetrics,
    @Inject(serverConfig.KEY) config: ServerConfig,
  ) {
    this.token = new MetricsToken(config.metrics.token);
  }

  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics; with BROKER_METRICS_TOKEN set, only for Authorization: Bearer <token>',
  })
  @ApiBearerAuth()
  @ApiResponse({ status: 401, description: 'BROKER_METRICS_TOKEN is set and the request does not carry it' })
  async scrape(@Headers('authorization') authorization: string | undefined, @Res() res: Response): Promise<void> {
    if (!this.token.accepts(authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new DomainError('unauthorized', 'Metrics need Authorization: Bearer <BROKER_METRICS_TOKEN>');
    }
    // Under BROKER_WORKERS > 1, every worker's metrics merged (cluster-metrics.ts).
    res.type(this.metrics.registry.contentType).send(await scrapeMetrics(this.metrics.registry));
  }
}
