// bench/package: GET /package with the sample data loaded (four 10 MiB binaries for the query below).
//  - metadataOnly requests/s and p99 latency (autocannon, same connections and duration) as a ratio
//    of nginx serving the identical JSON as a static file;
//  - the full payload (tar.gz of the four binaries): time to first byte, MB/s, and the appliance's
//    RSS growth while 20 clients download it at once.
//   npm run bench:package        (CONNECTIONS=50 DURATION=10 CONCURRENT=20 LOG_LEVEL=warn)
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, httpGet, median, MiB, peakRss, repoRoot, rssBytes, startAppliance, startNginx, tempDir } from './lib.mjs';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const DURATION = Number(process.env.DURATION ?? 10);
const CONCURRENT = Number(process.env.CONCURRENT ?? 20);
const QUERY = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';

function load(url) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: DURATION, pipelining: 1 }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

const appliance = await startAppliance({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const web = tempDir('ota-bench-pkg-');
chmodSync(web, 0o755);
let nginx;
try {
  execFileSync(process.execPath, [join(repoRoot, 'dist/apps/server/src/tools/seed-sample.js')], {
    env: { ...process.env, OTA_URL: appliance.url, OTA_API_KEY: appliance.apiKey, SAMPLE_SIZE_BYTES: String(10 * MiB) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const metadataUrl = `${appliance.url}/package?${QUERY}&payloadType=metadataOnly`;
  const json = await (await fetch(metadataUrl)).text();
  if (Object.keys(JSON.parse(json)).length !== 4) throw new Error(`expected 4 components, got ${json}`);
  writeFileSync(join(web, 'package.json'), json);
  nginx = await startNginx(web);

  await load(metadataUrl); // warm-up (JIT, connection pools)
  const app = await load(metadataUrl);
  const ref = await load(`${nginx.url}/package.json`);
  if (app.non2xx > 0 || ref.non2xx > 0) throw new Error(`non-2xx answers: appliance ${app.non2xx}, nginx ${ref.non2xx}`);

  const payloadUrl = `${appliance.url}/package?${QUERY}`;
  const single = [];
  for (let i = 0; i < 5; i++) single.push(await httpGet(payloadUrl));
  const payloadBytes = single[0].bytes;
  const ttfb = median(single.map((r) => r.firstByteSeconds));
  const seconds = median(single.map((r) => r.seconds));

  const idle = rssBytes(appliance.pid);
  let concurrentSeconds = 0;
  const peak = await peakRss(appliance.pid, async () => {
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: CONCURRENT }, () => httpGet(payloadUrl)));
    concurrentSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (results.some((r) => r.bytes !== payloadBytes)) throw new Error('a concurrent payload came back short');
  });

  const lines = [
    `bench/package — sample data, query "${QUERY}", ${CONNECTIONS} connections × ${DURATION} s, LOG_LEVEL=${process.env.LOG_LEVEL ?? 'warn'}, ${new Date().toISOString().slice(0, 10)}`,
    `metadataOnly: ${fmt(app.requests.average, 0)} req/s, p99 ${app.latency.p99} ms   nginx static file (reference): ${fmt(ref.requests.average, 0)} req/s, p99 ${ref.latency.p99} ms   ratio ${fmt(app.requests.average / ref.requests.average)}  (target ≥ 0.25)`,
    `full payload (${fmt(payloadBytes / MiB, 1)} MiB tar.gz, 4 binaries): time to first byte ${fmt(ttfb * 1000, 1)} ms, ${fmt(payloadBytes / 1e6 / seconds, 0)} MB/s single client`,
    `${CONCURRENT} concurrent full payloads: ${fmt((CONCURRENT * payloadBytes) / 1e6 / concurrentSeconds, 0)} MB/s aggregate; appliance RSS ${fmt(idle / MiB, 0)} MiB → peak ${fmt(peak / MiB, 0)} MiB, growth ${fmt((peak - idle) / MiB, 1)} MiB  (target < 100 MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await appliance.stop();
  await nginx?.stop();
  rmSync(web, { recursive: true, force: true });
}
