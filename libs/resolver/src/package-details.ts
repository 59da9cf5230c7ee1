import type { CatalogArtifact } from './catalog';
import type { OfferReason, ResolvedDecision } from './decision';

/** Where artifacts and their signed manifests are served from (the origin, a CDN, a presigned store URL…). */
export interface ArtifactUrls {
  artifactUrl(sha256: string): string;
  manifestUrl(sha256: string): string;
}

/**
 * One component in `package_details.json` (the seed's shape, extended).
 *
 * On a 200, the artifact fields describe what to download. On a 304 they describe the installed artifact,
 * so `latestVersion`, `sha256` and `md5` all agree with what the device runs; they are null when the catalog
 * does not know that artifact (a declared version it has no binary for). A 304 never carries the target's
 * URL: on `no-upgrade-path` that binary must not be installed, and a device that ignores `status_code`
 * should find nothing to fetch.
 */
export interface PackageDetailsEntry {
  latestVersion: string;
  url: string | null;
  status_code: 200 | 304;
  sha256: string | null;
  md5: string | null;
  size: number | null;
  targetVersion: string;
  reason: OfferReason;
  manifestUrl: string | null;
  rolloutId?: string;
}

/** `package_details.json`: component name (catalog spelling) → entry, in the decision's order. */
export type PackageDetails = Record<string, PackageDetailsEntry>;

/**
 * Renders a decision as `package_details.json`. The HTTP (`metadataOnly` and the first tar member) and MQTT
 * (`components` of the offer) answers both use it, so they are identical.
 */
export function packageDetails(decision: ResolvedDecision, urls: ArtifactUrls): PackageDetails {
  const details: PackageDetails = Object.create(null) as PackageDetails;
  for (const c of decision.components) {
    const artifact: CatalogArtifact | undefined = c.statusCode === 200 ? c.offered : c.installedArtifact;
    const sha256 = artifact?.sha256.toLowerCase();
    details[c.component] = {
      latestVersion: c.latestVersion,
      url: sha256 === undefined ? null : urls.artifactUrl(sha256),
      status_code: c.statusCode,
      sha256: sha256 ?? null,
      md5: artifact?.md5.toLowerCase() ?? null,
      size: artifact?.size ?? null,
      targetVersion: c.targetVersion,
      reason: c.reason,
      manifestUrl: sha256 === undefined ? null : urls.manifestUrl(sha256),
      ...(c.rolloutId !== undefined && { rolloutId: c.rolloutId }),
    };
  }
  return details;
}
