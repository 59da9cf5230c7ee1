import { Logger } from '@nestjs/common';
import { jobErrorAction } from '../common/job-error-mapper';
import { RolloutScheduler, type SchedulerCallbacks } from './rollout-scheduler';

const ATTEMPTS = 3;

/**
 * Ticks every ROLLOUT_TICK_SECONDS on a timer in this process: the embedded appliance has one
 * process, so there is nobody to share the work with. Each tick evaluates every active rollout.
 */
export class InProcessRolloutScheduler extends RolloutScheduler {
  private readonly logger = new Logger('RolloutScheduler');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private failed = 0;

  constructor(private readonly tickMs: number) {
    super();
  }

  async start(callbacks: SchedulerCallbacks): Promise<void> {
    this.timer = setInterval(() => {
      // A slow tick is not overlapped by the next one.
      if (!this.running) this.running = this.tick(callbacks).finally(() => (this.running = undefined));
    }, this.tickMs);
    this.timer.unref();
  }

  private async tick(callbacks: SchedulerCallbacks): Promise<void> {
    const tick = `timer:${Date.now()}`;
    for (const id of await callbacks.activeIds().catch(() => [])) {
      for (let attempt = 1; ; attempt++) {
        try {
          await callbacks.evaluate(id, tick);
          break;
        } catch (error) {
          const retry = jobErrorAction(error) === 'retry';
          if (retry && attempt < ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
            continue;
          }
          this.failed++;
          this.logger.error(`rollout ${id}: tick failed ${retry ? `${attempt} times` : 'for good'}: ${String(error)}`);
          await callbacks.failed(id, String(error)).catch(() => undefined);
          break;
        }
      }
    }
  }

  async track(): Promise<void> {}

  async untrack(): Promise<void> {}

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async failedTicks(): Promise<number> {
    return this.failed;
  }
}
