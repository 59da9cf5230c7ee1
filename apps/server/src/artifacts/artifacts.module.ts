import { Module } from '@nestjs/common';
import { ManifestsModule } from '../manifests/manifests.module';
import { ArtifactRepository } from './artifact.repository';
import { ArtifactService } from './artifacts.service';
import { ComponentsController } from './components.controller';
import { DownloadsController } from './downloads.controller';

@Module({ imports: [ManifestsModule], controllers: [ComponentsController, DownloadsController], providers: [ArtifactRepository, ArtifactService], exports: [ArtifactService] })
export class ArtifactsModule {}
