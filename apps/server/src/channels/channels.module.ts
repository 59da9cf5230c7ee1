import { Module } from '@nestjs/common';
import { ArtifactsModule } from '../artifacts/artifacts.module';
import { ChannelRepository } from './channel.repository';
import { ChannelsController } from './channels.controller';
import { ChannelService } from './channels.service';

@Module({ imports: [ArtifactsModule], controllers: [ChannelsController], providers: [ChannelRepository, ChannelService], exports: [ChannelService] })
export class ChannelsModule {}
