import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CliError, ExitCode } from './errors.ts';
import { createOutput, csvText, escapeControl, jsonText, table } from './output.ts';

/** Every character a terminal acts on instead of showing (newlines between printed lines excepted). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const hostile = 'eve\u001b]0;pwned\u0007\nfake line\u009b2J \u202etxt.exe\u2066\u0000\u007f';

describe('escapeControl', () => {
  it('shows C0, DEL, C1 and bidirectional controls as escapes, and leaves other text alone', () => {
    expect(escapeControl(hostile)).toBe('eve\\x1b]0;pwned\\x07\\nfake line\\x9b2J \\u202etxt.exe\\u2066\\x00\\x7f');
    expect(escapeControl('José 山田 مريم ✓ C:\\path')).toBe('José 山田 مريم ✓ C:\\path');
    expect(escapeControl('a\tb\rc')).toBe('a\\tb\\rc');
  });
});

describe('jsonText', () => {
  it('is the same JSON document, with no raw control character in its text', () => {
    const value = { name: hostile, nested: [{ [hostile]: 1 }] };
    const text = jsonText(value, 2);
    expect(text).not.toMatch(raw);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('csvText', () => {
  it('writes RFC 4180 records: CRLF, quotes where needed, no control character, no formula', () => {
    expect(
      csvText([
        ['day', 'tool', 'calls'],
        ['2026-11-27', 'say "hi", then', 3],
        [null, '=SUM(A1)', 0.5],
      ]),
    ).toBe('day,tool,calls\r\n2026-11-27,"say ""hi"", then",3\r\n,\'=SUM(A1),0.5\r\n');
    const text = csvText([[hostile, 1]]);
    expect(text.split('\r\n')).toHaveLength(2);
    expect(text.slice(0, -2)).not.toMatch(raw);
  });
});

describe('table', () => {
  it('escapes each cell, so columns stay aligned and rows stay rows', () => {
    const lines = table(
      [
        { name: hostile, id: '1' },
        { name: 'ada', id: '2' },
      ],
      ['name', 'id'],
    );
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).not.toMatch(raw);
    expect(lines[1]!.indexOf(' 1')).toBe(lines[2]!.indexOf(' 2'));
  });
});

describe('what the CLI prints', () => {
  let written: { stdout: string; stderr: string };
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  beforeEach(() => {
    written = { stdout: '', stderr: '' };
    process.stdout.write = ((s: string) => ((written.stdout += s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => ((written.stderr += s), true)) as typeof process.stderr.write;
  });
  afterEach(() => {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  });

  it('escapes results, notes and errors (message and problems), as text and as JSON', () => {
    for (const json of [false, true]) {
      const out = createOutput(json, true);
      out.result({ name: hostile }, () => [`user ${hostile}`]);
      out.note(`note ${hostile}`);
      out.error(
        new CliError(`external user "${hostile}" was not found`, ExitCode.notFound, {
          status: 404,
          issues: [{ path: `/name/${hostile}`, message: hostile }],
        }),
      );
      for (const text of [written.stdout, written.stderr])
        for (const line of text.split('\n')) expect({ json, line, raw: raw.test(line) }).toMatchObject({ raw: false });
      expect(written.stderr).toContain('eve\\x1b]0;pwned\\x07');
    }
  });

  it('keeps its own colours on a colour terminal, and no colour code the text brought', () => {
    const isTTY = process.stdout.isTTY;
    process.stdout.isTTY = true;
    try {
      const out = createOutput(false, false);
      out.result({}, () => [`${out.green('pushed')} ${out.bold(hostile)} \u001b[31mred`]);
    } finally {
      process.stdout.isTTY = isTTY;
    }
    expect(written.stdout).toBe(
      '\u001b[32mpushed\u001b[0m \u001b[1meve\\x1b]0;pwned\\x07\\nfake line\\x9b2J \\u202etxt.exe\\u2066\\x00\\x7f\u001b[0m \\x1b[31mred\n',
    );
  });
});
