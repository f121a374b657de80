import type { ProblemIssue } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import { documentYamlLimits, type YamlLimits } from '@toolplane/openapi';
import type { Fetcher } from '../../documents/fetch.ts';
import { requestIssues } from '../../http/error-handler.ts';
import { parseOffThread, type Parsed, type ParseJob } from './parse-files.ts';
import { fileProblem as at, singleName, type DesiredResource, type Kind, type WorkspaceFileKind } from './kind.ts';
import { kinds } from './specs.ts';

/** One file of the directory as the client sent it: its path relative to the directory, and its text. */
export interface WorkspaceFile {
  path: string;
  content: string;
}

export interface Desired {
  resources: DesiredResource[];
  /** Every problem of every file, each at `<file>#<JSON pointer>`. */
  problems: ProblemIssue[];
}

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

/** What to parse of a file (a connector's document, or a resource's YAML within its limits); a refusal by size. */
function parseJob(f: WorkspaceFile, kind: Kind | undefined): ParseJob | ProblemIssue {
  if (kind === 'connector') return { text: f.content, connector: true };
  const limits = kind === 'workflow_deployment' ? documentFileLimits : resourceFileLimits;
  const bytes = Buffer.byteLength(f.content);
  if (bytes > limits.maxBytes)
    return at(f.path, '', `the file takes ${bytes} bytes: at most ${limits.maxBytes} (the limit)`);
  const { maxKeys, maxAliases, maxDepth } = limits;
  return { text: f.content, limits: { maxKeys, maxAliases, maxDepth } };
}

/** The file's value; its problems (syntax, limits: with their line and column) added to `problems`. */
function valueOf(file: string, parsed: Parsed, problems: ProblemIssue[]): unknown {
  if (parsed.ok) return parsed.value;
  problems.push(...parsed.issues.map((i) => at(file, i.path, i.message)));
  return undefined;
}

function readSpec(
  f: WorkspaceFile,
  kind: WorkspaceFileKind,
  read: Parsed,
  problems: ProblemIssue[],
): DesiredResource[] {
  if (!kind.schema) return [];
  const value = valueOf(f.path, read, problems);
  if (!read.ok) return [];
  const parsed = kind.schema.safeParse(value ?? {});
  if (!parsed.success) {
    problems.push(...requestIssues(parsed.error).map((i) => at(f.path, i.path, i.message)));
    return [];
  }
  const spec = parsed.data as Record<string, unknown>;
  const name =
    kind.file !== undefined ? singleName : String(kind.kind === 'workflow_deployment' ? spec.server : spec.name);
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
 * Each file's kind: the folder it is in, or the kind whose one file it is (secrets.yaml: the secrets; role-mappings.yaml:
 * the role mapping); undefined when it is no workspace file.
 */
function kindOf(path: string) {
  const atRoot = kinds.find((k) => k.file === path);
  if (atRoot) return atRoot;
  const dir = path.split('/')[0]!;
  return kinds.find((k) => k.dir !== '' && k.dir === dir && path.split('/').length === 2);
}

/**
 * Reads a workspace directory's files: each by its folder's kind (docs/gitops.md), validated as the API validates
 * the same resource (connectors: exactly as an upload), every problem of every file listed. Every file is parsed in a
 * worker thread (`parseOffThread`), within its limits.
 */
export async function readFiles(
  files: WorkspaceFile[],
  { fetchDocument, log }: { fetchDocument: Fetcher; log: Logger },
): Promise<Desired> {
  const problems: ProblemIssue[] = [];
  const resources: DesiredResource[] = [];
  const sorted = [...files].sort((a, b) => a.path.localeCompare(b.path)).map((f) => ({ f, kind: kindOf(f.path) }));
  const jobs = sorted.map(({ f, kind }) => (kind ? parseJob(f, kind.kind) : undefined));
  const toParse = jobs.filter((j): j is ParseJob => j !== undefined && 'text' in j);
  log.info({ files: toParse.length }, 'workspace files parsing in a worker thread');
  const parsed = await parseOffThread(toParse);
  log.info({ files: toParse.length }, 'workspace files parsed');
  let next = 0;
  for (const [i, { f, kind }] of sorted.entries()) {
    const job = jobs[i];
    if (!kind || !job) {
      const folders = kinds.flatMap((k) => (k.dir ? [`${k.dir}/`] : [])).join(', ');
      const single = kinds.flatMap((k) => (k.file ? [k.file] : [])).join(' and ');
      problems.push(at(f.path, '', `not a workspace file: resources live in ${folders} (one file each), ${single}`));
    } else if (!('text' in job)) problems.push(job);
    else {
      const value = parsed[next++]!;
      if (kind.read) {
        const read = { file: f, value: valueOf(f.path, value, problems), parsed: value.ok, fetchDocument, problems };
        resources.push(...(await kind.read(read)));
      } else resources.push(...readSpec(f, kind, value, problems));
    }
  }
  problems.push(...duplicates(resources));
  return { resources, problems };
}
