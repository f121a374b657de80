/**
 * The walk of the call value through the edge: every function of services/edge/src (tests aside) that takes the call
 * (a parameter typed `ToolCall`, or a value that carries one: `CallState`) is a stay; the files they are in are the
 * rooms (a folder under src/ counts as one room: its modules are one capability's); their `return` statements are the
 * returns. Also lists the functions over 80 lines among them.
 * `node scripts/call-walk.ts [--list] [--checkout=DIR]` (another checkout's edge, for a before/after).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const checkout = process.argv.find((a) => a.startsWith('--checkout='))?.slice('--checkout='.length);
const root = join(checkout ?? join(import.meta.dirname, '..'), 'services', 'edge', 'src');
/** The types that carry the call: a stay is a function taking one of them. */
const carriers = /\b(ToolCall|CallState|AuditedCall|ConditionedCall)\b(?!Deps|Message|Extras)/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

interface Stay {
  file: string;
  name: string;
  lines: number;
  returns: number;
}

function returnsIn(body: ts.Node): number {
  let n = 0;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && node !== body) return; // a nested function's returns are its own
    if (ts.isReturnStatement(node)) n++;
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(body, visit);
  return n;
}

/** A stage's `run` written in its `Stage` object (its parameter typed by the object's type). */
function isStageRun(node: ts.Node, source: ts.SourceFile): boolean {
  const member = ts.isMethodDeclaration(node) ? node : ts.isPropertyAssignment(node.parent) ? node.parent : undefined;
  if (!member || member.name.getText(source) !== 'run') return false;
  const holder = member.parent.parent;
  return ts.isVariableDeclaration(holder) && holder.type?.getText(source) === 'Stage';
}

function staysOf(path: string): Stay[] {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const stays: Stay[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const takesCall =
        node.parameters.some((p) => p.type && carriers.test(p.type.getText(source))) || isStageRun(node, source);
      if (takesCall) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const name =
          node.name?.getText(source) ??
          (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(source) : '(anonymous)');
        stays.push({ file: relative(root, path), name, lines: end - start + 1, returns: returnsIn(node) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return stays;
}

const stays = files(root).flatMap(staysOf);
const room = (file: string) => (file.includes('/') ? `${file.split('/')[0]}/` : file);
const rooms = new Map<string, number>();
for (const s of stays) rooms.set(room(s.file), (rooms.get(room(s.file)) ?? 0) + 1);
const returns = stays.reduce((n, s) => n + s.returns, 0);
const long = stays.filter((s) => s.lines > 80);
console.log(
  `stays ${stays.length} · rooms ${rooms.size} · returns ${returns} · functions over 80 lines ${long.length}`,
);
for (const [r, n] of [...rooms].sort((a, b) => b[1] - a[1])) console.log(`  ${r}: ${n}`);
if (process.argv.includes('--list'))
  for (const s of stays) console.log(`  ${s.file} ${s.name} (${s.lines} lines, ${s.returns} returns)`);
for (const s of long) console.log(`  over 80 lines: ${s.file} ${s.name} (${s.lines})`);
