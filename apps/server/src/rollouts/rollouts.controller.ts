import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope, type AuthenticatedRequest } from '../auth/admin-auth.guard';
import { RolloutCommands } from './rollout-commands.service';
import { RolloutQueries } from './rollout-queries.service';
import { AbortRolloutDto, CreateRolloutDto, ListRolloutsQuery, RolloutIdParams, RolloutResponse, RolloutSummaryResponse } from './rollouts.dto';

const actor = (request: AuthenticatedRequest) => `api-key:${request.apiKey?.name ?? 'unknown'}`;

@ApiTags('admin: rollouts')
@Controller('api/v1/rollouts')
export class RolloutsController {
  constructor(
    private readonly commands: RolloutCommands,
    private readonly queries: RolloutQueries,
  ) {}

  @Post()
  @RequireScope('write')
  @ApiCreatedResponse({ type: RolloutResponse })
  @ApiNotFoundResponse({ description: 'Unknown component, channel or version' })
  @ApiConflictResponse({ description: 'Another rollout is active on the channel, or the channel already has the version' })
  create(@Body() body: CreateRolloutDto, @Req() request: AuthenticatedRequest): Promise<RolloutResponse> {
    return this.commands.create(body, actor(request));
  }

  @Get()
  @RequireScope('read')
  @ApiOkResponse({ type: [RolloutSummaryResponse] })
  list(@Query() query: ListRolloutsQuery): Promise<RolloutSummaryResponse[]> {
    return this.queries.list(query.state);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOkResponse({ type: RolloutResponse })
  get(@Param() params: RolloutIdParams): Promise<RolloutResponse> {
    return this.queries.get(params.id);
  }

  @Post(':id/pause')
  @RequireScope('write')
  @HttpCode(200)
  @ApiOkResponse({ type: RolloutResponse })
  pause(@Param() params: RolloutIdParams, @Req() request: AuthenticatedRequest): Promise<RolloutResponse> {
    return this.commands.pause(params.id, actor(request));
  }

  @Post(':id/resume')
  @RequireScope('write')
  @HttpCode(200)
  @ApiOkResponse({ type: RolloutResponse })
  resume(@Param() params: RolloutIdParams, @Req() request: AuthenticatedRequest): Promise<RolloutResponse> {
    return this.commands.resume(params.id, actor(request));
  }

  @Post(':id/abort')
  @RequireScope('write')
  @HttpCode(200)
  @ApiOkResponse({ type: RolloutResponse })
  abort(@Param() params: RolloutIdParams, @Body() body: AbortRolloutDto, @Req() request: AuthenticatedRequest): Promise<RolloutResponse> {
    return this.commands.abort(params.id, body.rollback ?? false, actor(request));
  }
}
