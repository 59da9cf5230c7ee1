import { Module } from '@nestjs/common';
import { ManifestsModule } from '../manifests/manifests.module';
import { ArtifactService } from './artifacts.service';
import { ComponentsController } from './components.controller';
import { DownloadsController } from './downloads.controller';

@Module({ imports: [ManifestsModule], controllers: [ComponentsController, DownloadsController], providers: [ArtifactService], exports: [ArtifactService] })
export class ArtifactsModule {}
