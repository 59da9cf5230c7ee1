import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import type { StatusState } from '../devices/status-report.entity';
import type { RolloutState } from './rollout-policy';

export const ROLLOUT_STATES: RolloutState[] = ['scheduled', 'running', 'paused', 'completed', 'aborted'];

export class PhaseDto {
  @ApiProperty({ example: 10, minimum: 1, maximum: 100, description: 'Cohorts below this get the new version' })
  @IsInt()
  @Min(1)
  @Max(100)
  percent!: number;

  @ApiProperty({ example: 3600, description: 'Least time in this phase before the next one opens' })
  @IsInt()
  @Min(0)
  @Max(365 * 86_400)
  holdSeconds!: number;
}

export class CreateRolloutDto {
  @ApiProperty({ example: 'os_armv8' })
  @IsString()
  @MaxLength(64)
  component!: string;

  @ApiProperty({ example: 'prod' })
  @IsString()
  @MaxLength(64)
  channel!: string;

  @ApiProperty({ example: '2.0.0', description: 'An uploaded version of the component' })
  @IsString()
  @MaxLength(64)
  version!: string;

  @ApiPropertyOptional({ example: { site: 'plant-7' }, description: 'Only devices whose attributes match all of these take part (case-insensitive)' })
  @IsOptional()
  @IsObject()
  selectors?: Record<string, string>;

  @ApiProperty({
    type: [PhaseDto],
    example: [
      { percent: 10, holdSeconds: 3600 },
      { percent: 50, holdSeconds: 3600 },
      { percent: 100, holdSeconds: 0 },
    ],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => PhaseDto)
  phases!: PhaseDto[];

  @ApiProperty({ example: 0.05, description: 'Pause when failed + rolled_back exceed this share of final reports (0..1)' })
  @IsNumber()
  @Min(0)
  @Max(1)
  maxFailureRate!: number;

  @ApiProperty({ example: 20, description: 'Final reports a phase needs before its failure rate counts, and before it may advance' })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  minReports!: number;

  @ApiPropertyOptional({ example: '2026-12-01T02:00:00Z', description: 'Default: now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  startAt?: string;

  @ApiPropertyOptional({ example: 600, description: 'Spread each phase’s announced checks so no more than this many devices a minute are invited' })
  @IsOptional()
  @IsInt()
  @Min(1)
  maxDevicesPerMinute?: number;

  @ApiPropertyOptional({ example: 300, default: 60, description: 'Devices wait a random 0..jitterSeconds after an announcement before checking' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400)
  jitterSeconds?: number;
}

export class AbortRolloutDto {
  @ApiPropertyOptional({ default: false, description: 'Also let devices that installed the new version go back to the channel’s version (allowDowngrade on the channel)' })
  @IsOptional()
  @IsBoolean()
  rollback?: boolean;
}

export class RolloutIdParams {
  @ApiProperty({ format: 'uuid', description: 'Id of the rollout' })
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'rollout id must be a UUID' })
  id!: string;
}

export class ListRolloutsQuery {
  @ApiPropertyOptional({ enum: ROLLOUT_STATES })
  @IsOptional()
  @IsIn(ROLLOUT_STATES)
  state?: RolloutState;
}

export class RolloutEventResponse {
  @ApiProperty() at!: Date;
  @ApiProperty({ nullable: true, enum: ROLLOUT_STATES }) fromState!: RolloutState | null;
  @ApiProperty({ enum: ROLLOUT_STATES }) toState!: RolloutState;
  @ApiProperty({ description: '1-based phase number (0 before the first phase)' }) phase!: number;
  @ApiProperty({ nullable: true, type: Number }) percent!: number | null;
  @ApiProperty() reason!: string;
  @ApiProperty({ example: 'scheduler' }) actor!: string;
}

export class RolloutSummaryResponse {
  @ApiProperty() id!: string;
  @ApiProperty() component!: string;
  @ApiProperty() channel!: string;
  @ApiProperty() version!: string;
  @ApiProperty({ description: 'The channel’s version when the rollout was created' }) fromVersion!: string;
  @ApiProperty({ enum: ROLLOUT_STATES }) state!: RolloutState;
  @ApiProperty({ description: '1-based current phase (0 before the start)' }) phase!: number;
  @ApiProperty({ description: 'Cohorts below this get the new version now (0 when not running)' }) percent!: number;
  @ApiProperty() startAt!: Date;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
}

export class RolloutResponse extends RolloutSummaryResponse {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) selectors!: Record<string, string>;
  @ApiProperty({ type: [PhaseDto] }) phases!: PhaseDto[];
  @ApiProperty() maxFailureRate!: number;
  @ApiProperty() minReports!: number;
  @ApiProperty({ nullable: true, type: Number }) maxDevicesPerMinute!: number | null;
  @ApiProperty() jitterSeconds!: number;
  @ApiProperty({ description: 'Devices by their latest state in this rollout', example: { installed: 40, failed: 1 } })
  counts!: Partial<Record<StatusState, number>>;
  @ApiProperty({ description: 'The same, for the current phase' }) phaseCounts!: Partial<Record<StatusState, number>>;
  @ApiProperty({ description: 'failed + rolled_back over final reports in the current phase (since the last resume); null without final reports', nullable: true, type: Number })
  failureRate!: number | null;
  @ApiProperty() evaluations!: number;
  @ApiProperty({ nullable: true, type: Date }) lastEvaluatedAt!: Date | null;
  @ApiProperty({ type: [RolloutEventResponse] }) history!: RolloutEventResponse[];
}
