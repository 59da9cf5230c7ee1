import { Logger } from '@nestjs/common';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import Redis from 'ioredis';
import { jobErrorAction } from '../common/job-error-mapper';
import { RolloutScheduler, type SchedulerCallbacks } from './rollout-scheduler';

const QUEUE = 'rollouts';
const ATTEMPTS = 4;
const schedulerId = (rolloutId: string) => `rollout:${rolloutId}`;

interface TickData {
  rolloutId: string;
}

/**
 * Rollout ticks as BullMQ job schedulers, one per active rollout: Redis holds the schedule, so it
 * survives restarts, and each tick is one job that exactly one replica's worker takes. A tick that
 * throws is retried with backoff, unless the job error mapper says retrying cannot help; one that
 * keeps failing stays in the failed set (see /metrics) and is written to the rollout's history.
 */
export class BullMqRolloutScheduler extends RolloutScheduler {
  private readonly logger = new Logger('RolloutScheduler');
  private readonly connection: Redis;
  private readonly queue: Queue<TickData>;
  private worker?: Worker<TickData>;
  private workerConnection?: Redis;

  constructor(
    url: string,
    prefix: string,
    private readonly tickMs: number,
  ) {
    super();
    // BullMQ's blocking commands need maxRetriesPerRequest: null.
    this.connection = new Redis(url, { maxRetriesPerRequest: null });
    this.queue = new Queue<TickData>(QUEUE, { connection: this.connection, prefix: `${prefix}:bull` });
  }

  async start(callbacks: SchedulerCallbacks): Promise<void> {
    this.worker = new Worker<TickData>(
      QUEUE,
      async (job: Job<TickData>) => {
        try {
          await callbacks.evaluate(job.data.rolloutId, `job:${job.id}`);
        } catch (error) {
          // BullMQ retries whatever a job throws, except this.
          if (jobErrorAction(error) === 'fail') throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
          throw error;
        }
      },
      { connection: (this.workerConnection = this.connection.duplicate()), prefix: this.queue.opts.prefix, concurrency: 1 },
    );
    this.worker.on('failed', (job, error) => {
      const forGood = error instanceof UnrecoverableError;
      if (!job || (job.attemptsMade < ATTEMPTS && !forGood)) return;
      this.logger.error(`rollout ${job.data.rolloutId}: tick ${job.id} failed ${forGood ? 'for good' : `${job.attemptsMade} times`}: ${error.message}`);
      void callbacks.failed(job.data.rolloutId, error.message).catch(() => undefined);
    });
    this.worker.on('error', (error) => this.logger.warn(`rollout worker: ${error.message}`));
    await this.reconcile(await callbacks.activeIds());
  }

  /** Makes Redis' schedules match the database's active rollouts (after a Redis flush, or a crash between the two). */
  private async reconcile(active: string[]): Promise<void> {
    const wanted = new Set(active.map(schedulerId));
    for (const scheduler of await this.queue.getJobSchedulers()) {
      const key = scheduler.key ?? scheduler.id;
      if (key && !wanted.has(key)) await this.queue.removeJobScheduler(key);
    }
    for (const id of active) await this.track(id);
  }

  async track(rolloutId: string): Promise<void> {
    await this.queue.upsertJobScheduler(
      schedulerId(rolloutId),
      { every: this.tickMs },
      {
        name: 'evaluate',
        data: { rolloutId },
        opts: { attempts: ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 100, removeOnFail: 1000 },
      },
    );
  }

  async untrack(rolloutId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerId(rolloutId));
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
    // Connections handed to BullMQ stay open when it closes: they are ours to quit.
    await Promise.all([this.workerConnection?.quit(), this.connection.quit()].map((quit) => quit?.catch(() => undefined)));
  }

  async failedTicks(): Promise<number> {
    return this.queue.getFailedCount();
  }
}
