import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ArtifactEntity } from '../artifacts/artifact.entity';
import { ArtifactService } from '../artifacts/artifacts.service';
import { ComponentEntity } from '../artifacts/component.entity';
import { validName } from '../artifacts/names';
import { bumpCatalogRevision } from '../catalog/catalog-revision';
import { CatalogService } from '../catalog/catalog.service';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { isUniqueViolation } from '../database/driver-errors';
import { ChannelEntity } from './channel.entity';

/** A PUT that lost the race to create its channel runs again, and finds the channel the winner created. */
const CREATE_ATTEMPTS = 3;

export interface ChannelView {
  component: string;
  channel: string;
  version: string;
  attributes: string[];
  allowDowngrade: boolean;
  sha256: string;
  md5: string;
  size: number;
  updatedAt: Date;
}

export interface ChannelChange {
  version: string;
  attributes?: string[];
  allowDowngrade?: boolean;
}

function view(component: ComponentEntity, channel: ChannelEntity, artifact: ArtifactEntity): ChannelView {
  return {
    component: component.name,
    channel: channel.name,
    version: artifact.version,
    attributes: channel.attributes,
    allowDowngrade: channel.allowDowngrade,
    sha256: artifact.sha256,
    md5: artifact.md5,
    size: artifact.size,
    updatedAt: channel.updatedAt,
  };
}

@Injectable()
export class ChannelService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly artifacts: ArtifactService,
    private readonly catalog: CatalogService,
  ) {}

  private async findChannel(manager: EntityManager, componentId: string, name: string): Promise<ChannelEntity | undefined> {
    const channel = await manager
      .getRepository(ChannelEntity)
      .createQueryBuilder('ch')
      .where('ch.component_id = :componentId AND lower(ch.name) = lower(:name)', { componentId, name })
      .getOne();
    return channel ?? undefined;
  }

  /** Creates or moves a channel. Answers whether it was created. */
  async put(componentName: string, channelName: string, change: ChannelChange): Promise<{ channel: ChannelView; created: boolean }> {
    validName('channel', channelName);
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.dataSource.transaction((manager) => this.write(manager, componentName, channelName, change));
        await this.catalog.refresh();
        return result;
      } catch (error) {
        // Two requests created the same channel at once: the loser finds it now and moves it, like a second PUT.
        if (isUniqueViolation(error) && attempt < CREATE_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  private async write(manager: EntityManager, componentName: string, channelName: string, change: ChannelChange): Promise<{ channel: ChannelView; created: boolean }> {
    const component = await this.artifacts.requireComponent(componentName, manager);
    // Locks the version against a concurrent delete until this commits (see requireArtifact).
    const { artifact } = await this.artifacts.requireArtifact(component.name, change.version, manager).catch((error: unknown) => {
      throw error instanceof DomainError && error.code === 'NotFound'
        ? invalidInput(`${component.name} has no version ${change.version}: upload it before pointing a channel at it`)
        : error;
    });
    const attributes = [...new Set((change.attributes ?? []).map((flag) => flag.toLowerCase()))].sort();
    const channels = manager.getRepository(ChannelEntity);
    const existing = await this.findChannel(manager, component.id, channelName);
    if (existing && existing.artifactId !== artifact.id) await this.refuseWhileRolling(manager, existing, 'move');
    const channel = existing ?? Object.assign(new ChannelEntity(), { componentId: component.id, name: channelName });
    channel.artifactId = artifact.id;
    channel.attributes = change.attributes === undefined && existing ? existing.attributes : attributes;
    channel.allowDowngrade = change.allowDowngrade ?? existing?.allowDowngrade ?? false;
    channel.updatedAt = new Date();
    await channels.save(channel);
    await bumpCatalogRevision(manager);
    return { channel: view(component, channel, artifact), created: !existing };
  }

  /** A rollout in flight owns its channel's pointer: moving it by hand would pull the rug from under it. */
  private async refuseWhileRolling(manager: EntityManager, channel: ChannelEntity, action: 'move' | 'delete'): Promise<void> {
    const [active] = (await manager.query(`SELECT id, state FROM rollouts WHERE channel_id = $1 AND state IN ('scheduled', 'running', 'paused')`, [
      channel.id,
    ])) as { id: string; state: string }[];
    if (active) throw conflict(`rollout ${active.id} is ${active.state} on channel ${channel.name}; finish or abort it before you ${action} the channel`);
  }

  async get(componentName: string, channelName: string): Promise<ChannelView> {
    const component = await this.artifacts.requireComponent(componentName);
    const channel = await this.findChannel(this.dataSource.manager, component.id, channelName);
    if (!channel) throw notFound(`${component.name} has no channel ${channelName.slice(0, 64)}`);
    const artifact = await this.dataSource.getRepository(ArtifactEntity).findOneByOrFail({ id: channel.artifactId });
    return view(component, channel, artifact);
  }

  async list(componentName: string): Promise<ChannelView[]> {
    const component = await this.artifacts.requireComponent(componentName);
    const channels = await this.dataSource.getRepository(ChannelEntity).find({ where: { componentId: component.id }, relations: { artifact: true }, order: { name: 'ASC' } });
    return channels.map((channel) => view(component, channel, channel.artifact!));
  }

  async remove(componentName: string, channelName: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const component = await this.artifacts.requireComponent(componentName, manager);
      const channel = await this.findChannel(manager, component.id, channelName);
      if (!channel) throw notFound(`${component.name} has no channel ${channelName.slice(0, 64)}`);
      await this.refuseWhileRolling(manager, channel, 'delete');
      await manager.getRepository(ChannelEntity).delete({ id: channel.id });
      await bumpCatalogRevision(manager);
    });
    await this.catalog.refresh();
  }
}
