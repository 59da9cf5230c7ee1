import { Module } from '@nestjs/common';
import { ArtifactsModule } from '../artifacts/artifacts.module';
import { ChannelsController } from './channels.controller';
import { ChannelService } from './channels.service';

@Module({ imports: [ArtifactsModule], controllers: [ChannelsController], providers: [ChannelService], exports: [ChannelService] })
export class ChannelsModule {}
