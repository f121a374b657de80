import { UserError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import { documentYamlLimits, parseYaml as parseBounded, type YamlLimits } from '@toolplane/openapi';
import type { Fetcher } from '../../documents/fetch.ts';
import { requestIssues } from '../../http/error-handler.ts';
import { readConnectorSource, type ConnectorSource } from '../connectors/sources.ts';
import { kinds, secretsFile, SecretsSpec, type Kind } from './specs.ts';

/** One file of the directory as the client sent it: its path relative to the directory, and its text. */
export interface WorkspaceFile {
  path: string;
  content: string;
}

/** A resource the files describe. */
export interface DesiredResource {
  kind: Kind;
  name: string;
  file: string;
  spec: Record<string, unknown>;
  /** Connectors: the document read as an upload would be, and its text. */
  connector?: ConnectorSource & { text: string };
}

export interface Desired {
  resources: DesiredResource[];
  /** Every problem of every file, each at `<file>#<JSON pointer>`. */
  problems: ProblemIssue[];
}

const at = (file: string, path: string, message: string): ProblemIssue => ({ path: `${file}#${path}`, message });

type FileLimits = YamlLimits & { maxBytes: number };

/**
 * A resource's file: far below these in practice (a server with a thousand tools lists a thousand names in 30 KB).
 * A connector's document and a deployment's (which carries its referenced API documents) have an API document's limits
 * (and the body's size, MAX_DOCUMENT_BYTES).
 */
const resourceFileLimits: FileLimits = {
  maxBytes: 1024 * 1024,
  maxKeys: 10_000,
  maxAliases: 100,
  maxDepth: 32,
};

const documentFileLimits: FileLimits = { ...documentYamlLimits, maxBytes: Infinity };

/** The file's YAML (or JSON) value within `limits`; syntax errors and limits with their line and column. */
function parseYaml(file: string, text: string, problems: ProblemIssue[], limits = resourceFileLimits): unknown {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxBytes) {
    problems.push(at(file, '', `the file takes ${bytes} bytes: at most ${limits.maxBytes} (the limit)`));
    return undefined;
  }
  const parsed = parseBounded(text, limits);
  if (!parsed.ok) {
    for (const message of parsed.problems) problems.push(at(file, '', message));
    return undefined;
  }
  return parsed.value;
}

async function readConnector(f: WorkspaceFile, fetchDocument: Fetcher, problems: ProblemIssue[]) {
  try {
    const source = await readConnectorSource(f.content, fetchDocument);
    return [
      {
        kind: 'connector' as const,
        name: `${source.slug}@${source.version}`,
        file: f.path,
        spec: {},
        connector: { ...source, text: f.content },
      },
    ];
  } catch (err) {
    if (err instanceof ValidationError) problems.push(...err.issues.map((i) => at(f.path, i.path, i.message)));
    else if (err instanceof UserError) problems.push(at(f.path, '', err.message));
    else throw err;
    return [];
  }
}

function readSecrets(f: WorkspaceFile, problems: ProblemIssue[]): DesiredResource[] {
  const parsed = SecretsSpec.safeParse(parseYaml(f.path, f.content, problems) ?? {});
  if (!parsed.success) {
    problems.push(...requestIssues(parsed.error).map((i) => at(f.path, i.path, i.message)));
    return [];
  }
  return parsed.data.secrets.map((name) => ({ kind: 'secret', name, file: f.path, spec: { name } }));
}

function readSpec(f: WorkspaceFile, kind: (typeof kinds)[number], problems: ProblemIssue[]): DesiredResource[] {
  if (!('schema' in kind)) return [];
  const before = problems.length;
  const limits = kind.kind === 'workflow_deployment' ? documentFileLimits : resourceFileLimits;
  const value = parseYaml(f.path, f.content, problems, limits);
  if (problems.length > before) return [];
  const parsed = kind.schema.safeParse(value ?? {});
  if (!parsed.success) {
    problems.push(...requestIssues(parsed.error).map((i) => at(f.path, i.path, i.message)));
    return [];
  }
  const spec = parsed.data as Record<string, unknown>;
  const name = String(kind.kind === 'workflow_deployment' ? spec.server : spec.name);
  return [{ kind: kind.kind, name, file: f.path, spec }];
}

/** Two files of one kind naming the same resource. */
function duplicates(resources: DesiredResource[]): ProblemIssue[] {
  const first = new Map<string, string>();
  const out: ProblemIssue[] = [];
  for (const r of resources) {
    const key = `${r.kind}/${r.name}`;
    const other = first.get(key);
    if (other)
      out.push(
        at(r.file, r.kind === 'workflow_deployment' ? '/server' : '/name', `"${r.name}" is described by ${other} too`),
      );
    else first.set(key, r.file);
  }
  return out;
}

/**
 * Reads a workspace directory's files: each by its folder's kind (docs/gitops.md), validated as the API validates
 * the same resource (connectors: exactly as an upload), every problem of every file listed.
 */
export async function readFiles(files: WorkspaceFile[], fetchDocument: Fetcher): Promise<Desired> {
  const problems: ProblemIssue[] = [];
  const resources: DesiredResource[] = [];
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    if (f.path === secretsFile) {
      resources.push(...readSecrets(f, problems));
      continue;
    }
    const dir = f.path.split('/')[0]!;
    const kind = kinds.find((k) => k.dir !== '' && k.dir === dir && f.path.split('/').length === 2);
    if (!kind) {
      const folders = kinds.flatMap((k) => (k.dir ? [`${k.dir}/`] : [])).join(', ');
      problems.push(
        at(f.path, '', `not a workspace file: resources live in ${folders} (one file each) and ${secretsFile}`),
      );
    } else if (kind.kind === 'connector') resources.push(...(await readConnector(f, fetchDocument, problems)));
    else resources.push(...readSpec(f, kind, problems));
  }
  problems.push(...duplicates(resources));
  return { resources, problems };
}
