import { createHash } from 'node:crypto';
import { sampleBinary } from '../../apps/server/src/tools/seed-sample';
import { SAMPLE_DATA } from '../../apps/server/src/tools/sample-data';
import { sendJson, upload } from './http';

export interface SampleArtifact {
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: number;
}

/** Loads the reference sample data (small binaries) through the admin API; answers what was stored. */
export async function loadSampleData(baseUrl: string, size = 64 * 1024): Promise<Map<string, SampleArtifact>> {
  const stored = new Map<string, SampleArtifact>();
  for (const sample of SAMPLE_DATA) {
    for (const { version, requiresFrom } of sample.versions) {
      const result = await upload(baseUrl, sample.component, version, sampleBinary(sample.component, version, size), {
        query: requiresFrom ? `requiresFrom=${requiresFrom}` : undefined,
        headers: { 'content-length': String(size) },
      });
      if (result.status !== 201 && result.status !== 200) throw new Error(`upload ${sample.component} ${version}: ${result.status}`);
      stored.set(`${sample.component}@${version}`, result.body);
    }
    for (const channel of sample.channels) {
      const result = await sendJson('PUT', `${baseUrl}/api/v1/components/${sample.component}/channels/${channel.channel}`, {
        version: channel.version,
        attributes: channel.attributes,
      });
      if (result.status >= 300) throw new Error(`channel ${sample.component}/${channel.channel}: ${result.status}`);
    }
  }
  return stored;
}

export const md5Of = (data: Buffer) => createHash('md5').update(data).digest('hex');
