// Generates docs/configuration.md, the reference of every environment variable of the three
// services, from their zod schemas (services/*/src/env.ts): type, default and whether it is required
// come from the schema (as JSON Schema, input side), the description from `.describe()` or else from
// the doc comment on the key. tests/deploy/config-docs.test.ts fails when the file is stale.
//
//   node scripts/gen-config-docs.ts          write docs/configuration.md
//   node scripts/gen-config-docs.ts --check  exit 1 if docs/configuration.md is not current
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const configurationDocPath = join(root, 'docs', 'configuration.md');

interface ServiceSchema {
  service: string;
  /** Path of the env.ts file, relative to the repository root. */
  file: string;
  /** Name of the exported zod object schema. */
  exportName: string;
  /** Hand-written remarks printed under the table (rules the JSON Schema cannot express). */
  notes: string[];
}

/** The Redis forms' rule (`checkRedisEnv` in packages/redis, ADR 0043), the same for every service. */
const redisFormNote =
  'Exactly one of `REDIS_URL` (one Redis), `REDIS_CLUSTER_NODES` (a Redis Cluster) or `REDIS_SENTINELS` with ' +
  '`REDIS_SENTINEL_MASTER` (Sentinel) is required; at start the service checks that the servers are of that form ' +
  '(docs/operations.md, "Redis deployment forms").';

const serviceSchemas: ServiceSchema[] = [
  {
    service: 'edge',
    file: 'services/edge/src/env.ts',
    exportName: 'EdgeEnv',
    notes: [
      redisFormNote,
      '`OAUTH_ISSUER` needs `OAUTH_JWKS_URL` and `PUBLIC_URL` (checked at start by `EdgeEnvChecked`).',
    ],
  },
  { service: 'worker', file: 'services/worker/src/env.ts', exportName: 'WorkerEnv', notes: [redisFormNote] },
  {
    service: 'control-plane',
    file: 'services/control-plane/src/env.ts',
    exportName: 'ControlPlaneEnv',
    notes: [
      redisFormNote,
      'The migration command (`node dist/db/migrate-cli.js deploy` in the image, `src/db/migrate-cli.ts` in a checkout; ' +
        'the Kubernetes `migrate` Job) reads `DATABASE_URL` only.',
    ],
  },
];

interface JsonSchema {
  type?: string;
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

interface ZodObjectLike {
  toJSONSchema(opts: { io: 'input'; unrepresentable: 'any' }): JsonSchema;
}

export interface EnvVar {
  name: string;
  service: string;
  type: string;
  default?: string;
  required: boolean;
  description: string;
}

/**
 * Descriptions for keys that carry no doc comment in their env.ts (a comment there wins). Keep these
 * generic: they apply to whichever service reads the key.
 */
const fallbackDescriptions: Record<string, string> = {
  HOST: 'Interface the HTTP server listens on (`0.0.0.0` in containers).',
  PORT: 'Port of the HTTP server.',
  REDIS_URL: 'Redis connection URL (`redis://…`, or `rediss://…` for TLS).',
  REDIS_PREFIX: 'Prefix of every Redis key and BullMQ queue; must be the same for the three services.',
  LOG_LEVEL: 'pino log level (JSON lines on stdout).',
  HEALTH_HOST: 'Interface of the health endpoints `/healthz` and `/readyz` (`0.0.0.0` in containers).',
  METRICS_HOST: 'Interface of the Prometheus `/metrics` endpoint (`0.0.0.0` in containers).',
  OTEL_SERVICE_NAME: 'OpenTelemetry `service.name`; defaults to `toolplane-<service>`.',
};

const code = (v: string) => `\`${v}\``;

function bound(n: number | undefined): n is number {
  return n !== undefined && Math.abs(n) < Number.MAX_SAFE_INTEGER;
}

/** A short human type for one property's JSON Schema (input side: what the variable may contain). */
export function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.const !== undefined) return s.const === '' ? 'empty' : code(JSON.stringify(s.const));
  if (s.enum) return s.enum.map((v) => code(String(v))).join(', ');
  if (s.type === 'integer' || s.type === 'number') {
    const word = s.type === 'integer' ? 'integer' : 'number';
    const lo = bound(s.minimum) ? s.minimum : undefined;
    const hi = bound(s.maximum) ? s.maximum : undefined;
    if (lo !== undefined && hi !== undefined) return `${word} ${lo}–${hi}`;
    if (lo !== undefined) return `${word} ≥ ${lo}`;
    if (bound(s.exclusiveMinimum)) return `${word} > ${s.exclusiveMinimum}`;
    if (hi !== undefined) return `${word} ≤ ${hi}`;
    return word;
  }
  if (s.type === 'string') {
    if (s.format === 'uri') return 'URL';
    if (s.pattern) return `string matching ${code(s.pattern)}`;
    if (s.minLength !== undefined && s.minLength > 0) return 'non-empty string';
    return 'string';
  }
  return s.type ?? 'any';
}

/** Doc comments (`/** … *\/`) on the keys of `export const <exportName> = z.object({ … })`. */
function docComments(sourceText: string, exportName: string): Map<string, string> {
  const sf = ts.createSourceFile('env.ts', sourceText, ts.ScriptTarget.Latest, true);
  const out = new Map<string, string>();
  const visit = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === exportName &&
      node.initializer
    ) {
      const call = node.initializer;
      const arg = ts.isCallExpression(call) ? call.arguments[0] : undefined;
      if (arg && ts.isObjectLiteralExpression(arg)) {
        for (const prop of arg.properties) {
          if (!prop.name || !(ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))) continue;
          const ranges = ts.getLeadingCommentRanges(sourceText, prop.getFullStart()) ?? [];
          const docs = ranges
            .map((r) => sourceText.slice(r.pos, r.end))
            .filter((c) => c.startsWith('/**'))
            .map((c) =>
              c
                .replace(/^\/\*\*|\*\/$/g, '')
                .split('\n')
                .map((l) => l.replace(/^\s*\*?\s?/, '').trim())
                .filter(Boolean)
                .join(' '),
            );
          if (docs.length > 0) out.set(prop.name.text, docs.join(' '));
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export async function collectEnvVars(): Promise<EnvVar[]> {
  const vars: EnvVar[] = [];
  for (const s of serviceSchemas) {
    const path = join(root, s.file);
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const schema = mod[s.exportName] as ZodObjectLike | undefined;
    if (!schema || typeof schema.toJSONSchema !== 'function')
      throw new Error(`${s.file} does not export the zod object ${s.exportName}`);
    const json = schema.toJSONSchema({ io: 'input', unrepresentable: 'any' });
    const comments = docComments(readFileSync(path, 'utf8'), s.exportName);
    for (const [name, prop] of Object.entries(json.properties ?? {})) {
      vars.push({
        name,
        service: s.service,
        type: typeOf(prop),
        ...(prop.default !== undefined
          ? { default: typeof prop.default === 'string' ? prop.default : JSON.stringify(prop.default) }
          : {}),
        required: (json.required ?? []).includes(name),
        description: prop.description ?? comments.get(name) ?? fallbackDescriptions[name] ?? '',
      });
    }
  }
  return vars;
}

const cell = (v: string) => v.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export async function renderConfigurationDoc(): Promise<string> {
  const vars = await collectEnvVars();
  const lines: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `node scripts/gen-config-docs.ts` from services/*/src/env.ts. Do not edit by hand:',
    '     change the zod schema (or the comment on its key) and run the script; a test checks this file. -->',
    '',
    'Every service reads its environment once, at start, through its zod schema in `services/<service>/src/env.ts`;',
    'an invalid value stops the process with the list of problems. Nothing else reads the environment.',
    'On Kubernetes the values come from the ConfigMaps `toolplane-common` and `toolplane-<service>` and from the',
    'Secrets `toolplane-redis`, `toolplane-database` and `toolplane-bootstrap` (see k8s/README.md);',
    'with docker compose, from `infra/docker-compose.yml`.',
    '',
    'Booleans are the strings `true` / `false`. Durations are in milliseconds unless the name says otherwise.',
    '',
  ];
  for (const s of serviceSchemas) {
    const own = vars.filter((v) => v.service === s.service);
    lines.push(`## ${s.service}`, '', `Schema: \`${s.exportName}\` in \`${s.file}\`.`, '');
    lines.push('| Variable | Type | Default | Required | Description |', '| --- | --- | --- | --- | --- |');
    for (const v of own) {
      const def = v.default === undefined ? '' : v.default === '' ? '(empty)' : code(v.default);
      lines.push(
        `| ${code(v.name)} | ${cell(v.type)} | ${cell(def)} | ${v.required ? 'yes' : ''} | ${cell(v.description)} |`,
      );
    }
    lines.push('');
    for (const n of s.notes) lines.push(`- ${n}`);
    if (s.notes.length > 0) lines.push('');
  }
  const byName = new Map<string, string[]>();
  for (const v of vars) byName.set(v.name, [...(byName.get(v.name) ?? []), v.service]);
  const shared = [...byName].filter(([, services]) => services.length > 1).sort(([a], [b]) => a.localeCompare(b));
  lines.push(
    '## Variables read by several services',
    '',
    '`REDIS_URL` and `REDIS_PREFIX` must be identical for all three; the others are set per service.',
    '',
  );
  lines.push('| Variable | Read by |', '| --- | --- |');
  for (const [name, services] of shared) lines.push(`| ${code(name)} | ${services.join(', ')} |`);
  lines.push('');
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  if (!process.execArgv.some((a) => a.includes('@toolplane/source'))) {
    // Workspace packages resolve to their TypeScript sources only under this condition.
    const r = spawnSync(
      process.execPath,
      ['--conditions=@toolplane/source', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { stdio: 'inherit' },
    );
    process.exit(r.status ?? 1);
  }
  const doc = await renderConfigurationDoc();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(configurationDocPath, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== doc) {
      console.error('docs/configuration.md is stale: run `node scripts/gen-config-docs.ts`');
      process.exit(1);
    }
    console.log('docs/configuration.md is current');
  } else {
    writeFileSync(configurationDocPath, doc);
    console.log(`wrote ${configurationDocPath}`);
  }
}
