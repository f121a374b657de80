// infra/docker-compose.yml (laptops) and the OpenTelemetry Collector configuration, read statically:
// the services, their images and hardening, and environment names and values their zod schemas accept.
import { describe, expect, it } from '@jest/globals';
import { workerNodeOptions } from '@toolplane/cli';
import { ControlPlaneEnv } from '../../services/control-plane/src/env.ts';
import { EdgeEnv, EdgeEnvChecked } from '../../services/edge/src/env.ts';
import { WorkerEnv } from '../../services/worker/src/env.ts';
import { overlays, parseYaml, readRepoFile, renderKustomization, workloads } from './lib.ts';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
}

const compose = parseYaml(readRepoFile('infra/docker-compose.yml')) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** `${VAR:-default}` as docker compose expands it with VAR unset. */
const interpolate = (v: string) =>
  v.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name: string, def: string | undefined) => def ?? '');
const env = (name: string) =>
  Object.fromEntries(Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));

const schemas = {
  edge: { names: Object.keys(EdgeEnv.shape), parse: (e: Record<string, string>) => EdgeEnvChecked.safeParse(e) },
  worker: { names: Object.keys(WorkerEnv.shape), parse: (e: Record<string, string>) => WorkerEnv.safeParse(e) },
  'control-plane': {
    names: Object.keys(ControlPlaneEnv.shape),
    parse: (e: Record<string, string>) => ControlPlaneEnv.safeParse(e),
  },
  migrate: {
    names: ['DATABASE_URL'],
    parse: (e: Record<string, string>) => ControlPlaneEnv.pick({ DATABASE_URL: true }).strict().safeParse(e),
  },
};
const toolplane = Object.keys(schemas) as (keyof typeof schemas)[];

describe('infra/docker-compose.yml', () => {
  it('runs the three services, the migration, Redis, PostgreSQL, an OpenTelemetry Collector and Jaeger', () => {
    expect(Object.keys(services).sort()).toEqual([
      'control-plane',
      'edge',
      'init-volumes',
      'jaeger',
      'migrate',
      'otel-collector',
      'postgres',
      'redis',
      'worker',
    ]);
  });

  it('builds each service image from the repository Dockerfile with its SERVICE', () => {
    for (const name of toolplane) {
      const svc = services[name]!;
      const built = name === 'migrate' ? 'control-plane' : name;
      expect(svc.build).toEqual({ context: '..', dockerfile: 'Dockerfile', args: { SERVICE: built } });
      expect(svc.image).toBe(`toolplane/${built}:0.1.0-dev`);
    }
    expect(services.migrate!.command).toEqual(['node', 'dist/db/migrate-cli.js', 'deploy']);
  });

  it('runs the services as a non-root user on a read-only filesystem without capabilities', () => {
    for (const name of toolplane) {
      const svc = services[name]!;
      expect([name, svc.user]).toEqual([name, '1000:1000']);
      expect([name, svc.read_only]).toEqual([name, true]);
      expect([name, svc.cap_drop]).toEqual([name, ['ALL']]);
    }
  });

  it('sets only variables the services’ zod schemas define, with values they accept', () => {
    const problems: string[] = [];
    for (const name of toolplane) {
      const e = env(name);
      for (const k of Object.keys(e))
        if (!schemas[name].names.includes(k) && k !== 'NODE_OPTIONS')
          problems.push(`${name}: ${k} is not in its env schema`);
      const parsed = schemas[name].parse(e);
      if (!parsed.success)
        problems.push(`${name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    expect(problems).toEqual([]);
    // Node's own variable: the worker's young generation (ADR 0031); the others keep the image's.
    expect(['edge', 'worker', 'control-plane'].map((n) => env(n).NODE_OPTIONS)).toEqual([
      undefined,
      workerNodeOptions,
      undefined,
    ]);
    // One Redis and one prefix for all; traces to the collector service.
    const shared = (k: string) => new Set(['edge', 'worker', 'control-plane'].map((n) => env(n)[k]));
    expect([...shared('REDIS_URL')]).toEqual(['redis://redis:6379']);
    expect(shared('REDIS_PREFIX').size).toBe(1);
    expect([...shared('OTEL_EXPORTER_OTLP_ENDPOINT')]).toEqual(['http://otel-collector:4318']);
    expect(env('migrate').DATABASE_URL).toBe(env('control-plane').DATABASE_URL);
    expect(env('control-plane').DATABASE_URL).toContain(
      `${services.postgres!.environment!.POSTGRES_PASSWORD}@postgres:5432/${services.postgres!.environment!.POSTGRES_DB}`,
    );
  });

  it('gives the sealing private key to the worker only, the public key to the control plane only', () => {
    const mounting = (volume: string) =>
      Object.entries(services)
        .filter(([, s]) => (s.volumes ?? []).some((v) => v.split(':')[0] === volume))
        .map(([n]) => n)
        .sort();
    expect(mounting('sealing-private-key')).toEqual(['init-volumes', 'worker']);
    expect(mounting('sealing-public-key')).toEqual(['control-plane', 'init-volumes']);
    expect(mounting('sealed-secrets')).toEqual(['control-plane', 'init-volumes', 'worker']);
    // The key read-only; the store writable for people's OAuth tokens (the worker's writer refuses other names).
    expect(services.worker!.volumes!.filter((v) => !v.endsWith(':ro'))).toEqual([
      'sealed-secrets:/var/lib/toolplane/secrets',
    ]);
    expect(env('worker').SECRETS_PRIVATE_KEY_FILE).toMatch(/^\/etc\/toolplane\/sealing-key\//);
    expect(services.edge!.volumes ?? []).toEqual([]);
  });

  it('gives the record-arguments private key to the control plane only, the public key to the worker only', () => {
    const mounting = (volume: string) =>
      Object.entries(services)
        .filter(([, s]) => (s.volumes ?? []).some((v) => v.split(':')[0] === volume))
        .map(([n]) => n)
        .sort();
    expect(mounting('record-arguments-private-key')).toEqual(['control-plane', 'init-volumes']);
    expect(mounting('record-arguments-public-key')).toEqual(['init-volumes', 'worker']);
    expect(env('control-plane').RECORD_ARGUMENTS_PRIVATE_KEY_FILE).toBe(
      '/etc/toolplane/record-arguments-key/record-arguments.key.pem',
    );
    expect(env('worker').RECORD_ARGUMENTS_PUBLIC_KEY_FILE).toBe(
      '/etc/toolplane/record-arguments-public-key/record-arguments.pub.pem',
    );
    expect(env('worker').RECORD_ARGUMENTS_PRIVATE_KEY_FILE).toBeUndefined();
  });

  it('runs Redis with AOF fsynced every second and noeviction (a restart loses at most a second of writes)', () => {
    const command = services.redis!.command!;
    const option = (name: string) => command[command.indexOf(`--${name}`) + 1];
    expect(command[0]).toBe('redis-server');
    expect([option('appendonly'), option('appendfsync'), option('maxmemory-policy')]).toEqual([
      'yes',
      'everysec',
      'noeviction',
    ]);
    expect(services.redis!.volumes).toEqual(['redis-data:/data']);
  });

  it('pins every image, and uses the same Redis, PostgreSQL, Collector and Jaeger images as the dev cluster', () => {
    for (const [name, s] of Object.entries(services)) {
      expect([name, s.image]).toEqual([name, expect.stringMatching(/^[a-z0-9./-]+:[A-Za-z0-9._-]*\d[A-Za-z0-9._-]*$/)]);
    }
    const dev = workloads(renderKustomization(overlays.dev));
    const devImage = (name: string) => dev.find((w) => w.name === name)!.pod.containers[0].image as string;
    for (const name of ['redis', 'postgres', 'otel-collector', 'jaeger'])
      expect([name, services[name]!.image]).toEqual([name, devImage(name)]);
  });
});

describe('OpenTelemetry Collector configuration', () => {
  const config = parseYaml(readRepoFile('infra/otel-collector.yaml')) as {
    receivers: { otlp: { protocols: { http: { endpoint: string }; grpc: { endpoint: string } } } };
    exporters: Record<string, { endpoint?: string }>;
    service: { pipelines: Record<string, { receivers: string[]; exporters: string[] }> };
  };

  it('is the same for docker compose and the dev cluster, which adds the k8sattributes processor to traces', () => {
    const dev = parseYaml(readRepoFile('k8s/overlays/dev/otel-collector-config.yaml')) as {
      processors: Record<string, { extract?: { metadata: string[] } }>;
      service: { pipelines: Record<string, { processors: string[] }> };
    };
    const k8s = dev.processors.k8sattributes!;
    expect(k8s.extract!.metadata).toEqual(
      expect.arrayContaining(['k8s.pod.name', 'k8s.namespace.name', 'k8s.node.name', 'k8s.deployment.name']),
    );
    expect(dev.service.pipelines.traces!.processors).toEqual(['memory_limiter', 'k8sattributes', 'batch']);
    delete dev.processors.k8sattributes;
    dev.service.pipelines.traces!.processors = dev.service.pipelines.traces!.processors.filter(
      (p) => p !== 'k8sattributes',
    );
    expect(dev).toEqual(config);
  });

  it('receives OTLP where the services send it and exports traces to Jaeger over OTLP', () => {
    expect(config.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    const traces = config.service.pipelines.traces!;
    expect(traces.receivers).toEqual(['otlp']);
    const exporter = config.exporters[traces.exporters[0]!]!;
    expect(traces.exporters[0]).toMatch(/^otlp(\/|$)/);
    expect(exporter.endpoint).toBe('jaeger:4317');
    for (const p of Object.values(config.service.pipelines))
      for (const e of p.exporters) expect(Object.keys(config.exporters)).toContain(e);
  });
});
