import { Module } from '@nestjs/common';
import { PackageHttpHandler } from './package-http.handler';
import { PackageService } from './package.service';

@Module({ providers: [PackageService, PackageHttpHandler], exports: [PackageService, PackageHttpHandler] })
export class PackagesModule {}
