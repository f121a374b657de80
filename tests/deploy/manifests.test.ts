// Renders every Kustomize overlay with `kubectl kustomize` and checks the objects offline: the
// Kubernetes (and KEDA) schemas from kubernetes-models, unknown fields, the security and
// availability rules every pod must follow, and that the configuration matches the services' zod
// schemas (the names and the values).
import { describe, expect, it } from '@jest/globals';
import { workerNodeOptions } from '@toolplane/cli';
import { queueNames } from '../../packages/contracts/src/index.ts';
import { ControlPlaneEnv } from '../../services/control-plane/src/env.ts';
import { EdgeEnv, EdgeEnvChecked } from '../../services/edge/src/env.ts';
import { WorkerEnv } from '../../services/worker/src/env.ts';
import {
  byKind,
  find,
  findGenerated,
  overlays,
  parseYaml,
  prepareFieldCheck,
  renderKustomization,
  renderWithComponents,
  repoRoot,
  schemaProblems,
  hardeningProblems,
  workloads,
  type K8sObject,
  type Workload,
} from './lib.ts';

const rendered: Record<string, K8sObject[]> = {
  dev: renderKustomization(overlays.dev),
  prod: renderKustomization(overlays.prod),
  'dev + worker-cpu-hpa': renderWithComponents(overlays.dev, [`${repoRoot}/k8s/components/worker-cpu-hpa`]),
};
const names = Object.keys(rendered);

/** The zod schema each Toolplane container's environment must satisfy. */
const schemas = {
  edge: { names: Object.keys(EdgeEnv.shape), parse: (env: Record<string, string>) => EdgeEnvChecked.safeParse(env) },
  worker: { names: Object.keys(WorkerEnv.shape), parse: (env: Record<string, string>) => WorkerEnv.safeParse(env) },
  'control-plane': {
    names: Object.keys(ControlPlaneEnv.shape),
    parse: (env: Record<string, string>) => ControlPlaneEnv.safeParse(env),
  },
  // dist/db/migrate-cli.js (src/db/migrate-cli.ts) reads DATABASE_URL only.
  migrate: {
    names: ['DATABASE_URL'],
    parse: (env: Record<string, string>) => ControlPlaneEnv.pick({ DATABASE_URL: true }).strict().safeParse(env),
  },
} as const;
type ToolplaneWorkload = keyof typeof schemas;
const toolplaneWorkloads = Object.keys(schemas) as ToolplaneWorkload[];

/** Values of the Secrets an operator creates for prod (not rendered): examples of the documented format. */
const externalSecretExamples: Record<string, string> = {
  REDIS_URL: 'rediss://:example-password@master.toolplane.abc123.euw1.cache.amazonaws.com:6379',
  DATABASE_URL: 'postgresql://toolplane:example@toolplane.cluster-abc.eu-west-1.rds.amazonaws.com:5432/toolplane',
};

/** The environment a container would get: envFrom ConfigMaps, then env (Secrets, field refs, values). */
function containerEnv(objects: K8sObject[], w: Workload, container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const source = objects.find((o) => o.kind === kind && o.metadata.name === ref.name);
    if (!source) throw new Error(`${w.name}: envFrom ${kind} ${ref.name} is not rendered`);
    Object.assign(env, kind === 'Secret' ? decode(source.data ?? {}) : source.data);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = `${w.name}-7d9f8b7c9-x2x9z`;
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
      if (secret) env[e.name] = decode(secret.data ?? {})[ref.key]!;
      else if (!ref.optional) {
        const example = externalSecretExamples[e.name];
        if (!example)
          throw new Error(`${w.name}: ${e.name} comes from a Secret that is neither rendered nor documented`);
        env[e.name] = example;
      }
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.name);
      if (cm) env[e.name] = cm.data![ref.key]!;
      // One an operator creates (the record-arguments public key): optional, so a cluster without it runs.
      else if (!ref.optional) throw new Error(`${w.name}: ${e.name} comes from a ConfigMap that is not rendered`);
    }
  }
  return env;
}

function decode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** Names a container's environment sets (also the ones from optional Secrets). */
function envNames(objects: K8sObject[], container: any): string[] {
  const out = (container.env ?? []).map((e: { name: string }) => e.name) as string[];
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const source = objects.find(
      (o) => o.kind === (from.configMapRef ? 'ConfigMap' : 'Secret') && o.metadata.name === ref.name,
    );
    out.push(...Object.keys(source?.data ?? {}));
  }
  return out;
}

function toolplane(objects: K8sObject[]): (Workload & { service: ToolplaneWorkload; container: any })[] {
  return workloads(objects)
    .filter((w) => (toolplaneWorkloads as string[]).includes(w.name))
    .map((w) => ({ ...w, service: w.name as ToolplaneWorkload, container: w.pod.containers[0] }));
}

describe.each(names)('the %s overlay', (overlay) => {
  const objects = rendered[overlay]!;

  it('renders objects that all match their Kubernetes or KEDA schema, with no unknown field', async () => {
    expect(objects.length).toBeGreaterThan(20);
    prepareFieldCheck(Object.values(rendered).flat());
    expect(await schemaProblems(objects)).toEqual([]);
  });

  it('puts everything in the toolplane namespace, which enforces the restricted Pod Security Standard', () => {
    const ns = find(objects, 'Namespace', 'toolplane');
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(
      objects
        .filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== 'toolplane')
        .map((o) => `${o.kind}/${o.metadata.name}`),
    ).toEqual(
      // Cluster-scoped: the dev collector's read-only access to pods for k8sattributes.
      overlay.startsWith('dev')
        ? ['ClusterRole/toolplane-otel-collector', 'ClusterRoleBinding/toolplane-otel-collector']
        : [],
    );
    for (const role of byKind(objects, 'ClusterRole'))
      for (const rule of role.rules as { verbs: string[] }[])
        expect(rule.verbs.sort()).toEqual(['get', 'list', 'watch']);
  });

  it('runs a Deployment, ServiceAccount and PodDisruptionBudget per service, and the migration Job', () => {
    for (const svc of ['edge', 'worker', 'control-plane']) {
      const d = find(objects, 'Deployment', svc);
      expect(d.spec.template.spec.serviceAccountName).toBe(svc);
      find(objects, 'ServiceAccount', svc);
      const pdbs = byKind(objects, 'PodDisruptionBudget').filter(
        (p) => p.spec.selector.matchLabels?.['app.kubernetes.io/name'] === svc,
      );
      expect(pdbs).toHaveLength(1);
      expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      const spread = d.spec.template.spec.topologySpreadConstraints as {
        topologyKey: string;
        labelSelector: { matchLabels: Record<string, string> };
      }[];
      expect(spread.map((s) => s.topologyKey).sort()).toEqual([
        'kubernetes.io/hostname',
        'topology.kubernetes.io/zone',
      ]);
      for (const s of spread) expect(s.labelSelector.matchLabels['app.kubernetes.io/name']).toBe(svc);
    }
    const job = find(objects, 'Job', 'migrate');
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(['node', 'dist/db/migrate-cli.js', 'deploy']);
    expect(c.image).toBe(find(objects, 'Deployment', 'control-plane').spec.template.spec.containers[0].image);
    expect(job.spec.template.spec.serviceAccountName).toBe('migrate');
  });

  it('gives every container a non-root, read-only, unprivileged security context, resources and a pinned image', () => {
    // The dev collector's k8sattributes processor reads pods from the API server (read-only ClusterRole).
    expect(hardeningProblems(objects, { apiTokenFor: ['otel-collector'] })).toEqual([]);
  });

  it('gives the Toolplane containers a writable /tmp only, probes on their health endpoints, and the image of their service', () => {
    for (const w of toolplane(objects)) {
      const c = w.container;
      const tmp = (c.volumeMounts ?? []).find((m: { mountPath: string }) => m.mountPath === '/tmp');
      expect(w.pod.volumes.find((v: { name: string }) => v.name === tmp?.name)?.emptyDir).toBeDefined();
      const service = w.service === 'migrate' ? 'control-plane' : w.service;
      expect(c.image).toMatch(new RegExp(`(^|/)toolplane/${service}:`));
      if (w.service === 'migrate') continue;
      const env = containerEnv(objects, w, c);
      const port = (name: string) => c.ports.find((p: { name: string }) => p.name === name)?.containerPort;
      // The probes hit the ports the service really listens on, on every interface: `::` (Node listens
      // dual-stack there), so the pod IP answers on IPv4, IPv6-only and dual-stack clusters alike.
      const healthPort = w.service === 'worker' ? 'health' : 'http';
      expect(String(port(healthPort))).toBe(w.service === 'worker' ? env.HEALTH_PORT : env.PORT);
      expect(String(port('metrics'))).toBe(env.METRICS_PORT);
      const hostVariables = schemas[w.service].names.filter((n) => n.endsWith('HOST'));
      expect(hostVariables.length).toBeGreaterThanOrEqual(2);
      for (const name of hostVariables) expect([name, env[name]]).toEqual([name, '::']);
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: healthPort });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: healthPort });
    }
  });

  it('configures the services with real variable names and values their zod schemas accept', () => {
    const problems: string[] = [];
    for (const w of toolplane(objects)) {
      const schema = schemas[w.service];
      // Downward-API helpers that only feed `$(NAME)` expansions (OTEL_RESOURCE_ATTRIBUTES) are not read by the service.
      const expanded = new Set(
        (w.container.env ?? []).flatMap((e: { value?: string }) =>
          [...(e.value ?? '').matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]),
        ),
      );
      for (const n of envNames(objects, w.container)) {
        if (!(schema.names as readonly string[]).includes(n) && !expanded.has(n) && n !== 'NODE_OPTIONS')
          problems.push(`${w.name}: ${n} is not in its env schema`);
      }
      const parsed = schema.parse(containerEnv(objects, w, w.container));
      if (!parsed.success)
        problems.push(`${w.name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    expect(problems).toEqual([]);
    // Node's own variable: the worker's young generation (ADR 0031); the others keep the image's.
    expect(toolplane(objects).map((w) => [w.service, containerEnv(objects, w, w.container).NODE_OPTIONS])).toEqual(
      toolplane(objects).map((w) => [w.service, w.service === 'worker' ? workerNodeOptions : undefined]),
    );
    // Migrations run as a Job, never at start (read-only filesystem, several replicas).
    const cp = toolplane(objects).find((w) => w.service === 'control-plane')!;
    expect(containerEnv(objects, cp, cp.container).MIGRATE_ON_START).toBe('false');
  });

  it('uses one Redis prefix everywhere, and the worker autoscaler watches that prefix’s tool-invocation queue', () => {
    const prefixes = new Set(
      toolplane(objects)
        .filter((w) => w.service !== 'migrate')
        .map((w) => containerEnv(objects, w, w.container).REDIS_PREFIX),
    );
    expect(prefixes.size).toBe(1);
    const [prefix] = [...prefixes];
    const scaled = byKind(objects, 'ScaledObject');
    if (overlay.includes('worker-cpu-hpa')) {
      expect(scaled).toEqual([]);
      const hpa = find(objects, 'HorizontalPodAutoscaler', 'worker');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'worker' });
      expect(hpa.spec.metrics).toEqual([
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } },
        },
      ]);
      return;
    }
    expect(scaled).toHaveLength(1);
    const so = scaled[0]!;
    expect(so.spec.scaleTargetRef.name).toBe('worker');
    // BullMQ keeps waiting jobs in the list `<prefix>:<queue>:wait`, running ones (calls in flight) in
    // `…:active`. Scaling on both keeps busy workers under a steady load (waiting alone drops to 0 once the
    // workers keep up); CPU covers fast upstreams, where many calls per second leave few in flight.
    const all = so.spec.triggers as {
      type: string;
      metricType?: string;
      metadata: Record<string, string>;
      authenticationRef?: unknown;
    }[];
    expect(all.map((t) => [t.type, t.metadata.listName])).toEqual([
      ['redis', `${prefix}:${queueNames.toolInvocations}:wait`],
      ['redis', `${prefix}:${queueNames.toolInvocations}:active`],
      ['cpu', undefined],
    ]);
    expect(all[2]).toMatchObject({ metricType: 'Utilization', metadata: { value: expect.any(String) } });
    // In flight per worker: a target below the worker's concurrency (the calls one worker may hold).
    const worker = toolplane(objects).find((w) => w.service === 'worker')!;
    const concurrency = Number(containerEnv(objects, worker, worker.container).WORKER_CONCURRENCY);
    expect(Number(all[1]!.metadata.listLength)).toBeLessThan(concurrency);
    const triggers = all.filter((t) => t.type === 'redis');
    for (const t of triggers) {
      expect(t.metadata.address).toMatch(/^[a-z0-9.-]+:\d+$/);
      expect(t.metadata.address).toBe(triggers[0]!.metadata.address);
      expect(t.metadata.enableTLS).toBe(triggers[0]!.metadata.enableTLS);
      expect(t.authenticationRef).toEqual(triggers[0]!.authenticationRef);
      expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
    }
    expect(so.spec.fallback.replicas).toBeGreaterThanOrEqual(so.spec.minReplicaCount);
    expect(byKind(objects, 'HorizontalPodAutoscaler').map((h) => h.metadata.name)).toEqual(['edge']);
  });

  it('sets no replicas on a Deployment an autoscaler owns (HPA or KEDA), and keeps the others explicit', () => {
    const owned = new Set([
      ...byKind(objects, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name as string),
      ...byKind(objects, 'ScaledObject').map((s) => s.spec.scaleTargetRef.name as string),
    ]);
    expect([...owned].sort()).toEqual(['edge', 'worker']);
    for (const d of byKind(objects, 'Deployment')) {
      expect([d.metadata.name, 'replicas' in d.spec]).toEqual([d.metadata.name, !owned.has(d.metadata.name)]);
    }
  });

  it('gives spans and metrics the pod, namespace, node and version as resource attributes (downward API)', () => {
    for (const w of toolplane(objects).filter((x) => x.service !== 'migrate')) {
      const env = Object.fromEntries(
        (w.container.env as { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]).map(
          (e) => [e.name, e],
        ),
      );
      const attributes = Object.fromEntries(
        env.OTEL_RESOURCE_ATTRIBUTES!.value!.split(',').map((kv) => kv.split('=') as [string, string]),
      );
      const source = (attribute: string) => {
        const ref = /^\$\(([A-Z0-9_]+)\)$/.exec(attributes[attribute] ?? '')?.[1];
        return ref ? env[ref]?.valueFrom?.fieldRef?.fieldPath : undefined;
      };
      expect([w.name, source('k8s.pod.name'), source('k8s.namespace.name'), source('k8s.node.name')]).toEqual([
        w.name,
        'metadata.name',
        'metadata.namespace',
        'spec.nodeName',
      ]);
      expect(source('service.version')).toBe("metadata.labels['app.kubernetes.io/version']");
      // The version label on the pod is the image's tag.
      const tag = /:([^:@/]+)(@|$)/.exec(w.container.image)?.[1];
      expect(w.labels['app.kubernetes.io/version']).toBe(tag);
    }
  });

  it('keeps a legacy HTTP+SSE client on the edge pod that holds its session (ClientIP affinity)', () => {
    const edge = find(objects, 'Service', 'edge');
    expect(edge.spec.sessionAffinity).toBe('ClientIP');
    expect(edge.spec.sessionAffinityConfig.clientIP.timeoutSeconds).toBeGreaterThanOrEqual(3600);
  });

  it('migrates before a new control plane serves: an init container in every pod, and a re-runnable pre-sync Job', () => {
    const deployment = find(objects, 'Deployment', 'control-plane').spec.template.spec;
    const job = find(objects, 'Job', 'migrate');
    const jobContainer = job.spec.template.spec.containers[0];
    expect(deployment.initContainers).toHaveLength(1);
    const init = deployment.initContainers[0];
    expect(init.command).toEqual(jobContainer.command);
    expect(init.image).toBe(deployment.containers[0].image);
    expect(init.env.map((e: { name: string }) => e.name)).toEqual(['DATABASE_URL']);
    // Argo CD runs it before the sync and deletes the previous one first; Flux recreates it when its
    // immutable template changes; plain `kubectl apply` finds it gone after the TTL.
    expect(job.metadata.annotations).toMatchObject({
      'argocd.argoproj.io/hook': 'PreSync',
      'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
      'kustomize.toolkit.fluxcd.io/force': 'enabled',
    });
    expect(job.spec.ttlSecondsAfterFinished).toBeLessThanOrEqual(3600);
  });

  it('scales the edge on CPU', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'edge');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'edge' });
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
  });

  it('lets running calls finish on shutdown: grace periods exceed the longest call', () => {
    const edge = toolplane(objects).find((w) => w.service === 'edge')!;
    const timeoutMs = Number(containerEnv(objects, edge, edge.container).TOOL_CALL_TIMEOUT_MS);
    const preStop = edge.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStop).toBeGreaterThan(0);
    expect(edge.pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(timeoutMs + preStop * 1000);
    // A worker job lasts at most until its deadline (the edge's timeout); the worker's own HTTP timeout is below it.
    const worker = toolplane(objects).find((w) => w.service === 'worker')!;
    const httpTimeoutMs = Number(containerEnv(objects, worker, worker.container).HTTP_TIMEOUT_MS);
    expect(worker.pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Math.max(timeoutMs, httpTimeoutMs));
  });

  it('exposes the edge and the control plane through Services that select their pods and named ports', () => {
    for (const svc of byKind(objects, 'Service')) {
      const target = workloads(objects).filter((w) =>
        Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => w.labels[k] === v),
      );
      expect(target.map((t) => t.name)).toEqual([svc.metadata.name]);
      for (const p of svc.spec.ports) {
        const ports = target[0]!.pod.containers
          .flatMap((c: { ports?: { name: string }[] }) => c.ports ?? [])
          .map((x: { name: string }) => x.name);
        expect(ports).toContain(p.targetPort);
      }
    }
    expect(byKind(objects, 'Service').map((s) => s.metadata.name)).toEqual(
      expect.arrayContaining(['edge', 'control-plane']),
    );
    expect(byKind(objects, 'Service').map((s) => s.metadata.name)).not.toContain('worker');
  });

  it('creates Secrets only for bootstrap values of the in-cluster development services', () => {
    const secrets = byKind(objects, 'Secret').map((s) => s.metadata.name.replace(/-[a-z0-9]{10}$/, ''));
    if (overlay === 'prod') expect(secrets).toEqual([]);
    else expect(secrets.sort()).toEqual(['toolplane-database', 'toolplane-redis']);
    const generated = findGenerated(objects, 'Secret', 'toolplane-database');
    if (generated) expect(decode(generated.data!).DATABASE_URL).toMatch(/@postgres:5432\//);
  });
});

describe('the dev cluster’s Redis', () => {
  it('keeps its data across container restarts: AOF fsynced every second into /data, noeviction', () => {
    const redis = workloads(rendered.dev!).find((w) => w.name === 'redis')!;
    const container = redis.pod.containers[0] as { args: string[]; volumeMounts: { mountPath: string }[] };
    const option = (name: string) => container.args[container.args.indexOf(`--${name}`) + 1];
    expect([option('appendonly'), option('appendfsync'), option('maxmemory-policy'), option('dir')]).toEqual([
      'yes',
      'everysec',
      'noeviction',
      '/data',
    ]);
    expect(container.volumeMounts.map((m) => m.mountPath)).toContain('/data');
  });
});

describe('traces in the cluster', () => {
  const toolplaneEnv = (objects: K8sObject[]) =>
    Object.fromEntries(
      toolplane(objects)
        .filter((w) => w.service !== 'migrate')
        .map((w) => [w.service, containerEnv(objects, w, w.container).OTEL_EXPORTER_OTLP_ENDPOINT]),
    );

  it('dev: an OpenTelemetry Collector and Jaeger run in the cluster; the three services send OTLP/HTTP to the collector, which exports traces to Jaeger', () => {
    const objects = rendered.dev!;
    const collector = find(objects, 'Service', 'otel-collector');
    const jaeger = find(objects, 'Service', 'jaeger');
    expect(find(objects, 'Deployment', 'otel-collector').spec.template.spec.containers[0].image).toMatch(
      /^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/,
    );
    expect(find(objects, 'Deployment', 'jaeger').spec.template.spec.containers[0].image).toMatch(
      /^jaegertracing\/jaeger:2\.\d+\.\d+$/,
    );
    expect(collector.spec.ports.map((p: { port: number }) => p.port)).toContain(4318);
    expect(jaeger.spec.ports.map((p: { port: number }) => p.port)).toEqual(expect.arrayContaining([4317, 16686]));
    expect(toolplaneEnv(objects)).toEqual({
      edge: 'http://otel-collector:4318',
      worker: 'http://otel-collector:4318',
      'control-plane': 'http://otel-collector:4318',
    });
    // The collector's configuration (mounted from a generated ConfigMap) exports traces to the Jaeger Service.
    const cm = findGenerated(objects, 'ConfigMap', 'otel-collector-config');
    expect(cm).toBeDefined();
    const config = parseYaml(cm!.data!['otel-collector.yaml']!) as {
      exporters: Record<string, { endpoint?: string }>;
      service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
    };
    const traceExporters = config.service.pipelines.traces.exporters;
    expect(config.service.pipelines.traces.receivers).toContain('otlp');
    expect(traceExporters.map((e) => config.exporters[e]?.endpoint)).toContain('jaeger:4317');
    const mounted = find(objects, 'Deployment', 'otel-collector').spec.template.spec.volumes.map(
      (v: { configMap?: { name: string } }) => v.configMap?.name,
    );
    expect(mounted).toContain(cm!.metadata.name);
  });

  it('prod: no collector or Jaeger of ours; the services send OTLP to the operator’s collector', () => {
    const objects = rendered.prod!;
    expect(objects.filter((o) => ['otel-collector', 'jaeger'].includes(o.metadata.name))).toEqual([]);
    const endpoints = new Set(Object.values(toolplaneEnv(objects)));
    expect(endpoints.size).toBe(1);
    expect([...endpoints][0]).toMatch(/^https?:\/\/[a-z0-9.-]+:4318$/);
  });
});
