// The optional components (k8s/components/*) rendered on top of the prod overlay: their objects match
// their schemas (Kubernetes, Prometheus Operator and External Secrets custom resources), and each does
// what its comment promises without widening anything else.
import { describe, expect, it } from '@jest/globals';
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

describe.each(['monitoring', 'ingress', 'external-secrets', 'edge-oauth-egress', 'workspace-apply'])(
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
