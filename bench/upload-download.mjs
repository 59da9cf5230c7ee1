// bench/upload-download: upload and download throughput of a 100 MB binary through the appliance
// (embedded defaults), as ratios against `cp` of the same file (disk) and nginx serving it
// (loopback), plus the appliance's RSS growth while 20 downloads run at once.
//   npm run bench:upload-download            (SIZE_MB=100 DOWNLOAD_RUNS=5 CONCURRENT=20)
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { randomFillSync, createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { fmt, httpGet, median, MiB, peakRss, rssBytes, startAppliance, startNginx, tempDir } from './lib.mjs';

const SIZE = Number(process.env.SIZE_MB ?? 100) * 1000 * 1000;
const RUNS = Number(process.env.DOWNLOAD_RUNS ?? 5);
const CONCURRENT = Number(process.env.CONCURRENT ?? 20);

const work = tempDir('ota-bench-ud-');
const file = join(work, 'firmware.bin');
// nginx workers run as an unprivileged user: let them read the folder.
chmodSync(work, 0o755);
{
  const out = createWriteStream(file);
  const block = Buffer.alloc(MiB);
  for (let written = 0; written < SIZE; written += block.length) {
    randomFillSync(block);
    if (!out.write(written + block.length > SIZE ? block.subarray(0, SIZE - written) : block)) await new Promise((r) => out.once('drain', r));
  }
  out.end();
  await new Promise((r) => out.once('finish', r));
}
const sha256 = createHash('sha256')
  .update(execFileSync('cat', [file], { maxBuffer: 2 * SIZE }))
  .digest('hex');

function timeCp() {
  const target = join(work, 'copy.bin');
  const started = process.hrtime.bigint();
  execFileSync('cp', [file, target]);
  execFileSync('sync', [target]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rmSync(target);
  return seconds;
}

function upload(url, key, version) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(
      `${url}/api/v1/components/bench/versions/${version}`,
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream', 'content-length': statSync(file).size },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body), seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
      },
    );
    req.on('error', reject);
    pipeline(createReadStream(file, { highWaterMark: MiB }), req).catch(reject);
  });
}

const appliance = await startAppliance();
const nginx = await startNginx(work);
try {
  const cpSeconds = median([timeCp(), timeCp(), timeCp()]);
  const uploads = [];
  for (let i = 0; i < 3; i++) {
    const result = await upload(appliance.url, appliance.apiKey, `1.0.${i}`);
    if (result.status !== 201 && result.status !== 200) throw new Error(`upload failed: ${result.status}`);
    if (result.body.sha256 !== sha256) throw new Error('upload checksum mismatch');
    uploads.push(result.seconds);
  }
  const uploadSeconds = median(uploads);

  const applianceUrl = `${appliance.url}/artifacts/${sha256}`;
  const nginxUrl = `${nginx.url}/firmware.bin`;
  await httpGet(applianceUrl);
  await httpGet(nginxUrl);
  const appTimes = [];
  const nginxTimes = [];
  for (let i = 0; i < RUNS; i++) {
    const a = await httpGet(applianceUrl);
    const n = await httpGet(nginxUrl);
    if (a.bytes !== SIZE || n.bytes !== SIZE) throw new Error(`short download: appliance ${a.status} ${a.bytes}, nginx ${n.status} ${n.bytes}`);
    appTimes.push(a.seconds);
    nginxTimes.push(n.seconds);
  }
  const appDownload = median(appTimes);
  const nginxDownload = median(nginxTimes);

  const idleRss = rssBytes(appliance.pid);
  let concurrentSeconds = 0;
  const peak = await peakRss(appliance.pid, async () => {
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: CONCURRENT }, () => httpGet(applianceUrl)));
    concurrentSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (results.some((r) => r.bytes !== SIZE)) throw new Error('short concurrent download');
  });

  const mbps = (seconds) => SIZE / 1e6 / seconds;
  const lines = [
    `bench/upload-download — ${SIZE / 1e6} MB binary, embedded defaults (PGlite + filesystem store), loopback, ${new Date().toISOString().slice(0, 10)}`,
    `upload:    ${fmt(mbps(uploadSeconds), 0)} MB/s   cp (reference, with sync): ${fmt(mbps(cpSeconds), 0)} MB/s   ratio ${fmt(cpSeconds / uploadSeconds)}`,
    `download:  ${fmt(mbps(appDownload), 0)} MB/s   nginx (reference): ${fmt(mbps(nginxDownload), 0)} MB/s   ratio ${fmt(nginxDownload / appDownload)}  (target ≥ 0.50)`,
    `${CONCURRENT} concurrent downloads: ${fmt((CONCURRENT * SIZE) / 1e6 / concurrentSeconds, 0)} MB/s aggregate; appliance RSS ${fmt(idleRss / MiB, 0)} MiB idle → ${fmt(peak / MiB, 0)} MiB peak, growth ${fmt((peak - idleRss) / MiB, 1)} MiB  (target < 100 MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await appliance.stop();
  await nginx.stop();
  rmSync(work, { recursive: true, force: true });
}
