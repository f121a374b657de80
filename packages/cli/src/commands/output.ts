import { randomUUID } from 'node:crypto';
import { CliError, ExitCode, type Issue } from './errors.ts';

/**
 * What commands print. `--json`: one JSON document on stdout, nothing decorative; otherwise text, with
 * colour only when stdout is a terminal and NO_COLOR is unset (CI logs stay plain). Errors always go to
 * stderr as text (and, with `--json`, also as `{ "error": … }` on stdout for scripts).
 *
 * Everything printed goes through `terminalText` or `jsonText`: names, messages and errors come from the API (an
 * external user's name, an upstream's error text in a record) and must not act on the terminal.
 */
export interface Output {
  json: boolean;
  color: boolean;
  /** The command's result: `value` with `--json`, else `text()`'s lines. */
  result(value: unknown, text: () => string[]): void;
  /** A result as RFC 4180 CSV (`csvText`) on stdout, whatever `--json` says: for spreadsheets and chargeback. */
  csv(rows: readonly (readonly unknown[])[]): void;
  /** One more line of a result printed as it comes (`records list --follow`, `connectors push`), on stdout. */
  line(text: string): void;
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

/**
 * The characters a terminal acts on instead of showing: C0 controls (ESC starts escape sequences: a new window
 * title, a hyperlink, a cleared screen), DEL, C1 controls (U+009B is ESC [ on some terminals), and the bidirectional
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that reorder what is shown.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controls = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');
const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Text as shown: each control character as an escape (`\x1b`, `\n`, `\u202e`), everything else as it is. */
export function escapeControl(text: string): string {
  return text.replace(controls, (c) => named[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/**
 * JSON as printed: the same document, with DEL, the C1 controls and the bidirectional controls written as `\u`
 * escapes too (JSON.stringify escapes only C0 controls), so that no raw control character reaches the terminal.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${hex(c, 4)}`,
  );
}

/**
 * The CLI's own colours, as marks that no text from the API can carry (a NUL and a per-process random id): the text
 * is escaped, then each mark becomes its SGR sequence. A colour code in a name stays escaped like any other.
 */
const mark = `\u0000${randomUUID()}:`;
const marks = new RegExp(`${mark}(\\d+);`, 'g');
const paint = (on: boolean, code: number) => (s: string) => (on ? `${mark}${code};${s}${mark}0;` : s);

/** A line as written to a terminal: control characters escaped, the CLI's own colour marks made colours. */
function terminalText(line: string): string {
  return line
    .split(marks)
    .map((part, i) => (i % 2 === 1 ? `\u001b[${part}m` : escapeControl(part)))
    .join('');
}

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
      if (json) process.stdout.write(`${jsonText(value, 2)}\n`);
      else for (const line of text()) process.stdout.write(`${terminalText(line)}\n`);
    },
    csv(rows) {
      process.stdout.write(csvText(rows));
    },
    line(text) {
      process.stdout.write(`${terminalText(text)}\n`);
    },
    note(message) {
      if (!json) process.stderr.write(`${terminalText(message)}\n`);
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
        `${terminalText(`${red('error:')} ${message}${e.status ? ` (HTTP ${e.status}${e.code ? `, ${e.code}` : ''})` : ''}`)}\n`,
      );
      for (const issue of e.issues) process.stderr.write(`${terminalText(maskUrlCredentials(issueLine(issue)))}\n`);
      if (!(err instanceof CliError) && err instanceof Error && err.stack)
        for (const line of maskUrlCredentials(err.stack).split('\n').slice(1))
          process.stderr.write(`${terminalText(line)}\n`);
      if (json) {
        const error = { message, exitCode: e.exitCode, status: e.status, code: e.code, errors: e.issues };
        process.stdout.write(`${jsonText({ error }, 2)}\n`);
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
  // Escaped here already (not only when printed), so that widths are those of what is shown.
  const cell = (v: unknown) =>
    escapeControl(v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))];
}

/**
 * RFC 4180 CSV: records ended by CRLF, a field quoted (its quotes doubled) when it holds a quote, a comma, CR or LF.
 * Text from the API has its control characters escaped (`escapeControl`: a field never acts on a terminal or splits
 * a record), and text starting with `=`, `+`, `-` or `@` gets a leading `'` so that a spreadsheet shows it instead of
 * running it as a formula. Numbers are written as they are; null and undefined as empty fields.
 */
export function csvText(rows: readonly (readonly unknown[])[]): string {
  const field = (v: unknown) => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') return String(v);
    const text = escapeControl(String(v)).replace(/^[=+\-@]/, (c) => `'${c}`);
    return /[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return rows.map((r) => `${r.map(field).join(',')}\r\n`).join('');
}
