import { Global, Module } from '@nestjs/common';
import { CatalogEvents } from './catalog-events';
import { CatalogRepository } from './catalog.repository';
import { CatalogService } from './catalog.service';

@Global()
@Module({ providers: [CatalogEvents, CatalogRepository, CatalogService], exports: [CatalogService] })
export class CatalogModule {}
