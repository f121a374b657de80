import { $RefParser, type FileInfo } from '@apidevtools/json-schema-ref-parser';
import { ValidationError } from '@toolplane/errors';
import { createRequire } from 'node:module';
import { isDataKey, isObject, type Json, pointer, refSegments, resolvePointer, walkRefs } from './json-pointer.ts';
import { assertDocumentDepth, loadDocument } from './load-document.ts';
import { normaliseDocumentSchemas } from './normalise-schemas.ts';
import { labelsExtension, labelsProblem } from './labels.ts';
import { analyseOperation, costExtension, costProblem } from './openapi-tools.ts';
import { type DocumentOperation, listOperations } from './operations.ts';
import { operationSecurity, type SecurityModel, securityModel } from './security.ts';
import { applyUserOAuth, type Discovery, type UserOAuthOptIn, userOAuthDiscoveryUrl } from './user-oauth.ts';

const require = createRequire(import.meta.url);
const swagger2openapi = require('swagger2openapi') as {
  convertObj(doc: unknown, options: Record<string, unknown>): Promise<{ openapi: Json }>;
};

/** A single document text (JSON or YAML), or a bundle: entry file name + files by relative path. */
export type OpenApiSource = string | { entry: string; files: Record<string, string> };

export interface ImportedOpenApi {
  /**
   * Self-contained OpenAPI 3.1 document: 2.0 converted, 3.0 schemas normalised (nullable → type arrays,
   * exclusiveMinimum booleans, etc.), external files inlined; internal/circular refs kept as refs (never
   * infinitely expanded). JSON-serialisable (stored in PostgreSQL as JSON).
   */
  document: Record<string, unknown>;
  info: { title: string; version: string; description?: string };
  /** One per operation, in document order, with a stable tool name. */
  operations: { operationId: string; toolName: string; method: string; path: string; summary?: string }[];
  /** Credential fields derived from the security schemes. */
  credentialFields: { key: string; required: boolean; secret: boolean }[];
  warnings: { path: string; message: string }[];
  /**
   * Why people's OAuth cannot be run as given: why `options.userOAuth` could not be applied (paths under
   * `/user_oauth`; the document is then as without it), and endpoints of a flow the document runs for people that are
   * not http(s) URLs (paths into the document). The caller refuses the import with them.
   */
  userOAuthIssues: { path: string; message: string }[];
}

export interface ImportOptions {
  /** The connector opts in to people's own accounts for its authorizationCode / openIdConnect scheme (ADR 0028). */
  userOAuth?: UserOAuthOptIn | undefined;
  /**
   * Reads an `openIdConnect` scheme's discovery document for the opt-in (the caller's I/O: the control plane asks a
   * worker, `document.fetch`). Absent: such a scheme's endpoints must be given in the opt-in.
   */
  discover?: ((url: string) => Promise<Discovery>) | undefined;
}

type Issue = { path: string; message: string };

/** At most this many warnings are listed (the last one says how many more there were). */
const maxWarnings = 200;

/** Where bundle files live for the resolver: never a real file or URL. */
const bundleRoot = 'file:///toolplane-bundle/';

/**
 * Parses one document text. JSON goes through `JSON.parse` (fast for multi-megabyte descriptions); anything
 * else, or JSON with a syntax error, through the YAML parser, which reports each problem's line and column.
 */
function parseText(text: string, file: string | undefined): Json {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const v: unknown = JSON.parse(text);
      if (isObject(v)) {
        assertDocumentDepth(v);
        return v;
      }
    } catch {
      // fall through: the YAML parser gives positions
    }
  }
  try {
    return loadDocument(text) as Json;
  } catch (err) {
    if (err instanceof ValidationError && file !== undefined) {
      throw new ValidationError(
        err.message,
        err.issues.map((i) => ({ path: `${file}${i.path ? `#${i.path}` : ''}`, message: i.message })),
      );
    }
    throw err;
  }
}

/** Data values (examples, defaults, extensions) are never crawled for `$ref`s. */
function excluded(path: string): boolean {
  const segs = refSegments(path.slice(path.indexOf('#')));
  if (!segs || segs.length === 0) return false;
  return isDataKey(segs[segs.length - 1]!, undefined, segs[segs.length - 2]);
}

/**
 * Inlines the files a document references (relative `$ref`s) with json-schema-ref-parser's `bundle`, reading
 * only from `files`: no file system, no network. Every unreadable reference is reported.
 */
async function bundle(entry: string, doc: Json, files: Record<string, string>): Promise<Json> {
  const key = (url: string): string | undefined =>
    url.startsWith(bundleRoot) ? decodeURIComponent(url.slice(bundleRoot.length)) : undefined;
  const parser = new $RefParser();
  try {
    return (await parser.bundle(bundleRoot + entry.split('/').map(encodeURIComponent).join('/'), doc, {
      continueOnError: true,
      resolveExcludedPathMatcher: excluded,
      bundle: { excludedPathMatcher: excluded },
      resolve: {
        external: true,
        file: false,
        http: false,
        bundleFiles: {
          order: 1,
          canRead: true,
          read(file: FileInfo) {
            const name = key(file.url);
            if (/^https?:/i.test(file.url))
              throw new Error(`remote references are not fetched (${file.url}); include the file in the bundle`);
            if (name === undefined) throw new Error(`${file.url} is outside the bundle`);
            if (!Object.hasOwn(files, name)) throw new Error(`file "${name}" is not in the bundle`);
            return files[name]!;
          },
        },
      },
      parse: {
        json: false,
        yaml: false,
        text: false,
        binary: false,
        bundleText: {
          order: 1,
          canParse: true,
          parse(file: FileInfo) {
            const name = key(file.url) ?? file.url;
            try {
              return parseText(
                typeof file.data === 'string' ? file.data : new TextDecoder().decode(file.data as Uint8Array),
                name,
              );
            } catch (err) {
              // ref-parser keeps only the message: the positions go into it.
              if (err instanceof ValidationError)
                throw new Error(`${err.message}: ${err.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, {
                  cause: err,
                });
              throw err;
            }
          },
        },
      },
    } as never)) as Json;
  } catch (err) {
    const errors = (err as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      const issues = errors.map((e) => {
        const x = e as { message?: string; path?: (string | number)[]; source?: string };
        const source = x.source ? (key(x.source) ?? x.source) : entry;
        const where = Array.isArray(x.path) ? pointer(x.path) : '';
        const inner =
          e instanceof ValidationError || (e as { issues?: Issue[] }).issues
            ? (e as { issues: Issue[] }).issues.map((i) => i.message).join('; ')
            : '';
        const message = (inner || x.message || String(e)).split(bundleRoot).join('');
        return { path: `${source}#${where}`, message: `cannot resolve $ref: ${message}` };
      });
      throw new ValidationError('the document has references that cannot be resolved', issues);
    }
    const message = err instanceof Error ? err.message : String(err);
    throw new ValidationError('the document has references that cannot be resolved', [{ path: entry, message }]);
  }
}

/**
 * json-schema-ref-parser's bundle leaves a reference from another file back into the entry document
 * (`../openapi.yaml#/components/schemas/Owner` in `schemas/pet.yaml`) as it was. After bundling the
 * entry document is the root, so such a reference is the internal `#/components/schemas/Owner`. The
 * origin file of a bundled ref is no longer known: a ref whose file part, without `./` and `../`
 * segments, names the entry file is taken to point at it.
 */
function pointRefsToEntryInside(doc: Json, entry: string): void {
  const entryName = entry.replace(/^(\.\.?\/)+/, '');
  walkRefs(doc, (ref, _path, holder) => {
    if (ref.startsWith('#')) return;
    const hash = ref.indexOf('#');
    const file = (hash < 0 ? ref : ref.slice(0, hash)).replace(/^(\.\.?\/)+/, '');
    if (file === entryName) holder.$ref = hash < 0 ? '#' : ref.slice(hash);
  });
}

/** Every `$ref` of the document, and whether any is not internal (a file to bundle). */
function collectRefs(doc: Json): { refs: [string, (string | number)[]][]; external: boolean } {
  const refs: [string, (string | number)[]][] = [];
  let external = false;
  walkRefs(doc, (ref, path) => {
    refs.push([ref, path]);
    if (!ref.startsWith('#')) external = true;
  });
  return { refs, external };
}

function unresolvedRefs(doc: Json, refs: [string, (string | number)[]][]): Issue[] {
  const issues: Issue[] = [];
  const known = new Map<string, boolean>();
  for (const [ref, path] of refs) {
    if (!ref.startsWith('#')) {
      issues.push({ path: `${pointer(path)}/$ref`, message: `external $ref "${ref}" was not resolved` });
      continue;
    }
    let ok = known.get(ref);
    if (ok === undefined) known.set(ref, (ok = resolvePointer(doc, ref) !== undefined));
    if (!ok)
      issues.push({ path: `${pointer(path)}/$ref`, message: `unresolvable $ref "${ref}": nothing at that location` });
  }
  return issues;
}

/** Collects the `x-s2o-warning` notes swagger2openapi leaves on objects it could not convert cleanly. */
function takeConversionWarnings(doc: Json, warn: (path: string, message: string) => void): void {
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (isObject(v)) {
      if (typeof v['x-s2o-warning'] === 'string') {
        warn(pointer(path), `Swagger 2.0 conversion: ${v['x-s2o-warning']}`);
        delete v['x-s2o-warning'];
      }
      for (const [k, x] of Object.entries(v))
        if (x !== null && typeof x === 'object' && !k.startsWith('x-')) walk(x, [...path, k]);
    }
  };
  walk(doc, []);
}

type Version = '2.0' | '3.0' | '3.1';

function versionOf(doc: Json): Version | Issue {
  if (typeof doc.swagger === 'string' || typeof doc.swagger === 'number') {
    return String(doc.swagger) === '2.0'
      ? '2.0'
      : {
          path: '/swagger',
          message: `unsupported Swagger version ${JSON.stringify(doc.swagger)} (2.0, 3.0.x and 3.1.x are supported)`,
        };
  }
  if (typeof doc.openapi === 'string') {
    if (/^3\.0(\.\d+)?(-.+)?$/.test(doc.openapi)) return '3.0';
    if (/^3\.[12](\.\d+)?(-.+)?$/.test(doc.openapi)) return '3.1';
    return {
      path: '/openapi',
      message: `unsupported OpenAPI version ${JSON.stringify(doc.openapi)} (2.0, 3.0.x and 3.1.x are supported)`,
    };
  }
  return { path: '', message: 'not an OpenAPI document: neither `openapi` (3.x) nor `swagger` (2.0) is set' };
}

type Warn = (path: string, message: string) => void;

/** The warnings of one import, in order: at most `maxWarnings` are listed, the last one says how many more there were. */
function warningList(): { warn: Warn; listed: () => Issue[] } {
  const warnings: Issue[] = [];
  let dropped = 0;
  return {
    warn: (path, message) => {
      if (warnings.length < maxWarnings) warnings.push({ path, message });
      else dropped++;
    },
    listed: () =>
      dropped > 0 ? [...warnings, { path: '', message: `${dropped} more warnings not listed` }] : warnings,
  };
}

/**
 * The entry document of a source, and the files its relative `$ref`s may read: a single text is the entry
 * `openapi` of a bundle of its own; `file` names the entry in parse errors of a real bundle.
 */
function entryOf(source: OpenApiSource): {
  entry: string;
  text: string;
  files: Record<string, string>;
  file?: string;
} {
  if (typeof source === 'string') return { entry: 'openapi', text: source, files: { openapi: source } };
  const { entry, files } = source;
  if (!Object.hasOwn(files, entry)) {
    throw new ValidationError('the bundle has no entry document', [
      {
        path: entry,
        message: `the entry file "${entry}" is not in the bundle (files: ${Object.keys(files).slice(0, 20).join(', ') || 'none'})`,
      },
    ]);
  }
  return { entry, text: files[entry]!, files, file: entry };
}

/** Inlines the files the document references (when it references any), then checks that every `$ref` resolves. */
async function resolveReferences(doc: Json, entry: string, files: Record<string, string>): Promise<Json> {
  let found = collectRefs(doc);
  if (found.external) {
    doc = await bundle(entry, doc, files);
    pointRefsToEntryInside(doc, entry);
    found = collectRefs(doc);
  }
  const refIssues = unresolvedRefs(doc, found.refs);
  if (refIssues.length > 0) throw new ValidationError('the document has references that cannot be resolved', refIssues);
  return doc;
}

/** A Swagger 2.0 document as OpenAPI 3.0 (swagger2openapi); its conversion notes become warnings. */
async function convertSwagger2(doc: Json, warn: Warn): Promise<Json> {
  let converted: Json;
  try {
    converted = (await swagger2openapi.convertObj(doc, { patch: true, warnOnly: true, text: '{}', anchors: true }))
      .openapi;
  } catch (err) {
    throw new ValidationError('the Swagger 2.0 document cannot be converted', [
      { path: '', message: err instanceof Error ? err.message : String(err) },
    ]);
  }
  takeConversionWarnings(converted, warn);
  const left = unresolvedRefs(converted, collectRefs(converted).refs);
  if (left.length > 0)
    throw new ValidationError('the Swagger 2.0 conversion left references that cannot be resolved', left);
  return converted;
}

/** Marks the document 3.1 (noting the version it came from) and rewrites its schemas to JSON Schema 2020-12. */
function toOpenApi31(doc: Json, version: Version, warn: Warn): void {
  const original = typeof doc.openapi === 'string' ? doc.openapi : '3.0.0';
  if (version !== '3.1') doc.openapi = '3.1.0';
  normaliseDocumentSchemas(doc, (path, message) => warn(pointer(path), message));
  if (version !== '3.1') doc['x-toolplane-converted-from'] = version === '2.0' ? '2.0' : original;
}

/** The document's operations; a document without `paths` or without operations is refused (webhooks are not tools). */
function toolOperations(doc: Json): DocumentOperation[] {
  const issues: Issue[] = [];
  if (!isObject(doc.paths)) {
    issues.push({
      path: '/paths',
      message: `the document has no \`paths\` object${isObject(doc.webhooks) ? ' (webhooks, which the API calls, are not tools)' : ''}`,
    });
  }
  const ops = listOperations(doc);
  if (isObject(doc.paths) && ops.length === 0) {
    const webhooks = isObject(doc.webhooks) ? Object.keys(doc.webhooks).length : 0;
    issues.push({
      path: '/paths',
      message: `the document has no operations${webhooks > 0 ? ` (only ${webhooks} webhooks, which the API calls, not the agent)` : ''}`,
    });
  }
  if (issues.length > 0) throw new ValidationError('the document cannot be used as a tool source', issues);
  return ops;
}

/** `info`'s title, version and description; a missing title or version is a warning and gets a placeholder. */
function documentInfo(doc: Json, warn: Warn): ImportedOpenApi['info'] {
  const info = isObject(doc.info) ? doc.info : {};
  const title = typeof info.title === 'string' && info.title.trim() ? info.title : 'Untitled API';
  const infoVersion = typeof info.version === 'string' || typeof info.version === 'number' ? String(info.version) : '0';
  if (title !== info.title) warn('/info/title', 'missing; "Untitled API" used');
  if (infoVersion !== info.version && String(info.version) !== infoVersion) warn('/info/version', 'missing; "0" used');
  return {
    title,
    version: infoVersion,
    ...(typeof info.description === 'string' && info.description ? { description: info.description } : {}),
  };
}

/**
 * People's OAuth applied to the document (the opt-in's discovery document read first when it needs one), then the
 * security model; its unsupported schemes are warnings, its refused endpoints join the opt-in's issues.
 */
async function securityWithUserOAuth(
  doc: Json,
  options: ImportOptions,
  warn: Warn,
): Promise<{ model: SecurityModel; userOAuthIssues: Issue[] }> {
  const discoveryUrl =
    options.userOAuth && options.discover ? userOAuthDiscoveryUrl(doc, options.userOAuth) : undefined;
  const discovery = discoveryUrl ? await options.discover!(discoveryUrl) : undefined;
  const userOAuthIssues = applyUserOAuth(doc, options.userOAuth, discovery);
  const model = securityModel(doc);
  userOAuthIssues.push(...model.refused);
  for (const [name, why] of model.unsupported) warn(pointer(['components', 'securitySchemes', name]), why);
  return { model, userOAuthIssues };
}

/**
 * Checks each operation as a tool (its security requirement, its parameters, body and response), warning about what
 * cannot be used. Returns the schemes some operation uses, and those some operation requires.
 */
function checkOperations(
  doc: Json,
  ops: DocumentOperation[],
  model: SecurityModel,
  warn: Warn,
): { used: Set<string>; required: Set<string> } {
  const required = new Set<string>();
  const used = new Set<string>();
  const multiAuth = new Set<string>();
  for (const o of ops) {
    const sec = operationSecurity(doc, o.op, model);
    if (sec.problem)
      warn(pointer([...o.location, 'security']), `${sec.problem}; the tool is called without credentials`);
    if (sec.schemes.filter((s) => s.creds.auth).length > 1) multiAuth.add(pointer([...o.location, 'security']));
    for (const { creds } of sec.schemes) {
      used.add(creds.scheme);
      if (!sec.optional) required.add(creds.scheme);
    }
    for (const w of analyseOperation(doc, o, { descriptor: false }).warnings) warn(w.path, w.message);
    const cost = costProblem(o.op);
    if (cost) warn(pointer([...o.location, costExtension]), cost);
    const labels = labelsProblem(o.op);
    if (labels) warn(pointer([...o.location, labelsExtension]), labels);
  }
  for (const p of multiAuth)
    warn(p, 'more than one computed credential (bearer, basic, OAuth2) in one requirement: only the first is sent');
  return { used, required };
}

/** The credential fields of the schemes the operations use (all schemes when none uses any), merged by key. */
function credentialFieldsOf(
  model: SecurityModel,
  { used, required }: { used: Set<string>; required: Set<string> },
): ImportedOpenApi['credentialFields'] {
  const credentialFields = new Map<string, { key: string; required: boolean; secret: boolean }>();
  for (const creds of model.schemes.values()) {
    if (used.size > 0 && !used.has(creds.scheme)) continue;
    for (const f of creds.fields) {
      const prev = credentialFields.get(f.key);
      credentialFields.set(f.key, {
        key: f.key,
        secret: f.secret || (prev?.secret ?? false),
        required: required.has(creds.scheme) || (prev?.required ?? false),
      });
    }
  }
  return [...credentialFields.values()];
}

/**
 * Imports an OpenAPI 2.0, 3.0 or 3.1 description (JSON or YAML, one file or a bundle with relative `$ref`s)
 * into a self-contained OpenAPI 3.1 document. Throws ValidationError (422) listing every problem with a
 * path: broken YAML/JSON (line/column), unsupported version, unresolvable `$ref` (which ref, where), a
 * bundle file missing, no operations. Never does network or filesystem I/O itself (`options.discover` is the caller's).
 */
export async function importOpenApi(source: OpenApiSource, options: ImportOptions = {}): Promise<ImportedOpenApi> {
  const { entry, text, files, file } = entryOf(source);
  let doc = parseText(text, file);
  const version = versionOf(doc);
  if (typeof version !== 'string') throw new ValidationError('unsupported document', [version]);
  const { warn, listed } = warningList();
  doc = await resolveReferences(doc, entry, files);
  if (version === '2.0') doc = await convertSwagger2(doc, warn);
  toOpenApi31(doc, version, warn);
  const ops = toolOperations(doc);
  const info = documentInfo(doc, warn);
  const { model, userOAuthIssues } = await securityWithUserOAuth(doc, options, warn);
  const credentialFields = credentialFieldsOf(model, checkOperations(doc, ops, model, warn));
  return {
    document: doc,
    info,
    operations: ops.map((o) => ({
      operationId: o.operationId,
      toolName: o.toolName,
      method: o.method,
      path: o.path,
      ...(o.summary ? { summary: o.summary } : {}),
    })),
    credentialFields,
    warnings: listed(),
    userOAuthIssues,
  };
}
