import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** The readiness probe's view of the database: does it answer a query now? */
@Injectable()
export class DatabaseHealth {
  constructor(private readonly dataSource: DataSource) {}

  /** Resolves when the database answers a trivial query; rejects with the driver's error otherwise. */
  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}
