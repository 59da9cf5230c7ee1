import type { OpenAPIObject } from '@nestjs/swagger';

/** The OpenAPI description of GET /package, which is served ahead of the framework's router. */
export function describePackageRoute(document: OpenAPIObject): void {
  const parameter = (name: string, description: string, example?: string, required = false) => ({
    name,
    in: 'query' as const,
    required,
    description,
    schema: { type: 'string' as const },
    ...(example === undefined ? {} : { example }),
  });
  const entry = {
    type: 'object',
    properties: {
      latestVersion: { type: 'string', description: 'The version to install now (or the installed one when status_code is 304)' },
      url: { type: 'string', nullable: true, description: 'Where to download it' },
      status_code: { type: 'integer', enum: [200, 304] },
      sha256: { type: 'string', nullable: true },
      md5: { type: 'string', nullable: true },
      size: { type: 'integer', nullable: true },
      targetVersion: { type: 'string', description: 'Where the device is heading (differs from latestVersion on a bridge)' },
      reason: { type: 'string', enum: ['channel', 'rollout', 'bridge-required', 'installed', 'ahead-of-channel', 'no-upgrade-path', 'downgrade'] },
      manifestUrl: { type: 'string', nullable: true, description: 'The signed manifest of the artifact' },
      rolloutId: { type: 'string', description: 'Present when a rollout decided the target' },
    },
  };
  const error = { description: '', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  document.components = {
    ...document.components,
    schemas: {
      ...document.components?.schemas,
      Error: {
        type: 'object',
        properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } },
      },
    },
  };
  document.paths['/package'] = {
    get: {
      tags: ['device: package'],
      summary: 'What a device should install: package_details.json or a tar.gz of the binaries it lacks',
      description:
        'Cacheable by any CDN: the answer depends only on the query, If-None-Match and the catalog. Every 200/304 carries Cache-Control: public, max-age=CACHE_TTL_SECONDS, an ETag of the decision and Vary: If-None-Match; errors are cached for 10 s.',
      parameters: [
        parameter('cpuArch', 'Selects component os_<cpuArch> on channel `os` (default prod)', 'armv8', true),
        parameter('os', 'Channel of the OS component', 'beta'),
        parameter('attrGamer', 'attrX=<channel> selects every component whose <channel> carries flag x (any attr… key)', 'prod'),
        parameter('payloadType', 'fullPayload (default): application/gzip; metadataOnly: JSON', 'metadataOnly'),
        parameter('installed', 'component@version,… the device runs (alternative to hashes)', 'ipModule@5.6.14'),
        parameter('cohort', '0-99, the device’s rollout cohort (first 4 bytes of SHA-256(deviceId) mod 100)', '5'),
        parameter('deviceId', 'Identifies the device; its cohort is computed from it when cohort is absent'),
        {
          name: 'If-None-Match',
          in: 'header',
          required: false,
          description: 'MD5 or SHA-256 of installed binaries, comma-separated (quotes, W/ and whitespace tolerated)',
          schema: { type: 'string' },
        },
      ],
      responses: {
        '200': {
          description: 'metadataOnly: one entry per selected component. Otherwise a tar.gz: package_details.json, then <component>_<version> per binary to install',
          content: {
            'application/json': { schema: { type: 'object', additionalProperties: entry } },
            'application/gzip': { schema: { type: 'string', format: 'binary' } },
          },
        },
        '304': { description: 'Every selected binary is installed (or the cache already holds this decision)' },
        '400': { ...error, description: 'Missing cpuArch, unknown payloadType, malformed installed, repeated or too many parameters' },
        '404': { ...error, description: 'No component matches, or a named channel does not exist' },
        '414': { ...error, description: 'A parameter is too long' },
        '503': { ...error, description: 'A store the answer needs cannot be reached right now; Retry-After says when to ask again' },
      },
    },
  };
}
