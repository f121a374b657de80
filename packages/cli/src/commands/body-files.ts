import { locateIssues } from '@toolplane/client';
import { parse } from 'yaml';
import { CliError, ExitCode, invalidInput } from './errors.ts';
import { readText } from './files.ts';

/** A resource's body read from a file: the API's body as written, and its text (problems are placed in it). */
export interface BodyFile {
  file: string;
  text: string;
  body: Record<string, unknown>;
}

/** A JSON or YAML file holding the body of `route` (e.g. "POST /quotas"), as a mapping. */
export function readBodyFile(file: string, route: string): BodyFile {
  const text = readText(file);
  let body: unknown;
  try {
    body = parse(text);
  } catch (err) {
    throw invalidInput(`${file} is not YAML or JSON: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw invalidInput(`${file} must hold a mapping: the fields of ${route} (docs/api.md)`);
  return { file, text, body: body as Record<string, unknown> };
}

/** A 422 of a body read from a file: each problem placed at file:line:column (flags' problems at their path). */
export async function placed<T>(source: BodyFile | undefined, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (!source || !(err instanceof CliError) || err.exitCode !== ExitCode.invalid) throw err;
    const issues = locateIssues(source.file, source.text, err.issues);
    throw new CliError(err.message, err.exitCode, { status: err.status, code: err.code, issues });
  }
}
