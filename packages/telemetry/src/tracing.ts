import {
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { attr } from './attributes.ts';

export { SpanKind, SpanStatusCode };
export type { Attributes, Context, Span };

/**
 * The tracer, set by `startTelemetry` when traces are exported. Undefined means tracing is off: every
 * helper below then returns at once, without creating spans, contexts or attribute objects.
 */
let tracer: Tracer | undefined;

/** @internal Used by `startTelemetry` only. */
export function setTracer(t: Tracer | undefined): void {
  tracer = t;
}

/** True when spans are recorded and exported (OTEL_EXPORTER_OTLP_ENDPOINT set). Cheap: check it on hot paths. */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

/** A span that records nothing: what helpers hand out while tracing is off. */
export const noopSpan: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

const w3c = new W3CTraceContextPropagator();
/** Plain objects carrying W3C trace context (HTTP headers, queue job payloads, MCP `_meta`). */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}
const carrierGetter = {
  keys: (c: TraceCarrier) => Object.keys(c),
  get: (c: TraceCarrier, key: string) =>
    key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined,
};
const carrierSetter = {
  set: (c: Record<string, unknown>, key: string, value: string) => {
    c[key] = value;
  },
};

/** The context a `traceparent` (and optional `tracestate`) continues; the root context when absent or malformed. */
export function extractContext(carrier: TraceCarrier | undefined): Context {
  if (!carrier?.traceparent) return ROOT_CONTEXT;
  return w3c.extract(ROOT_CONTEXT, carrier, carrierGetter);
}

/**
 * Writes `traceparent` (and `tracestate`) of `ctx` (default: the active context) into `carrier`.
 * Does nothing while tracing is off or without a valid span.
 */
export function injectContext(carrier: Record<string, unknown>, ctx?: Context): void {
  if (!tracer) return;
  w3c.inject(ctx ?? context.active(), carrier, carrierSetter);
}

/** The `traceparent` header value of a span (or of the active span). */
export function traceparentOf(span?: Span): string | undefined {
  if (!tracer) return undefined;
  const sc = (span ?? trace.getActiveSpan())?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/** Trace and span id of the active span when it is sampled (exported): what execution records keep. */
export function currentTraceIds(): { traceId: string; spanId: string } | undefined {
  if (!tracer) return undefined;
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc) || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return { traceId: sc.traceId, spanId: sc.spanId };
}

/** A context whose parent is the (remote) span with these ids, e.g. from an execution record. */
export function contextFromIds(traceId: string, spanId: string): Context {
  const sc = { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
}

/** `trace_id` / `span_id` of the active span, for log lines (a pino `mixin`). */
export function traceLogFields(): Record<string, string> {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/** The pino `mixin` to give loggers: undefined (no per-line cost) while tracing is off. */
export function logMixin(): (() => Record<string, string>) | undefined {
  return tracer ? traceLogFields : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Parent context; default: the active one. Use `extractContext` to continue a remote trace. */
  parent?: Context;
  links?: Link[];
  /** `error.type` for a thrown error when its `code`/`name` is not the right one (e.g. a JSON-RPC code). */
  errorType?: (err: unknown) => string | undefined;
}

/**
 * Starts a span without making it active (end it with `endSpan`). Returns `noopSpan` while tracing is off.
 */
export function startSpan(name: string, attributes: Attributes | undefined, options?: SpanOptions): Span {
  if (!tracer) return noopSpan;
  const parent = options?.parent ?? context.active();
  return tracer.startSpan(
    name,
    {
      kind: options?.kind ?? SpanKind.INTERNAL,
      ...(attributes ? { attributes } : {}),
      ...(options?.links ? { links: options.links } : {}),
    },
    parent,
  );
}

/** Ends a span, marking it failed when `error` is given (see `markError`). */
export function endSpan(span: Span, error?: unknown): void {
  if (span === noopSpan) return;
  if (error !== undefined) markError(span, error);
  span.end();
}

/**
 * Marks a span failed: `error.type` is the error's code (or class name) and the status is ERROR,
 * except for user errors (the caller's fault: a 4xx, not our failure). The error message is NOT
 * copied into the span: messages can quote URLs or upstream text, and spans never hold secrets.
 */
function markError(span: Span, error: unknown, errorType?: string): void {
  const e = error as { code?: unknown; kind?: unknown; name?: unknown } | null | undefined;
  const type = errorType ?? (typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error');
  span.setAttribute(attr.errorType, type);
  if (e?.kind !== 'user') span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Adds attributes to the active span, if there is one (nothing while tracing is off). Never a secret value. */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!tracer) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** A context whose active span is `span` (a parent for `startSpan`). */
export function contextWith(span: Span): Context {
  return trace.setSpan(context.active(), span);
}

/**
 * `fn` bound to the active context: called later from a callback that has lost it (a worker thread's message, an
 * event), its spans are still children of the span active now. `fn` itself while tracing is off.
 */
export function bindActiveContext<F extends (...args: never[]) => unknown>(fn: F): F {
  if (!tracer) return fn;
  return context.bind(context.active(), fn);
}

/**
 * Runs `fn` with `span` active (spans started inside become its children, `injectContext` sends its
 * context). For spans started with `startSpan` whose work happens in a callback. Plain call while off.
 */
export function runInSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  if (!tracer || span === noopSpan) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * Runs `fn` inside a new active span (children and log lines see it), ends the span when `fn`
 * settles and marks it failed if `fn` throws. While tracing is off it only calls `fn(noopSpan)`.
 *
 * Use it for units of work worth seeing in a trace: a workflow's flow, each step, each action.
 * Attributes must never hold secret values (use URL templates or redacted URLs).
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes | undefined,
  fn: (span: Span) => Promise<T>,
  options?: SpanOptions,
): Promise<T> {
  if (!tracer) return fn(noopSpan);
  const parent = options?.parent ?? context.active();
  const span = startSpan(name, attributes, options);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      markError(span, err, options?.errorType?.(err));
      throw err;
    } finally {
      span.end();
    }
  });
}
