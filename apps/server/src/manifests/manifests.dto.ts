import type { Manifest, SignedManifest } from '@app/manifest';
import { ApiProperty } from '@nestjs/swagger';

export class ManifestDto implements Manifest {
  @ApiProperty({ example: 'os_armv8' }) component!: string;
  @ApiProperty({ example: '6.15.008' }) version!: string;
  @ApiProperty({ example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }) sha256!: string;
  @ApiProperty({ example: 'd41d8cd98f00b204e9800998ecf8427e' }) md5!: string;
  @ApiProperty({ example: 25165824 }) size!: number;
  @ApiProperty({ example: 1048576, description: 'Bytes per chunk; the last chunk may be shorter' }) chunkSize!: number;
  @ApiProperty({ type: [String], description: 'SHA-256 (hex) of every chunk, in order' }) chunks!: string[];
  @ApiProperty({ example: '2026-11-20T09:14:03.120Z', description: 'When the artifact was stored' }) createdAt!: string;
  @ApiProperty({ example: '3f1c0e9a7b2d4c55', description: 'The signing key (GET /keys)' }) keyId!: string;
}

export class SignedManifestResponse implements SignedManifest {
  @ApiProperty({ type: ManifestDto }) manifest!: ManifestDto;

  @ApiProperty({
    description:
      'Ed25519 signature (base64) over the RFC 8785 canonical JSON of `manifest`. The body is itself canonical JSON, so the text between `{"manifest":` and `,"signature":` is exactly the signed bytes.',
  })
  signature!: string;
}

export class SigningKeyDto {
  @ApiProperty({ example: '3f1c0e9a7b2d4c55', description: 'First 16 hex digits of SHA-256 of the raw 32-byte public key' }) keyId!: string;
  @ApiProperty({ enum: ['Ed25519'] }) algorithm!: 'Ed25519';
  @ApiProperty({ description: 'Raw 32-byte Ed25519 public key, base64' }) publicKey!: string;
  @ApiProperty({ description: 'The same key as an SPKI PEM block' }) publicKeyPem!: string;
  @ApiProperty({ description: 'Manifests signed with this key are valid' }) active!: boolean;
  @ApiProperty({ description: 'New manifests are signed with this key' }) current!: boolean;
}

export class SigningKeysResponse {
  @ApiProperty({ type: [SigningKeyDto] }) keys!: SigningKeyDto[];
}
