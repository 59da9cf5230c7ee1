const HEX64 = /^[0-9a-f]{64}$/;
const ARTIFACT_IN_URL = /\/(?:artifacts|manifests)\/([0-9a-f]{64})(?:[/?#]|$)/;

/**
 * Points every component's `url` and `manifestUrl` in a `/package` JSON answer at this agent, so a
 * device that only changed its base URL downloads through the site cache. The artifact is found by
 * the component's `sha256` (or, failing that, from the URL itself, which may be a presigned storage
 * URL); objects without either are left alone. Mutates and returns `doc`.
 */
export function rewritePackageUrls(doc: unknown, baseUrl: string): unknown {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const obj = node as Record<string, unknown>;
    if (typeof obj.url === 'string' || typeof obj.manifestUrl === 'string') {
      const sha256 =
        typeof obj.sha256 === 'string' && HEX64.test(obj.sha256.toLowerCase())
          ? obj.sha256.toLowerCase()
          : (ARTIFACT_IN_URL.exec(String(obj.url ?? ''))?.[1] ?? ARTIFACT_IN_URL.exec(String(obj.manifestUrl ?? ''))?.[1]);
      if (sha256) {
        if (typeof obj.url === 'string') obj.url = `${baseUrl}/artifacts/${sha256}`;
        if (typeof obj.manifestUrl === 'string') obj.manifestUrl = `${baseUrl}/manifests/${sha256}`;
      }
    }
    for (const value of Object.values(obj)) if (typeof value === 'object') visit(value);
  };
  visit(doc);
  return doc;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The base URL devices used to reach us: `--public-url` when set, else `http://<Host header>`.
 * A Host that is not a plain host[:port] is not echoed into URLs (it falls back to `fallback`).
 */
export function deviceBaseUrl(publicUrl: string | undefined, hostHeader: string | undefined, fallback: string): string {
  if (publicUrl) return publicUrl;
  if (hostHeader && HOST.test(hostHeader)) return `http://${hostHeader}`;
  return fallback;
}
