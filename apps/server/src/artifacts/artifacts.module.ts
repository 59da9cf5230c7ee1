import { Module } from '@nestjs/common';
import { ArtifactService } from './artifacts.service';
import { ComponentsController } from './components.controller';
import { DownloadsController } from './downloads.controller';

@Module({ controllers: [ComponentsController, DownloadsController], providers: [ArtifactService], exports: [ArtifactService] })
export class ArtifactsModule {}
