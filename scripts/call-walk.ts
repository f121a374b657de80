/**
 * The walk of a call through the code that acts for its caller, path by path:
 * - `edge calls`: services/edge/src (events/ aside): a function that takes the call (`ToolCall`, or a value that
 *   carries one: the pipeline's `CallState`, …), and a pipeline `Stage`'s `run`;
 * - `worker adapters`: the worker's step checks (`step-*.ts`), held calls and task access: a function that takes the
 *   job (`ToolInvokeJob`), a workflow step (`ToolStepPlan`) or its caller (`StepCaller`);
 * - `events`: the edge's events/ and the worker's events/ (the fan-out, the webhook deliverer, the external servers'
 *   events, the delivery records): a function that takes a subscription, its request (`SubscribeParams`,
 *   `PollParams`, `StreamParams`) or an event type (`EventSubscription`, `LoadedEventType`, `CatalogEventType`).
 * Each such function is a stay; the file it is in is its room (a file, not a folder); its `return` statements are the
 * returns. A parameter's type is the checker's (a callback typed by its context counts), tests aside. Also lists the
 * functions over 80 lines among them.
 * `node scripts/call-walk.ts [--list] [--checkout=DIR]` (another checkout, for a before/after).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const checkout = process.argv.find((a) => a.startsWith('--checkout='))?.slice('--checkout='.length);
const root = checkout ?? join(import.meta.dirname, '..');

interface Path {
  name: string;
  /** Files and folders, relative to the checkout; a folder is every `.ts` below it, tests aside. */
  from: string[];
  except?: string[];
  carriers: RegExp;
}

const paths: Path[] = [
  {
    name: 'edge calls',
    from: ['services/edge/src'],
    except: ['services/edge/src/events'],
    carriers: /\b(ToolCall|CallState|AuditedCall|ConditionedCall)\b(?!Deps|Message|Extras)/,
  },
  {
    name: 'worker adapters',
    from: [
      'services/worker/src/step-access.ts',
      'services/worker/src/step-checks.ts',
      'services/worker/src/step-delegation.ts',
      'services/worker/src/step-session.ts',
      'services/worker/src/held-calls.ts',
      'services/worker/src/task-access.ts',
    ],
    carriers: /\b(ToolInvokeJob|ToolStepPlan|StepCaller)\b/,
  },
  {
    name: 'events',
    from: ['services/edge/src/events', 'services/worker/src/events'],
    carriers: /\b(EventSubscription|LoadedEventType|CatalogEventType|SubscribeParams|PollParams|StreamParams)\b/,
  },
];

function files(path: string, except: string[]): string[] {
  if (except.includes(path) || !existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path).flatMap((name) => files(join(path, name), except));
}

interface Stay {
  path: string;
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

function nameOf(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (node.name) return node.name.getText(source);
  if (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent))
    return node.parent.name.getText(source);
  return '(anonymous)';
}

function staysOf(program: ts.Program, path: Path, file: string): Stay[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`not in the program: ${file}`);
  /** A parameter's type as written, or as its context writes it (a callback of a declared function type). */
  const typeOf = (fn: ts.SignatureDeclaration, p: ts.ParameterDeclaration) => {
    if (p.type) return p.type.getText(source);
    const context =
      ts.isFunctionExpression(fn) || ts.isArrowFunction(fn)
        ? checker.getContextualType(fn)?.getCallSignatures()[0]
        : undefined;
    const declared = context?.parameters[fn.parameters.indexOf(p)]?.valueDeclaration;
    if (declared && ts.isParameter(declared) && declared.type) return declared.type.getText(declared.getSourceFile());
    return checker.typeToString(checker.getTypeAtLocation(p));
  };
  const stays: Stay[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      if (node.parameters.some((p) => path.carriers.test(typeOf(node, p))) || isStageRun(node, source)) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const at = relative(join(root, 'services'), file);
        const lines = end - start + 1;
        stays.push({ path: path.name, file: at, name: nameOf(node, source), lines, returns: returnsIn(node) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return stays;
}

function programOf(all: string[]): ts.Program {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  return ts.createProgram(all, { ...config?.options, noEmit: true, incremental: false });
}

const chosen = paths.map((p) => ({
  path: p,
  files: p.from.flatMap((f) =>
    files(
      join(root, f),
      (p.except ?? []).map((e) => join(root, e)),
    ),
  ),
}));
const program = programOf(chosen.flatMap((c) => c.files));
const stays = chosen.flatMap((c) => c.files.flatMap((f) => staysOf(program, c.path, f)));

function summary(of: Stay[]): string {
  const rooms = new Set(of.map((s) => s.file));
  const returns = of.reduce((n, s) => n + s.returns, 0);
  const long = of.filter((s) => s.lines > 80).length;
  return `stays ${of.length} · rooms ${rooms.size} · returns ${returns} · functions over 80 lines ${long}`;
}

console.log(`all: ${summary(stays)}`);
for (const { path } of chosen) {
  const of = stays.filter((s) => s.path === path.name);
  console.log(`${path.name}: ${summary(of)}`);
  const rooms = new Map<string, number>();
  for (const s of of) rooms.set(s.file, (rooms.get(s.file) ?? 0) + 1);
  for (const [r, n] of [...rooms].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) console.log(`  ${r}: ${n}`);
}
if (process.argv.includes('--list'))
  for (const s of stays) console.log(`  ${s.file} ${s.name} (${s.lines} lines, ${s.returns} returns)`);
for (const s of stays.filter((x) => x.lines > 80)) console.log(`  over 80 lines: ${s.file} ${s.name} (${s.lines})`);
