// The management API's contract, held to by the e2e suite: every stack a test starts with
// `startTestStack` puts this recording proxy in front of its control plane, so every request a test,
// the CLI or a worker sends to /api/v1 and every response it gets is checked against docs/openapi.json:
// an undocumented route, status or response field, or a request the API accepted although the document
// forbids it, is a violation. A stack's violations fail its test file when the stack stops; the
// operations and statuses seen go to TOOLPLANE_CONTRACT_DIR (set by scripts/run-tests.ts), whose full
// runs fail on any operation no test called (`uncoveredOperations`).
import { randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

interface Operation {
  method: string;
  template: string;
  operationId: string;
  /** Path pattern of the template (`{id}` → one segment). */
  pattern: RegExp;
  /** Literal segments first: `/workspaces/current` wins over `/workspaces/{id}`. */
  params: number;
  responses: Record<string, { content?: Record<string, unknown> }>;
  /** The request body is documented as JSON (its schema checks accepted requests). */
  jsonBody: boolean;
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      { operationId: string; responses: Operation['responses']; requestBody?: { content?: Record<string, unknown> } }
    >
  >;
}

const documentUrl = new URL('../../docs/openapi.json', import.meta.url);
const httpMethods = ['get', 'put', 'post', 'delete', 'patch'];
/** Bodies larger than this pass through unchecked (imports of big documents). */
const maxCheckedBytes = 4 * 1024 * 1024;

/** One request/response pair as seen by the proxy: what the coverage report keeps (no bodies). */
export interface Exchange {
  operationId: string | null;
  method: string;
  path: string;
  status: number;
  violations: string[];
}

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export class ApiContract {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false, logger: false });
  private readonly operations: Operation[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(document: OpenApiDocument = JSON.parse(readFileSync(documentUrl, 'utf8')) as OpenApiDocument) {
    this.ajv.addSchema(document as object, 'api');
    this.operations = Object.entries(document.paths)
      .flatMap(([template, item]) =>
        httpMethods
          .filter((m) => item[m])
          .map((m) => ({
            method: m.toUpperCase(),
            template,
            operationId: item[m]!.operationId,
            pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
            params: (template.match(/\{/g) ?? []).length,
            responses: item[m]!.responses,
            jsonBody: item[m]!.requestBody?.content?.['application/json'] !== undefined,
          })),
      )
      .sort((a, b) => a.params - b.params);
  }

  get operationIds(): string[] {
    return this.operations.map((o) => o.operationId);
  }

  private validator(ref: string): ValidateFunction {
    let v = this.validators.get(ref);
    if (!v) {
      v = this.ajv.getSchema(`api#${ref}`);
      if (!v) throw new Error(`no schema at ${ref}`);
      this.validators.set(ref, v);
    }
    return v;
  }

  private errorsOf(ref: string, value: unknown): string[] {
    const v = this.validator(ref);
    if (v(value)) return [];
    return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  }

  /** Checks one exchange; `path` is relative to /api/v1, bodies are parsed JSON (undefined: none or not JSON). */
  check(x: {
    method: string;
    path: string;
    status: number;
    contentType: string;
    requestBody?: unknown;
    responseBody?: unknown;
    responseText: string;
    /** False when a body was too large to keep: only the route and status are checked. */
    bodiesChecked?: boolean;
  }): Exchange {
    const candidates = this.operations.filter((o) => o.pattern.test(x.path));
    const op = candidates.find((o) => o.method === x.method);
    const violations: string[] = [];
    const out = (operationId: string | null) => ({
      operationId,
      method: x.method,
      path: x.path,
      status: x.status,
      violations,
    });
    if (!op) {
      // A route the document does not have must not work: any error is fine (404, or 401 from the key
      // check and 400/413/415 from the body checks, which run before routing); a success is a hidden route.
      if (x.status < 400) violations.push(`${x.method} ${x.path}: undocumented route answered ${x.status}`);
      return out(null);
    }
    const where = `${op.method} ${op.template} (${op.operationId})`;
    const response = op.responses[String(x.status)];
    if (!response) {
      violations.push(`${where}: undocumented status ${x.status}: ${x.responseText.slice(0, 300)}`);
      return out(op.operationId);
    }
    if (x.bodiesChecked === false) return out(op.operationId);
    const base = `/paths/${pointer(op.template)}/${op.method.toLowerCase()}`;
    const mediaType = x.contentType.split(';')[0]!.trim();
    if (response.content && x.responseText.length > 0) {
      if (!(mediaType in response.content))
        violations.push(
          `${where}: ${x.status} answered ${mediaType || 'no content type'}, documented ${Object.keys(response.content).join(', ')}`,
        );
      else if (x.responseBody !== undefined)
        for (const e of this.errorsOf(
          `${base}/responses/${x.status}/content/${pointer(mediaType)}/schema`,
          x.responseBody,
        ))
          violations.push(`${where}: response ${x.status} ${e}`);
    } else if (!response.content && x.responseText.length > 0)
      violations.push(`${where}: ${x.status} documented without a body, answered ${x.responseText.slice(0, 200)}`);
    // A request the API accepted must be one the document allows (a stricter document would mislead clients).
    if (x.status < 300 && op.jsonBody && x.requestBody !== undefined)
      for (const e of this.errorsOf(`${base}/requestBody/content/application~1json/schema`, x.requestBody))
        violations.push(`${where}: accepted a request body the document forbids: ${e}`);
    return out(op.operationId);
  }
}

/** A copy of a streamed body, kept while it stays under `maxCheckedBytes`. */
function boundedCopy() {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add: (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxCheckedBytes) chunks.push(chunk);
    },
    get complete() {
      return size <= maxCheckedBytes;
    },
    bytes: () => Buffer.concat(chunks),
  };
}

function parseJson(bytes: Buffer, headers: IncomingHttpHeaders): unknown {
  try {
    const raw = headers['content-encoding'] === 'gzip' ? gunzipSync(bytes) : bytes;
    if (!/json/.test(String(headers['content-type'] ?? ''))) return undefined;
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A proxy in front of a control plane that checks every /api/v1 exchange against the contract. Bytes
 * pass through unchanged in both directions (bad JSON, gzip and oversized bodies reach the API as sent).
 * `prefix`: the paths checked, and what is cut off them before the document's paths are matched (the
 * edge's document, docs/edge-openapi.json, has full paths: `''`).
 */
export async function startContractProxy(
  label: string,
  contract = new ApiContract(),
  { prefix = '/api/v1' }: { prefix?: string } = {},
): Promise<{
  url: string;
  /** The control plane to forward to (known once it started; until then requests get 502). */
  setTarget: (target: string) => void;
  exchanges: Exchange[];
  violations: () => string[];
  close: () => Promise<void>;
}> {
  const exchanges: Exchange[] = [];
  let targetUrl: URL | undefined;
  const reportDir = process.env.TOOLPLANE_CONTRACT_DIR;
  const reportFile = reportDir
    ? join(reportDir, `${label.replace(/[^\w-]/g, '_')}-${randomBytes(4).toString('hex')}.jsonl`)
    : undefined;
  const server: Server = createServer((req, res) => {
    // Streamed both ways, as a client and the API would see each other (a body the API refuses half-way,
    // concurrency limits on large imports); copies are kept for the check up to `maxCheckedBytes`.
    const requestCopy = boundedCopy();
    if (!targetUrl) return void res.writeHead(502).end();
    const upstream = request(
      { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        // The API answered before the whole request body arrived (a 404 or a refusal before reading it): the rest of
        // the body would stay unread on the client's connection, which the client would then reuse and find reset.
        // Say so and close, as a server that does not read a body must (RFC 9112, 9.6).
        const headers = req.complete
          ? up.rawHeaders
          : [...withoutConnectionHeaders(up.rawHeaders), 'Connection', 'close'];
        res.writeHead(up.statusCode ?? 502, headers);
        const responseCopy = boundedCopy();
        up.on('data', responseCopy.add);
        up.pipe(res);
        // A response that ended is checked whole; one cut off (a stream the client closed) by route and status.
        let checked = false;
        const check = (ended: boolean) => {
          if (checked) return;
          checked = true;
          // As sent, not normalised: the API routes the raw path (`/a/../b` is not `/b` to it).
          const path = (req.url ?? '/').split('?')[0]!;
          if (!path.startsWith(`${prefix}/`)) return;
          const exchange = contract.check({
            method: req.method ?? 'GET',
            path: path.slice(prefix.length),
            status: up.statusCode ?? 0,
            contentType: String(up.headers['content-type'] ?? ''),
            requestBody: requestCopy.complete ? parseJson(requestCopy.bytes(), req.headers) : undefined,
            responseBody: responseCopy.complete ? parseJson(responseCopy.bytes(), up.headers) : undefined,
            responseText: responseCopy.bytes().toString('utf8'),
            bodiesChecked: ended && requestCopy.complete && responseCopy.complete,
          });
          exchanges.push(exchange);
          if (reportFile) appendFileSync(reportFile, JSON.stringify(exchange) + '\n');
        };
        up.on('end', () => check(true));
        up.on('close', () => check(false));
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy(); // the client went away: so does the request
    });
    req.on('data', requestCopy.add);
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // As the services: idle connections outlive the clients' (Node's 5 s default closes one as a client reuses it).
  server.keepAliveTimeout = 65_000;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setTarget: (target: string) => {
      targetUrl = new URL(target);
    },
    exchanges,
    violations: () => exchanges.flatMap((e) => e.violations),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Raw headers (name, value, name, value…) without the hop-by-hop `Connection` and `Keep-Alive`. */
function withoutConnectionHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (!/^(connection|keep-alive)$/i.test(raw[i]!)) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** Operations of the document that no exchange in `dir`'s reports reached, and the reports' violations. */
export function contractReport(
  dir: string,
  contract = new ApiContract(),
): { uncovered: string[]; violations: string[] } {
  const seen = new Set<string>();
  const violations: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl')))
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as Exchange;
      if (e.operationId) seen.add(e.operationId);
      violations.push(...e.violations);
    }
  return { uncovered: contract.operationIds.filter((id) => !seen.has(id)), violations };
}
