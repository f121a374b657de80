import { CliError, ExitCode, type Issue } from './errors.ts';

/**
 * What commands print. `--json`: one JSON document on stdout, nothing decorative; otherwise text, with
 * colour only when stdout is a terminal and NO_COLOR is unset (CI logs stay plain). Errors always go to
 * stderr as text (and, with `--json`, also as `{ "error": … }` on stdout for scripts).
 */
export interface Output {
  json: boolean;
  color: boolean;
  /** The command's result: `value` with `--json`, else `text()`'s lines. */
  result(value: unknown, text: () => string[]): void;
  /** Progress or hints for humans (stderr; silent with `--json`). */
  note(message: string): void;
  error(err: unknown): number;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
}

/** `scheme://user:password@host` → `scheme://***@host`: an error must not show credentials a URL carried. */
function maskUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');
}

const paint = (on: boolean, code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

function issueLine(issue: Issue): string {
  return issue.location
    ? `${issue.location}: ${issue.message} (${issue.path || '/'})`
    : `${issue.path || '/'}: ${issue.message}`;
}

export function createOutput(json: boolean, noColorEnv: boolean): Output {
  const color = !json && !noColorEnv && process.stdout.isTTY === true;
  const stderrColor = !noColorEnv && process.stderr.isTTY === true;
  const red = paint(stderrColor, 31);
  return {
    json,
    color,
    result(value, text) {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else for (const line of text()) process.stdout.write(`${line}\n`);
    },
    note(message) {
      if (!json) process.stderr.write(`${message}\n`);
    },
    error(err) {
      // Expected failures are CliErrors: their message only. Anything else is a bug: its stack on stderr
      // (for the report), never on stdout. Credentials in URLs are masked in both.
      const e =
        err instanceof CliError
          ? err
          : new CliError(`internal error: ${err instanceof Error ? err.message : String(err)}`, ExitCode.internal);
      const message = maskUrlCredentials(e.message);
      process.stderr.write(
        `${red('error:')} ${message}${e.status ? ` (HTTP ${e.status}${e.code ? `, ${e.code}` : ''})` : ''}\n`,
      );
      for (const issue of e.issues) process.stderr.write(`${maskUrlCredentials(issueLine(issue))}\n`);
      if (!(err instanceof CliError) && err instanceof Error && err.stack)
        process.stderr.write(`${maskUrlCredentials(err.stack.split('\n').slice(1).join('\n'))}\n`);
      if (json) {
        const error = { message, exitCode: e.exitCode, status: e.status, code: e.code, errors: e.issues };
        process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
      }
      return e.exitCode;
    },
    bold: paint(color, 1),
    dim: paint(color, 2),
    red: paint(color, 31),
    green: paint(color, 32),
  };
}

/** Plain aligned columns (no table library: output must stay stable for scripts that grep it). */
export function table(rows: Record<string, unknown>[], columns: string[]): string[] {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))];
}
