import { RE2JS } from '@bufbuild/re2';
import type { ASTNode } from '@marcbachmann/cel-js';
import { callerFields, scalarFields, sessionFields, toolFields } from './activation.ts';
import { conditionLimits as limits } from './limits.ts';
import { declaredMax, itemsOf, kindsOf, lookupProperty, type SchemaAt, type ValueKind } from './schema.ts';
import { sessionSchema } from './session.ts';

/**
 * The analyser: one walk over the parsed condition that checks what the library's parser and checker do
 * not (names: `caller`, `tool`, `args`, `session` and the tool's arguments; the functions a condition may
 * call; `matches` patterns; numbers against strings), and bounds its cost (ADR 0035). It follows every value
 * to where it comes from (a literal, or a path into `args`, `caller`, `tool` or `session`), so that each list a
 * condition iterates or searches and each string it reads has a size limit: a literal's own size, or a
 * limit checked on the data before evaluation (a `CheckPoint`). The cost estimate multiplies a
 * comprehension's body by its list's limit. `session` is read through a fixed schema (session.ts) whose
 * bounds are its own, as an input schema's `maxItems`/`maxLength` are the arguments'.
 */

export interface Problem {
  /** What the problem is about: an argument or field path (`args.amonut`), a name, or "" for the whole text. */
  path: string;
  message: string;
  /** Where in the text (0-based offsets, end exclusive; line and column from 1). */
  position?: { start: number; end: number; line: number; column: number };
}

type Root = 'args' | 'caller' | 'tool' | 'session';

/** An element of a list or a key of a map (what iterating binds); an element of a list or a value of a map (indexing). */
const EACH = 0;
const VALUES = 1;
type Segment = string | typeof EACH | typeof VALUES;

export interface DataPath {
  readonly root: Root;
  readonly segments: readonly Segment[];
}

/** A size checked on the data before evaluation; over it, the condition is false. */
export interface CheckPoint {
  readonly path: DataPath;
  readonly kind: 'list' | 'string' | 'value';
  readonly limit: number;
}

/** What the analyser knows of a value: where it comes from and how large it can be. */
type Val =
  | { t: 'data'; paths: readonly Located[]; kinds?: ReadonlySet<ValueKind> | undefined }
  | {
      t: 'lit';
      size: number;
      kinds: ReadonlySet<ValueKind> | undefined;
      /** A list literal's elements, a map literal's keys (what iterating it binds). */
      elem?: Val | undefined;
      /** A map literal's values. */
      values?: Val | undefined;
      int?: boolean;
    }
  | { t: 'sum'; parts: readonly Val[] }
  | { t: 'like'; of: Val; elem?: Val | undefined; kinds?: ReadonlySet<ValueKind> | undefined }
  | { t: 'small'; kinds?: ReadonlySet<ValueKind> | undefined }
  | { t: 'either'; options: readonly Val[] }
  | { t: 'any' };

/** A data path and what the input schema says of it (args only), or that it is a caller/tool string field. */
interface Located {
  readonly path: DataPath;
  readonly schema?: SchemaAt | undefined;
  readonly identity?: boolean;
}

const kinds = (...k: ValueKind[]): ReadonlySet<ValueKind> => new Set(k);
const STRING = kinds('string');
const NUMBER = kinds('number');
const BOOL = kinds('boolean');
const SMALL_NUMBER: Val = { t: 'small', kinds: NUMBER };
const SMALL_BOOL: Val = { t: 'small', kinds: BOOL };
const ANY: Val = { t: 'any' };

const macros = new Set(['all', 'exists', 'exists_one', 'filter', 'map']);
const stringMethods = new Set([
  'startsWith',
  'endsWith',
  'contains',
  'indexOf',
  'lastIndexOf',
  'lowerAscii',
  'upperAscii',
  'trim',
  'substring',
  'matches',
  'size',
]);
const globalFunctions = new Set(['has', 'size', 'int', 'double', 'string', 'bool', 'dyn']);
const allowedFunctions = [...new Set([...globalFunctions, ...macros, ...stringMethods, 'cel.bind'])].sort().join(', ');

export function pathText(path: DataPath): string {
  let out: string = path.root;
  for (const s of path.segments)
    out +=
      s === EACH || s === VALUES
        ? '[*]'
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s)
          ? `.${s}`
          : /^\d+$/.test(s)
            ? `[${s}]`
            : `[${JSON.stringify(s)}]`;
  return out;
}

export interface Analysis {
  problems: Problem[];
  checkPoints: CheckPoint[];
  cost: number;
  /** Offsets of each `matches` function name (the runtime runs them with RE2: condition.ts). */
  matchesAt: number[];
  /** The top-level conjuncts (`a && b && c`), for explain. */
  conjuncts: { start: number; end: number }[];
  /** Whether the condition reads `session` (the edge then reads the caller's session for it). */
  session: boolean;
}

interface Scope {
  readonly vars: ReadonlyMap<string, Val>;
}

export function position(text: string, start: number, end: number): NonNullable<Problem['position']> {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < start && i < text.length; i++)
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  return { start, end, line, column: start - lineStart + 1 };
}

/** One analysis's state: the text, the tool's input schema, and what the walk finds. */
interface Ctx {
  readonly text: string;
  readonly args: SchemaAt | undefined;
  readonly problems: Problem[];
  readonly points: Map<string, CheckPoint>;
  readonly matchesAt: number[];
  session: boolean;
}

/** A walked node: what its value is and what evaluating it costs. */
interface Walked {
  v: Val;
  cost: number;
}

type BoundKind = 'list' | 'string' | 'match' | 'value';
type NodeOf<O extends ASTNode['op']> = ASTNode & { op: O };

/** Walks a parsed condition (see the file comment). `args` is the tool's input schema, when known. */
export function analyze(text: string, ast: ASTNode, args: SchemaAt | undefined): Analysis {
  const ctx: Ctx = { text, args, problems: [], points: new Map(), matchesAt: [], session: false };
  const top = walk(ctx, ast, { vars: new Map() });
  const { cost } = top;
  const topKinds = kindsOfVal(top.v);
  if (topKinds && !topKinds.has('boolean') && !topKinds.has('null'))
    problem(ctx, '', `a condition must be true or false; this one is a ${describeKinds(topKinds)}`, ast);

  const conjuncts: { start: number; end: number }[] = [];
  splitConjuncts(ast, conjuncts);

  if (ctx.problems.length === 0 && cost > limits.costBudget)
    problem(
      ctx,
      '',
      `the condition may cost up to ${cost} units, more than the budget of ${limits.costBudget}: with lists of up to ` +
        `${limits.maxListSize} elements and strings of up to ${limits.maxStringLength} characters unless the input schema ` +
        'says less (maxItems, maxLength), a comprehension multiplies its body by its list: iterate smaller lists, ' +
        'avoid nested comprehensions, or declare maxItems/maxLength in the schema',
      ast,
    );

  const { problems, matchesAt, session } = ctx;
  return { problems, checkPoints: [...ctx.points.values()], cost, matchesAt, conjuncts, session };
}

function splitConjuncts(node: ASTNode, out: { start: number; end: number }[]): void {
  if (node.op === '&&') {
    splitConjuncts(node.args[0], out);
    splitConjuncts(node.args[1], out);
  } else out.push({ start: node.range.start, end: node.range.end });
}

function problem(ctx: Ctx, path: string, message: string, node?: ASTNode): void {
  const at = node ? position(ctx.text, node.range.start, node.range.end) : undefined;
  const where = at ? ` (line ${at.line}, column ${at.column})` : '';
  ctx.problems.push({ path, message: message + where, ...(at ? { position: at } : {}) });
}

const sourceOf = (ctx: Ctx, node: ASTNode) => ctx.text.slice(node.range.start, node.range.end);

// ---- sizes ---------------------------------------------------------------------------------------

function limitOf(loc: Located, kind: CheckPoint['kind']): number {
  if (kind === 'value') return limits.maxComparedValueNodes;
  if (kind === 'string') {
    if (loc.identity) return limits.maxIdentityLength;
    const declared = loc.schema ? declaredMax(loc.schema, 'maxLength') : undefined;
    return Math.min(declared ?? Infinity, limits.maxStringLength);
  }
  const items = loc.schema ? declaredMax(loc.schema, 'maxItems') : undefined;
  const props = loc.schema ? declaredMax(loc.schema, 'maxProperties') : undefined;
  return Math.min(items ?? Infinity, props ?? Infinity, limits.maxListSize);
}

function register(ctx: Ctx, loc: Located, kind: CheckPoint['kind'], limit: number): void {
  const segments = loc.path.segments.map((s) => (typeof s === 'string' ? `.${s}` : `*${s}`));
  const key = `${kind}\u0000${limit}\u0000${loc.path.root}\u0000${segments.join('\u0000')}`;
  if (!ctx.points.has(key)) ctx.points.set(key, { path: loc.path, kind, limit });
}

/**
 * The most elements (kind list), characters (string, match) or nodes (value) `v` can have, checking data
 * paths before evaluation; undefined when it cannot be traced (a problem is then reported by the caller).
 */
function bound(ctx: Ctx, v: Val, kind: BoundKind): number | undefined {
  switch (v.t) {
    case 'data': {
      let max = 0;
      for (const loc of v.paths) {
        let limit = limitOf(loc, kind === 'match' ? 'string' : kind);
        if (kind === 'match') limit = Math.min(limit, limits.maxMatchLength);
        register(ctx, loc, kind === 'match' ? 'string' : kind, limit);
        max = Math.max(max, limit);
      }
      return max;
    }
    case 'lit':
      return v.size;
    case 'sum': {
      let total = 0;
      for (const p of v.parts) {
        const b = bound(ctx, p, kind);
        if (b === undefined) return undefined;
        total += b;
      }
      return total;
    }
    case 'like':
      return bound(ctx, v.of, kind);
    case 'small':
      return 1;
    case 'either': {
      let max = 0;
      for (const o of v.options) {
        const b = bound(ctx, o, kind);
        if (b === undefined) return undefined;
        max = Math.max(max, b);
      }
      return max;
    }
    case 'any':
      return undefined;
  }
}

/** `bound`, or a problem about `at.what` (at `at.node`) and the whole budget when it cannot be traced. */
function boundOrProblem(ctx: Ctx, v: Val, kind: BoundKind, at: { node: ASTNode; what: string }): number {
  const b = bound(ctx, v, kind);
  if (b !== undefined) return b;
  problem(
    ctx,
    '',
    `cannot bound the cost of ${at.what}: a list a condition iterates or searches, or a string it reads, must come ` +
      'from the arguments, the caller, the tool or the session, a literal, or map/filter/+ of those',
    at.node,
  );
  return limits.costBudget;
}

/** What iterating `v` binds (`EACH`), or what indexing it with a computed key gives (`VALUES`). */
function elemOf(v: Val, segment: typeof EACH | typeof VALUES): Val {
  switch (v.t) {
    case 'data':
      return {
        t: 'data',
        paths: v.paths.map((loc) => {
          const items = loc.schema && itemsOf(loc.schema);
          const isArray = loc.schema ? kindsOf(loc.schema) : undefined;
          const schema = items && isArray?.size === 1 && isArray.has('array') ? items : undefined;
          return { path: { root: loc.path.root, segments: [...loc.path.segments, segment] }, schema };
        }),
      };
    case 'lit':
      return v.elem ?? ANY;
    case 'sum':
      return { t: 'either', options: v.parts.map((p) => elemOf(p, segment)) };
    case 'like':
      return v.elem ?? elemOf(v.of, segment);
    case 'either':
      return { t: 'either', options: v.options.map((o) => elemOf(o, segment)) };
    case 'small':
    case 'any':
      return ANY;
  }
}

function kindsOfVal(v: Val): ReadonlySet<ValueKind> | undefined {
  switch (v.t) {
    case 'data':
      return v.kinds;
    case 'lit':
    case 'small':
    case 'like':
      return v.kinds;
    case 'sum':
    case 'either': {
      const all = (v.t === 'sum' ? v.parts : v.options).map(kindsOfVal);
      if (all.some((k) => k === undefined)) return undefined;
      return new Set(all.flatMap((k) => [...k!]));
    }
    case 'any':
      return undefined;
  }
}

/** Cheap to compare with anything: a scalar (literal, caller/tool string field, or scalar by the schema). */
function isScalar(v: Val): boolean {
  const k = kindsOfVal(v);
  return k !== undefined && [...k].every((x) => x !== 'array' && x !== 'object');
}

/** The cost of one `==` between `a` and `b` beyond evaluating them. */
function equalityCost(ctx: Ctx, a: Val, b: Val, node: ASTNode): number {
  if (isScalar(a) || isScalar(b)) return 1;
  if (a.t === 'lit') return 1 + a.size;
  if (b.t === 'lit') return 1 + b.size;
  const data = a.t === 'data' ? a : b.t === 'data' ? b : undefined;
  // Deep equality of two structures: ~150 ns per node measured, so 8 units per node compared.
  if (data) return 1 + 8 * bound(ctx, data, 'value')!;
  return 1 + boundOrProblem(ctx, a, 'list', { node, what: 'this comparison' });
}

// ---- types -------------------------------------------------------------------------------------

const describeKinds = (k: ReadonlySet<ValueKind>) => [...k].map((x) => (x === 'array' ? 'list' : x)).join(' or ');

function compatible(a: ReadonlySet<ValueKind>, b: ReadonlySet<ValueKind>): boolean {
  for (const x of a) if (x === 'null' || b.has(x) || b.has('null')) return true;
  return false;
}

/** An operand of a comparison: its value and its node. */
interface Operand {
  readonly v: Val;
  readonly n: ASTNode;
}

function checkComparable(ctx: Ctx, a: Operand, b: Operand, node: ASTNode): void {
  const ka = kindsOfVal(a.v);
  const kb = kindsOfVal(b.v);
  if (!ka || !kb || compatible(ka, kb)) return;
  const data =
    a.v.t === 'data' ? { v: a.v, n: a.n, other: b.n, k: ka, ko: kb } : { v: b.v, n: b.n, other: a.n, k: kb, ko: ka };
  const name = data.v.t === 'data' && data.v.paths[0] ? pathText(data.v.paths[0].path) : sourceOf(ctx, data.n);
  // Only the arguments' kinds come from the tool's input schema (the session's are fixed).
  const first = data.v.t === 'data' ? data.v.paths[0] : undefined;
  const fromSchema = first?.schema && first.path.root === 'args' ? " in the tool's input schema" : '';
  problem(
    ctx,
    name,
    `${name} is a ${describeKinds(data.k)}${fromSchema}, ` +
      `compared with a ${describeKinds(data.ko)} (${sourceOf(ctx, data.other)})`,
    node,
  );
}

function checkArithmetic(ctx: Ctx, a: Val, b: Val, node: ASTNode): void {
  const isNumberData = (v: Val) => v.t === 'data' && v.kinds?.size === 1 && v.kinds.has('number');
  const intLiteral = (v: Val) => v.t === 'lit' && v.int === true;
  const [data, lit] = isNumberData(a) && intLiteral(b) ? [a, b] : isNumberData(b) && intLiteral(a) ? [b, a] : [];
  if (!data || !lit || data.t !== 'data') return;
  const name = data.paths[0] ? pathText(data.paths[0].path) : '';
  problem(
    ctx,
    name,
    `${name} is a ${data.paths[0]?.path.root === 'session' ? 'number' : 'JSON number'} (a CEL double), and CEL does ` +
      'not mix doubles and ints in arithmetic: ' +
      'write the literal with a decimal point (2.0, not 2), or convert with int(…)',
    node,
  );
}

// ---- the walk ----------------------------------------------------------------------------------

/** A field of `caller` or `tool` (`loc` is the root), or undefined after reporting an unknown one. */
function rootField(ctx: Ctx, loc: Located, name: string, node: ASTNode): Located | undefined {
  const path: DataPath = { root: loc.path.root, segments: [...loc.path.segments, name] };
  const fields: readonly string[] = loc.path.root === 'caller' ? callerFields : toolFields;
  if (!fields.includes(name)) {
    problem(
      ctx,
      `${loc.path.root}.${name}`,
      `${loc.path.root} has no field "${name}" (it has ${fields.join(', ')})`,
      node,
    );
    return undefined;
  }
  return { path, identity: scalarFields[loc.path.root as 'caller' | 'tool'].has(name) };
}

/** The problem of a field the input schema (or the session's) does not declare. */
function unknownField(at: DataPath, name: string, known: readonly string[]): string {
  if (at.root === 'session') {
    const fields = at.segments.length === 0 ? sessionFields : known;
    return `${pathText(at)} has no field "${name}" (it has ${fields.join(', ')})`;
  }
  const list = known.length > 0 ? known.join(', ') : 'none';
  return at.segments.length === 0
    ? `unknown argument "${name}": the tool's input schema has the arguments ${list}`
    : `unknown property "${name}" of ${pathText(at)}: the tool's input schema declares ${list}`;
}

function selectField(ctx: Ctx, base: Val, name: string, node: ASTNode): Val {
  if (base.t === 'lit') return base.values ?? ANY;
  if (base.t !== 'data') return ANY;
  const out: Located[] = [];
  let fieldKinds: ReadonlySet<ValueKind> | undefined;
  for (const loc of base.paths) {
    const path: DataPath = { root: loc.path.root, segments: [...loc.path.segments, name] };
    if (loc.path.segments.length === 0 && (loc.path.root === 'caller' || loc.path.root === 'tool')) {
      const field = rootField(ctx, loc, name, node);
      if (!field) return ANY;
      if (field.identity) fieldKinds = STRING;
      out.push(field);
      continue;
    }
    if (!loc.schema) {
      out.push({ path });
      continue;
    }
    const found = lookupProperty(loc.schema, name);
    if (found.kind === 'unknown') {
      problem(ctx, pathText(path), unknownField(loc.path, name, found.known), node);
      return ANY;
    }
    const schema = found.kind === 'known' ? found.schema : undefined;
    if (schema && base.paths.length === 1) fieldKinds = kindsOf(schema);
    out.push({ path, schema });
  }
  return { t: 'data', paths: out, kinds: fieldKinds };
}

function walk(ctx: Ctx, node: ASTNode, scope: Scope): Walked {
  switch (node.op) {
    case 'value':
      return { v: literalVal(node.args), cost: 1 };
    case 'id':
      return walkId(ctx, node, scope);
    case '.':
    case '.?': {
      const [base, name] = node.args;
      const b = walk(ctx, base, scope);
      return { v: selectField(ctx, b.v, name, node), cost: b.cost + 1 };
    }
    case '[]':
    case '[?]':
      return walkIndex(ctx, node, scope);
    case 'list':
      return walkList(ctx, node, scope);
    case 'map':
      return walkMap(ctx, node, scope);
    case '!_':
    case '-_': {
      const w = walk(ctx, node.args, scope);
      return { v: node.op === '!_' ? SMALL_BOOL : SMALL_NUMBER, cost: w.cost + 1 };
    }
    case '&&':
    case '||': {
      const a = walk(ctx, node.args[0], scope);
      const b = walk(ctx, node.args[1], scope);
      return { v: SMALL_BOOL, cost: a.cost + b.cost + 1 };
    }
    case '?:': {
      const [c, t, f] = node.args;
      const wc = walk(ctx, c, scope);
      const wt = walk(ctx, t, scope);
      const wf = walk(ctx, f, scope);
      return { v: { t: 'either', options: [wt.v, wf.v] }, cost: wc.cost + Math.max(wt.cost, wf.cost) + 1 };
    }
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
      return walkComparison(ctx, node, scope);
    case 'in':
      return walkIn(ctx, node, scope);
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return walkArithmetic(ctx, node, scope);
    case 'call':
      return walkCall(ctx, node, scope);
    case 'rcall':
      return walkMethod(ctx, node, scope);
  }
}

function literalVal(x: NodeOf<'value'>['args']): Val {
  if (typeof x === 'string') return { t: 'lit', size: x.length, kinds: STRING };
  if (typeof x === 'bigint') return { t: 'lit', size: 1, kinds: NUMBER, int: true };
  if (typeof x === 'number') return { t: 'lit', size: 1, kinds: NUMBER };
  if (typeof x === 'boolean') return { t: 'lit', size: 1, kinds: BOOL };
  if (x === null) return { t: 'lit', size: 1, kinds: kinds('null') };
  if (x instanceof Uint8Array) return { t: 'lit', size: x.length, kinds: undefined };
  return { t: 'lit', size: 1, kinds: NUMBER, int: true }; // an unsigned int
}

function walkId(ctx: Ctx, node: NodeOf<'id'>, scope: Scope): Walked {
  const name = node.args;
  const bound = scope.vars.get(name);
  if (bound) return { v: bound, cost: 1 };
  if (name === 'args' || name === 'caller' || name === 'tool' || name === 'session') {
    const schema = name === 'args' ? ctx.args : name === 'session' ? sessionSchema : undefined;
    if (name === 'session') ctx.session = true;
    const loc: Located = { path: { root: name, segments: [] }, schema };
    return { v: { t: 'data', paths: [loc], kinds: kinds('object') }, cost: 1 };
  }
  problem(ctx, name, `unknown name "${name}": a condition can use caller, tool, args and session`, node);
  return { v: ANY, cost: 1 };
}

function walkIndex(ctx: Ctx, node: NodeOf<'[]' | '[?]'>, scope: Scope): Walked {
  const [base, index] = node.args;
  const b = walk(ctx, base, scope);
  const i = walk(ctx, index, scope);
  const cost = b.cost + i.cost + 1;
  const key = index.op === 'value' ? index.args : undefined;
  if (typeof key === 'string') return { v: selectField(ctx, b.v, key, node), cost };
  if (typeof key === 'bigint' && b.v.t === 'data') {
    const paths = b.v.paths.map((loc) => {
      const items = loc.schema && itemsOf(loc.schema);
      return { path: { root: loc.path.root, segments: [...loc.path.segments, String(key)] }, schema: items };
    });
    return { v: { t: 'data', paths }, cost };
  }
  // A computed key or index: any element (or value) of `base`, whose size is then checked too.
  if (b.v.t === 'data') {
    boundOrProblem(ctx, b.v, 'list', { node: base, what: sourceOf(ctx, base) });
    return { v: elemOf(b.v, VALUES), cost };
  }
  if (b.v.t === 'lit') return { v: b.v.values ?? b.v.elem ?? ANY, cost };
  return { v: ANY, cost };
}

function walkList(ctx: Ctx, node: NodeOf<'list'>, scope: Scope): Walked {
  let cost = 1;
  const elems: Val[] = [];
  for (const e of node.args) {
    const w = walk(ctx, e, scope);
    cost += w.cost;
    elems.push(w.v);
  }
  const elem: Val = elems.length === 0 ? ANY : elems.length === 1 ? elems[0]! : { t: 'either', options: elems };
  return { v: { t: 'lit', size: node.args.length, kinds: kinds('array'), elem }, cost };
}

function walkMap(ctx: Ctx, node: NodeOf<'map'>, scope: Scope): Walked {
  let cost = 1;
  const keys: Val[] = [];
  const values: Val[] = [];
  for (const [k, v] of node.args) {
    const wk = walk(ctx, k, scope);
    const wv = walk(ctx, v, scope);
    cost += wk.cost + wv.cost;
    keys.push(wk.v);
    values.push(wv.v);
  }
  const join = (vals: Val[]): Val => (vals.length === 1 ? vals[0]! : { t: 'either', options: vals });
  const v: Val = { t: 'lit', size: node.args.length, kinds: kinds('object'), elem: join(keys), values: join(values) };
  return { v, cost };
}

function walkComparison(ctx: Ctx, node: NodeOf<'==' | '!=' | '<' | '<=' | '>' | '>='>, scope: Scope): Walked {
  const [an, bn] = node.args;
  const a = walk(ctx, an, scope);
  const b = walk(ctx, bn, scope);
  checkComparable(ctx, { v: a.v, n: an }, { v: b.v, n: bn }, node);
  const extra = node.op === '==' || node.op === '!=' ? equalityCost(ctx, a.v, b.v, node) : 1;
  return { v: SMALL_BOOL, cost: a.cost + b.cost + extra };
}

function walkIn(ctx: Ctx, node: NodeOf<'in'>, scope: Scope): Walked {
  const [an, bn] = node.args;
  const a = walk(ctx, an, scope);
  const b = walk(ctx, bn, scope);
  const elem = elemOf(b.v, EACH);
  checkComparable(ctx, { v: a.v, n: an }, { v: elem, n: bn }, node);
  const n = boundOrProblem(ctx, b.v, 'list', { node: bn, what: `"in" over ${sourceOf(ctx, bn)}` });
  const per =
    isScalar(a.v) || isScalar(elem)
      ? 1
      : a.v.t === 'lit'
        ? 1 + a.v.size
        : 1 + 8 * (bound(ctx, a.v, 'value') ?? limits.maxComparedValueNodes);
  return { v: SMALL_BOOL, cost: a.cost + b.cost + 1 + n * per };
}

const numeric = (k: ReadonlySet<ValueKind> | undefined) => k?.size === 1 && k.has('number');
const stringy = (k: ReadonlySet<ValueKind> | undefined) => k?.size === 1 && k.has('string');

function walkArithmetic(ctx: Ctx, node: NodeOf<'+' | '-' | '*' | '/' | '%'>, scope: Scope): Walked {
  const [an, bn] = node.args;
  const a = walk(ctx, an, scope);
  const b = walk(ctx, bn, scope);
  checkArithmetic(ctx, a.v, b.v, node);
  if (node.op !== '+') return { v: SMALL_NUMBER, cost: a.cost + b.cost + 1 };
  const ka = kindsOfVal(a.v);
  const kb = kindsOfVal(b.v);
  if (numeric(ka) || numeric(kb)) return { v: SMALL_NUMBER, cost: a.cost + b.cost + 1 };
  const sum: Val = { t: 'sum', parts: [a.v, b.v] };
  if (stringy(ka) || stringy(kb)) return { v: sum, cost: a.cost + b.cost + 1 };
  // Possibly two lists: copying them is charged (a map() that concatenates lists allocates per element).
  const n = bound(ctx, a.v, 'list');
  const m = bound(ctx, b.v, 'list');
  const copy = n === undefined || m === undefined ? 0 : Math.ceil((n + m) / 64);
  return { v: sum, cost: a.cost + b.cost + 1 + copy };
}

function walkCall(ctx: Ctx, node: NodeOf<'call'>, scope: Scope): Walked {
  const [name, callArgs] = node.args;
  if (!globalFunctions.has(name) || callArgs.length !== 1) {
    problem(ctx, name, `unknown function ${name}(): a condition can use ${allowedFunctions}`, node);
    return { v: ANY, cost: 1 };
  }
  const w = walk(ctx, callArgs[0]!, scope);
  if (name === 'has' || name === 'bool') return { v: SMALL_BOOL, cost: w.cost + 1 };
  if (name === 'size' || name === 'int' || name === 'double') return { v: SMALL_NUMBER, cost: w.cost + 1 };
  if (name === 'string') return { v: { t: 'like', of: w.v, kinds: STRING }, cost: w.cost + 1 };
  return { v: w.v, cost: w.cost + 1 }; // dyn
}

/** `cel.bind(name, init, body)`, the one function of `cel` a condition may call. */
function walkCelBind(ctx: Ctx, node: NodeOf<'rcall'>, scope: Scope): Walked {
  const [name, , callArgs] = node.args;
  if (name !== 'bind' || callArgs.length !== 3 || callArgs[0]!.op !== 'id') {
    problem(ctx, `cel.${name}`, `unknown function cel.${name}(): a condition can use ${allowedFunctions}`, node);
    return { v: ANY, cost: 1 };
  }
  const init = walk(ctx, callArgs[1]!, scope);
  const vars = new Map(scope.vars).set(callArgs[0]!.args as string, init.v);
  const body = walk(ctx, callArgs[2]!, { vars });
  return { v: body.v, cost: init.cost + body.cost + 1 };
}

function walkMethod(ctx: Ctx, node: NodeOf<'rcall'>, scope: Scope): Walked {
  const [name, receiver, callArgs] = node.args;
  if (receiver.op === 'id' && receiver.args === 'cel' && !scope.vars.has('cel')) return walkCelBind(ctx, node, scope);
  if (macros.has(name)) return walkMacro(ctx, node, scope);
  if (!stringMethods.has(name)) {
    problem(ctx, name, `unknown function ${name}(): a condition can use ${allowedFunctions}`, node);
    return { v: ANY, cost: 1 };
  }
  const r = walk(ctx, receiver, scope);
  let cost = r.cost + 1;
  const argVals: Val[] = [];
  for (const a of callArgs) {
    const w = walk(ctx, a, scope);
    cost += w.cost;
    argVals.push(w.v);
  }
  const str = (v: Val, n: ASTNode) =>
    boundOrProblem(ctx, v, 'string', { node: n, what: `${name}() on ${sourceOf(ctx, n)}` });
  // About 0.1 unit per character read (contains on 16 KiB: ~0.1-0.2 ms on the build VM).
  const chars = (n: number) => Math.ceil(n / 10);
  switch (name) {
    case 'size':
      return { v: SMALL_NUMBER, cost };
    case 'startsWith':
    case 'endsWith':
      return { v: SMALL_BOOL, cost: cost + chars(str(argVals[0] ?? ANY, callArgs[0] ?? node)) };
    case 'contains':
    case 'indexOf':
    case 'lastIndexOf': {
      const read = str(r.v, receiver) + str(argVals[0] ?? ANY, callArgs[0] ?? node);
      return { v: name === 'contains' ? SMALL_BOOL : SMALL_NUMBER, cost: cost + chars(read) };
    }
    case 'lowerAscii':
    case 'upperAscii':
    case 'trim':
    case 'substring':
      return { v: { t: 'like', of: r.v, kinds: STRING }, cost: cost + chars(str(r.v, receiver)) };
    case 'matches':
      return { v: SMALL_BOOL, cost: cost + matchesCost(ctx, node, r.v) };
  }
  return { v: ANY, cost };
}

function matchesCost(ctx: Ctx, node: NodeOf<'rcall'>, receiver: Val): number {
  const [, receiverNode, callArgs] = node.args;
  const pattern = callArgs[0];
  if (callArgs.length !== 1 || !pattern || pattern.op !== 'value' || typeof pattern.args !== 'string') {
    problem(ctx, 'matches', 'the pattern of matches() must be a string literal', node);
    return 0;
  }
  if (pattern.args.length > limits.maxPatternLength) {
    problem(ctx, 'matches', `the pattern of matches() is longer than ${limits.maxPatternLength} characters`, pattern);
    return 0;
  }
  try {
    RE2JS.compile(pattern.args);
  } catch (e) {
    problem(ctx, 'matches', `invalid pattern for matches() (RE2 syntax): ${(e as Error).message}`, pattern);
    return 0;
  }
  // The function's name: the runtime calls an RE2 engine instead of the library's JavaScript RegExp.
  const before = ctx.text.slice(receiverNode.range.end, pattern.range.start);
  const at = before.lastIndexOf('matches');
  if (at >= 0) ctx.matchesAt.push(receiverNode.range.end + at);
  const what = `matches() on ${sourceOf(ctx, receiverNode)}`;
  const n = boundOrProblem(ctx, receiver, 'match', { node: receiverNode, what });
  // RE2 in JavaScript: up to ~1 µs per character for small patterns on the build VM, growing with the pattern.
  return Math.ceil(n * 8 * (1 + pattern.args.length / 32));
}

function walkMacro(ctx: Ctx, node: NodeOf<'rcall'>, scope: Scope): Walked {
  const [name, receiver, callArgs] = node.args;
  const mapWithFilter = callArgs.length === 3 && name === 'map';
  const variable = callArgs[0];
  if (callArgs.length !== (mapWithFilter ? 3 : 2) || !variable || variable.op !== 'id') {
    problem(ctx, name, `${name}() takes a variable and an expression: list.${name}(x, …)`, node);
    return { v: ANY, cost: 1 };
  }
  const range = walk(ctx, receiver, scope);
  const n = boundOrProblem(ctx, range.v, 'list', { node: receiver, what: `${name}() over ${sourceOf(ctx, receiver)}` });
  const inner = new Map(scope.vars).set(variable.args, elemOf(range.v, EACH));
  let body = 0;
  let transform: Val | undefined;
  for (const [i, expr] of callArgs.slice(1).entries()) {
    const w = walk(ctx, expr, { vars: inner });
    body += w.cost;
    if (name === 'map' && (mapWithFilter ? i === 1 : i === 0)) transform = w.v;
  }
  const cost = range.cost + 1 + n * (body + 2);
  if (name === 'map') return { v: { t: 'like', of: range.v, elem: transform, kinds: kinds('array') }, cost };
  if (name === 'filter') return { v: { t: 'like', of: range.v, kinds: kinds('array') }, cost };
  return { v: SMALL_BOOL, cost };
}
