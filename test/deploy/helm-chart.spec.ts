import Ajv from 'ajv';
import { parse } from 'yaml';
import { describeVariables, parseEnvironment } from '../../apps/server/src/config/environment';
import {
  loadChartYaml,
  loadTemplates,
  loadValues,
  loadValuesSchema,
  parseNeutralised,
  peerAgentVariables,
  readRepoFile,
  schemaAt,
  valueAt,
  valuesPathsIn,
  type Values,
} from './deploy-files';

const chart = loadChartYaml();
const values = loadValues();
const schema = loadValuesSchema();
const templates = loadTemplates();
const yamlTemplates = [...templates].filter(([name]) => name.endsWith('.yaml'));
const deployment = templates.get('deployment.yaml')!;
const helpers = templates.get('_helpers.tpl')!;
const variables = describeVariables();

/** Variables the Deployment sets itself (`- name: X` under env:), e.g. paths of mounted Secrets. */
const setByDeployment = new Set([...deployment.matchAll(/- name: ([A-Z][A-Z0-9_]+)\n\s+value:/g)].map(([, name]) => name));

function validator() {
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

/** values.yaml with `patch` deep-merged in, as `helm install -f` would. */
function withValues(patch: Values): Values {
  const merge = (base: Values, extra: Values): Values =>
    Object.fromEntries(
      [...new Set([...Object.keys(base), ...Object.keys(extra)])].map((key) => {
        const [a, b] = [base[key], extra[key]];
        const bothObjects = a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b);
        return [key, bothObjects ? merge(a, b) : key in extra ? b : a];
      }),
    );
  return merge(structuredClone(values), patch);
}

describe('Helm chart deploy/helm/ota-appliance', () => {
  it('is a v2 chart of the version package.json gives the appliance', () => {
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('ota-appliance');
    expect(chart.appVersion).toBe(JSON.parse(readRepoFile('package.json')).version);
  });

  it('has values that validate against values.schema.json', () => {
    const validate = validator();
    expect(validate(values) ? [] : validate.errors).toEqual([]);
  });

  it('has a schema that rejects typos and impossible settings', () => {
    const validate = validator();
    for (const patch of [
      { config: { PORTT: '8080' } },
      { config: { DEVICE_AUTH: 'maybe' } },
      { config: { PORT: 'eighty' } },
      { secrets: { DATABASE_URL: 'mysql://db' } },
      { secrets: { ADMIN_API_KEY: 'short' } },
      { replicaCount: 'two' },
      { peerAgent: { site: 'bad site!' } },
      { service: { mqtt: { type: 'Magic' } } },
    ]) {
      expect({ patch, valid: validate(withValues(patch)) }).toEqual({ patch, valid: false });
    }
    expect(validate(withValues({ config: { PORT: 9090, MAX_UPLOAD_BYTES: '8589934592' }, secrets: { DATABASE_URL: 'postgresql://db/ota' } }))).toBe(true);
  });

  it('reads only values that values.yaml defines and values.schema.json describes', () => {
    const problems: string[] = [];
    for (const [name, text] of templates) {
      for (const path of valuesPathsIn(text)) {
        if (valueAt(values, path) === undefined) problems.push(`${name}: .Values.${path.join('.')} is not in values.yaml`);
        if (schemaAt(schema, path) === undefined) problems.push(`${name}: .Values.${path.join('.')} is not in values.schema.json`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('covers every variable of the config class: config, secrets, or set by the Deployment', () => {
    const config = Object.keys(values.config as Values);
    const secrets = Object.keys(values.secrets as Values);
    const uncovered = variables.map((v) => v.name).filter((name) => !config.includes(name) && !secrets.includes(name) && !setByDeployment.has(name));
    expect(uncovered).toEqual([]);
    // Secrets never land in the ConfigMap.
    expect(variables.filter((v) => v.secret && config.includes(v.name)).map((v) => v.name)).toEqual([]);
    // And nothing in the chart's environment is unknown to the appliance.
    const known = new Set(variables.map((v) => v.name));
    expect([...config, ...secrets, ...setByDeployment].filter((name) => !known.has(name))).toEqual([]);
  });

  it("gives the appliance a configuration its own validation accepts, by default and with docs/deploy.md's production values", () => {
    const docs = readRepoFile('docs', 'deploy.md');
    const block = /`values-production\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(docs);
    expect(block).not.toBeNull();
    const production = withValues(parse(block![1]) as Values);
    const validate = validator();
    expect(validate(production) ? [] : validate.errors).toEqual([]);

    for (const chartValues of [values, production]) {
      // What the pod's environment holds: the ConfigMap and Secret (empty values are left out) and
      // the variables the Deployment sets. The production example keeps its secrets in existingSecret.
      const nonEmpty = (map: Values) =>
        Object.fromEntries(
          Object.entries(map)
            .filter(([, v]) => String(v) !== '')
            .map(([k, v]) => [k, String(v)]),
        );
      const external = chartValues.existingSecret ? { DATABASE_URL: 'postgres://ota@db/ota', REDIS_URL: 'redis://redis:6379', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b' } : {};
      const env = { ...nonEmpty(chartValues.config), ...nonEmpty(chartValues.secrets), ...external, DATA_DIR: '/var/lib/ota', SIGNING_KEY_FILE: '/etc/ota/signing/ed25519.pem' };
      expect(() => parseEnvironment(env)).not.toThrow();
    }
  });

  it('describes exactly the configurable variables in the schema, and nothing else', () => {
    expect(Object.keys(schemaAt(schema, ['config'])!.properties as Values).sort()).toEqual(Object.keys(values.config as Values).sort());
    expect(schemaAt(schema, ['config'])!.additionalProperties).toBe(false);
    expect(Object.keys(schemaAt(schema, ['secrets'])!.properties as Values).sort()).toEqual(Object.keys(values.secrets as Values).sort());
  });

  it('agrees on ports with the config class: 8080 HTTP, 1883 MQTT, 8083 MQTT over WebSocket', () => {
    const defaults = Object.fromEntries(variables.map((v) => [v.name, v.default]));
    expect([defaults.PORT, defaults.MQTT_PORT, defaults.MQTT_WS_PORT]).toEqual(['8080', '1883', '8083']);
    const config = values.config as Values;
    expect([config.PORT, config.MQTT_PORT, config.MQTT_WS_PORT].map(String)).toEqual(['8080', '1883', '8083']);
    expect([values.service.http.port, values.service.mqtt.port, values.service.mqtt.wsPort]).toEqual([8080, 1883, 8083]);
    // The container ports are the configured ones, which the Services target by name.
    expect(deployment).toMatch(/name: http\n\s+containerPort: \{\{ include "ota.envValue" \.Values\.config\.PORT \}\}/);
    expect(deployment).toMatch(/name: mqtt\n\s+containerPort: \{\{ include "ota.envValue" \.Values\.config\.MQTT_PORT \}\}/);
    expect(deployment).toMatch(/name: mqtt-ws\n\s+containerPort: \{\{ include "ota.envValue" \.Values\.config\.MQTT_WS_PORT \}\}/);
    expect(templates.get('service-http.yaml')).toMatch(/targetPort: http\b/);
    expect(templates.get('service-mqtt.yaml')).toMatch(/targetPort: mqtt\b/);
    expect(templates.get('service-mqtt.yaml')).toMatch(/targetPort: mqtt-ws\b/);
  });

  it('probes liveness on /healthz and readiness on /readyz, routes the appliance serves', () => {
    const health = readRepoFile('apps', 'server', 'src', 'health', 'health.controller.ts');
    expect(health).toContain("@Get('healthz')");
    expect(health).toContain("@Get('readyz')");
    expect(deployment).toMatch(/livenessProbe:\n\s+httpGet:\n\s+path: \/healthz/);
    expect(deployment).toMatch(/readinessProbe:\n\s+httpGet:\n\s+path: \/readyz/);
  });

  it('refuses to render several replicas without external PostgreSQL, Redis and S3', () => {
    expect(deployment.split('\n')[0]).toBe('{{- include "ota.validate" . }}');
    const validate = helpers.slice(helpers.indexOf('define "ota.validate"'));
    expect(validate).toMatch(/\$several := or \.Values\.autoscaling\.enabled \(gt \(int \.Values\.replicaCount\) 1\)/);
    expect(validate).toMatch(/if not \.Values\.secrets\.DATABASE_URL \}\}\n\{\{- fail /);
    expect(validate).toMatch(/if not \.Values\.secrets\.REDIS_URL \}\}\n\{\{- fail /);
    expect(validate).toMatch(/if not \.Values\.config\.S3_ENDPOINT \}\}\n\{\{- fail /);
  });

  it('mounts the signing key Secret where SIGNING_KEY_FILE points, generating a stable Ed25519 key', () => {
    const keyFile = /define "ota.signingKeyFile" -\}\}\n\{\{- printf "([^"]+)%s"/.exec(helpers)![1];
    expect(deployment).toMatch(new RegExp(`name: signing-key\\n\\s+mountPath: ${keyFile.replace(/\/$/, '')}\\n\\s+readOnly: true`));
    expect(deployment).toMatch(/name: SIGNING_KEY_FILE\n\s+value: \{\{ include "ota.signingKeyFile" \. \| quote \}\}/);
    const secret = templates.get('signing-key-secret.yaml')!;
    expect(secret).toContain('genPrivateKey "ed25519"');
    expect(secret).toContain('lookup "v1" "Secret" .Release.Namespace $name');
    expect(secret).toContain('helm.sh/resource-policy: keep');
  });

  it('gives the peer agents only variables the agent reads', () => {
    const daemonSet = templates.get('peer-agent-daemonset.yaml')!;
    const used = [...daemonSet.matchAll(/- name: (OTA_[A-Z0-9_]+)/g)].map(([, name]) => name);
    expect(used).toEqual(expect.arrayContaining(['OTA_ORIGIN', 'OTA_SITE', 'OTA_CACHE_DIR']));
    const known = peerAgentVariables();
    expect(used.filter((name) => !known.has(name))).toEqual([]);
  });

  it.each(yamlTemplates)('%s is well-formed YAML around its template actions', (name, text) => {
    const { errors, documents } = parseNeutralised(text);
    expect(errors).toEqual([]);
    expect(documents).toHaveLength(1);
    expect(documents[0]).toEqual(expect.objectContaining({ apiVersion: expect.any(String), kind: expect.any(String) }));
  });

  it('has the objects a production install needs', () => {
    const kinds = new Set(yamlTemplates.map(([, text]) => parseNeutralised(text).documents[0]?.kind));
    for (const kind of [
      'Deployment',
      'Service',
      'Ingress',
      'ConfigMap',
      'Secret',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'ServiceMonitor',
      'DaemonSet',
      'PersistentVolumeClaim',
      'ServiceAccount',
    ]) {
      expect(kinds).toContain(kind);
    }
    expect(templates.has('NOTES.txt')).toBe(true);
  });
});
