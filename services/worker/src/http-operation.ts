import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import type { HttpOperationPlan, HttpParamPlan, ToolResultPayload } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { HttpTransportError } from '@toolplane/workflow';
import {
  attr,
  injectContext,
  metricsEnabled,
  recordHttpClient,
  SpanKind,
  SpanStatusCode,
  tracingEnabled,
  withSpan,
} from '@toolplane/telemetry';
import { Agent, interceptors, type Dispatcher } from 'undici';
import { checkUrlSync, guardedLookup, outboundRefusal, outboundSettings, redirectHeaders } from './outbound-guard.ts';
import { assertUpstreamAllowed } from './twin/no-upstream.ts';

export interface HttpLimits {
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface UpstreamRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** Most connections per upstream origin (`configureUpstreamConnections`). */
let maxConnectionsPerOrigin = 1024;
let client: { dispatcher: Dispatcher; connectTimeoutMs: number; connections: number } | undefined;

/**
 * Sets the most connections per upstream origin (HTTP_MAX_CONNECTIONS_PER_ORIGIN; the worker does this
 * once at start). Requests beyond it wait for a free connection of their origin.
 */
export function configureUpstreamConnections(maxPerOrigin: number): void {
  maxConnectionsPerOrigin = maxPerOrigin;
}

/**
 * The client every upstream request goes through: undici, one keep-alive pool per origin (scheme, host,
 * port) of at most `maxConnectionsPerOrigin` connections, each opened through the outbound guard
 * (`guardedLookup`: the address connected to is the one checked) within the connect timeout, bodies
 * decompressed (gzip, deflate, br). Built once per setting, so a call merges no options.
 */
function upstreamClient(): Dispatcher {
  const { connectTimeoutMs } = outboundSettings();
  if (client?.connectTimeoutMs !== connectTimeoutMs || client.connections !== maxConnectionsPerOrigin) {
    const previous = client?.dispatcher;
    const agent = new Agent({
      connections: maxConnectionsPerOrigin,
      connect: { lookup: guardedLookup() as unknown as LookupFunction, timeout: connectTimeoutMs },
    });
    client = {
      dispatcher: agent.compose(interceptors.decompress({ skipErrorResponses: false }), refuseTwinRequests),
      connectTimeoutMs,
      connections: maxConnectionsPerOrigin,
    };
    // Requests still running on the previous pools finish there.
    void previous?.close().catch(() => undefined);
  }
  return client.dispatcher;
}

/** Refuses a request of a twin job before the agent can open its connection (ADR 0112). */
const refuseTwinRequests: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  assertUpstreamAllowed('an HTTP request');
  return dispatch(opts, handler);
};

function serialize(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A credential template split once: literal text at even indexes, a `{name}` placeholder's name at odd ones. */
type Template = readonly string[];

function compileTemplate(template: string): Template {
  return template.split(/\{([A-Za-z_][A-Za-z0-9_]*)\}/);
}

/** A template filled with `values`; a placeholder without a value stays as it is (`{name}`). */
function fillTemplate(template: Template, values: Record<string, string | undefined>): string {
  let out = template[0]!;
  for (let i = 1; i < template.length; i += 2) out += `${values[template[i]!] ?? `{${template[i]}}`}${template[i + 1]}`;
  return out;
}

/**
 * What a plan's request takes that no argument changes, worked out once per plan (cost cut 4: the plan cache
 * keeps one plan object per tool and catalog version): the credential templates split, the headers' names in lower
 * case, and whether anything can go in the query string.
 */
interface CompiledPlan {
  query: boolean;
  authQuery: [string, Template][];
  authCookies: [string, Template][];
  authHeaders: [string, Template][];
}

const compiledPlans = new WeakMap<HttpOperationPlan, CompiledPlan>();

function compiledPlan(plan: HttpOperationPlan): CompiledPlan {
  let compiled = compiledPlans.get(plan);
  if (!compiled) {
    const templates = (record: Record<string, string> | undefined, lower = false) =>
      Object.entries(record ?? {}).map(([k, t]): [string, Template] => [
        lower ? k.toLowerCase() : k,
        compileTemplate(t),
      ]);
    const authQuery = templates(plan.authQuery);
    compiled = {
      query: authQuery.length > 0 || plan.params.some((p) => p.in === 'query'),
      authQuery,
      authCookies: templates(plan.authCookies),
      authHeaders: templates(plan.authHeaders, true),
    };
    compiledPlans.set(plan, compiled);
  }
  return compiled;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Key/value pairs of an object value (nested values as JSON), for the OpenAPI styles that list them. */
function pairs(value: Record<string, unknown>): [string, string][] {
  return Object.entries(value)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => [k, serialize(v)]);
}

/**
 * A path value per OpenAPI 3 `style` (`simple` when absent; `label`, `matrix`), percent-encoded.
 * Arrays and objects follow the spec's tables (`explode` false: `a,b` / `k,v`; true: `k=v`).
 */
function pathValue(p: HttpParamPlan, value: unknown): string {
  const style = p.style ?? 'simple';
  const explode = p.explode ?? false;
  const enc = encodeURIComponent;
  const prefix = style === 'label' ? '.' : '';
  if (Array.isArray(value)) {
    const items = value.map((v) => enc(serialize(v)));
    if (style === 'matrix')
      return explode ? items.map((v) => `;${p.name}=${v}`).join('') : `;${p.name}=${items.join(',')}`;
    return prefix + items.join(explode && style === 'label' ? '.' : ',');
  }
  if (isRecord(value) && p.style !== undefined) {
    const kv = pairs(value).map(([k, v]) => [enc(k), enc(v)] as const);
    if (style === 'matrix')
      return explode ? kv.map(([k, v]) => `;${k}=${v}`).join('') : `;${p.name}=${kv.flat().join(',')}`;
    const sep = explode && style === 'label' ? '.' : ',';
    return prefix + (explode ? kv.map(([k, v]) => `${k}=${v}`).join(sep) : kv.flat().join(','));
  }
  const v = enc(serialize(value));
  return style === 'matrix' ? `;${p.name}=${v}` : prefix + v;
}

/** Appends a query value per OpenAPI 3 `style` (`form` + explode when absent; descriptor objects as JSON). */
/**
 * An exploded object's keys become query parameters of their own (`?status=closed&include_deleted=true`): a key that
 * names another query parameter of the operation, or a key another exploded object already gave, would send a value
 * the caller's policy conditions never saw as that parameter. Such a call is refused, nothing sent.
 */
function checkExplodedKeys(
  plan: HttpOperationPlan,
  p: HttpParamPlan,
  value: Record<string, unknown>,
  seen: Set<string>,
) {
  for (const k of Object.keys(value)) {
    const other = plan.params.find((q) => q !== p && q.in === 'query' && q.name === k);
    if (other || seen.has(k))
      throw new UserError(
        'tool.invalid_arguments',
        `Argument "${p.arg}" has the key "${k}", which ${other ? `is the query parameter of argument "${other.arg}"` : 'another argument already sends'}: ` +
          `its keys become query parameters of their own, and two values for "${k}" are refused. Nothing was sent.`,
      );
    seen.add(k);
  }
}

/** Whether a query value is an object sent as exploded `form` keys (`appendQuery`). */
const explodesKeys = (p: HttpParamPlan, value: unknown): value is Record<string, unknown> =>
  isRecord(value) && p.style !== undefined && p.style !== 'deepObject' && (p.explode ?? p.style === 'form');

function appendQuery(query: URLSearchParams, p: HttpParamPlan, value: unknown): void {
  const style = p.style ?? 'form';
  const explode = p.explode ?? style === 'form';
  if (Array.isArray(value)) {
    const items = value.map(serialize);
    if (style === 'spaceDelimited') query.append(p.name, items.join(' '));
    else if (style === 'pipeDelimited') query.append(p.name, items.join('|'));
    else if (explode) for (const v of items) query.append(p.name, v);
    else query.append(p.name, items.join(','));
    return;
  }
  if (isRecord(value) && p.style !== undefined) {
    if (style === 'deepObject') {
      const walk = (prefix: string, v: unknown): void => {
        if (isRecord(v)) for (const [k, inner] of Object.entries(v)) walk(`${prefix}[${k}]`, inner);
        else if (Array.isArray(v)) for (const item of v) query.append(`${prefix}[]`, serialize(item));
        else if (v !== undefined && v !== null) query.append(prefix, serialize(v));
      };
      walk(p.name, value);
    } else if (explode) {
      for (const [k, v] of pairs(value)) query.append(k, v);
    } else {
      query.append(p.name, pairs(value).flat().join(','));
    }
    return;
  }
  query.append(p.name, serialize(value));
}

/** A header value (`simple` style). */
function headerValue(p: HttpParamPlan, value: unknown): string {
  if (Array.isArray(value)) return value.map(serialize).join(',');
  if (isRecord(value) && p.style !== undefined)
    return pairs(value)
      .map(([k, v]) => (p.explode ? `${k}=${v}` : `${k},${v}`))
      .join(',');
  return serialize(value);
}

function encodeForm(body: unknown): string {
  const form = new URLSearchParams();
  if (!isRecord(body)) return serialize(body);
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) form.append(k, serialize(item));
    else form.append(k, serialize(v));
  }
  return form.toString();
}

/** multipart/form-data: a text part per field (repeated for arrays), objects as `application/json` parts. */
function encodeMultipart(body: unknown): { boundary: string; text: string } {
  const boundary = `toolplane-${crypto.randomUUID()}`;
  const parts: string[] = [];
  const part = (name: string, value: unknown): void => {
    const json = typeof value === 'object';
    parts.push(
      `--${boundary}\r\nContent-Disposition: form-data; name="${name.replace(/["\r\n]/g, '_')}"\r\n${json ? 'Content-Type: application/json\r\n' : ''}\r\n${serialize(value)}\r\n`,
    );
  };
  if (isRecord(body)) {
    for (const [k, v] of Object.entries(body)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) part(k, item);
      else part(k, v);
    }
  } else {
    part('body', body);
  }
  return { boundary, text: `${parts.join('')}--${boundary}--\r\n` };
}

/**
 * Builds the upstream request from a plan, the tool arguments (already validated against the tool's
 * input schema) and the resolved credential values.
 */
export function buildRequest(
  plan: HttpOperationPlan,
  args: Record<string, unknown>,
  credentials: Record<string, string | undefined>,
): UpstreamRequest {
  const compiled = compiledPlan(plan);
  let url = plan.url;
  // No query parameter and no credential in the query: no query string to build.
  const query = compiled.query ? new URLSearchParams() : undefined;
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  let body: unknown;
  let exploded: Set<string> | undefined;
  for (const p of plan.params) {
    const value = args[p.arg] !== undefined ? args[p.arg] : p.default;
    if (value === undefined || value === null) continue;
    switch (p.in) {
      case 'path':
        url = url.split(`{${p.name}}`).join(pathValue(p, value));
        break;
      case 'query':
        if (explodesKeys(p, value)) checkExplodedKeys(plan, p, value, (exploded ??= new Set()));
        appendQuery(query!, p, value);
        break;
      case 'header':
        headers[p.name.toLowerCase()] = headerValue(p, value);
        break;
      case 'cookie':
        cookies.push(
          `${p.name}=${encodeURIComponent(Array.isArray(value) ? value.map(serialize).join(',') : serialize(value))}`,
        );
        break;
      case 'body':
        if (p.wholeBody) body = value;
        else ((body ??= {}) as Record<string, unknown>)[p.name] = value;
        break;
    }
  }
  for (const [name, template] of compiled.authQuery) query!.set(name, fillTemplate(template, credentials));
  for (const [name, template] of compiled.authCookies)
    cookies.push(`${name}=${encodeURIComponent(fillTemplate(template, credentials))}`);
  // URLSearchParams writes spaces as `+`; RFC 3986 (and OpenAPI's examples) use %20 (a literal `+` is already %2B).
  const qs = query ? query.toString().replace(/\+/g, '%20') : '';
  if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  if (cookies.length > 0) headers.cookie = cookies.join('; ');
  for (const [name, template] of compiled.authHeaders) headers[name] = fillTemplate(template, credentials);
  headers.accept ??= 'application/json';
  const req: UpstreamRequest = { method: plan.method, url, headers };
  if (body !== undefined) {
    switch (plan.bodyEncoding ?? 'json') {
      case 'json':
        req.body = JSON.stringify(body);
        headers['content-type'] = 'application/json';
        break;
      case 'form':
        req.body = encodeForm(body);
        headers['content-type'] = 'application/x-www-form-urlencoded';
        break;
      case 'multipart': {
        const { boundary, text } = encodeMultipart(body);
        req.body = text;
        headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
        break;
      }
    }
  }
  return req;
}

export type UpstreamOutcome =
  | { kind: 'response'; status: number; contentType: string; body: Uint8Array; headers?: Record<string, string> }
  | { kind: 'timeout' }
  | { kind: 'too_large' }
  /** `message`: a sentence for the caller when there is more to say than the code (a refusal by the outbound guard). */
  | { kind: 'unreachable'; code: string; message?: string }
  | { kind: 'cancelled' };

/** What an upstream request's span may show: the URL template, and the URL with secret values redacted. */
export interface RequestDescription {
  urlTemplate: string;
  url: string;
}

/**
 * Sends one upstream request. While tracing is on it is an HTTP CLIENT span whose W3C trace context
 * (`traceparent`) is sent to the upstream; `description` gives the span its URL (never `req.url`,
 * which can hold secret values). Without it the span shows the method and host only.
 */
export async function sendRequest(
  req: UpstreamRequest,
  limits: HttpLimits,
  cancel?: AbortSignal,
  description?: RequestDescription,
): Promise<UpstreamOutcome> {
  if (!tracingEnabled() && !metricsEnabled()) return send(req, limits, cancel);
  return observeRequest(req, limits, cancel, description);
}

/** The path part of a URL template (`https://api.example.com/v1/items/{id}` → `/v1/items/{id}`). */
function pathTemplate(urlTemplate: string): string {
  return urlTemplate.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
}

async function observeRequest(
  req: UpstreamRequest,
  limits: HttpLimits,
  cancel: AbortSignal | undefined,
  description: RequestDescription | undefined,
): Promise<UpstreamOutcome> {
  const target = new URL(req.url);
  const template = description ? pathTemplate(description.urlTemplate) : undefined;
  const started = performance.now();
  let status: number | undefined;
  let errorType: string | undefined;
  try {
    return await withSpan(
      template ? `${req.method} ${template}` : req.method,
      {
        [attr.httpRequestMethod]: req.method,
        [attr.serverAddress]: target.hostname,
        [attr.serverPort]: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
        ...(description ? { [attr.urlFull]: description.url, [attr.urlTemplate]: template } : {}),
      },
      async (span) => {
        // The upstream continues this trace (W3C `traceparent` of this span).
        const headers: Record<string, string> = { ...req.headers };
        injectContext(headers);
        const outcome = await send({ ...req, headers }, limits, cancel);
        if (outcome.kind === 'response') {
          status = outcome.status;
          span.setAttribute(attr.httpResponseStatusCode, status);
          if (status >= 400) errorType = String(status);
        } else {
          errorType = outcome.kind;
        }
        if (errorType !== undefined) {
          span.setAttribute(attr.errorType, errorType);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        return outcome;
      },
      { kind: SpanKind.CLIENT },
    );
  } finally {
    recordHttpClient(req.method, target.hostname, status, performance.now() - started, errorType);
  }
}

/** Statuses whose `Location` is followed (at most HTTP_MAX_REDIRECTS times); 303 turns the request into a GET. */
const redirectStatuses = new Set([300, 301, 302, 303, 307, 308]);
/** Error codes of a request that ran out of time (connecting, waiting for the headers, reading the body). */
const timeoutCodes = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** The upstream's answer read up to `maxBytes` (decompressed), with its headers for workflows. */
async function responseOutcome(res: Dispatcher.ResponseData, maxBytes: number): Promise<UpstreamOutcome> {
  if (Number(res.headers['content-length'] ?? 0) > maxBytes) {
    res.body.destroy();
    return { kind: 'too_large' };
  }
  const received = await readBody(res.body, maxBytes);
  if (!received) return { kind: 'too_large' };
  // Response headers (lower-case, repeated ones joined) for workflows: `$response.header.*`, Retry-After. A loop over
  // the keys: no [key, value] array per header per call.
  const responseHeaders: Record<string, string> = {};
  for (const k in res.headers) {
    if (!Object.hasOwn(res.headers, k)) continue;
    const v = res.headers[k];
    responseHeaders[k] = Array.isArray(v) ? v.join(', ') : String(v ?? '');
  }
  return {
    kind: 'response',
    status: res.statusCode,
    contentType: responseHeaders['content-type'] ?? '',
    body: received,
    headers: responseHeaders,
  };
}

/** A request that failed neither by the caller's cancel nor by the timeout: refused by the guard, unreachable, or thrown. */
function failureOutcome(err: unknown): UpstreamOutcome {
  const refusal = outboundRefusal(err);
  if (refusal)
    return { kind: 'unreachable', code: refusal.code, message: `The upstream request was ${refusal.message}.` };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') throw err;
  if (timeoutCodes.has(code)) return { kind: 'timeout' };
  return { kind: 'unreachable', code };
}

async function send(req: UpstreamRequest, limits: HttpLimits, cancel?: AbortSignal): Promise<UpstreamOutcome> {
  if (cancel?.aborted) return { kind: 'cancelled' };
  const controller = new AbortController();
  const onCancel = () => controller.abort();
  cancel?.addEventListener('abort', onCancel, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, limits.timeoutMs);
  try {
    const { maxRedirects } = outboundSettings();
    // The outbound guard (outbound-guard.ts): literal addresses now, resolved ones at connect time, redirects each hop.
    let url = checkUrlSync(req.url);
    const origin = url.origin;
    let method = req.method;
    let body = req.body;
    let headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br', ...req.headers };
    for (let redirects = 0; ; redirects++) {
      const res = await upstreamClient().request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal: controller.signal,
        headersTimeout: limits.timeoutMs,
        bodyTimeout: limits.timeoutMs,
      });
      const location = res.headers.location;
      if (maxRedirects > 0 && redirectStatuses.has(res.statusCode) && typeof location === 'string') {
        await res.body.dump();
        if (redirects >= maxRedirects) return tooManyRedirects(maxRedirects);
        const target = checkUrlSync(new URL(location, url));
        headers = redirectHeaders(headers, origin, target);
        if (res.statusCode === 303 && method !== 'HEAD') {
          method = 'GET';
          body = undefined;
          headers = Object.fromEntries(
            Object.entries(headers).filter(([k]) => k !== 'content-type' && k !== 'content-length'),
          );
        }
        url = target;
        continue;
      }
      return await responseOutcome(res, limits.maxResponseBytes);
    }
  } catch (err) {
    if (cancel?.aborted) return { kind: 'cancelled' };
    if (timedOut) return { kind: 'timeout' };
    return failureOutcome(err);
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', onCancel);
  }
}

/**
 * A response body read whole, up to `maxBytes` (decompressed): undefined, the stream destroyed, past that. Read with
 * `data` events rather than an async iterator (the iterator, its end-of-stream watcher and a promise per chunk cost the
 * worker about 3 µs per call, docs/benchmarks.md). A stream error (an abort: the caller's cancel, the timeout) rejects, and so
 * does a stream that closes, or was destroyed already, before its end (`ERR_STREAM_PREMATURE_CLOSE`, as the iterator).
 */
export function readBody(body: Readable, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // Built only for a stream that did end early: an Error's stack costs about 10 µs (the profile of this cut).
    const premature = () => {
      if (!settled)
        reject(body.errored ?? Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    // First: an error a destroyed stream has yet to emit must find a listener.
    body.on('error', reject);
    if (body.destroyed) return premature();
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else {
        settled = true;
        resolve(undefined);
        body.destroy();
      }
    });
    body.on('end', () => {
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    body.on('close', premature);
  });
}

function tooManyRedirects(maxRedirects: number): UpstreamOutcome {
  return {
    kind: 'unreachable',
    code: 'ERR_TOO_MANY_REDIRECTS',
    message: `The upstream API redirected more than ${maxRedirects} times; the request was stopped.`,
  };
}

const errorBodyPreview = 2048;
const utf8 = new TextDecoder();

/** Maps the upstream outcome to MCP tool result content. Non-2xx responses are tool errors the model can read. */
export function toToolResult(
  outcome: UpstreamOutcome,
  limits: HttpLimits,
  output?: HttpOperationPlan['output'],
): ToolResultPayload {
  switch (outcome.kind) {
    case 'timeout':
      return errorResult(`The upstream API did not answer within ${limits.timeoutMs} ms.`);
    case 'too_large':
      return errorResult(`The upstream response exceeded the ${limits.maxResponseBytes}-byte limit and was discarded.`);
    case 'unreachable':
      return errorResult(outcome.message ?? `The upstream API could not be reached (${outcome.code}).`);
    case 'cancelled':
      return errorResult('The call was cancelled by its caller.');
    case 'response': {
      const text = utf8.decode(outcome.body);
      const ok = outcome.status >= 200 && outcome.status < 300;
      if (!ok) {
        const preview = text.length > errorBodyPreview ? `${text.slice(0, errorBodyPreview)}…` : text;
        return errorResult(`The upstream API answered HTTP ${outcome.status}.${preview ? ` Body: ${preview}` : ''}`);
      }
      let parsed: unknown;
      if (/json/i.test(outcome.contentType) || /^\s*[[{]/.test(text)) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      const result: ToolResultPayload = { content: [{ type: 'text', text: text || `HTTP ${outcome.status}` }] };
      if (output?.wrap !== undefined) {
        // The tool declares an output schema whose root wraps a non-object answer.
        if (parsed !== undefined || text.trim() === '') result.structuredContent = { [output.wrap]: parsed ?? null };
      } else if (isRecord(parsed)) {
        result.structuredContent = parsed;
      }
      if (output && result.structuredContent === undefined) {
        // The tool promised structured content (its outputSchema) and the answer cannot give it.
        const preview = text.length > errorBodyPreview ? `${text.slice(0, errorBodyPreview)}…` : text;
        return errorResult(
          `The upstream API answered HTTP ${outcome.status} with a body that is not the JSON ${output.wrap ? 'value' : 'object'} its API description promises.${preview ? ` Body: ${preview}` : ''}`,
        );
      }
      return result;
    }
  }
}

export function errorResult(message: string): ToolResultPayload {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** A workflow step's upstream exchange that got no response, as the engine's transport error (its kind and why). */
export function transportFailure(outcome: Exclude<UpstreamOutcome, { kind: 'response' }>, limits: HttpLimits): never {
  switch (outcome.kind) {
    case 'timeout':
      throw new HttpTransportError('timeout', `no answer within ${limits.timeoutMs} ms`);
    case 'too_large':
      throw new HttpTransportError('too_large', `the response exceeded ${limits.maxResponseBytes} bytes`);
    case 'cancelled':
      throw new HttpTransportError('cancelled', 'the call was cancelled by its caller');
    case 'unreachable':
      throw new HttpTransportError(
        /blocked|forbidden|not allowed/i.test(outcome.code) ? 'blocked' : 'unreachable',
        `the upstream could not be reached (${outcome.code})`,
      );
  }
}
