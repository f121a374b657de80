/**
 * Checks a curated connector's OpenAPI document against the provider's own (both as `importOpenApi` normalises them:
 * OpenAPI 3.1, self-contained, internal `$ref`s kept): every operation exists with that method and path, every
 * parameter and body field it sends is in the provider's operation with a compatible type, nothing the provider
 * requires is missing, and the OAuth scopes it asks for are ones the provider names for the operation.
 *
 * Everything found is reported; which findings are accepted (with the reason) is the caller's business.
 */

type Json = Record<string, unknown>;

export type ProblemCode =
  /** No operation of the provider has this method and (structurally) this URL. */
  | 'no-operation'
  /** The curated operationId differs from the provider's. */
  | 'operation-id'
  /** A parameter the provider's operation does not have (`subject`: `in:name`). */
  | 'param-unknown'
  /** A parameter whose schema the provider's does not accept (`subject`: `in:name`, with the path inside its schema). */
  | 'param-type'
  /** A structured parameter serialised with another style or explode than the provider's. */
  | 'param-style'
  /** A parameter the provider requires that the curated operation does not send. */
  | 'param-required'
  /** The curated operation sends a body the provider's operation does not take. */
  | 'body-unknown'
  /** The provider requires a body the curated operation does not send. */
  | 'body-required'
  /** The curated body's media type is not one the provider lists (its fields are checked against the provider's first). */
  | 'media-type'
  /** A body field the provider's schema does not have (`subject`: its JSON pointer). */
  | 'field-unknown'
  /** A body field (or value) whose schema the provider's does not accept. */
  | 'field-type'
  /** A body field the provider requires that the curated schema does not (require). */
  | 'field-required'
  /** An OAuth scope the provider does not name for this operation (or at all). */
  | 'scope'
  /** An OAuth scope the curated document's own scheme does not declare. */
  | 'scope-undeclared';

export interface Problem {
  /** The curated operation, `METHOD /path`. */
  operation: string;
  code: ProblemCode;
  subject: string;
  message: string;
}

export interface CheckOptions {
  /**
   * Curated operations to check against another operation of the provider (`METHOD /path` → `METHOD /path`), for an
   * endpoint the provider's packaged document predates. Only used when the operation itself is not found.
   */
  checkedAs?: Record<string, string>;
}

export interface CheckResult {
  problems: Problem[];
  /** The `checkedAs` entries that were needed (an unneeded one is stale). */
  usedCheckedAs: string[];
  /** How many operations were compared. */
  operations: number;
}

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Follows local `$ref`s (`#/...`), at most 32 in a row. */
function deref(doc: Json, value: unknown): unknown {
  let v = value;
  for (let i = 0; i < 32 && isObject(v) && typeof v.$ref === 'string'; i++) {
    const ref = v.$ref;
    if (!ref.startsWith('#')) return undefined;
    v = ref
      .slice(2)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((o, k) => (isObject(o) || Array.isArray(o) ? (o as Json)[k] : undefined), doc);
  }
  return v;
}

interface Operation {
  method: string;
  /** The server URL's path and the operation's path, e.g. `/calendar/v3/calendars/{calendarId}/events`. */
  url: string;
  path: string;
  op: Json;
  item: Json;
}

function serverUrl(doc: Json, item: Json, op: Json): string {
  const list = [op.servers, item.servers, doc.servers].find((s) => Array.isArray(s) && s.length > 0) as
    unknown[] | undefined;
  const first = list?.[0];
  const url = isObject(first) && typeof first.url === 'string' ? first.url : '';
  return url.replace(/\/+$/, '');
}

function operations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, rawItem] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
    const item = deref(doc, rawItem);
    if (!isObject(item)) continue;
    for (const method of methods) {
      const op = item[method];
      if (isObject(op)) out.push({ method, path, url: serverUrl(doc, item, op) + path, op, item });
    }
  }
  return out;
}

const label = (o: Operation): string => `${o.method.toUpperCase()} ${o.path}`;

/** Splits a URL template into its origin (lower case) and path segments. */
function split(url: string): { origin: string; segments: string[] } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)?(.*)$/i.exec(url)!;
  return { origin: (m[1] ?? '').toLowerCase(), segments: (m[2] ?? '').split('/').filter((s) => s !== '') };
}

const templateOnly = /^\{([^}]+)\}$/;

/**
 * Whether a curated URL template matches a provider's, segment by segment: a provider `{name}` takes a curated
 * `{other}` (the parameter, renamed) or a literal (a value the curated document fixes, e.g. Gmail's `me`); literals
 * must be equal. Returns how many literal segments matched and the provider path parameter of each curated one.
 */
function matchUrl(
  curated: string,
  provider: string,
): { literals: number; renamed: Map<string, string>; fixed: Set<string> } | undefined {
  const c = split(curated);
  const p = split(provider);
  if (c.origin !== p.origin || c.segments.length !== p.segments.length) return undefined;
  const renamed = new Map<string, string>();
  const fixed = new Set<string>();
  let literals = 0;
  for (let i = 0; i < c.segments.length; i++) {
    const cs = c.segments[i]!;
    const ps = p.segments[i]!;
    const ct = templateOnly.exec(cs);
    const pt = templateOnly.exec(ps);
    if (ct && pt) renamed.set(ct[1]!, pt[1]!);
    else if (ct) return undefined;
    else if (pt) fixed.add(pt[1]!);
    else if (ps.includes('{')) {
      // A provider segment mixing text and templates (`{keyPairId}:enable`): the curated literal must fit it.
      const pattern = ps
        .split(/\{[^}]+\}/)
        .map((text) => text.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&'))
        .join('[^/]+');
      if (!new RegExp(`^${pattern}$`).test(cs)) return undefined;
    } else if (cs === ps) literals++;
    else return undefined;
  }
  return { literals, renamed, fixed };
}

type Location = 'path' | 'query' | 'header' | 'cookie';

interface Param {
  name: string;
  in: Location;
  required: boolean;
  schema: unknown;
  style?: string;
  explode?: boolean;
}

const paramKey = (p: { in: string; name: string }): string =>
  `${p.in}:${p.in === 'header' ? p.name.toLowerCase() : p.name}`;

function params(doc: Json, o: Operation): Map<string, Param> {
  const out = new Map<string, Param>();
  for (const list of [o.item.parameters, o.op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const p = deref(doc, raw);
      if (!isObject(p) || typeof p.name !== 'string' || typeof p.in !== 'string') continue;
      let schema = p.schema;
      if (schema === undefined && isObject(p.content)) {
        const first = Object.values(p.content)[0];
        schema = isObject(first) ? first.schema : undefined;
      }
      const param: Param = {
        name: p.name,
        in: p.in as Location,
        required: p.in === 'path' || p.required === true,
        schema: schema ?? {},
        ...(typeof p.style === 'string' ? { style: p.style } : {}),
        ...(typeof p.explode === 'boolean' ? { explode: p.explode } : {}),
      };
      out.set(paramKey(param), param); // operation parameters override the path item's
    }
  }
  return out;
}

/** The types a schema admits (after `const`/`enum` inference); empty: any. */
function typesOf(s: Json): Set<string> {
  if (typeof s.type === 'string') return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type.filter((t): t is string => typeof t === 'string'));
  const values = 'const' in s ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined;
  if (values)
    return new Set(
      values.map((v) =>
        v === null
          ? 'null'
          : Array.isArray(v)
            ? 'array'
            : typeof v === 'number'
              ? Number.isInteger(v)
                ? 'integer'
                : 'number'
              : typeof v,
      ),
    );
  if (isObject(s.properties) || 'additionalProperties' in s) return new Set(['object']);
  if ('items' in s) return new Set(['array']);
  return new Set();
}

/** `allOf` merged into one schema (properties, required, the first type and enum), recursively. */
function flatten(doc: Json, schema: unknown, depth = 0): Json {
  const s = deref(doc, schema);
  if (!isObject(s)) return {};
  if (!Array.isArray(s.allOf) || depth > 16) return s;
  const { allOf, ...own } = s;
  const merged: Json = { ...own };
  const properties: Json = isObject(own.properties) ? { ...own.properties } : {};
  const required = new Set<string>(Array.isArray(own.required) ? (own.required as string[]) : []);
  for (const part of allOf as unknown[]) {
    const f = flatten(doc, part, depth + 1);
    if (isObject(f.properties)) Object.assign(properties, f.properties);
    if (Array.isArray(f.required)) for (const r of f.required) if (typeof r === 'string') required.add(r);
    for (const key of ['type', 'enum', 'const', 'items', 'additionalProperties', 'oneOf', 'anyOf'])
      if (merged[key] === undefined && f[key] !== undefined) merged[key] = f[key];
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  return merged;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

interface Finding {
  at: string;
  kind: 'unknown' | 'type' | 'required';
  message: string;
}

/** The two documents a comparison reads schemas from. */
interface Docs {
  readonly curated: Json;
  readonly provider: Json;
}

/** Where a comparison is: a JSON pointer from the compared schemas' root, and how deep it has recursed. */
interface Where {
  readonly at: string;
  readonly depth: number;
}

const root: Where = { at: '', depth: 0 };

/**
 * Whether every value the curated schema admits is one the provider's accepts, as far as the curated document can
 * say it: types (an integer is a number), enumerations and constants, array items, object properties (each must be in
 * the provider's schema, unless the provider takes any property) and the provider's required properties.
 * `oneOf`/`anyOf` in the provider's schema: some branch must accept it.
 */
function compare(docs: Docs, curated: unknown, provider: unknown, where: Where = root): Finding[] {
  if (where.depth > 24) return [];
  const c = flatten(docs.curated, curated);
  const p = flatten(docs.provider, provider);
  const same: Where = { at: where.at, depth: where.depth + 1 };
  // Each of the curated alternatives must be accepted, each by some alternative of the provider's.
  const cBranches = [c.oneOf, c.anyOf].find(Array.isArray) as unknown[] | undefined;
  if (cBranches && cBranches.length > 0) {
    const { oneOf: _o, anyOf: _a, ...rest } = c;
    return cBranches.flatMap((b) => compare(docs, { ...rest, ...flatten(docs.curated, b) }, provider, same));
  }
  const branches = [p.oneOf, p.anyOf].find(Array.isArray) as unknown[] | undefined;
  if (branches && branches.length > 0) {
    const { oneOf: _o, anyOf: _a, ...rest } = p;
    const tries = branches.map((b) => compare(docs, curated, { ...rest, ...flatten(docs.provider, b) }, same));
    return tries.reduce((best, t) => (t.length < best.length ? t : best));
  }

  const cTypes = typesOf(c);
  const findings = [...typeFindings(cTypes, p, where.at), ...valueFindings(c, p, where.at)];
  if (cTypes.has('array') && p.items !== undefined && c.items !== undefined)
    findings.push(...compare(docs, c.items, p.items, { at: `${where.at}/items`, depth: where.depth + 1 }));
  if (cTypes.has('object') || isObject(c.properties)) findings.push(...objectFindings(docs, c, p, where));
  return findings;
}

/** The curated schema's types (`cTypes`) against the provider's schema `p`. */
function typeFindings(cTypes: Set<string>, p: Json, at: string): Finding[] {
  const findings: Finding[] = [];
  const pTypes = typesOf(p);
  if (pTypes.size > 0) {
    if (cTypes.size === 0)
      findings.push({ at, kind: 'type', message: `takes any value; the provider's is ${[...pTypes].join(' or ')}` });
    for (const t of cTypes)
      if (!pTypes.has(t) && !(t === 'integer' && pTypes.has('number')))
        findings.push({ at, kind: 'type', message: `is ${t}; the provider's is ${[...pTypes].join(' or ')}` });
  }
  return findings;
}

/** The curated schema's constants and enumerations against the provider's. */
function valueFindings(c: Json, p: Json, at: string): Finding[] {
  const findings: Finding[] = [];
  const pValues = 'const' in p ? [p.const] : Array.isArray(p.enum) ? p.enum : undefined;
  const cValues = 'const' in c ? [c.const] : Array.isArray(c.enum) ? c.enum : undefined;
  if (pValues) {
    if (!cValues)
      findings.push({
        at,
        kind: 'type',
        message: `takes any value; the provider's takes only ${JSON.stringify(pValues)}`,
      });
    else
      for (const v of cValues)
        if (!pValues.some((pv) => sameValue(pv, v)))
          findings.push({
            at,
            kind: 'type',
            message: `value ${JSON.stringify(v)} is not one of ${JSON.stringify(pValues)}`,
          });
  }
  return findings;
}

/** The curated object schema's properties, then the provider's required ones. */
function objectFindings(docs: Docs, c: Json, p: Json, where: Where): Finding[] {
  const findings: Finding[] = [];
  const { at } = where;
  const cProps = isObject(c.properties) ? c.properties : {};
  const pProps = isObject(p.properties) ? p.properties : undefined;
  const extra = p.additionalProperties;
  for (const [name, schema] of Object.entries(cProps)) {
    const inner: Where = { at: `${at}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`, depth: where.depth + 1 };
    if (pProps && name in pProps) findings.push(...compare(docs, schema, pProps[name], inner));
    else if (isObject(extra)) findings.push(...compare(docs, schema, extra, inner));
    else if (pProps && extra !== true)
      findings.push({ at: inner.at, kind: 'unknown', message: "is not a property of the provider's schema" });
    // No properties declared (a free-form object) or additionalProperties true: any property is accepted.
  }
  const cRequired = new Set(Array.isArray(c.required) ? (c.required as string[]) : []);
  for (const r of Array.isArray(p.required) ? (p.required as string[]) : [])
    if (!cRequired.has(r))
      findings.push({
        at: `${at}/${r}`,
        kind: 'required',
        message: r in cProps ? 'is required by the provider but optional here' : 'is required by the provider',
      });
  return findings;
}

const defaultStyle: Record<Location, string> = { path: 'simple', query: 'form', header: 'simple', cookie: 'form' };

function structured(doc: Json, schema: unknown): boolean {
  const t = typesOf(flatten(doc, schema));
  return t.has('array') || t.has('object');
}

/** The OAuth scopes a requirement list names for schemes of type oauth2/openIdConnect of `doc`. */
function oauthScopes(doc: Json, requirements: unknown): Set<string> {
  const schemes =
    isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
  const out = new Set<string>();
  if (!Array.isArray(requirements)) return out;
  for (const r of requirements) {
    if (!isObject(r)) continue;
    for (const [name, scopes] of Object.entries(r)) {
      const s = deref(doc, schemes[name]);
      if (isObject(s) && (s.type === 'oauth2' || s.type === 'openIdConnect') && Array.isArray(scopes))
        for (const x of scopes) if (typeof x === 'string') out.add(x);
    }
  }
  return out;
}

/** Every scope the document's oauth2 schemes declare in their flows. */
function declaredScopes(doc: Json): Set<string> {
  const schemes =
    isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
  const out = new Set<string>();
  for (const raw of Object.values(schemes)) {
    const s = deref(doc, raw);
    if (!isObject(s) || !isObject(s.flows)) continue;
    for (const flow of Object.values(s.flows))
      if (isObject(flow) && isObject(flow.scopes)) for (const k of Object.keys(flow.scopes)) out.add(k);
  }
  return out;
}

type UrlMatch = NonNullable<ReturnType<typeof matchUrl>>;

/** One check of a curated document against a provider's, and what it has found so far. */
interface Run {
  readonly docs: Docs;
  readonly options: CheckOptions;
  readonly providerOps: readonly Operation[];
  readonly curatedDeclares: ReadonlySet<string>;
  readonly providerDeclares: ReadonlySet<string>;
  readonly problems: Problem[];
  readonly usedCheckedAs: string[];
}

/** A curated operation (`o`) and the provider's it is checked against (`p`, its URL matched as `m`). */
interface Pair {
  readonly run: Run;
  readonly o: Operation;
  readonly p: Operation;
  readonly m: UrlMatch;
  readonly report: (code: ProblemCode, subject: string, message: string) => void;
}

/** Compares every operation of `curatedDoc` with `providerDoc` (both normalised by `importOpenApi`). */
export function checkAgainstProvider(curatedDoc: Json, providerDoc: Json, options: CheckOptions = {}): CheckResult {
  const run: Run = {
    docs: { curated: curatedDoc, provider: providerDoc },
    options,
    providerOps: operations(providerDoc),
    curatedDeclares: declaredScopes(curatedDoc),
    providerDeclares: declaredScopes(providerDoc),
    problems: [],
    usedCheckedAs: [],
  };
  const curatedOps = operations(curatedDoc);
  for (const o of curatedOps) checkOperation(run, o);
  return { problems: run.problems, usedCheckedAs: run.usedCheckedAs, operations: curatedOps.length };
}

function checkOperation(run: Run, o: Operation): void {
  const name = label(o);
  const report = (code: ProblemCode, subject: string, message: string): void => {
    run.problems.push({ operation: name, code, subject, message });
  };
  const found = providerOperation(run, o, name);
  if (!found) {
    report('no-operation', o.url, `the provider has no ${o.method.toUpperCase()} ${o.url}`);
    return;
  }
  const { p, m, viaAlias } = found;
  if (!viaAlias && typeof p.op.operationId === 'string' && p.op.operationId !== o.op.operationId)
    report('operation-id', String(o.op.operationId), `the provider's operationId is "${p.op.operationId}"`);
  const pair: Pair = { run, o, p, m, report };
  checkParams(pair);
  checkBody(pair);
  checkScopes(pair);
}

/** The provider's operation whose URL matches `o`'s best (most literal segments), else its `checkedAs` one. */
function providerOperation(
  run: Run,
  o: Operation,
  name: string,
): { p: Operation; m: UrlMatch; viaAlias: boolean } | undefined {
  const found = run.providerOps
    .filter((p) => p.method === o.method)
    .map((p) => ({ p, m: matchUrl(o.url, p.url) }))
    .filter((x): x is { p: Operation; m: UrlMatch } => x.m !== undefined)
    .sort((a, b) => b.m.literals - a.m.literals)[0];
  if (found) return { ...found, viaAlias: false };
  const alias = run.options.checkedAs?.[name];
  if (!alias) return undefined;
  const [method, path] = alias.split(' ');
  const target = run.providerOps.find((p) => p.method === method!.toLowerCase() && p.path === path);
  if (!target) return undefined;
  const m = matchUrl(serverUrl(run.docs.curated, o.item, o.op) + target.path, target.url);
  if (!m) return undefined;
  run.usedCheckedAs.push(name);
  return { p: target, m, viaAlias: true };
}

const styleOf = (x: Param) => x.style ?? defaultStyle[x.in];
const explodeOf = (x: Param) => x.explode ?? styleOf(x) === 'form';

function checkParams({ run, o, p, m, report }: Pair): void {
  const { docs } = run;
  const mine = params(docs.curated, o);
  const theirs = params(docs.provider, p);
  const sent = new Set<string>();
  for (const param of mine.values()) {
    const providerName = param.in === 'path' ? (m.renamed.get(param.name) ?? param.name) : param.name;
    const key = paramKey({ in: param.in, name: providerName });
    sent.add(key);
    const other = theirs.get(key);
    if (!other) {
      report('param-unknown', paramKey(param), `the provider's operation has no ${param.in} parameter "${param.name}"`);
      continue;
    }
    for (const f of compare(docs, param.schema, other.schema))
      report(
        'param-type',
        `${paramKey(param)}${f.at}`,
        `${param.in} parameter "${param.name}"${f.at ? ` at ${f.at}` : ''} ${f.message}`,
      );
    if (
      structured(docs.curated, param.schema) &&
      (styleOf(param) !== styleOf(other) || explodeOf(param) !== explodeOf(other))
    )
      report(
        'param-style',
        paramKey(param),
        `serialised as ${styleOf(param)}/explode=${explodeOf(param)}; the provider's as ${styleOf(other)}/explode=${explodeOf(other)}`,
      );
  }
  for (const [key, other] of theirs) {
    if (!other.required || sent.has(key)) continue;
    if (other.in === 'path' && m.fixed.has(other.name)) continue; // a value the curated URL fixes
    report('param-required', key, `the provider requires ${other.in} parameter "${other.name}"`);
  }
}

function checkBody({ run, o, p, report }: Pair): void {
  const { docs } = run;
  const cBody = deref(docs.curated, o.op.requestBody);
  const pBody = deref(docs.provider, p.op.requestBody);
  const cContent = isObject(cBody) && isObject(cBody.content) ? cBody.content : undefined;
  const pContent = isObject(pBody) && isObject(pBody.content) ? pBody.content : undefined;
  if (!cContent || Object.keys(cContent).length === 0) {
    if (isObject(pBody) && pBody.required === true)
      report('body-required', '', "the provider's operation requires a request body");
    return;
  }
  const [type, media] = Object.entries(cContent)[0]!;
  const pTypes = pContent ? Object.keys(pContent) : [];
  if (pTypes.length === 0) {
    report('body-unknown', type, "the provider's operation takes no request body");
    return;
  }
  let providerMedia = pContent![type];
  if (providerMedia === undefined) {
    report('media-type', type, `the provider's operation takes ${pTypes.join(', ')}`);
    providerMedia = pContent![pTypes[0]!];
  }
  const cSchema = isObject(media) ? media.schema : undefined;
  const pSchema = isObject(providerMedia) ? providerMedia.schema : undefined;
  for (const f of compare(docs, cSchema, pSchema))
    report(
      f.kind === 'unknown' ? 'field-unknown' : f.kind === 'required' ? 'field-required' : 'field-type',
      f.at || '/',
      `body${f.at ? ` field ${f.at}` : ''} ${f.message}`,
    );
}

/**
 * OAuth scopes: declared by the curated scheme, and named by the provider for this operation (or at least by its
 * schemes, when it names none per operation).
 */
function checkScopes({ run, o, p, report }: Pair): void {
  const { docs } = run;
  const wanted = oauthScopes(docs.curated, o.op.security ?? docs.curated.security);
  const named = oauthScopes(docs.provider, p.op.security ?? docs.provider.security);
  for (const s of wanted) {
    if (!run.curatedDeclares.has(s))
      report('scope-undeclared', s, `scope "${s}" is not declared by the curated scheme`);
    if (named.size > 0 && !named.has(s))
      report('scope', s, `the provider names ${[...named].join(', ')} for this operation, not "${s}"`);
    else if (named.size === 0 && run.providerDeclares.size > 0 && !run.providerDeclares.has(s))
      report('scope', s, `the provider declares no scope "${s}"`);
  }
}
