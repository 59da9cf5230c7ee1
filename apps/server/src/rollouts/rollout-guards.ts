import { Injectable } from '@nestjs/common';
import { ArtifactService } from '../artifacts/artifacts.service';
import { ChannelService } from '../channels/channels.service';
import { RolloutRepository } from './rollout.repository';

/**
 * What an active rollout (scheduled, running or paused) holds in place, told to the features
 * that own it: the versions it ships and replaces cannot be deleted, and its channel cannot be
 * moved or deleted by hand. Both checks run inside the deleting or moving unit of work.
 */
@Injectable()
export class RolloutGuards {
  constructor(
    private readonly rollouts: RolloutRepository,
    artifacts: ArtifactService,
    channels: ChannelService,
  ) {
    artifacts.registerUsage((artifactId) => this.artifactUsage(artifactId));
    channels.registerMoveGuard((channelId) => this.channelHolder(channelId));
  }

  private async artifactUsage(artifactId: string): Promise<string | undefined> {
    const rollout = await this.rollouts.findActiveWithArtifact(artifactId);
    return rollout ? `is part of rollout ${rollout.id}, which is still active` : undefined;
  }

  private async channelHolder(channelId: string): Promise<string | undefined> {
    const active = await this.rollouts.findActiveOnChannel(channelId);
    return active ? `rollout ${active.id} is ${active.state}` : undefined;
  }
}
