import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { DatabaseContext } from '../database/unit-of-work';
import { ChannelEntity } from './channel.entity';

/** The channels table. Every call joins the surrounding unit of work. */
@Injectable()
export class ChannelRepository {
  constructor(private readonly context: DatabaseContext) {}

  private get channels() {
    return this.context.repository(ChannelEntity);
  }

  private byName(componentId: string, name: string) {
    return this.channels.createQueryBuilder('ch').where('ch.component_id = :componentId AND lower(ch.name) = lower(:name)', { componentId, name });
  }

  /** The component's channel with this name in any letter case. */
  async findByName(componentId: string, name: string): Promise<ChannelEntity | undefined> {
    return (await this.byName(componentId, name).getOne()) ?? undefined;
  }

  /** The same, with the artifact it points at loaded. */
  async findByNameWithArtifact(componentId: string, name: string): Promise<ChannelEntity | undefined> {
    return (await this.byName(componentId, name).leftJoinAndSelect('ch.artifact', 'artifact').getOne()) ?? undefined;
  }

  /** The same, locked FOR UPDATE until the surrounding unit of work (which there must be) ends. */
  async lockByName(componentId: string, name: string): Promise<ChannelEntity | undefined> {
    return (await this.byName(componentId, name).setLock('pessimistic_write').getOne()) ?? undefined;
  }

  /** A component's channels by name, with the artifact each points at loaded. */
  listWithArtifacts(componentId: string): Promise<ChannelEntity[]> {
    return this.channels.find({ where: { componentId }, relations: { artifact: true }, order: { name: 'ASC' } });
  }

  /** Channels by name: all of them, or those of one component, or those pointing at one artifact. */
  list(scope: { componentId?: string; artifactId?: string }): Promise<ChannelEntity[]> {
    return this.channels.find({
      select: { componentId: true, artifactId: true, name: true },
      where: { ...(scope.componentId !== undefined && { componentId: scope.componentId }), ...(scope.artifactId !== undefined && { artifactId: scope.artifactId }) },
      order: { name: 'ASC' },
    });
  }

  /** The channels pointing at an artifact. */
  pointingAt(artifactId: string): Promise<ChannelEntity[]> {
    return this.channels.findBy({ artifactId });
  }

  byIds(ids: string[]): Promise<ChannelEntity[]> {
    return ids.length > 0 ? this.channels.findBy({ id: In(ids) }) : Promise.resolve([]);
  }

  /** A new channel, stored by {@link save}. */
  create(componentId: string, name: string): ChannelEntity {
    return Object.assign(new ChannelEntity(), { componentId, name });
  }

  /** Inserts a new channel or updates an existing one. */
  async save(channel: ChannelEntity): Promise<void> {
    await this.channels.save(channel);
  }

  async delete(id: string): Promise<void> {
    await this.channels.delete({ id });
  }

  async pointAt(id: string, artifactId: string, at: Date): Promise<void> {
    await this.channels.update({ id }, { artifactId, updatedAt: at });
  }

  async allowDowngrade(id: string, at: Date): Promise<void> {
    await this.channels.update({ id }, { allowDowngrade: true, updatedAt: at });
  }
}
