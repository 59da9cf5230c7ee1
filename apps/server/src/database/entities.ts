import { ArtifactEntity } from '../artifacts/artifact.entity';
import { ComponentEntity } from '../artifacts/component.entity';
import { ApiKeyEntity } from '../auth/api-key.entity';
import { ChannelEntity } from '../channels/channel.entity';

export const entities = [ApiKeyEntity, ComponentEntity, ArtifactEntity, ChannelEntity];
