/**
 * The duplicate-code ratchet (ADR 0093): jscpd over every workspace folder of `services/*` and `packages/*`, its clone
 * pairs counted per folder (a pair whose two places are in different folders counts under `(across packages)`) and
 * compared with the committed baseline, `scripts/duplicates-baseline.json`.
 *
 * - A folder with more pairs than its baseline fails the check, which prints the pairs of the file pairs that grew.
 * - A folder with fewer says so and asks for the baseline to be lowered: `node scripts/check-duplicates.ts --update`
 *   (`pnpm duplicates --update`) writes the current figures, the one command to re-baseline after a merge.
 * - `--list` prints every pair; `--baseline=FILE` compares with another baseline file.
 *
 * Settings, close to the `duplicates` command's defaults: 6 or more lines (and jscpd's 50 tokens), alike to the letter
 * or in shape only (other names, strings and numbers: `--ignore-identifiers --ignore-literals`). Read: the TypeScript,
 * JavaScript and CSS that git does not ignore, tests (`*.test.ts(x)`) aside, and two generated or frozen kinds: the
 * management API's generated types (`packages/client/src/schema.ts`) and applied migrations (SQL, not read).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const baselinePath = option('baseline') ?? join(root, 'scripts', 'duplicates-baseline.json');
const ACROSS = '(across packages)';

/** jscpd's arguments; the turbo task `//#duplicates` lists the same files as its inputs. */
const jscpdArgs = [
  '--min-lines=6',
  '--ignore-identifiers',
  '--ignore-literals',
  '--format=typescript,tsx,javascript,jsx,css',
  '--ignore=**/*.test.ts,**/*.test.tsx,**/packages/client/src/schema.ts,**/node_modules/**,**/dist/**',
  '--absolute',
  '--no-colors',
  '--reporters=json',
];

interface Place {
  name: string;
  start: number;
  end: number;
}

interface Pair {
  /** `services/edge` or the like, or `(across packages)`. */
  folder: string;
  /** The two files, `a ~ b`, relative to the folder (to the repository across folders), in order. */
  files: string;
  text: string;
}

/** Per folder: its pair count and, per file pair, how many pairs the two files hold. */
type Figures = Record<string, { pairs: number; files: Record<string, number> }>;

const folderOf = (path: string) => path.split('/').slice(0, 2).join('/');

function clonePairs(): Pair[] {
  const out = mkdtempSync(join(tmpdir(), 'toolplane-jscpd-'));
  try {
    execFileSync(
      join(root, 'node_modules', '.bin', 'jscpd'),
      [...jscpdArgs, `--output=${out}`, 'services', 'packages'],
      {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const report = JSON.parse(readFileSync(join(out, 'jscpd-report.json'), 'utf8')) as {
      duplicates: { firstFile: Place; secondFile: Place }[];
    };
    return report.duplicates.map((clone) => {
      const first = { ...clone.firstFile, name: relative(root, clone.firstFile.name) };
      const second = { ...clone.secondFile, name: relative(root, clone.secondFile.name) };
      const [a, b] = first.name <= second.name ? [first, second] : [second, first];
      const folder = folderOf(a.name) === folderOf(b.name) ? folderOf(a.name) : ACROSS;
      const local = (p: Place) => (folder === ACROSS ? p.name : relative(folder, p.name));
      return {
        folder,
        files: `${local(a)} ~ ${local(b)}`,
        text: `${a.name}:${a.start}-${a.end} ~ ${b.name}:${b.start}-${b.end}`,
      };
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function figuresOf(pairs: Pair[]): Figures {
  const figures: Figures = {};
  for (const p of pairs) {
    const f = (figures[p.folder] ??= { pairs: 0, files: {} });
    f.pairs++;
    f.files[p.files] = (f.files[p.files] ?? 0) + 1;
  }
  const sorted = (o: Record<string, number>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return Object.fromEntries(
    Object.entries(figures)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, { pairs: v.pairs, files: sorted(v.files) }]),
  );
}

function readBaseline(): Figures {
  try {
    return (JSON.parse(readFileSync(baselinePath, 'utf8')) as { folders: Figures }).folders;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
}

/** Compares; returns the lines to print and whether a folder grew. */
function compare(now: Figures, before: Figures, pairs: Pair[]): { lines: string[]; grew: boolean } {
  const lines: string[] = [];
  let grew = false;
  for (const folder of [...new Set([...Object.keys(now), ...Object.keys(before)])].sort()) {
    const n = now[folder]?.pairs ?? 0;
    const b = before[folder]?.pairs ?? 0;
    if (n > b) {
      grew = true;
      lines.push(`${folder}: ${n} duplicate pairs, above its baseline of ${b}; the file pairs that grew:`);
      const was = before[folder]?.files ?? {};
      for (const [files, count] of Object.entries(now[folder]?.files ?? {})) {
        if (count <= (was[files] ?? 0)) continue;
        lines.push(`  ${files}: ${count} (baseline ${was[files] ?? 0})`);
        for (const p of pairs) if (p.folder === folder && p.files === files) lines.push(`    ${p.text}`);
      }
    } else if (n < b) {
      lines.push(`${folder}: ${n} duplicate pairs, below its baseline of ${b}: lower it (pnpm duplicates --update)`);
    }
  }
  return { lines, grew };
}

const pairs = clonePairs();
const now = figuresOf(pairs);
const total = pairs.length;
if (process.argv.includes('--list')) for (const p of pairs) console.log(`${p.folder}: ${p.text}`);
if (process.argv.includes('--update')) {
  writeFileSync(
    baselinePath,
    `${JSON.stringify({ note: 'written by `pnpm duplicates --update` (scripts/check-duplicates.ts)', folders: now }, null, 2)}\n`,
  );
  console.log(`duplicates: baseline written, ${total} pairs (${relative(root, baselinePath)})`);
} else {
  const { lines, grew } = compare(now, readBaseline(), pairs);
  for (const line of lines) console.log(line);
  const summary = Object.entries(now)
    .map(([folder, f]) => `${folder} ${f.pairs}`)
    .join(', ');
  console.log(`duplicates: ${total} pairs (${summary})`);
  if (grew) {
    console.log('duplicates: a folder has more duplicate pairs than its baseline (scripts/duplicates-baseline.json)');
    process.exitCode = 1;
  }
}
