// The Helm chart (k8s/helm/toolplane, ADR 0092), with the real helm binary (scripts/toolchain.sh `ensure_helm`):
// `helm lint --strict`, `helm template` over a matrix of values (defaults, dev-like, prod-like with every component
// on, each Redis form, the worker's CPU autoscaler), every object valid against the Kubernetes (and KEDA, Prometheus
// Operator, External Secrets) schemas, the hardening and isolation rules of the kustomize tree, and the same objects
// as the kustomize overlays where both exist; a wrong value fails at `helm template` with the schema's message.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  byKind,
  find,
  hardeningProblems,
  helmChart,
  managed,
  overlays,
  prepareFieldCheck,
  reachability,
  renderHelm,
  renderKustomization,
  renderWithComponents,
  repoRoot,
  runHelm,
  schemaProblems,
  workloads,
  type K8sObject,
} from './lib.ts';

/** Each values set and its files (relative to the chart). */
const matrix: Record<string, string[]> = {
  defaults: [],
  dev: ['ci/dev-values.yaml'],
  prod: ['ci/prod-values.yaml'],
  'redis-sentinel': ['ci/prod-values.yaml', 'ci/redis-sentinel-values.yaml'],
  'redis-cluster': ['ci/prod-values.yaml', 'ci/redis-cluster-values.yaml'],
  'worker-cpu-hpa': ['ci/worker-cpu-hpa-values.yaml'],
};
const rendered = Object.fromEntries(Object.entries(matrix).map(([name, files]) => [name, renderHelm(files)]));

const component = (name: string) => join(repoRoot, 'k8s/components', name);
/** The kustomize counterparts of the prod-like values: the prod overlay with the components those values turn on. */
const prodComponents = ['ingress', 'monitoring', 'external-secrets', 'edge-oauth-egress'];
const kustomize = {
  dev: renderKustomization(overlays.dev),
  prod: renderWithComponents(overlays.prod, prodComponents.map(component)),
  'redis-sentinel': renderWithComponents(overlays.prod, [...prodComponents, 'redis-sentinel'].map(component)),
  'redis-cluster': renderWithComponents(overlays.prod, [...prodComponents, 'redis-cluster'].map(component)),
};

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe('helm lint', () => {
  it.each(Object.keys(matrix))('passes --strict with the %s values', (name) => {
    const r = runHelm([
      'lint',
      '--strict',
      helmChart,
      ...matrix[name]!.flatMap((f) => ['--values', join(helmChart, f)]),
    ]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('0 chart(s) failed');
  });
});

describe.each(Object.keys(matrix))('helm template with the %s values', (name) => {
  const objects = rendered[name]!;

  it('renders objects that all match their schemas, with no unknown field, in the release namespace', async () => {
    expect(objects.length).toBeGreaterThan(20);
    prepareFieldCheck(Object.values(rendered).flat());
    expect(await schemaProblems(objects)).toEqual([]);
    expect(objects.filter((o) => o.metadata.namespace !== 'toolplane')).toEqual([]);
  });

  it('hardens every pod as the kustomize base does (non-root, read-only root, no capabilities, seccomp)', () => {
    expect(workloads(objects).map((w) => w.name)).toEqual(['control-plane', 'edge', 'worker', 'migrate']);
    expect(hardeningProblems(objects)).toEqual([]);
  });

  it('gives connector secrets to the worker only: the sealing key or the secrets store’s reading role', () => {
    const secretVolumes = workloads(objects).flatMap((w) =>
      (w.pod.volumes ?? []).filter((v: any) => v.secret).map((v: any) => `${w.name}: ${v.secret.secretName}`),
    );
    const sealed = objects.some((o) => o.kind === 'PersistentVolumeClaim');
    const recordFiles = name === 'dev';
    expect(secretVolumes.sort()).toEqual(
      [
        ...(sealed ? ['worker: toolplane-sealing-key'] : []),
        ...(recordFiles ? ['control-plane: toolplane-record-arguments-key'] : []),
      ].sort(),
    );
    // A cloud role only on the worker (reads) and the control plane (writes), never on the edge or the Job.
    const roles = byKind(objects, 'ServiceAccount')
      .filter((sa) => sa.metadata.annotations?.['eks.amazonaws.com/role-arn'])
      .map((sa) => sa.metadata.name);
    expect(roles.filter((r) => !['worker', 'control-plane', 'external-secrets-reader'].includes(r))).toEqual([]);
    // The edge never sees a Secret but Redis's connection settings.
    const edge = find(objects, 'Deployment', 'edge').spec.template.spec.containers[0];
    const edgeSecrets = (edge.env ?? [])
      .filter((e: any) => e.valueFrom?.secretKeyRef)
      .map((e: any) => e.valueFrom.secretKeyRef.name);
    expect([...new Set(edgeSecrets)]).toEqual(['toolplane-redis']);
  });
});

/** An object reduced to what both renderers must agree on: no Helm or kustomize bookkeeping. */
function comparable(o: K8sObject): unknown {
  // kustomize suffixes generated ConfigMaps and Secrets with a hash; the chart rolls pods on a checksum annotation.
  const c = JSON.parse(JSON.stringify(o).replace(/"(toolplane-[a-z-]+?)-[a-z0-9]{10}"/g, '"$1"')) as K8sObject;
  const annotations = Object.fromEntries(
    Object.entries(c.metadata.annotations ?? {}).filter(
      ([k]) => !/^(helm\.sh|argocd\.argoproj\.io|kustomize\.)/.test(k),
    ),
  );
  const out: any = { ...c, metadata: { name: c.metadata.name, annotations } };
  if (out.spec?.template?.metadata) out.spec.template.metadata = { labels: out.spec.template.metadata.labels };
  // Volumes and mounts: their order means nothing (kustomize's patches put theirs first).
  const byName = (list?: { name: string }[]) => list && [...list].sort((x, y) => x.name.localeCompare(y.name));
  for (const pod of [out.spec?.template?.spec].filter(Boolean)) {
    pod.volumes = byName(pod.volumes);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) c.volumeMounts = byName(c.volumeMounts);
  }
  return out;
}

/** Where two values differ, as `path: chart … ≠ kustomize …` lines. */
function differences(a: unknown, b: unknown, path: string): string[] {
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differences((a as any)[k], (b as any)[k], `${path}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b)
    ? []
    : [`${path}: chart ${JSON.stringify(a)?.slice(0, 200)} ≠ kustomize ${JSON.stringify(b)?.slice(0, 200)}`];
}

/** The chart's objects by kind and name; kustomize's generated ConfigMaps and Secrets without their hash suffix. */
const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const treeKey = (o: K8sObject) =>
  ['ConfigMap', 'Secret'].includes(o.kind) ? `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}` : key(o);

/**
 * What only one side renders: the Namespace (Helm's is the release's, `--create-namespace`), the dev overlay's own
 * Redis, PostgreSQL, collector and Jaeger (the chart runs none: they are the operator's), the chart's alerts and
 * dashboards (kustomize has no component for them: ADR 0092), and the chart's names for
 * the egress to Redis and PostgreSQL (the same rules: the reachability test below).
 */
const onlyIn = {
  dev: {
    chart: [] as string[],
    kustomize: [
      'ClusterRole/toolplane-otel-collector',
      'ClusterRoleBinding/toolplane-otel-collector',
      'ConfigMap/otel-collector-config',
      'Deployment/jaeger',
      'Deployment/otel-collector',
      'Deployment/redis',
      'Namespace/toolplane',
      'NetworkPolicy/jaeger-ingress',
      'NetworkPolicy/otel-collector',
      'NetworkPolicy/postgres-ingress',
      'NetworkPolicy/redis-ingress',
      'Secret/toolplane-database',
      'Secret/toolplane-redis',
      'Service/jaeger',
      'Service/otel-collector',
      'Service/postgres',
      'Service/redis',
      'ServiceAccount/otel-collector',
      'StatefulSet/postgres',
    ],
  },
  prod: {
    chart: [
      'ConfigMap/toolplane-dashboards',
      'NetworkPolicy/to-postgres',
      'NetworkPolicy/to-redis',
      'PrometheusRule/toolplane',
    ],
    kustomize: ['Namespace/toolplane', 'NetworkPolicy/to-managed-postgres', 'NetworkPolicy/to-managed-redis'],
  },
};

describe.each([
  ['dev', 'dev'],
  ['prod', 'prod'],
] as const)('the %s values and the kustomize %s overlay', (values, overlay) => {
  const chart = rendered[values]!;
  const tree = kustomize[overlay];

  it('render the same objects (name, kind and spec) where both have them', () => {
    const differ: string[] = [];
    for (const o of chart) {
      const other = tree.find((t) => treeKey(t) === key(o));
      if (other) differ.push(...differences(comparable(o), comparable(other), key(o)));
    }
    expect(differ).toEqual([]);
  });

  it('differ only in what one of them has on purpose', () => {
    const chartOnly = chart.filter((o) => !tree.some((t) => treeKey(t) === key(o))).map(key);
    const treeOnly = tree.filter((t) => !chart.some((o) => treeKey(t) === key(o))).map(treeKey);
    expect({ chart: chartOnly.sort(), kustomize: treeOnly.sort() }).toEqual(onlyIn[overlay]);
  });

  it('let each pod reach exactly what the overlay lets it reach', () => {
    const destinations = overlay === 'prod' ? managed : [];
    const ours = (lines: string[]) =>
      lines.filter(
        (l) =>
          /^(edge|worker|control-plane|migrate) -> /.test(l) && !/-> (redis|postgres|otel-collector|jaeger):/.test(l),
      );
    expect(ours(reachability(chart, '10.0.32', destinations))).toEqual(
      ours(
        reachability(
          tree.filter((o) => o.kind !== 'Namespace'),
          '10.0.32',
          destinations,
        ),
      ),
    );
  });
});

describe.each(['redis-sentinel', 'redis-cluster'] as const)('the %s form and its kustomize component', (form) => {
  it('configure, run and scale the services the same way (ConfigMaps, Deployments, ScaledObject)', () => {
    const kinds = ['ConfigMap', 'Deployment', 'ScaledObject'];
    // The dashboards' ConfigMap is the chart's own (prod values).
    const chart = rendered[form]!.filter((o) => kinds.includes(o.kind) && o.metadata.name !== 'toolplane-dashboards');
    const tree = kustomize[form].filter((o) => kinds.includes(o.kind));
    expect(chart.map(key).sort()).toEqual(tree.map(treeKey).sort());
    const differ = chart.flatMap((o) =>
      differences(comparable(o), comparable(tree.find((t) => treeKey(t) === key(o))!), key(o)),
    );
    expect(differ).toEqual([]);
  });
});

describe('values.schema.json', () => {
  it('fails helm template with the schema’s message on a value of the wrong type', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toolplane-helm-'));
    scratch.push(dir);
    writeFileSync(join(dir, 'wrong.yaml'), 'redis:\n  queueShards: six\n');
    const r = runHelm(['template', 'toolplane', helmChart, '--values', join(dir, 'wrong.yaml')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toContain("at '/redis/queueShards': got string, want integer");
  });

  it('refuses an unknown Redis form and a misspelt key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toolplane-helm-'));
    scratch.push(dir);
    writeFileSync(join(dir, 'wrong.yaml'), 'redis:\n  mode: replicated\npbd:\n  enabled: false\n');
    const r = runHelm(['template', 'toolplane', helmChart, '--values', join(dir, 'wrong.yaml')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/\/redis\/mode/);
    expect(r.stderr).toMatch(/pbd/);
  });
});

describe('NOTES.txt', () => {
  it('prints the URLs, how to get the API key and the first call, as the dev command does', () => {
    const r = runHelm(['install', 'toolplane', helmChart, '--namespace', 'toolplane', '--dry-run=client']);
    expect(r.status).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kubectl -n toolplane port-forward svc/edge 8080');
    expect(notes).toContain('control plane  http://localhost:8081/api/v1');
    expect(notes).toContain("get secret toolplane-bootstrap -o jsonpath='{.data.BOOTSTRAP_API_KEY}'");
    expect(notes).toMatch(/--header "x-api-key: \$TOOLPLANE_API_KEY" --method tools\/call/);
  });
});
