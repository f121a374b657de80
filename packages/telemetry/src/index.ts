export * from './attributes.ts';
export { emitLogRecord } from './logs.ts';
export * from './metrics.ts';
export * from './start.ts';
export {
  annotateActiveSpan,
  bindActiveContext,
  contextFromIds,
  contextWith,
  currentTraceIds,
  endSpan,
  extractContext,
  injectContext,
  logMixin,
  noopSpan,
  runInSpan,
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceLogFields,
  traceparentOf,
  tracingEnabled,
  withSpan,
} from './tracing.ts';
export type { Span } from './tracing.ts';
