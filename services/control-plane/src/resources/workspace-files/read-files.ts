import { UserError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import { parseDocument } from 'yaml';
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

/** The file's YAML (or JSON) value; syntax errors with their line and column. */
function parseYaml(file: string, text: string, problems: ProblemIssue[]): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push(at(file, '', e.message.split('\n')[0]!));
    return undefined;
  }
  return doc.toJS() as unknown;
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
  const value = parseYaml(f.path, f.content, problems);
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
