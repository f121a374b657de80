// The data plane's isolation, read from the rendered manifests: which ServiceAccount's cloud role
// can read secrets, which pod holds the sealed store's private key, and which pod may open which
// connection under the NetworkPolicies (only the worker reaches the internet).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  allowed,
  byKind,
  clusterDns,
  managed,
  overlays,
  pods,
  reachability,
  renderKustomization,
  repoRoot,
  workloads,
  type Endpoint,
  type K8sObject,
} from './lib.ts';

const rendered: Record<'dev' | 'prod', K8sObject[]> = {
  dev: renderKustomization(overlays.dev),
  prod: renderKustomization(overlays.prod),
};

// ---- IAM ---------------------------------------------------------------------------------------------

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string>>;
  Principal?: Record<string, string>;
}
interface PolicyDocument {
  Version: string;
  Statement: Statement[];
}

/** Every Secrets Manager action (Service Authorization Reference) and the KMS ones Secrets Manager uses. */
const secretsManagerActions = [
  'BatchGetSecretValue',
  'CancelRotateSecret',
  'CreateSecret',
  'DeleteResourcePolicy',
  'DeleteSecret',
  'DescribeSecret',
  'GetRandomPassword',
  'GetResourcePolicy',
  'GetSecretValue',
  'ListSecretVersionIds',
  'ListSecrets',
  'PutResourcePolicy',
  'PutSecretValue',
  'RemoveRegionsFromReplication',
  'ReplicateSecretToRegions',
  'RestoreSecret',
  'RotateSecret',
  'StopReplicationToReplica',
  'TagResource',
  'UntagResource',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'ValidateResourcePolicy',
].map((a) => `secretsmanager:${a}`);
const kmsActions = ['Decrypt', 'Encrypt', 'GenerateDataKey', 'ReEncryptFrom', 'ReEncryptTo', 'CreateGrant'].map(
  (a) => `kms:${a}`,
);
const readActions = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'];

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(action);
}

function statementCovers(s: Statement, action: string): boolean {
  if (s.NotAction) return !list(s.NotAction).some((p) => actionMatches(p, action));
  return list(s.Action).some((p) => actionMatches(p, action));
}

/** Actions a policy allows (and does not explicitly deny), among `universe`. */
function effectiveActions(policy: PolicyDocument, universe: string[]): string[] {
  return universe
    .filter(
      (a) =>
        policy.Statement.some((s) => s.Effect === 'Allow' && statementCovers(s, a)) &&
        !policy.Statement.some((s) => s.Effect === 'Deny' && statementCovers(s, a)),
    )
    .sort();
}

const iamDir = join(repoRoot, 'k8s/overlays/prod/iam');
const readJson = (file: string) => JSON.parse(readFileSync(join(iamDir, file), 'utf8')) as PolicyDocument;

/** The data of the (hash-suffixed) ConfigMap a generator named `name` produced. */
function configOf(objects: K8sObject[], name: string): Record<string, string> {
  const cm = byKind(objects, 'ConfigMap').find((c) => c.metadata.name.replace(/-[a-z0-9]{10}$/, '') === name);
  return ((cm as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<string, string>;
}

function roles(objects: K8sObject[]): { sa: string; role?: string }[] {
  return byKind(objects, 'ServiceAccount').map((sa) => {
    const arn = sa.metadata.annotations?.['eks.amazonaws.com/role-arn'];
    return { sa: sa.metadata.name, ...(arn ? { role: arn.replace(/^arn:aws:iam::\d{12}:role\//, '') } : {}) };
  });
}

describe('cloud identities (prod overlay, IRSA)', () => {
  const objects = rendered.prod;

  it('gives the worker and the control plane a role each, and the edge and the migration Job none', () => {
    expect(roles(objects)).toEqual(
      expect.arrayContaining([
        { sa: 'worker', role: 'toolplane-worker' },
        { sa: 'control-plane', role: 'toolplane-control-plane' },
        { sa: 'edge' },
        { sa: 'migrate' },
      ]),
    );
    expect(roles(objects)).toHaveLength(4);
  });

  it('lets only the worker’s ServiceAccount read secret values', () => {
    const readers = roles(objects)
      .filter(
        (r) =>
          r.role &&
          effectiveActions(readJson(`${r.role}.policy.json`), [...secretsManagerActions, ...kmsActions]).some((a) =>
            readActions.includes(a),
          ),
      )
      .map((r) => r.sa);
    expect(readers).toEqual(['worker']);
  });

  it('limits the worker to reading and writing people’s OAuth tokens, the control plane to creating, writing, describing, deleting, listing, tagging', () => {
    const actions = (role: string) => effectiveActions(readJson(`${role}.policy.json`), secretsManagerActions);
    expect(actions('toolplane-worker')).toEqual([
      'secretsmanager:CreateSecret',
      'secretsmanager:DeleteSecret',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
      'secretsmanager:TagResource',
    ]);
    // The worker writes people's OAuth tokens (ADR 0027) and nothing else: every statement letting it write names
    // only the tokens' secrets.
    const writes = ['CreateSecret', 'PutSecretValue', 'DeleteSecret', 'TagResource'].map((a) => `secretsmanager:${a}`);
    const writing = readJson('toolplane-worker.policy.json').Statement.filter(
      (st) => st.Effect === 'Allow' && writes.some((a) => statementCovers(st, a)),
    );
    expect(writing.length).toBeGreaterThan(0);
    for (const st of writing)
      for (const r of list(st.Resource)) expect(r).toMatch(/:secret:toolplane\/ws\/\*\/users\/\*\/oauth\/\*$/);
    expect(actions('toolplane-control-plane')).toEqual([
      'secretsmanager:CreateSecret',
      'secretsmanager:DeleteSecret',
      'secretsmanager:DescribeSecret',
      'secretsmanager:ListSecrets',
      'secretsmanager:PutSecretValue',
      'secretsmanager:TagResource',
    ]);
    // KMS only through Secrets Manager. Writing with a customer managed key needs kms:GenerateDataKey and
    // kms:Decrypt (Secrets Manager user guide, "Permissions for the KMS key"); the control plane still never
    // sees a value, since GetSecretValue/BatchGetSecretValue are denied to it (previous test).
    for (const role of ['toolplane-worker', 'toolplane-control-plane']) {
      for (const s of readJson(`${role}.policy.json`).Statement.filter(
        (x) => x.Effect === 'Allow' && list(x.Action).some((a) => a.startsWith('kms:')),
      )) {
        expect(s.Condition?.StringEquals?.['kms:ViaService']).toMatch(/^secretsmanager\.[a-z0-9-]+\.amazonaws\.com$/);
      }
    }
    expect(effectiveActions(readJson('toolplane-control-plane.policy.json'), kmsActions)).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
    ]);
    expect(effectiveActions(readJson('toolplane-worker.policy.json'), kmsActions)).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
    ]);
  });

  it('grants every Secrets Manager call AwsSecretsWriter/AwsSecretsReader make (packages/secrets)', () => {
    const source = readFileSync(join(repoRoot, 'packages/secrets/src/aws-secrets-manager.ts'), 'utf8');
    const section = (cls: string) => source.slice(source.indexOf(`export class ${cls}`)).split(/\nexport class /)[0]!;
    const calls = (cls: string) =>
      [...new Set([...section(cls).matchAll(/new (\w+)Command\(/g)].map((m) => `secretsmanager:${m[1]}`))].sort();
    // DescribeSecret: after every write (the version) and before every delete ("was there one").
    expect(calls('AwsSecretsWriter')).toContain('secretsmanager:DescribeSecret');
    const granted = (role: string) => effectiveActions(readJson(`${role}.policy.json`), secretsManagerActions);
    for (const a of calls('AwsSecretsWriter')) expect(granted('toolplane-control-plane')).toContain(a);
    for (const a of calls('AwsSecretsReader')) expect(granted('toolplane-worker')).toContain(a);
    // The worker stores people's OAuth tokens with AwsSecretsWriter too.
    for (const a of calls('AwsSecretsWriter').filter((x) => x !== 'secretsmanager:ListSecrets'))
      expect(granted('toolplane-worker')).toContain(a);
    // Each role's secrets are the prefix the services are configured with.
    const prefix = configOf(objects, 'toolplane-worker').SECRETS_NAME_PREFIX;
    expect(configOf(objects, 'toolplane-control-plane').SECRETS_NAME_PREFIX).toBe(prefix);
    for (const role of ['toolplane-worker', 'toolplane-control-plane']) {
      const resources = readJson(`${role}.policy.json`)
        .Statement.filter((s) => s.Effect === 'Allow' && list(s.Action).some((a) => a.startsWith('secretsmanager:')))
        .flatMap((s) => list(s.Resource))
        .filter((r) => r !== '*');
      for (const r of resources) expect(r).toMatch(new RegExp(`:secret:${prefix}(ws/\\*/users/\\*/oauth/)?\\*$`));
    }
  });

  it('selects AWS Secrets Manager in the worker and the control plane, in the region the policies name', () => {
    for (const cm of ['toolplane-worker', 'toolplane-control-plane']) {
      const config = configOf(objects, cm);
      expect(config.SECRETS_BACKEND).toBe('aws');
      expect(config.AWS_REGION).toMatch(/^[a-z]{2}-[a-z]+-\d$/);
      expect(JSON.stringify(readJson(`${cm}.policy.json`))).toContain(`:${config.AWS_REGION}:`);
      expect(config.SECRETS_DIR).toBeUndefined();
    }
    expect(configOf(objects, 'toolplane-control-plane').SECRETS_AWS_KMS_KEY_ID).toMatch(/^arn:aws:kms:/);
    expect(configOf(objects, 'toolplane-edge').SECRETS_BACKEND).toBeUndefined();
  });

  it('lets each role be assumed only by its own ServiceAccount, used only by its own pods', () => {
    for (const { sa, role } of roles(objects).filter((r) => r.role)) {
      const trust = readJson(`${role}.trust.json`);
      expect(trust.Statement).toHaveLength(1);
      const [s] = trust.Statement;
      expect(s!.Action).toBe('sts:AssumeRoleWithWebIdentity');
      const conditions = s!.Condition!.StringEquals!;
      const sub = Object.entries(conditions).find(([k]) => k.endsWith(':sub'))?.[1];
      const aud = Object.entries(conditions).find(([k]) => k.endsWith(':aud'))?.[1];
      expect(sub).toBe(`system:serviceaccount:toolplane:${sa}`);
      expect(aud).toBe('sts.amazonaws.com');
      expect(
        workloads(objects)
          .filter((w) => w.pod.serviceAccountName === sa)
          .map((w) => w.name),
      ).toEqual([sa]);
    }
  });
});

// ---- sealed store ------------------------------------------------------------------------------------

describe('the prod overlay has no sealed store (AWS Secrets Manager instead)', () => {
  it('mounts no sealing key, no public key and no shared volume', () => {
    const objects = rendered.prod;
    expect(byKind(objects, 'PersistentVolumeClaim')).toEqual([]);
    for (const w of workloads(objects)) {
      for (const v of w.pod.volumes ?? []) {
        expect(v.persistentVolumeClaim ?? v.secret ?? v.configMap).toBeUndefined();
      }
    }
  });
});

describe('the prod overlay gives the record-arguments key pair as environment variables', () => {
  /** Each workload's environment variables read from `kind` (secretKeyRef / configMapKeyRef) named `name`. */
  const readers = (ref: 'secretKeyRef' | 'configMapKeyRef', name: string) =>
    workloads(rendered.prod)
      .filter((w) =>
        [...(w.pod.initContainers ?? []), ...w.pod.containers].some((c: any) =>
          (c.env ?? []).some((e: any) => e.valueFrom?.[ref]?.name === name),
        ),
      )
      .map((w) => w.name)
      .sort();

  it('the private key to the control plane only, the public key to the worker only, both optional', () => {
    expect(readers('secretKeyRef', 'toolplane-record-arguments-key')).toEqual(['control-plane']);
    expect(readers('configMapKeyRef', 'toolplane-record-arguments-public-key')).toEqual(['worker']);
    const env = (workload: string, name: string) =>
      workloads(rendered.prod)
        .find((w) => w.name === workload)!
        .pod.containers[0].env.find((e: any) => e.name === name);
    expect(env('control-plane', 'RECORD_ARGUMENTS_PRIVATE_KEY').valueFrom.secretKeyRef.optional).toBe(true);
    expect(env('worker', 'RECORD_ARGUMENTS_PUBLIC_KEY').valueFrom.configMapKeyRef.optional).toBe(true);
  });
});

describe.each(['dev'] as const)('the sealed secrets store (%s overlay)', (overlay) => {
  const objects = rendered[overlay];
  const mounts = (volumeTest: (v: any) => boolean) =>
    workloads(objects)
      .filter((w) => (w.pod.volumes ?? []).some(volumeTest))
      .map((w) => w.name)
      .sort();

  it('mounts the private key into the worker only, and the public key into the control plane only', () => {
    expect(mounts((v) => v.secret?.secretName === 'toolplane-sealing-key')).toEqual(['worker']);
    expect(mounts((v) => v.configMap?.name === 'toolplane-sealing-public-key')).toEqual(['control-plane']);
  });

  it('mounts the record-arguments private key into the control plane only, its public key into the worker only', () => {
    expect(mounts((v) => v.secret?.secretName === 'toolplane-record-arguments-key')).toEqual(['control-plane']);
    expect(mounts((v) => v.configMap?.name === 'toolplane-record-arguments-public-key')).toEqual(['worker']);
    const env = (name: string) =>
      byKind(objects, 'ConfigMap').find((c: any) => c.metadata.name.replace(/-[a-z0-9]{10}$/, '') === name)?.data;
    expect(env('toolplane-control-plane')?.RECORD_ARGUMENTS_PRIVATE_KEY_FILE).toMatch(
      /^\/etc\/toolplane\/record-arguments-key\//,
    );
    expect(env('toolplane-worker')?.RECORD_ARGUMENTS_PUBLIC_KEY_FILE).toMatch(
      /^\/etc\/toolplane\/record-arguments-public-key\//,
    );
  });

  it('shares the store between the control plane (writes) and the worker (reads; writes people’s OAuth tokens only, in code); the edge has neither', () => {
    expect(mounts((v) => v.persistentVolumeClaim?.claimName === 'sealed-secrets')).toEqual(['control-plane', 'worker']);
    const worker = workloads(objects).find((w) => w.name === 'worker')!;
    const store = worker.pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'sealed-secrets');
    // A sealed store on a volume has no per-name permissions: the worker's writer refuses every other name.
    expect(store.readOnly).toBeUndefined();
    const edge = workloads(objects).find((w) => w.name === 'edge')!;
    expect(edge.pod.volumes.every((v: { emptyDir?: unknown }) => v.emptyDir !== undefined)).toBe(true);
  });
});

// ---- network -----------------------------------------------------------------------------------------

describe('NetworkPolicies', () => {
  it('deny everything by default in both overlays', () => {
    for (const objects of Object.values(rendered)) {
      const deny = byKind(objects, 'NetworkPolicy').filter(
        (p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress && !p.spec.egress,
      );
      expect(deny.map((p) => p.spec.policyTypes.sort())).toEqual([['Egress', 'Ingress']]);
    }
  });

  it('dev: only the worker reaches the internet; each pod reaches exactly what it needs', () => {
    expect(reachability(rendered.dev, '10.244.1', [])).toEqual(
      [
        'edge -> control-plane:8081',
        'edge -> otel-collector:4317',
        'edge -> otel-collector:4318',
        'edge -> redis:6379',
        'worker -> internet https (8.8.8.8:443)',
        'worker -> internet any port (203.0.113.10:8443)',
        'worker -> internet IPv6 ([2606:4700:4700::1111]:443)',
        'worker -> otel-collector:4317',
        'worker -> otel-collector:4318',
        'worker -> redis:6379',
        'control-plane -> otel-collector:4317',
        'control-plane -> otel-collector:4318',
        'control-plane -> postgres:5432',
        'control-plane -> redis:6379',
        'migrate -> postgres:5432',
        'otel-collector -> jaeger:4317',
      ].sort(),
    );
  });

  it('prod: only the worker reaches the internet; the managed services and AWS endpoints only by those who need them', () => {
    expect(reachability(rendered.prod, '10.0.32', managed)).toEqual(
      [
        'edge -> control-plane:8081',
        'edge -> managed Redis (10.0.64.10:6379)',
        'edge -> observability/opentelemetry-collector:4318',
        'worker -> internet https (8.8.8.8:443)',
        'worker -> internet any port (203.0.113.10:8443)',
        'worker -> internet IPv6 ([2606:4700:4700::1111]:443)',
        'worker -> managed Redis (10.0.64.10:6379)',
        'worker -> AWS endpoints (10.0.66.10:443)',
        'worker -> observability/opentelemetry-collector:4318',
        'control-plane -> managed PostgreSQL (10.0.65.10:5432)',
        'control-plane -> managed Redis (10.0.64.10:6379)',
        'control-plane -> AWS endpoints (10.0.66.10:443)',
        'control-plane -> observability/opentelemetry-collector:4318',
        'migrate -> managed PostgreSQL (10.0.65.10:5432)',
      ].sort(),
    );
  });

  it.each(['dev', 'prod'] as const)(
    '%s: every pod resolves names through the cluster DNS, and reaches nothing else in kube-system',
    (overlay) => {
      const policies = byKind(rendered[overlay], 'NetworkPolicy');
      const metricsServer: Endpoint = {
        pod: { 'k8s-app': 'metrics-server' },
        namespace: 'kube-system',
        ip: '10.0.40.3',
      };
      for (const p of pods(rendered[overlay], '10.1.1')) {
        expect([p.name, allowed(policies, p.endpoint, clusterDns, { port: 53, protocol: 'UDP' })]).toEqual([
          p.name,
          true,
        ]);
        expect([p.name, allowed(policies, p.endpoint, clusterDns, { port: 53, protocol: 'TCP' })]).toEqual([
          p.name,
          true,
        ]);
        expect([p.name, allowed(policies, p.endpoint, metricsServer, { port: 443 })]).toEqual([p.name, false]);
      }
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: from outside, clients reach the edge only; Prometheus reaches /metrics',
    (overlay) => {
      const policies = byKind(rendered[overlay], 'NetworkPolicy');
      const client: Endpoint = { ip: '198.51.100.7' };
      const prometheus: Endpoint = {
        pod: { 'app.kubernetes.io/name': 'prometheus' },
        namespace: 'monitoring',
        ip: '10.0.50.4',
      };
      const open: string[] = [];
      for (const p of pods(rendered[overlay], '10.2.1')) {
        for (const port of p.ports) {
          if (allowed(policies, client, p.endpoint, { port })) open.push(`client -> ${p.name}:${port}`);
          if (allowed(policies, prometheus, p.endpoint, { port })) open.push(`prometheus -> ${p.name}:${port}`);
        }
      }
      expect(open.sort()).toEqual(
        [
          'client -> edge:8080',
          'prometheus -> edge:8080',
          'prometheus -> edge:9464',
          'prometheus -> worker:9464',
          'prometheus -> control-plane:9464',
          ...(overlay === 'dev' ? ['client -> jaeger:16686', 'prometheus -> jaeger:16686'] : []),
        ].sort(),
      );
    },
  );

  it.each(['dev', 'prod'] as const)(
    '%s: the control-plane API (8081) admits the edge and the ingress controller only',
    (overlay) => {
      const policies = byKind(rendered[overlay], 'NetworkPolicy');
      const all = pods(rendered[overlay], '10.4.1');
      const cp = all.find((p) => p.name === 'control-plane')!;
      const ingress: Endpoint = {
        pod: { 'app.kubernetes.io/name': 'ingress-nginx' },
        namespace: 'ingress-nginx',
        ip: '10.0.60.4',
      };
      const other: Endpoint = {
        pod: { 'app.kubernetes.io/name': 'ingress-nginx' },
        namespace: 'default',
        ip: '10.0.60.5',
      };
      expect(allowed(policies, ingress, cp.endpoint, { port: 8081 })).toBe(true);
      expect(allowed(policies, other, cp.endpoint, { port: 8081 })).toBe(false);
      const edge = all.find((p) => p.name === 'edge')!;
      expect(allowed(policies, ingress, edge.endpoint, { port: 8080 })).toBe(true);
      expect(
        all.filter((p) => p !== cp && allowed(policies, p.endpoint, cp.endpoint, { port: 8081 })).map((p) => p.name),
      ).toEqual(['edge']);
    },
  );

  it('dev: the KEDA operator may read the queue length from Redis', () => {
    const policies = byKind(rendered.dev, 'NetworkPolicy');
    const keda: Endpoint = { pod: { app: 'keda-operator' }, namespace: 'keda', ip: '10.0.50.5' };
    const redis = pods(rendered.dev, '10.3.1').find((p) => p.name === 'redis')!;
    expect(allowed(policies, keda, redis.endpoint, { port: 6379 })).toBe(true);
    const postgres = pods(rendered.dev, '10.3.1').find((p) => p.name === 'postgres')!;
    expect(allowed(policies, keda, postgres.endpoint, { port: 5432 })).toBe(false);
  });
});
