import { Injectable } from '@nestjs/common';
import type { ArtifactEntity } from '../artifacts/artifact.entity';
import { ArtifactService, type ChannelPointer } from '../artifacts/artifacts.service';
import type { ComponentEntity } from '../artifacts/component.entity';
import { validName } from '../artifacts/names';
import { CatalogService } from '../catalog/catalog.service';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { isUniqueViolation } from '../database/driver-errors';
import { UnitOfWork } from '../database/unit-of-work';
import type { ChannelEntity } from './channel.entity';
import { ChannelRepository } from './channel.repository';

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

/**
 * What holds a channel's pointer in place, said as the start of "… on channel <name>; finish or
 * abort it before you move the channel" (`rollout 42 is running`), or undefined when nothing does.
 * It runs inside the moving or deleting unit of work.
 */
export type ChannelMoveGuard = (channelId: string) => Promise<string | undefined>;

/** A channel a rollout is being created on, locked FOR UPDATE until the surrounding unit of work ends. */
export interface LockedChannel {
  id: string;
  name: string;
  /** The artifact the channel points at now. */
  artifactId: string;
  componentId: string;
  /** The component's name as stored. */
  component: string;
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
  private readonly moveGuards: ChannelMoveGuard[] = [];

  constructor(
    private readonly repository: ChannelRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly artifacts: ArtifactService,
    private readonly catalog: CatalogService,
  ) {
    artifacts.registerUsage((artifactId) => this.usage(artifactId));
    artifacts.registerChannelLookup((scope) => this.pointers(scope));
  }

  /**
   * Lets another feature hold channels' pointers in place: while a guard gives a reason, an
   * operator can neither move nor delete the channel (checks run in the order they were registered).
   */
  registerMoveGuard(check: ChannelMoveGuard): void {
    this.moveGuards.push(check);
  }

  /** Why an artifact cannot be deleted, as far as channels go. */
  private async usage(artifactId: string): Promise<string | undefined> {
    const channels = await this.repository.pointingAt(artifactId);
    if (channels.length === 0) return undefined;
    return `is used by channel(s) ${channels.map((c) => c.name).join(', ')}; point them elsewhere first`;
  }

  private async pointers(scope: { componentId?: string; artifactId?: string }): Promise<ChannelPointer[]> {
    const channels = await this.repository.list(scope);
    return channels.map((channel) => ({ componentId: channel.componentId, artifactId: channel.artifactId, name: channel.name }));
  }

  /** Creates or moves a channel. Answers whether it was created. */
  async put(componentName: string, channelName: string, change: ChannelChange): Promise<{ channel: ChannelView; created: boolean }> {
    validName('channel', channelName);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unitOfWork.run(() => this.write(componentName, channelName, change));
      } catch (error) {
        // Two requests created the same channel at once: the loser finds it now and moves it, like a second PUT.
        if (isUniqueViolation(error) && attempt < CREATE_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  private async write(componentName: string, channelName: string, change: ChannelChange): Promise<{ channel: ChannelView; created: boolean }> {
    const component = await this.artifacts.requireComponent(componentName);
    // Locks the version against a concurrent delete until this commits (see requireArtifact).
    const { artifact } = await this.artifacts.requireArtifact(component.name, change.version).catch((error: unknown) => {
      throw error instanceof DomainError && error.code === 'NotFound'
        ? invalidInput(`${component.name} has no version ${change.version}: upload it before pointing a channel at it`)
        : error;
    });
    const attributes = [...new Set((change.attributes ?? []).map((flag) => flag.toLowerCase()))].sort();
    const existing = await this.repository.findByName(component.id, channelName);
    if (existing && existing.artifactId !== artifact.id) await this.refuseWhileHeld(existing, 'move');
    const channel = existing ?? this.repository.create(component.id, channelName);
    channel.artifactId = artifact.id;
    channel.attributes = change.attributes === undefined && existing ? existing.attributes : attributes;
    channel.allowDowngrade = change.allowDowngrade ?? existing?.allowDowngrade ?? false;
    channel.updatedAt = new Date();
    await this.repository.save(channel);
    await this.catalog.changed();
    return { channel: view(component, channel, artifact), created: !existing };
  }

  /** A rollout in flight owns its channel's pointer: moving it by hand would pull the rug from under it. */
  private async refuseWhileHeld(channel: ChannelEntity, action: 'move' | 'delete'): Promise<void> {
    for (const guard of this.moveGuards) {
      const holder = await guard(channel.id);
      if (holder !== undefined) throw conflict(`${holder} on channel ${channel.name}; finish or abort it before you ${action} the channel`);
    }
  }

  async get(componentName: string, channelName: string): Promise<ChannelView> {
    const component = await this.artifacts.requireComponent(componentName);
    const channel = await this.repository.findByNameWithArtifact(component.id, channelName);
    if (!channel) throw notFound(`${component.name} has no channel ${channelName.slice(0, 64)}`);
    return view(component, channel, channel.artifact!);
  }

  async list(componentName: string): Promise<ChannelView[]> {
    const component = await this.artifacts.requireComponent(componentName);
    const channels = await this.repository.listWithArtifacts(component.id);
    return channels.map((channel) => view(component, channel, channel.artifact!));
  }

  async remove(componentName: string, channelName: string): Promise<void> {
    await this.unitOfWork.run(async () => {
      const component = await this.artifacts.requireComponent(componentName);
      const channel = await this.repository.findByName(component.id, channelName);
      if (!channel) throw notFound(`${component.name} has no channel ${channelName.slice(0, 64)}`);
      await this.refuseWhileHeld(channel, 'delete');
      await this.repository.delete(channel.id);
      await this.catalog.changed();
    });
  }

  /**
   * The channel a rollout is to be created on, locked FOR UPDATE until the surrounding unit of work
   * (which there must be) commits, so that two rollouts created on it at once are decided in turn.
   * NotFound when the component or the channel does not exist.
   */
  async lockForRollout(componentName: string, channelName: string): Promise<LockedChannel> {
    const component = await this.artifacts.requireComponent(componentName);
    const channel = await this.repository.lockByName(component.id, channelName);
    if (!channel) throw notFound(`${component.name} has no channel ${channelName.slice(0, 64)}; create it before rolling out on it`);
    return { id: channel.id, name: channel.name, artifactId: channel.artifactId, componentId: component.id, component: component.name };
  }

  /**
   * Points a channel at an artifact for the rollout that owns it (so no move guard is asked), and
   * counts as a catalog change of the surrounding unit of work.
   */
  async pointAt(channelId: string, artifactId: string, at: Date = new Date()): Promise<void> {
    await this.repository.pointAt(channelId, artifactId, at);
    await this.catalog.changed();
  }

  /**
   * Lets a channel offer its version to devices that run a newer one (a rollout aborted with
   * rollback), and counts as a catalog change of the surrounding unit of work.
   */
  async allowDowngrade(channelId: string, at: Date = new Date()): Promise<void> {
    await this.repository.allowDowngrade(channelId, at);
    await this.catalog.changed();
  }

  /** Channel names by id (for features that keep channel ids). */
  async channelNames(ids: string[]): Promise<Map<string, string>> {
    const channels = await this.repository.byIds([...new Set(ids)]);
    return new Map(channels.map((channel) => [channel.id, channel.name]));
  }
}
