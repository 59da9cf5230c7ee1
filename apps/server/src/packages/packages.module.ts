import { Module } from '@nestjs/common';
import { PackageController } from './package.controller';
import { PackageService } from './package.service';

@Module({ controllers: [PackageController], providers: [PackageService], exports: [PackageService] })
export class PackagesModule {}
