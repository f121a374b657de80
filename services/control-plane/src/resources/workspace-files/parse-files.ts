import { Worker } from 'node:worker_threads';
import { InternalError, ValidationError, type ProblemIssue } from '@toolplane/errors';
import { assertDocumentDepth, loadDocument, parseYaml, type YamlLimits } from '@toolplane/openapi';
import { isOpenApiBody } from '../../documents/openapi-connectors.ts';

/**
 * One file to parse: a resource's YAML within `limits`, or a connector's document as an upload reads it (JSON's fast
 * path for an OpenAPI document, else the strict YAML parser within an API document's limits).
 */
export type ParseJob = { text: string; limits: YamlLimits } | { text: string; connector: true };

export type Parsed = { ok: true; value: unknown } | { ok: false; issues: ProblemIssue[] };

function parseConnector(text: string): Parsed {
  try {
    if (/^\s*[{[]/.test(text)) {
      let value: unknown;
      try {
        value = JSON.parse(text) as unknown;
      } catch {
        // the YAML parser reports the line and column
      }
      if (value !== undefined && isOpenApiBody(value)) {
        assertDocumentDepth(value);
        return { ok: true, value };
      }
    }
    return { ok: true, value: loadDocument(text) };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, issues: err.issues };
    throw err;
  }
}

/** Parses one file (in a worker thread: parse-worker.ts). */
export function parseFile(job: ParseJob): Parsed {
  if ('connector' in job) return parseConnector(job.text);
  const parsed = parseYaml(job.text, job.limits);
  return parsed.ok ? parsed : { ok: false, issues: parsed.problems.map((message) => ({ path: '', message })) };
}

/** Most memory (MB) one plan's parsing may take: past it the worker ends and the plan is refused. */
const PARSE_HEAP_MB = 1024;

/**
 * Parses a directory's files in a worker thread of their own, so that a big plan never holds the control plane's
 * event loop (other workspaces' requests, `/readyz`): the thread's heap is bounded, and it ends with the plan.
 */
export function parseOffThread(jobs: ParseJob[]): Promise<Parsed[]> {
  if (jobs.length === 0) return Promise.resolve([]);
  const source = import.meta.url.endsWith('.ts') ? './parse-worker.ts' : './parse-worker.js';
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(source, import.meta.url), {
      workerData: jobs,
      resourceLimits: { maxOldGenerationSizeMb: PARSE_HEAP_MB },
    });
    let done = false;
    worker.once('message', (results: Parsed[]) => {
      done = true;
      resolve(results);
    });
    worker.once('error', (err) => {
      done = true;
      reject(
        err instanceof Error && 'code' in err && err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new ValidationError('the workspace files are too large', [
              { path: '', message: `reading them takes more than ${PARSE_HEAP_MB} MB (the limit)` },
            ])
          : err,
      );
    });
    worker.once('exit', (code) => {
      if (!done) reject(new InternalError('internal.unexpected', `the parsing thread ended with code ${code}`));
    });
  });
}
