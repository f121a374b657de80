// The optional components (k8s/components/*) rendered on top of the prod overlay: their objects match
// their schemas (Kubernetes, Prometheus Operator and External Secrets custom resources), and each does
// what its comment promises without widening anything else.
import { describe, expect, it } from '@jest/globals';
import { queueNames } from '../../packages/contracts/src/index.ts';
import { queueShardPrefixes, type RedisConnectionLike } from '../../packages/queue/src/redis-forms.ts';
import { ControlPlaneEnvChecked } from '../../services/control-plane/src/env.ts';
import { EdgeEnvChecked } from '../../services/edge/src/env.ts';
import { WorkerEnvChecked } from '../../services/worker/src/env.ts';
import {
  allowed,
  byKind,
  find,
  findGenerated,
  overlays,
  renderKustomization,
  renderWithComponents,
  repoRoot,
  validateObject,
  workloads,
  type Endpoint,
  type K8sObject,
} from './lib.ts';

const component = (name: string) => `${repoRoot}/k8s/components/${name}`;
const prod = renderKustomization(overlays.prod);
const withComponent = (name: string) => renderWithComponents(overlays.prod, [component(name)]);
const added = (objects: K8sObject[]) =>
  objects.filter((o) => !prod.some((p) => p.kind === o.kind && p.metadata.name === o.metadata.name));

describe.each(['monitoring', 'ingress', 'external-secrets', 'edge-oauth-egress', 'workspace-apply', 'redis-sentinel'])(
  'component %s',
  (name) => {
    it('renders objects that match their schemas, in the toolplane namespace', async () => {
      const objects = withComponent(name);
      expect(added(objects).length).toBeGreaterThan(0);
      for (const o of objects) {
        await validateObject(o);
        if (o.kind !== 'Namespace')
          expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([o.kind, o.metadata.name, 'toolplane']);
      }
    });
  },
);

describe('monitoring', () => {
  it('scrapes the three services on their named metrics port', () => {
    const objects = withComponent('monitoring');
    const [monitor, ...more] = byKind(objects, 'PodMonitor');
    expect(more).toEqual([]);
    const selected = workloads(objects).filter((w) =>
      (monitor!.spec.selector.matchExpressions as { key: string; values: string[] }[]).every((e) =>
        e.values.includes(w.labels[e.key]!),
      ),
    );
    expect(selected.map((w) => w.name).sort()).toEqual(['control-plane', 'edge', 'worker']);
    const [endpoint] = monitor!.spec.podMetricsEndpoints;
    expect(endpoint.path).toBe('/metrics');
    for (const w of selected) {
      expect(w.pod.containers[0].ports.find((p: { name: string }) => p.name === endpoint.port)?.containerPort).toBe(
        9464,
      );
    }
  });
});

describe('ingress', () => {
  const objects = withComponent('ingress');

  it('serves the edge and the control plane over TLS, each on its host, to its Service’s named port', () => {
    for (const svc of ['edge', 'control-plane']) {
      const ing = find(objects, 'Ingress', svc);
      const hosts = ing.spec.rules.map((r: { host: string }) => r.host);
      expect(ing.spec.tls).toHaveLength(1);
      expect(ing.spec.tls[0].hosts).toEqual(hosts);
      expect(ing.spec.tls[0].secretName).toMatch(/-tls$/);
      for (const r of ing.spec.rules) {
        for (const p of r.http.paths) expect(p.backend.service).toEqual({ name: svc, port: { name: 'http' } });
      }
      expect(find(objects, 'Service', svc).spec.ports.map((p: { name: string }) => p.name)).toContain('http');
    }
  });

  it('keeps a legacy SSE client on one edge pod, does not buffer streams, and makes the services trust one proxy hop', () => {
    const edge = find(objects, 'Ingress', 'edge').metadata.annotations!;
    expect(edge['nginx.ingress.kubernetes.io/upstream-hash-by']).toBe('$binary_remote_addr');
    expect(edge['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    expect(Number(edge['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    for (const cm of ['toolplane-edge', 'toolplane-control-plane'])
      expect(findGenerated(objects, 'ConfigMap', cm)!.data!.TRUST_PROXY).toBe('1');
  });

  it('the ingress controller’s namespace is the one the NetworkPolicies admit', () => {
    const policies = byKind(objects, 'NetworkPolicy');
    const controller: Endpoint = {
      pod: { 'app.kubernetes.io/name': 'ingress-nginx' },
      namespace: 'ingress-nginx',
      ip: '10.0.60.4',
    };
    for (const w of workloads(objects).filter((x) => ['edge', 'control-plane'].includes(x.name))) {
      const port = w.pod.containers[0].ports.find((p: { name: string }) => p.name === 'http').containerPort as number;
      expect(allowed(policies, controller, { pod: w.labels, namespace: w.namespace }, { port })).toBe(true);
    }
  });
});

describe('external-secrets', () => {
  const objects = withComponent('external-secrets');

  it('creates exactly the Secrets (and keys) the workloads reference, from outside the services’ secret prefix', () => {
    const referenced = new Map<string, Set<string>>();
    for (const w of workloads(prod)) {
      for (const c of [...(w.pod.initContainers ?? []), ...w.pod.containers]) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) referenced.set(ref.name, (referenced.get(ref.name) ?? new Set()).add(ref.key));
        }
      }
    }
    // KEDA's TriggerAuthentication reads the Redis password.
    for (const t of byKind(prod, 'TriggerAuthentication'))
      for (const r of t.spec.secretTargetRef) referenced.set(r.name, (referenced.get(r.name) ?? new Set()).add(r.key));
    const made = new Map(
      byKind(objects, 'ExternalSecret').map((es) => [
        es.spec.target.name as string,
        new Set((es.spec.data as { secretKey: string }[]).map((d) => d.secretKey)),
      ]),
    );
    expect([...made.keys()].sort()).toEqual([...referenced.keys()].sort());
    for (const [name, keys] of referenced)
      expect([name, [...made.get(name)!].sort()]).toEqual([name, [...keys].sort()]);
    const prefix = findGenerated(prod, 'ConfigMap', 'toolplane-worker')!.data!.SECRETS_NAME_PREFIX!;
    for (const es of byKind(objects, 'ExternalSecret')) {
      expect(es.spec.secretStoreRef.name).toBe('aws-secrets-manager');
      for (const d of es.spec.data) expect(d.remoteRef.key.startsWith(prefix)).toBe(false);
    }
  });

  it('reads through a ServiceAccount of its own that no pod of ours uses', () => {
    const store = find(objects, 'SecretStore', 'aws-secrets-manager');
    const sa = store.spec.provider.aws.auth.jwt.serviceAccountRef.name as string;
    expect(find(objects, 'ServiceAccount', sa).metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(
      /^arn:aws:iam::\d{12}:role\//,
    );
    expect(workloads(objects).filter((w) => w.pod.serviceAccountName === sa)).toEqual([]);
  });
});

describe('edge-oauth-egress', () => {
  it('lets the edge and the control plane reach public HTTPS (the issuer) and nothing private; without it, no internet', () => {
    const jwks: Endpoint = { ip: '104.16.1.1' };
    const podOf = (name: string) => (objects: K8sObject[]) => {
      const w = workloads(objects).find((x) => x.name === name)!;
      return { pod: w.labels, namespace: w.namespace, ip: '10.0.32.10' };
    };
    const edgeOf = podOf('edge');
    const controlPlaneOf = podOf('control-plane');
    const on = withComponent('edge-oauth-egress');
    const policies = byKind(on, 'NetworkPolicy');
    expect(allowed(policies, edgeOf(on), jwks, { port: 443 })).toBe(true);
    expect(allowed(policies, edgeOf(on), { ip: '2606:4700::1' }, { port: 443 })).toBe(true);
    expect(allowed(policies, edgeOf(on), jwks, { port: 80 })).toBe(false);
    for (const ip of ['10.0.8.20', '169.254.169.254', '172.20.0.1', '192.168.1.1', 'fd00::1'])
      expect([ip, allowed(policies, edgeOf(on), { ip }, { port: 443 })]).toEqual([ip, false]);
    // The control plane (the issuer's JWKS and metadata, for dashboard sign-in) the same way.
    expect(allowed(policies, controlPlaneOf(on), jwks, { port: 443 })).toBe(true);
    expect(allowed(policies, controlPlaneOf(on), { ip: '10.0.8.20' }, { port: 443 })).toBe(false);
    // Without the component neither reaches the internet.
    expect(allowed(byKind(prod, 'NetworkPolicy'), edgeOf(prod), jwks, { port: 443 })).toBe(false);
    expect(allowed(byKind(prod, 'NetworkPolicy'), controlPlaneOf(prod), jwks, { port: 443 })).toBe(false);
  });
});

describe('workspace-apply', () => {
  const objects = withComponent('workspace-apply');

  it('runs the control plane’s image on the workspace files of its ConfigMap, with the key from a Secret', () => {
    const job = find(objects, 'Job', 'workspace-apply');
    const pod = job.spec.template.spec;
    const [container] = pod.containers;
    // The name the overlays' `images:` rewrite (as the migrate Job's): the control plane's own image and release.
    expect(container.image).toBe('toolplane/control-plane');
    expect(container.command).toEqual(['node', '/apply/apply.mjs', '/workspace']);
    expect(
      container.env.find((e: { name: string }) => e.name === 'TOOLPLANE_API_KEY').valueFrom.secretKeyRef.name,
    ).toBe('toolplane-workspace-apply');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    const workspace = findGenerated(objects, 'ConfigMap', 'toolplane-workspace')!;
    expect(Object.keys(workspace.data!)).toContain('mcp-servers__tickets.yaml');
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'workspace');
    expect(volume.configMap.name).toBe(workspace.metadata.name);
  });

  it('reaches the control plane’s REST API and nothing else', () => {
    const policies = byKind(objects, 'NetworkPolicy');
    const job: Endpoint = {
      pod: { 'app.kubernetes.io/name': 'workspace-apply' },
      namespace: 'toolplane',
      ip: '10.0.9.9',
    };
    const plane = workloads(objects).find((w) => w.name === 'control-plane')!;
    const to = (w: typeof plane) => ({ pod: w.labels, namespace: w.namespace });
    expect(allowed(policies, job, to(plane), { port: 8081 })).toBe(true);
    for (const w of workloads(objects).filter((x) => x.name !== 'control-plane'))
      expect(allowed(policies, job, to(w), { port: 8080 })).toBe(false);
    expect(allowed(policies, job, { ip: '93.184.216.34' }, { port: 443 })).toBe(false);
    // Without the component the control plane does not admit it.
    const base = byKind(prod, 'NetworkPolicy');
    expect(allowed(base, job, to(workloads(prod).find((w) => w.name === 'control-plane')!), { port: 8081 })).toBe(
      false,
    );
  });
});

// ---- Redis Cluster and Sentinel (ADR 0043): the services' Redis form, the queue's shards, the worker's scaler ----

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: unknown };
}
interface Trigger {
  type: string;
  name?: string;
  metricType?: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}

const redisServices = ['edge', 'worker', 'control-plane'];
const containerOf = (objects: K8sObject[], name: string) =>
  workloads(objects).find((w) => w.name === name)!.pod.containers[0];
const envOf = (objects: K8sObject[], name: string) => containerOf(objects, name).env as EnvVar[];
const triggersOf = (objects: K8sObject[]) => find(objects, 'ScaledObject', 'worker').spec.triggers as Trigger[];
const fromRedisSecret = (key: string) => ({ secretKeyRef: { name: 'toolplane-redis', key } });

/** Every env entry and ConfigMap key of every container (init containers too): where a Redis variable could hide. */
function redisVariables(objects: K8sObject[]): string[] {
  const names = workloads(objects).flatMap((w) =>
    [...(w.pod.initContainers ?? []), ...w.pod.containers].flatMap((c: { env?: EnvVar[] }) =>
      (c.env ?? []).map((e) => e.name),
    ),
  );
  for (const cm of byKind(objects, 'ConfigMap')) names.push(...Object.keys(cm.data ?? {}));
  return [...new Set(names.filter((n) => n.startsWith('REDIS_')))].sort();
}

/** Values of Secret toolplane-redis (created by the operator, not rendered), in the documented formats. */
const secretExamples: Record<string, string> = {
  REDIS_CLUSTER_NODES: 'rediss://:example-password@clustercfg.toolplane.abc123.euw1.cache.amazonaws.com:6379',
  REDIS_SENTINELS: 'redis-node-0.redis-headless.redis:26379,redis-node-1.redis-headless.redis:26379',
  REDIS_SENTINEL_MASTER: 'mymaster',
  REDIS_PASSWORD: 'example-password',
  DATABASE_URL: 'postgresql://toolplane:example@toolplane.cluster-abc.eu-west-1.rds.amazonaws.com:5432/toolplane',
};

/** The environment a service's container gets (ConfigMaps, then env; Secrets from the examples, optional ones left out). */
function serviceEnv(objects: K8sObject[], name: string): Record<string, string> {
  const container = containerOf(objects, name);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? [])
    Object.assign(env, objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef.name)!.data);
  for (const e of container.env as EnvVar[]) {
    const ref = e.valueFrom?.secretKeyRef;
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = `${name}-7d9f8b7c9-x2x9z`;
    else if (ref && ref.key in secretExamples) env[e.name] = secretExamples[ref.key]!;
    else if (ref && !ref.optional)
      throw new Error(`${name}: ${e.name} from Secret ${ref.name} has no example value here`);
  }
  return env;
}

/** Each service's own startup check of its environment (the Redis form, the shards): the issues, none expected. */
function startupIssues(objects: K8sObject[]): string[] {
  const schemas = { edge: EdgeEnvChecked, worker: WorkerEnvChecked, 'control-plane': ControlPlaneEnvChecked };
  return Object.entries(schemas).flatMap(([name, schema]) => {
    const parsed = schema.safeParse(serviceEnv(objects, name));
    return parsed.success ? [] : parsed.error.issues.map((i) => `${name}: ${i.path.join('.')}: ${i.message}`);
  });
}

describe('redis-cluster', () => {
  const objects = withComponent('redis-cluster');
  // BullMQ prefixes of the tool-call queue's shards for REDIS_PREFIX=tp and REDIS_QUEUE_SHARDS=6, shard i at index i.
  const shards = ['{tp:q0.2}', '{tp:q1.1}', '{tp:q2.1}', '{tp:q3}', '{tp:q4.4}', '{tp:q5.11}'];

  it('renders objects that match their schemas, the same objects as prod', async () => {
    for (const o of objects) await validateObject(o);
    const ids = (list: K8sObject[]) =>
      list.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).sort();
    expect(ids(objects)).toEqual(ids(prod));
  });

  it('points edge, worker and control plane at the cluster’s seeds from Secret toolplane-redis, with no REDIS_URL left', () => {
    for (const s of redisServices) {
      const env = envOf(objects, s);
      expect([s, env.filter((e) => e.name === 'REDIS_URL')]).toEqual([s, []]);
      expect([s, env.find((e) => e.name === 'REDIS_CLUSTER_NODES')?.valueFrom]).toEqual([
        s,
        fromRedisSecret('REDIS_CLUSTER_NODES'),
      ]);
    }
    expect(redisVariables(objects)).toEqual(['REDIS_CLUSTER_NODES', 'REDIS_PREFIX', 'REDIS_QUEUE_SHARDS']);
  });

  it('spreads the tool-call queue over 6 shards, the same count on every edge and worker, each worker reading all', () => {
    expect(findGenerated(objects, 'ConfigMap', 'toolplane-edge')!.data!.REDIS_QUEUE_SHARDS).toBe('6');
    expect(findGenerated(objects, 'ConfigMap', 'toolplane-worker')!.data!.REDIS_QUEUE_SHARDS).toBe('6');
    for (const s of redisServices) {
      const env = serviceEnv(objects, s);
      expect([s, env.REDIS_QUEUE_SHARDS]).toEqual([s, s === 'control-plane' ? undefined : '6']);
      expect([s, env.WORKER_QUEUE_SHARDS]).toEqual([s, undefined]);
    }
    expect(startupIssues(objects)).toEqual([]);
  });

  it('scales the worker on every shard’s waiting and in-flight lists (redis-cluster scaler), CPU as in prod', () => {
    const triggers = triggersOf(objects);
    const cluster = triggers.filter((t) => t.type === 'redis-cluster');
    expect(triggers.filter((t) => t.type !== 'redis-cluster')).toEqual(
      triggersOf(prod).filter((t) => t.type === 'cpu'),
    );
    expect(cluster).toHaveLength(12);
    const lists = (suffix: string) =>
      cluster.filter((t) => t.metadata.listName!.endsWith(suffix)).map((t) => t.metadata.listName);
    expect(lists(':wait')).toEqual(shards.map((p) => `${p}:tool-invocations:wait`));
    expect(lists(':active')).toEqual(shards.map((p) => `${p}:tool-invocations:active`));
    // The names the services compute (packages/queue), for the queue the services use.
    const asCluster = { isCluster: true } as unknown as RedisConnectionLike;
    expect(queueShardPrefixes(asCluster, 'tp', 6)).toEqual(shards);
    expect(lists(':wait')[0]).toBe(`${shards[0]}:${queueNames.toolInvocations}:wait`);
    expect(new Set(triggers.map((t) => t.name)).size).toBe(triggers.length);
    // The HPA takes the largest metric, not the sum: each shard's target is prod's divided by the shard count.
    const target = (list: string) =>
      Number(triggersOf(prod).find((t) => t.metadata.listName === `tp:tool-invocations:${list}`)!.metadata.listLength);
    for (const t of cluster) {
      const list = t.metadata.listName!.endsWith(':wait') ? 'wait' : 'active';
      expect([t.name, Number(t.metadata.listLength)]).toEqual([t.name, Math.floor(target(list) / 6)]);
      expect(t.metadata.addresses).toMatch(/^[a-z0-9.-]+:\d+(,\s*[a-z0-9.-]+:\d+)*$/);
      expect(t.metadata.addresses).toBe(cluster[0]!.metadata.addresses);
      expect(t.metadata.enableTLS).toBe('true');
      expect(t.authenticationRef).toEqual({ name: 'keda-redis' });
    }
    expect(find(objects, 'TriggerAuthentication', 'keda-redis').spec.secretTargetRef).toEqual([
      { parameter: 'password', name: 'toolplane-redis', key: 'REDIS_PASSWORD' },
    ]);
  });
});

describe('redis-sentinel', () => {
  const objects = withComponent('redis-sentinel');

  it('points edge, worker and control plane at the sentinels and master name from Secret toolplane-redis, with no REDIS_URL left', () => {
    for (const s of redisServices) {
      const env = envOf(objects, s);
      expect([s, env.filter((e) => e.name === 'REDIS_URL')]).toEqual([s, []]);
      for (const key of ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_PASSWORD'])
        expect([s, key, env.find((e) => e.name === key)?.valueFrom]).toEqual([s, key, fromRedisSecret(key)]);
      expect(env.find((e) => e.name === 'REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
        name: 'toolplane-redis',
        key: 'REDIS_SENTINEL_PASSWORD',
        optional: true,
      });
    }
    // One queue: no shards with one master.
    expect(redisVariables(objects)).toEqual([
      'REDIS_PASSWORD',
      'REDIS_PREFIX',
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_MASTER',
      'REDIS_SENTINEL_PASSWORD',
    ]);
    expect(startupIssues(objects)).toEqual([]);
  });

  it('scales the worker on the same two lists through the sentinels (redis-sentinel scaler), from the worker’s own settings', () => {
    const triggers = triggersOf(objects);
    const before = triggersOf(prod);
    expect(triggers.map((t) => [t.type, t.metadata.listName, t.metadata.listLength])).toEqual(
      before.map((t) => [t.type === 'redis' ? 'redis-sentinel' : t.type, t.metadata.listName, t.metadata.listLength]),
    );
    expect(triggers.map((t) => t.metadata.listName).slice(0, 2)).toEqual([
      'tp:tool-invocations:wait',
      'tp:tool-invocations:active',
    ]);
    const workerEnv = new Set(envOf(objects, 'worker').map((e) => e.name));
    for (const t of triggers.filter((x) => x.type === 'redis-sentinel')) {
      expect(t.metadata).toMatchObject({
        addressesFromEnv: 'REDIS_SENTINELS',
        sentinelMasterFromEnv: 'REDIS_SENTINEL_MASTER',
        passwordFromEnv: 'REDIS_PASSWORD',
        sentinelPasswordFromEnv: 'REDIS_SENTINEL_PASSWORD',
      });
      // KEDA reads them from the scale target's container.
      for (const [k, v] of Object.entries(t.metadata).filter(([k]) => k.endsWith('FromEnv')))
        expect([k, workerEnv.has(v)]).toEqual([k, true]);
      expect(t.metadata.address).toBeUndefined();
    }
  });

  it('lets the services reach the sentinels and the data nodes, and nothing more; without it, they cannot', () => {
    const redis: Endpoint = { pod: { 'app.kubernetes.io/name': 'redis' }, namespace: 'redis', ip: '10.0.40.7' };
    const on = byKind(objects, 'NetworkPolicy');
    for (const w of workloads(objects).filter((x) => redisServices.includes(x.name))) {
      const from: Endpoint = { pod: w.labels, namespace: w.namespace, ip: '10.0.32.10' };
      for (const port of [26379, 6379]) {
        expect([w.name, port, allowed(on, from, redis, { port })]).toEqual([w.name, port, true]);
        expect([w.name, port, allowed(byKind(prod, 'NetworkPolicy'), from, redis, { port })]).toEqual([
          w.name,
          port,
          false,
        ]);
      }
      expect(allowed(on, from, redis, { port: 16379 })).toBe(false);
      expect(allowed(on, from, { ...redis, namespace: 'other' }, { port: 26379 })).toBe(false);
    }
    const migrate = workloads(objects).find((w) => w.name === 'migrate')!;
    expect(allowed(on, { pod: migrate.labels, namespace: migrate.namespace }, redis, { port: 26379 })).toBe(false);
  });
});
