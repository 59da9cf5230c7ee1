import { Global, Module } from '@nestjs/common';
import { CatalogEvents } from './catalog-events';
import { CatalogService } from './catalog.service';

@Global()
@Module({ providers: [CatalogEvents, CatalogService], exports: [CatalogService] })
export class CatalogModule {}
