import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/admin-auth.guard';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Public('metrics scrape')
  @ApiOkResponse({ description: 'Prometheus text format: HTTP, uploads, artifact bytes sent, MQTT, rollouts, process' })
  @Header('Cache-Control', 'no-store')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
