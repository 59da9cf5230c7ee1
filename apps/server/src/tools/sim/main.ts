/**
 * npm run sim -- --devices N --mqtt mqtt://host:1883 [--http http://host:8080] --rate R [options]
 * A fleet of simulated devices: handy for trying a rollout and used by tests and benchmarks.
 */
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { FleetSimulator, type FleetOptions } from './fleet-simulator';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return parsed;
}

function share(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('expected a number between 0 and 1');
  return parsed;
}

function attributes(value: string): Record<string, string> {
  const pairs = value
    .split(/[,&]/)
    .filter(Boolean)
    .map((pair) => pair.split('='));
  if (pairs.some((pair) => pair.length !== 2 || !pair[0])) throw new InvalidArgumentError('expected key=value pairs, e.g. cpuArch=armv8,attrGamer=prod');
  return Object.fromEntries(pairs);
}

const program = new Command('sim')
  .description('Simulate a fleet of devices that check, download, verify and report against an OTA appliance')
  .requiredOption('--devices <n>', 'number of devices', positiveInt)
  .option('--mqtt <url>', 'MQTT URL of the appliance (mqtt://, mqtts://, ws://…/mqtt); without it devices check over HTTP')
  .option('--http <url>', 'appliance base URL for HTTP checks, downloads and status (default: the offers’ URLs)')
  .option('--rate <perSecond>', 'devices brought up per second', positiveInt, 50)
  .option('--attributes <pairs>', 'device attributes', attributes, { cpuArch: 'armv8' })
  .option('--fail-rate <share>', 'share of devices whose installs fail (0..1)', share, 0)
  .option('--id-prefix <prefix>', 'device id prefix', 'sim-')
  .option('--no-download', 'do not download offered binaries (report only)')
  .option('--api-key <key>', 'register devices through the admin API first (DEVICE_AUTH=token)')
  .option('--duration <seconds>', 'stop after this long (default: run until interrupted)', positiveInt)
  .parse();

const flags = program.opts();
if (!flags.mqtt && !flags.http) program.error('give --mqtt or --http (or both)');
const options: FleetOptions = {
  devices: flags.devices,
  mqttUrl: flags.mqtt,
  httpUrl: flags.http?.replace(/\/+$/, ''),
  rate: flags.rate,
  attributes: flags.attributes,
  failRate: flags.failRate,
  idPrefix: flags.idPrefix,
  download: flags.download,
  apiKey: flags.apiKey,
};

const fleet = new FleetSimulator(options);
const bar = process.stderr.isTTY
  ? new SingleBar({ format: 'devices up {value}/{total} | checks {checks} offers {offers} installed {installed} failed {failed} errors {errors}', stream: process.stderr })
  : undefined;
bar?.start(options.devices, 0, fleet.counters as unknown as Record<string, number>);
const progress = setInterval(() => {
  bar?.update(fleet.counters.connected || fleet.counters.checks, fleet.counters as unknown as Record<string, number>);
  if (!bar) process.stderr.write(`${JSON.stringify(fleet.counters)}\n`);
}, 1000);

async function finish(): Promise<void> {
  clearInterval(progress);
  bar?.stop();
  await fleet.stop();
  process.stdout.write(`${JSON.stringify(fleet.counters)}\n`);
  process.exit(fleet.counters.hashMismatches > 0 ? 1 : 0);
}

process.once('SIGINT', () => void finish());
process.once('SIGTERM', () => void finish());
void fleet.start().then(() => {
  if (flags.duration) setTimeout(() => void finish(), flags.duration * 1000);
});
