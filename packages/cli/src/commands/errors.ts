/**
 * Exit codes by error class (docs/cli.md): CI scripts branch on them, so each class keeps its number.
 * Every failure the CLI reports is a `CliError`; anything else is a bug (exit 1).
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalid: 3,
  auth: 4,
  notFound: 5,
  transient: 6,
  /** The change loosens a rule and waits for another person's approval (202, four eyes): nothing changed yet. */
  waiting: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** One problem of a rejected document or body, located when the CLI could map its path to the source. */
export interface Issue {
  path: string;
  message: string;
  /** `file:line:column` when the path was mapped to a source file. */
  location?: string;
}

export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly status?: number;
  readonly code?: string;
  readonly issues: Issue[];
  constructor(
    message: string,
    exitCode: ExitCodeValue,
    extra: { status?: number; code?: string; issues?: Issue[] } = {},
  ) {
    super(message);
    this.exitCode = exitCode;
    this.status = extra.status;
    this.code = extra.code;
    this.issues = extra.issues ?? [];
  }
}

/** The class of an HTTP status: the table in docs/cli.md. */
export function exitCodeForStatus(status: number): ExitCodeValue {
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404 || status === 409) return ExitCode.notFound;
  if (status === 429 || status === 502 || status === 503 || status === 504) return ExitCode.transient;
  if (status >= 400 && status < 500) return ExitCode.invalid;
  return ExitCode.internal;
}

/** A usage error found by the CLI itself (bad or missing flags, a combination that makes no sense). */
export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.usage);
}

/** Local input the CLI refuses before any request (unreadable file, empty secret). */
export function invalidInput(message: string, issues: Issue[] = []): CliError {
  return new CliError(message, ExitCode.invalid, { issues });
}
