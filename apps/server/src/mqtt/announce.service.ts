import { Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import type { RolloutAnnouncement, RolloutAnnouncer } from '../rollouts/rollout-announcements';
import { ANNOUNCE_TOPIC } from './mqtt-broker';
import { MqttService } from './mqtt.service';
import { TokenBucket } from './token-bucket';

/** What devices are told on ota/v1/announce when a version becomes available to them (a rollout phase opening): the JSON payload. */
export type Announcement = RolloutAnnouncement;

/**
 * Publishes announcements on ota/v1/announce, at most ANNOUNCE_MAX_PER_MINUTE: more wait their
 * turn (in order) rather than being dropped, since each one opens a rollout phase. The rollouts
 * feature's announcer (registered by MqttModule).
 */
@Injectable()
export class AnnounceService implements RolloutAnnouncer {
  private readonly logger = new Logger('Announce');
  private readonly bucket: TokenBucket;
  private queue: Promise<void> = Promise.resolve();
  private readonly published: Counter;

  constructor(
    config: AppConfig,
    private readonly mqtt: MqttService,
    metrics: MetricsService,
  ) {
    const perMinute = config.announceMaxPerMinute;
    this.bucket = new TokenBucket(perMinute / 60, Math.max(1, Math.min(perMinute, 10)));
    this.published = new Counter({ name: 'ota_mqtt_announcements_total', help: 'Announcements published on ota/v1/announce', registers: [metrics.registry] });
  }

  /** Resolves once the announcement is published (after waiting for the rate limit, if needed). */
  announce(announcement: Announcement): Promise<void> {
    const turn = this.queue.then(async () => {
      let wait = this.bucket.waitMs();
      while (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = this.bucket.waitMs();
      }
      this.bucket.take();
      await this.mqtt.publish(ANNOUNCE_TOPIC, announcement);
      this.published.inc();
      this.logger.log(`announced ${announcement.component} ${announcement.version} on ${announcement.channel} to cohorts < ${announcement.maxCohort}`);
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}
