import { indexCatalog } from './catalog';
import { decide, type ResolvedDecision } from './decision';
import { parseDeviceQuery, parseMqttCheck, type DeviceRequest } from './device-request';
import { packageDetails } from './package-details';
import { artifact, referenceSnapshot } from './testing/reference-catalog';

const urls = {
  artifactUrl: (sha256: string) => `https://ota.example/artifacts/${sha256}`,
  manifestUrl: (sha256: string) => `https://ota.example/manifests/${sha256}`,
};

function decided(request: DeviceRequest, snapshot = referenceSnapshot()): ResolvedDecision {
  const decision = decide(indexCatalog(snapshot), request);
  if (!decision.ok) throw new Error(decision.message);
  return decision;
}

describe(packageDetails.name, () => {
  it('describes what to download on a 200 and what is installed on a 304', () => {
    const os = artifact('os_armv8', '1.1.0');
    const bridge = artifact('ipModule', '5.6.30');
    const request = parseDeviceQuery({ cpuArch: 'armv8', attrAlarmPanel: 'prod', installed: 'ipModule@5.6.14' }, `"${os.md5}"`);
    const details = packageDetails(decided(request), urls);
    expect(JSON.parse(JSON.stringify(details))).toEqual({
      ipModule: {
        latestVersion: '5.6.30',
        url: `https://ota.example/artifacts/${bridge.sha256}`,
        status_code: 200,
        sha256: bridge.sha256,
        md5: bridge.md5,
        size: bridge.size,
        targetVersion: '6.15.008',
        reason: 'bridge-required',
        manifestUrl: `https://ota.example/manifests/${bridge.sha256}`,
      },
      os_armv8: {
        latestVersion: '1.1.0',
        url: `https://ota.example/artifacts/${os.sha256}`,
        status_code: 304,
        sha256: os.sha256,
        md5: os.md5,
        size: os.size,
        targetVersion: '1.1.0',
        reason: 'installed',
        manifestUrl: `https://ota.example/manifests/${os.sha256}`,
      },
    });
    expect(Object.keys(details)).toEqual(['ipModule', 'os_armv8']);
  });

  it('describes the installed artifact, not the target, when the device is ahead', () => {
    const beta = artifact('os_armv8', '2.0.0');
    const details = packageDetails(decided(parseDeviceQuery({ cpuArch: 'armv8' }, beta.sha256.toUpperCase())), urls);
    expect(details.os_armv8).toMatchObject({
      status_code: 304,
      reason: 'ahead-of-channel',
      latestVersion: '2.0.0',
      targetVersion: '1.1.0',
      sha256: beta.sha256,
      md5: beta.md5,
    });
  });

  it('points at no binary on a 304 whose installed version the catalog lacks', () => {
    const snapshot = referenceSnapshot();
    const ip = snapshot.components.find((c) => c.name === 'ipModule')!;
    ip.artifacts = ip.artifacts.filter((a) => a.version !== '5.6.30');
    const request = parseDeviceQuery({ cpuArch: 'armv8', attrAlarmPanel: 'prod', installed: 'ipModule@5.6.20' }, undefined);
    expect(packageDetails(decided(request, snapshot), urls).ipModule).toEqual({
      latestVersion: '5.6.20',
      url: null,
      status_code: 304,
      sha256: null,
      md5: null,
      size: null,
      targetVersion: '6.15.008',
      reason: 'no-upgrade-path',
      manifestUrl: null,
    });
  });

  it('names the rollout only when the target comes from one', () => {
    const snapshot = referenceSnapshot();
    snapshot.rollouts.push({ id: 'r9', component: 'os_armv8', channel: 'prod', version: '2.0.0', selectors: {}, percent: 50 });
    const details = packageDetails(decided(parseDeviceQuery({ cpuArch: 'armv8', attrCellular: 'prod', cohort: '1' }, undefined), snapshot), urls);
    expect([details.os_armv8.rolloutId, details.os_armv8.reason, details.modemFW.rolloutId]).toEqual(['r9', 'rollout', undefined]);
    expect('rolloutId' in details.modemFW).toBe(false);
  });

  it('gives HTTP and MQTT the same answer for the same device', () => {
    const scoreboard = artifact('scoreboard', '1.0.0');
    const http = parseDeviceQuery({ cpuArch: 'armv8', attrGamer: 'prod', deviceId: 'dev-5', installed: 'videoStreamer@0.0.1' }, `W/"${scoreboard.md5}"`);
    const mqtt = parseMqttCheck(
      {
        requestId: 'q',
        attributes: { attrGamer: 'prod', cpuArch: 'armv8' },
        installed: [
          { component: 'videoStreamer', version: '0.0.1' },
          { component: 'scoreboard', md5: scoreboard.md5 },
        ],
      },
      'dev-5',
    );
    const viaHttp = packageDetails(decided(http), urls);
    expect(packageDetails(decided(mqtt), urls)).toEqual(viaHttp);
    expect(Object.values(viaHttp).map((e) => e.status_code)).toEqual([200, 304, 304]);
  });
});
