import type { PeerRegistration, RosterPeer, RosterResponse as Roster } from '@app/manifest';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { NAME_PATTERN } from '../artifacts/names';
import { DEVICE_ID_PATTERN } from '../devices/devices.dto';

/** libp2p peer ids in base58btc: Ed25519 identities (`12D3KooW…`) and SHA-256 multihashes (`Qm…`). */
export const PEER_ID_PATTERN = /^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/;
/** A multiaddr as text: `/ip4/10.0.0.2/tcp/4010/p2p/12D3KooW…`; printable, no spaces. */
export const MULTIADDR_PATTERN = /^(\/[!-.0-~]+)+$/;
export const MAX_ADDRS = 16;
export const MAX_ADDR_LENGTH = 256;

export class RegisterPeerDto implements PeerRegistration {
  @ApiProperty({ example: 'plant-7', description: 'Site id shared by the agents of one site (1-64 letters, digits, ".", "_", "-"; compared exactly)' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'site must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit' })
  site!: string;

  @ApiProperty({ example: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', description: 'libp2p peer id (base58)' })
  @IsString()
  @Matches(PEER_ID_PATTERN, { message: 'peerId must be a base58 libp2p peer id (12D3KooW… or Qm…)' })
  peerId!: string;

  @ApiProperty({
    type: [String],
    example: ['/ip4/10.0.0.2/tcp/4010/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'],
    description: `At most ${MAX_ADDRS} multiaddrs of at most ${MAX_ADDR_LENGTH} characters`,
  })
  @IsArray()
  @ArrayMaxSize(MAX_ADDRS)
  @IsString({ each: true })
  @MaxLength(MAX_ADDR_LENGTH, { each: true })
  @Matches(MULTIADDR_PATTERN, { each: true, message: 'each of addrs must be a multiaddr such as /ip4/10.0.0.2/tcp/4010/p2p/12D3KooW…' })
  addrs!: string[];

  @ApiPropertyOptional({ example: 'http://10.0.0.2:8090', description: "The agent's HTTP base URL for devices" })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @Matches(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, { message: 'httpUrl must be an http(s) URL without query or fragment' })
  httpUrl?: string;

  @ApiPropertyOptional({ example: 'gw-plant-7-a', description: 'With DEVICE_AUTH=token: the registered device whose token is sent as Authorization: Bearer' })
  @IsOptional()
  @IsString()
  @Matches(DEVICE_ID_PATTERN, { message: 'deviceId must be 1-128 letters, digits, ".", "_", ":" or "-"' })
  deviceId?: string;
}

export class PeerIdParams {
  @ApiProperty({ example: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', pattern: PEER_ID_PATTERN.source, description: 'libp2p peer id (base58)' })
  @Matches(PEER_ID_PATTERN, { message: 'peerId must be a base58 libp2p peer id (12D3KooW… or Qm…)' })
  peerId!: string;
}

export class RosterPeerDto implements RosterPeer {
  @ApiProperty() peerId!: string;
  @ApiProperty({ type: [String] }) addrs!: string[];
  @ApiPropertyOptional() httpUrl?: string;
  @ApiProperty({ description: 'When the peer last registered (ISO 8601)' }) lastSeen!: string;
}

export class RosterResponse implements Roster {
  @ApiProperty({ type: [RosterPeerDto], description: "The site's other live peers, most recently seen first" }) peers!: RosterPeerDto[];
  @ApiProperty({ example: 60, description: 'An entry expires this long after its last registration; register again every ttlSeconds / 3' }) ttlSeconds!: number;
}
