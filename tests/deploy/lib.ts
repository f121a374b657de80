// Helpers for the deployment tests: render Kustomize overlays with kubectl and the Helm chart with helm, parse
// YAML, validate objects against the Kubernetes schemas (kubernetes-models, offline), the hardening rules every pod
// follows, evaluate NetworkPolicies (which pod reaches what).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

// ---- YAML ------------------------------------------------------------------------------------------

interface YamlModule {
  parse(src: string, options?: { merge?: boolean }): unknown;
  parseAllDocuments(src: string): { toJS(): unknown; errors: { message: string }[] }[];
}
// `yaml` is a dependency of packages/openapi, not of tests/ (whose package.json is not ours to
// change): load that copy.
const yaml = createRequire(join(repoRoot, 'packages/openapi/package.json'))('yaml') as YamlModule;

/** One YAML document; `<<` merge keys (docker compose's extension fields) are applied. */
export function parseYaml(src: string): unknown {
  return yaml.parse(src, { merge: true });
}

function parseYamlStream(src: string): unknown[] {
  return yaml.parseAllDocuments(src).map((d) => {
    if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS();
  });
}

// ---- Kubernetes objects ------------------------------------------------------------------------------

export type Labels = Record<string, string>;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Record<string, string> };
  // Rendered manifests: the tests read them structurally and validate them against the schemas.
  spec?: any;
  data?: Record<string, string>;
  [key: string]: unknown;
}

/** The binaries scripts/toolchain.sh unpacks from the npm layer package (`ensure_helm`), newest first. */
function toolchainBinaries(name: string): string[] {
  const dir = join(repoRoot, '.toolchain');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => d.startsWith('kubectl-layer-'))
    .sort()
    .reverse()
    .map((d) => join(dir, d, name));
}

/** A tool by its environment variable (then the only candidate) or its usual places; a failure, never a skip. */
function findTool(name: string, envValue: string | undefined, versionArgs: string[], purpose: string): string {
  const candidates = envValue
    ? [envValue]
    : [name, ...toolchainBinaries(name), `/usr/bin/${name}`, `/usr/local/bin/${name}`];
  for (const c of candidates) {
    const r = spawnSync(c, versionArgs, { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  const variable = name.toUpperCase();
  throw new Error(
    `${name} is required to ${purpose} (tried ${candidates.join(', ')}).` +
      (process.env.CI === 'true'
        ? ` CI=true: scripts/test.sh installs it (scripts/toolchain.sh); set ${variable} to its path.`
        : ` Run bash scripts/test.sh once (it installs it into .toolchain/) or set ${variable}.`),
  );
}

let kubectlPath: string | undefined;
/** kubectl, or a failure (never a skip): the manifests cannot be checked without it. */
function kubectl(): string {
  kubectlPath ??= findTool('kubectl', process.env.KUBECTL, ['version', '--client'], 'render the Kustomize overlays');
  return kubectlPath;
}

let helmPath: string | undefined;
/** helm (scripts/toolchain.sh `ensure_helm`), or a failure (never a skip). */
function helm(): string {
  helmPath ??= findTool('helm', process.env.HELM, ['version', '--short'], 'lint and render the Helm chart');
  return helmPath;
}

export const helmChart = join(repoRoot, 'k8s/helm/toolplane');

/** Runs helm with `args`; its exit code and output. */
export function runHelm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(helm(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of the chart with values files (paths relative to the chart), in namespace toolplane. */
export function renderHelm(valuesFiles: string[]): K8sObject[] {
  const r = runHelm([
    'template',
    'toolplane',
    helmChart,
    '--namespace',
    'toolplane',
    ...valuesFiles.flatMap((f) => ['--values', resolve(helmChart, f)]),
  ]);
  if (r.status !== 0) throw new Error(`helm template (${valuesFiles.join(', ')}) failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object')
    .map((o) => ({ ...o, metadata: { namespace: 'toolplane', ...o.metadata } }));
}

/** `kubectl kustomize <dir>`: every object of an overlay, as plain objects. */
export function renderKustomization(dir: string): K8sObject[] {
  const r = spawnSync(kubectl(), ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout).filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

/** Renders an overlay with extra components (as a user would add them), from a temporary kustomization. */
export function renderWithComponents(overlay: string, components: string[]): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'toolplane-kustomize-'));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    // Kustomize accepts relative paths only.
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(dir, overlay)}`,
      'namespace: toolplane',
      'components:',
      ...components.map((c) => `  - ${relative(dir, c)}`),
      '',
    ].join('\n'),
  );
  return renderKustomization(dir);
}

export const overlays = {
  dev: join(repoRoot, 'k8s/overlays/dev'),
  prod: join(repoRoot, 'k8s/overlays/prod'),
};

export function byKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return o;
}

/** Generated ConfigMaps/Secrets carry a hash suffix: find one by its base name. */
export function findGenerated(
  objects: K8sObject[],
  kind: 'ConfigMap' | 'Secret',
  baseName: string,
): K8sObject | undefined {
  return objects.find(
    (o) =>
      o.kind === kind &&
      (o.metadata.name === baseName || new RegExp(`^${baseName}-[a-z0-9]{10}$`).test(o.metadata.name)),
  );
}

export interface Workload {
  object: K8sObject;
  name: string;
  namespace: string;
  labels: Labels;
  /** The PodSpec. */
  pod: any;
}

/** Every pod template: Deployments, StatefulSets, DaemonSets and Jobs. */
export function workloads(objects: K8sObject[]): Workload[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
    .map((o) => ({
      object: o,
      name: o.metadata.name,
      namespace: o.metadata.namespace ?? 'default',
      labels: (o.spec.template.metadata?.labels ?? {}) as Labels,
      pod: o.spec.template.spec,
    }));
}

// ---- schema validation (kubernetes-models, offline) ---------------------------------------------------

function modelSpecifier(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  // Custom resources of the optional components (Prometheus Operator, External Secrets Operator).
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  if (group === 'external-secrets.io') return `@kubernetes-models/external-secrets/${group}/${version}/${kind}`;
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/**
 * Validates one object against its Kubernetes (or KEDA, Prometheus Operator, External Secrets) JSON Schema. Throws for an unknown
 * apiVersion/kind and for schema violations (types, required fields, formats, enums).
 */
export async function validateObject(o: K8sObject): Promise<void> {
  const spec = modelSpecifier(o.apiVersion, o.kind);
  let mod: Record<string, ModelClass>;
  try {
    mod = (await import(spec)) as Record<string, ModelClass>;
  } catch {
    throw new Error(`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind} (${spec})`);
  }
  const Model = mod[o.kind];
  if (!Model) throw new Error(`${spec} exports no ${o.kind}`);
  // kustomize folds long base64 values over several lines; the API server ignores those line breaks.
  const data =
    o.kind === 'Secret' && o.data
      ? Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, v.replace(/\s+/g, '')]))
      : o.data;
  new Model({ ...o, ...(data ? { data } : {}) }).validate();
}

/** Schema violations and unknown fields of every object (empty: all valid). Call `prepareFieldCheck` first. */
export async function schemaProblems(objects: K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const o of objects) {
    try {
      await validateObject(o);
    } catch (err) {
      problems.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
    }
    problems.push(...unknownFields(o).map((f) => `unknown field ${f}`));
  }
  return problems;
}

let checker: { program: ts.Program; checker: ts.TypeChecker } | undefined;
const declCache = new Map<string, ts.InterfaceDeclaration>();

function declarationFile(apiVersion: string, kind: string): string {
  // The packages export ESM only; their declaration files sit next to the modules.
  const spec = modelSpecifier(apiVersion, kind);
  const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  return `${realpathSync(join(repoRoot, 'tests/node_modules', pkg))}${spec.slice(pkg.length)}.d.ts`;
}

/** One TypeScript program over the declarations of every kind seen so far (rebuilt when a kind is new). */
function ensureProgram(files: string[]): { program: ts.Program; checker: ts.TypeChecker } {
  if (!checker || files.some((f) => !checker!.program.getSourceFile(f))) {
    const roots = [...new Set([...(checker?.program.getRootFileNames() ?? []), ...files])];
    const program = ts.createProgram(roots, {
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    });
    checker = { program, checker: program.getTypeChecker() };
    declCache.clear();
  }
  return checker;
}

function interfaceFor(apiVersion: string, kind: string): { decl: ts.InterfaceDeclaration; checker: ts.TypeChecker } {
  const dts = declarationFile(apiVersion, kind);
  const { program, checker: c } = ensureProgram([dts]);
  const key = `${apiVersion}/${kind}`;
  let decl = declCache.get(key);
  if (!decl) {
    decl = program
      .getSourceFile(dts)!
      .statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === `I${kind}`);
    if (!decl) throw new Error(`${dts} declares no I${kind}`);
    declCache.set(key, decl);
  }
  return { decl, checker: c };
}

/** Loads the declarations of every kind in `objects` at once (one type checker instead of one per kind). */
export function prepareFieldCheck(objects: K8sObject[]): void {
  ensureProgram([...new Set(objects.map((o) => declarationFile(o.apiVersion, o.kind)))]);
}

/**
 * Field names the schema does not define (typos such as `readOnlyRootFileSystem`), found by walking
 * the object along the TypeScript declarations of kubernetes-models (its JSON Schemas allow unknown
 * properties, the API server's strict field validation does not).
 */
function unknownFields(o: K8sObject): string[] {
  const { decl, checker: c } = interfaceFor(o.apiVersion, o.kind);
  const problems: string[] = [];
  const walk = (value: unknown, type: ts.Type, path: string): void => {
    if (value === null || typeof value !== 'object') return;
    let t = c.getNonNullableType(type);
    if (t.isUnion()) {
      const objects = t.types.filter((x) => x.getProperties().length > 0 || x.symbol?.name === 'Array');
      if (objects.length !== 1) return;
      t = objects[0]!;
    }
    if (Array.isArray(value)) {
      if (t.symbol?.name !== 'Array') return;
      const [elem] = c.getTypeArguments(t as ts.TypeReference);
      if (elem) value.forEach((v, i) => walk(v, elem, `${path}[${i}]`));
      return;
    }
    const props = t.getProperties();
    if (props.length === 0) return; // a map (labels, data…) or an untyped field
    for (const [k, v] of Object.entries(value)) {
      const p = t.getProperty(k);
      if (!p) {
        problems.push(`${path}.${k}`);
        continue;
      }
      walk(v, c.getTypeOfSymbolAtLocation(p, decl), `${path}.${k}`);
    }
  };
  walk(o, c.getDeclaredTypeOfSymbol(c.getSymbolAtLocation(decl.name)!), `${o.kind}/${o.metadata.name}`);
  return problems;
}

// ---- hardening -----------------------------------------------------------------------------------------

/**
 * What breaks the hardening every pod follows (the kustomize base's and the chart's): non-root, seccomp
 * RuntimeDefault, no API token (but for `apiTokenFor`), read-only root filesystem, no privilege escalation, no
 * capabilities, resources, a pinned image, probes. Empty: none.
 */
export function hardeningProblems(objects: K8sObject[], options: { apiTokenFor?: string[] } = {}): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.pod;
    if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${w.name}: pod runAsNonRoot`);
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault')
      problems.push(`${w.name}: seccomp RuntimeDefault`);
    if (pod.automountServiceAccountToken !== false && !(options.apiTokenFor ?? []).includes(w.name))
      problems.push(`${w.name}: automountServiceAccountToken must be false`);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const at = `${w.name}/${c.name}`;
      const sc = c.securityContext ?? {};
      const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
      if (typeof uid !== 'number' || uid === 0) problems.push(`${at}: runAsUser must be a non-zero uid`);
      if (sc.runAsNonRoot === false) problems.push(`${at}: runAsNonRoot overridden`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${at}: capabilities drop ALL`);
      if (sc.privileged) problems.push(`${at}: privileged`);
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory'])
          if (!c.resources?.[kind]?.[r]) problems.push(`${at}: resources.${kind}.${r}`);
      }
      if (
        !/^[^@]+(:[^:@/]*\d[^:@/]*)(@sha256:[a-f0-9]{64})?$|@sha256:[a-f0-9]{64}$/.test(c.image) ||
        /:latest(@|$)/.test(c.image)
      )
        problems.push(`${at}: image ${c.image} is not pinned`);
      if (w.object.kind !== 'Job' && !(pod.initContainers ?? []).includes(c)) {
        if (!c.readinessProbe) problems.push(`${at}: readinessProbe`);
        if (!c.livenessProbe) problems.push(`${at}: livenessProbe`);
      }
    }
  }
  return problems;
}

// ---- label selectors and NetworkPolicies -------------------------------------------------------------

interface Selector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

function selects(selector: Selector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values?.includes(value!))) return false;
    if (e.operator === 'NotIn' && has && e.values?.includes(value!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function parseIp(s: string): { v: 4 | 6; n: bigint } {
  if (!s.includes(':')) return { v: 4, n: s.split('.').reduce((a, p) => a * 256n + BigInt(Number(p)), 0n) };
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? undefined : tail ? tail.split(':') : [];
  const groups = t === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { v: 6, n: groups.reduce((a, g) => a * 65536n + BigInt(parseInt(g || '0', 16)), 0n) };
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/') as [string, string];
  const a = parseIp(net);
  const b = parseIp(ip);
  if (a.v !== b.v) return false;
  const shift = BigInt((a.v === 4 ? 32 : 128) - Number(len));
  return a.n >> shift === b.n >> shift;
}

/** A pod (by labels, in a namespace) or an address outside the cluster. */
export type Endpoint = { pod: Labels; namespace: string; ip?: string } | { ip: string };

export interface Connection {
  port: number;
  protocol?: 'TCP' | 'UDP';
}

interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyRule {
  ports?: { port?: number | string; endPort?: number; protocol?: string }[];
  to?: PolicyPeer[];
  from?: PolicyPeer[];
}

function nsLabels(namespace: string): Labels {
  return { 'kubernetes.io/metadata.name': namespace };
}

function peerMatches(peer: PolicyPeer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    if (!other.ip || !inCidr(other.ip, peer.ipBlock.cidr)) return false;
    return !(peer.ipBlock.except ?? []).some((e) => inCidr(other.ip!, e));
  }
  if (!('pod' in other)) return false;
  if (peer.namespaceSelector) {
    if (!selects(peer.namespaceSelector, nsLabels(other.namespace))) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector ? selects(peer.podSelector, other.pod) : true;
}

function portMatches(rule: PolicyRule, conn: Connection): boolean {
  if (!rule.ports || rule.ports.length === 0) return true;
  return rule.ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== (conn.protocol ?? 'TCP')) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string')
      throw new Error(`named port ${p.port} in a NetworkPolicy: not modelled by this test`);
    return p.endPort ? conn.port >= p.port && conn.port <= p.endPort : conn.port === p.port;
  });
}

/** An absent or empty `to`/`from` matches everything. */
function peersOf(peers: PolicyPeer[] | undefined): PolicyPeer[] {
  return peers && peers.length > 0 ? peers : [{}];
}

function applies(policy: K8sObject, direction: 'Ingress' | 'Egress', pod: Labels, namespace: string): boolean {
  if ((policy.metadata.namespace ?? 'default') !== namespace) return false;
  if (!selects(policy.spec.podSelector, pod)) return false;
  const types: string[] =
    policy.spec.policyTypes ??
    (direction === 'Egress' ? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']) : ['Ingress']);
  return types.includes(direction);
}

/** Whether the policies let `from` open `conn` to `to` (egress of the source and ingress of the destination). */
export function allowed(policies: K8sObject[], from: Endpoint, to: Endpoint, conn: Connection): boolean {
  const side = (direction: 'Ingress' | 'Egress', self: Endpoint, other: Endpoint): boolean => {
    if (!('pod' in self)) return true; // outside the cluster: not governed by NetworkPolicies
    const relevant = policies.filter((p) => applies(p, direction, self.pod, self.namespace));
    if (relevant.length === 0) return true;
    return relevant.some((p) =>
      ((direction === 'Egress' ? p.spec.egress : p.spec.ingress) ?? []).some(
        (rule: PolicyRule) =>
          portMatches(rule, conn) &&
          peersOf(direction === 'Egress' ? rule.to : rule.from).some((peer) =>
            Object.keys(peer).length === 0 ? true : peerMatches(peer, p.metadata.namespace ?? 'default', other),
          ),
      ),
    );
  };
  return side('Egress', from, to) && side('Ingress', to, from);
}

// ---- reachability ------------------------------------------------------------------------------------

interface Destination {
  name: string;
  endpoint: Endpoint;
  conn: Connection;
}

/** Addresses outside the cluster, and cluster-internal ones reached by IP (the isolation tests' destinations). */
const addresses: Destination[] = [
  { name: 'internet https (8.8.8.8:443)', endpoint: { ip: '8.8.8.8' }, conn: { port: 443 } },
  { name: 'internet any port (203.0.113.10:8443)', endpoint: { ip: '203.0.113.10' }, conn: { port: 8443 } },
  { name: 'internet IPv6 ([2606:4700:4700::1111]:443)', endpoint: { ip: '2606:4700:4700::1111' }, conn: { port: 443 } },
  { name: 'service CIDR (10.96.0.1:443)', endpoint: { ip: '10.96.0.1' }, conn: { port: 443 } },
  { name: 'EKS service CIDR (172.20.0.1:443)', endpoint: { ip: '172.20.0.1' }, conn: { port: 443 } },
  { name: 'a pod by IP (10.244.3.7:8080)', endpoint: { ip: '10.244.3.7' }, conn: { port: 8080 } },
  { name: 'a VPC host (10.0.8.20:22)', endpoint: { ip: '10.0.8.20' }, conn: { port: 22 } },
  { name: 'cloud metadata (169.254.169.254:80)', endpoint: { ip: '169.254.169.254' }, conn: { port: 80 } },
  { name: 'shared address space (100.64.0.10:443)', endpoint: { ip: '100.64.0.10' }, conn: { port: 443 } },
  { name: 'private network (192.168.1.1:443)', endpoint: { ip: '192.168.1.1' }, conn: { port: 443 } },
  { name: 'loopback (127.0.0.1:6379)', endpoint: { ip: '127.0.0.1' }, conn: { port: 6379 } },
  { name: 'IPv6 unique local ([fd00::1]:443)', endpoint: { ip: 'fd00::1' }, conn: { port: 443 } },
  { name: 'IPv6 link local ([fe80::1]:80)', endpoint: { ip: 'fe80::1' }, conn: { port: 80 } },
];

/** The prod overlay's managed services (their subnets) and the operator's collector. */
export const managed: Destination[] = [
  { name: 'managed Redis (10.0.64.10:6379)', endpoint: { ip: '10.0.64.10' }, conn: { port: 6379 } },
  { name: 'managed PostgreSQL (10.0.65.10:5432)', endpoint: { ip: '10.0.65.10' }, conn: { port: 5432 } },
  { name: 'AWS endpoints (10.0.66.10:443)', endpoint: { ip: '10.0.66.10' }, conn: { port: 443 } },
  {
    name: 'observability/opentelemetry-collector:4318',
    endpoint: {
      pod: { 'app.kubernetes.io/name': 'opentelemetry-collector' },
      namespace: 'observability',
      ip: '10.0.40.9',
    },
    conn: { port: 4318 },
  },
];

export const clusterDns: Endpoint = { pod: { 'k8s-app': 'kube-dns' }, namespace: 'kube-system', ip: '10.0.40.2' };

/** Every pod of the overlay as a source, and each of its TCP ports as a destination. */
export function pods(
  objects: K8sObject[],
  ipBase: string,
): { name: string; endpoint: Endpoint & { pod: Labels }; ports: number[] }[] {
  return workloads(objects).map((w, i) => ({
    name: w.name,
    endpoint: { pod: w.labels, namespace: w.namespace, ip: `${ipBase}.${i + 10}` },
    ports: w.pod.containers.flatMap((c: { ports?: { containerPort: number; protocol?: string }[] }) =>
      (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
    ),
  }));
}

/** "source -> destination" for every connection the NetworkPolicies allow (DNS aside). */
export function reachability(objects: K8sObject[], ipBase: string, extra: Destination[]): string[] {
  const policies = byKind(objects, 'NetworkPolicy');
  const all = pods(objects, ipBase);
  const destinations: Destination[] = [
    ...all.flatMap((p) => p.ports.map((port) => ({ name: `${p.name}:${port}`, endpoint: p.endpoint, conn: { port } }))),
    ...addresses,
    ...extra,
  ];
  const out: string[] = [];
  for (const src of all) {
    for (const d of destinations) {
      if (d.endpoint === src.endpoint) continue;
      if (allowed(policies, src.endpoint, d.endpoint, d.conn)) out.push(`${src.name} -> ${d.name}`);
    }
  }
  return out.sort();
}

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/** Paths (relative to a workspace root) and their contents. */
export type WorkspaceFiles = Record<string, string>;

/**
 * Runs one of the repository's check scripts (`scripts/<name>.ts`) on a small workspace made of `files`
 * in a fresh directory (added to `roots`, which the caller removes after its tests). Exit code and output.
 */
export function runCheckScript(
  script: string,
  files: WorkspaceFiles,
  roots: string[],
): { code: number; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'toolplane-check-'));
  roots.push(root);
  mkdirSync(join(root, 'scripts'));
  cpSync(join(repoRoot, 'scripts', script), join(root, 'scripts', script));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  try {
    const output = execFileSync(process.execPath, ['--no-warnings', join(root, 'scripts', script)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, output };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, output: `${e.stdout}${e.stderr}` };
  }
}
