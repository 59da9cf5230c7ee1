import { ArtifactEntity } from '../artifacts/artifact.entity';
import { ComponentEntity } from '../artifacts/component.entity';
import { ApiKeyEntity } from '../auth/api-key.entity';
import { ChannelEntity } from '../channels/channel.entity';
import { DeviceInventoryEntity } from '../devices/device-inventory.entity';
import { DeviceEntity } from '../devices/device.entity';
import { StatusReportEntity } from '../devices/status-report.entity';
import { RolloutDeviceStateEntity } from '../rollouts/rollout-device-state.entity';
import { RolloutEventEntity } from '../rollouts/rollout-event.entity';
import { RolloutEntity } from '../rollouts/rollout.entity';
import { ManifestEntity } from '../manifests/manifest.entity';
import { PeerOwnerEntity } from '../peers/peer-owner.entity';
import { PeerEntity } from '../peers/peer.entity';

export const entities = [
  ApiKeyEntity,
  ComponentEntity,
  ArtifactEntity,
  ChannelEntity,
  DeviceEntity,
  DeviceInventoryEntity,
  StatusReportEntity,
  RolloutEntity,
  RolloutEventEntity,
  RolloutDeviceStateEntity,
  ManifestEntity,
  PeerEntity,
  PeerOwnerEntity,
];
