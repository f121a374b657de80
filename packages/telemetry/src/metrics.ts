import type { Counter, Gauge, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';

/**
 * Toolplane's metrics. Instruments exist only once `startTelemetry` enabled metrics; until then
 * every `record*` function returns at once (no attribute objects built, nothing allocated).
 *
 * Names follow OpenTelemetry conventions; the Prometheus exporter turns dots into underscores and
 * adds `_total` to counters (`toolplane.tool_calls` → `toolplane_tool_calls_total`).
 */
interface Instruments {
  meter: Meter;
  toolCalls: Counter;
  toolCallDuration: Histogram;
  mcpOperationDuration: Histogram;
  httpClientDuration: Histogram;
  queueWait: Histogram;
  rateLimited: Counter;
  denied: Counter;
  recordsStored: Counter;
  queueDepth: ObservableGauge;
  quotaCharged: Counter;
  quotaRefused: Counter;
  shadowDecisions: Counter;
  quotaUse: Gauge;
  approvalNotifications: Counter;
  resultBytesShaped: Counter;
  auditExportLag: ObservableGauge;
  webhooksPending: ObservableGauge;
  approvalsPending: ObservableGauge;
  approvalsOldestPending: ObservableGauge;
  databaseUp: ObservableGauge;
  certificateExpiry: ObservableGauge;
}

let instruments: Instruments | undefined;

/** Seconds; from 1 ms to 1 min. */
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The gauges observed at each scrape (the day-two alerts read them): name, description and unit. */
const gaugesAtScrape = {
  auditExportLag: [
    'toolplane.audit_export.lag',
    'Seconds since the oldest audit event an enabled exporter has not had acknowledged (0: caught up).',
    's',
  ],
  webhooksPending: [
    'toolplane.events.webhooks.pending',
    'Event subscriptions by webhook with a delivery waiting to be taken by their callback.',
  ],
  approvalsPending: [
    'toolplane.approvals.pending',
    'Approval requests waiting for a decision (pending, not expired), over every workspace.',
  ],
  approvalsOldestPending: [
    'toolplane.approvals.oldest_pending',
    'Seconds the oldest approval request waiting for a decision has waited (0: none waits).',
    's',
  ],
  databaseUp: [
    'toolplane.database.up',
    "Whether the control plane's PostgreSQL answered `SELECT 1` within 2 s at this scrape (1) or not (0).",
  ],
  certificateExpiry: [
    'toolplane.certificate.expiry',
    'Seconds until a certificate Toolplane checks signatures with expires (negative: expired).',
    's',
  ],
} as const satisfies Record<string, readonly [name: string, description: string, unit?: string]>;

function scrapeGauges(meter: Meter): Record<keyof typeof gaugesAtScrape, ObservableGauge> {
  const entries = Object.entries(gaugesAtScrape).map(([key, [name, description, unit]]) => [
    key,
    meter.createObservableGauge(name, { description, ...(unit ? { unit } : {}) }),
  ]);
  return Object.fromEntries(entries) as Record<keyof typeof gaugesAtScrape, ObservableGauge>;
}

/** @internal Used by `startTelemetry` only. */
export function setMeter(meter: Meter | undefined): void {
  if (!meter) {
    instruments = undefined;
    return;
  }
  const seconds = { unit: 's', advice: { explicitBucketBoundaries: durationBuckets } };
  instruments = {
    meter,
    toolCalls: meter.createCounter('toolplane.tool_calls', {
      description: 'Tool calls by server, tool and outcome (success, tool_error, rejected, failed).',
    }),
    toolCallDuration: meter.createHistogram('toolplane.tool_call.duration', {
      ...seconds,
      description:
        'Time a tool call took in the worker (or on the edge when refused there), by server, tool and outcome.',
    }),
    mcpOperationDuration: meter.createHistogram('mcp.server.operation.duration', {
      ...seconds,
      description: 'MCP request duration on the edge, as the agent sees it (queue and worker included).',
    }),
    httpClientDuration: meter.createHistogram('http.client.request.duration', {
      ...seconds,
      description: 'Upstream HTTP request duration (worker).',
    }),
    queueWait: meter.createHistogram('toolplane.queue.wait.duration', {
      ...seconds,
      description: 'Time jobs waited in the queue before a worker started them.',
    }),
    rateLimited: meter.createCounter('toolplane.rate_limited', {
      description: 'Tool calls refused by a rate limit, by server and tool.',
    }),
    denied: meter.createCounter('toolplane.requests.denied', {
      description: 'MCP requests refused by authentication or authorization on the edge, by reason.',
    }),
    recordsStored: meter.createCounter('toolplane.execution_records.stored', {
      description: 'Execution records written to PostgreSQL by the control plane.',
    }),
    queueDepth: meter.createObservableGauge('toolplane.queue.depth', {
      description: 'Jobs in a queue by state (waiting, active, delayed), sampled at scrape time.',
    }),
    quotaCharged: meter.createCounter('toolplane.quota.charged', {
      description: 'Units charged against a quota (calls, cost units or calls in flight) by the edge, by quota id.',
    }),
    quotaRefused: meter.createCounter('toolplane.quota.refused', {
      description: 'Calls a quota had no room for, by quota id and enforce (false: shadow mode, the call went on).',
    }),
    shadowDecisions: meter.createCounter('toolplane.shadow.decisions', {
      description:
        'Would-be refusals of log-only rules (enforce: false; the call went on), by kind (access, quota), rule id and ' +
        'recorded (false: past the audit events allowed per rule, caller and tool per minute).',
    }),
    quotaUse: meter.createGauge('toolplane.quota.use', {
      description:
        "The highest used/limit of a quota's counters this edge saw in the current window (in flight: the last), " +
        'by quota id; 1 is full, above 1 a shadow quota past its limit.',
    }),
    approvalNotifications: meter.createCounter('toolplane.approval.notifications', {
      description:
        'Webhooks of approval rules told of a new request by the control plane, by format (json, slack) and outcome ' +
        '(delivered, failed: after its retries).',
    }),
    resultBytesShaped: meter.createCounter('toolplane.result.shaped.bytes', {
      description: 'Bytes of tool results before and after their shape (projection, item cap), by tool.',
      unit: 'By',
    }),
    ...scrapeGauges(meter),
  };
}

export function metricsEnabled(): boolean {
  return instruments !== undefined;
}

export type ToolCallOutcome = 'success' | 'tool_error' | 'rejected' | 'failed' | 'unknown';

/** One finished tool call (where its execution record is made). */
export function recordToolCall(server: string, tool: string, outcome: ToolCallOutcome, durationMs: number): void {
  if (!instruments) return;
  const attributes = { server, tool, outcome };
  instruments.toolCalls.add(1, attributes);
  instruments.toolCallDuration.record(durationMs / 1000, attributes);
}

/** One MCP request answered by the edge (`error.type` set when it failed: a JSON-RPC code or `tool_error`). */
export function recordMcpOperation(
  method: string,
  tool: string | undefined,
  durationMs: number,
  errorType?: string,
): void {
  if (!instruments) return;
  instruments.mcpOperationDuration.record(durationMs / 1000, {
    'mcp.method.name': method,
    ...(tool !== undefined ? { 'gen_ai.tool.name': tool } : {}),
    ...(errorType !== undefined ? { 'error.type': errorType } : {}),
  });
}

/** One upstream HTTP request (`status` undefined when no response came: timeout, unreachable…). */
export function recordHttpClient(
  method: string,
  serverAddress: string,
  status: number | undefined,
  durationMs: number,
  errorType?: string,
): void {
  if (!instruments) return;
  instruments.httpClientDuration.record(durationMs / 1000, {
    'http.request.method': method,
    'server.address': serverAddress,
    ...(status !== undefined ? { 'http.response.status_code': status } : {}),
    ...(errorType !== undefined ? { 'error.type': errorType } : {}),
  });
}

export function recordQueueWait(queue: string, waitedMs: number): void {
  if (!instruments) return;
  instruments.queueWait.record(Math.max(0, waitedMs) / 1000, { queue });
}

export function recordRateLimited(server: string, tool: string): void {
  if (!instruments) return;
  instruments.rateLimited.add(1, { server, tool });
}

/** `reason`: a short fixed word such as `unauthenticated`, `forbidden`, `origin`. */
export function recordDenied(reason: string): void {
  if (!instruments) return;
  instruments.denied.add(1, { reason });
}

export function recordExecutionRecordsStored(count: number): void {
  if (!instruments) return;
  instruments.recordsStored.add(count);
}

/**
 * Reports a queue's depth at each scrape: `counts` is asked for the number of jobs per state
 * (e.g. BullMQ's `getJobCounts`). Does nothing (never calls `counts`) while metrics are off.
 */
export function observeQueueDepth(queue: string, counts: () => Promise<Record<string, number>>): void {
  if (!instruments) return;
  instruments.queueDepth.addCallback(async (result) => {
    const byState = await counts();
    for (const [state, n] of Object.entries(byState)) result.observe(n, { queue, state });
  });
}

/**
 * One charge of a quota, its refusal or would-be refusal (shadow), and how full it is. Quota ids only: never a key,
 * person or subject (one series per quota, whatever `per` splits it into).
 */
export function recordQuotaCharged(quota: string, counts: string, amount: number): void {
  if (!instruments) return;
  instruments.quotaCharged.add(amount, { quota, counts });
}

export function recordQuotaRefused(quota: string, enforce: boolean): void {
  if (!instruments) return;
  instruments.quotaRefused.add(1, { quota, enforce });
}

/** One would-be refusal of a log-only rule (`enforce: false`), and whether it became an audit event. Rule ids only. */
export function recordShadowDecision(kind: 'access' | 'quota' | 'session', rule: string, recorded: boolean): void {
  if (!instruments) return;
  instruments.shadowDecisions.add(1, { kind, rule, recorded });
}

export function recordQuotaUse(quota: string, fraction: number): void {
  if (!instruments) return;
  instruments.quotaUse.record(fraction, { quota });
}

/** A result shaped for models (`config.resultShapes`): its JSON's bytes before and after. */
export function recordResultShaped(tool: string, bytesBefore: number, bytesAfter: number): void {
  if (!instruments) return;
  instruments.resultBytesShaped.add(bytesBefore, { tool, stage: 'before' });
  instruments.resultBytesShaped.add(bytesAfter, { tool, stage: 'after' });
}

/** One announcement of an approval request to one webhook, delivered or failed for good. */
export function recordApprovalNotification(format: string, outcome: 'delivered' | 'failed'): void {
  if (!instruments) return;
  instruments.approvalNotifications.add(1, { format, outcome });
}

/**
 * Reports each enabled audit exporter's lag at each scrape (`lags`: seconds per exporter id, ADR 0065). Does nothing
 * (never calls `lags`) while metrics are off.
 */
export function observeAuditExportLag(lags: () => Promise<readonly { exporter: string; seconds: number }[]>): void {
  if (!instruments) return;
  instruments.auditExportLag.addCallback(async (result) => {
    for (const { exporter, seconds } of await lags()) result.observe(seconds, { exporter });
  });
}

/** Reports how many webhook subscriptions wait for their callback to take a delivery, at each scrape. */
export function observeWebhooksPending(count: () => Promise<number>): void {
  if (!instruments) return;
  instruments.webhooksPending.addCallback(async (result) => result.observe(await count()));
}

/** Reports the approval requests waiting for a decision, and how long the oldest has waited, at each scrape. */
export function observeApprovalsPending(read: () => Promise<{ count: number; oldestSeconds: number }>): void {
  if (!instruments) return;
  const { approvalsPending, approvalsOldestPending } = instruments;
  instruments.meter.addBatchObservableCallback(
    async (result) => {
      const { count, oldestSeconds } = await read();
      result.observe(approvalsPending, count);
      result.observe(approvalsOldestPending, oldestSeconds);
    },
    [approvalsPending, approvalsOldestPending],
  );
}

/** Reports whether the database answers (`check` resolves true within its own bound), at each scrape. */
export function observeDatabaseUp(check: () => Promise<boolean>): void {
  if (!instruments) return;
  instruments.databaseUp.addCallback(async (result) => result.observe((await check()) ? 1 : 0));
}

/**
 * Reports the seconds left until each certificate of `certificate` (its name, e.g. `saml_idp`) expires, at each scrape:
 * one series per certificate, `index` its place in the configured list.
 */
export function observeCertificateExpiry(certificate: string, notAfterMs: readonly number[], now = Date.now): void {
  if (!instruments || notAfterMs.length === 0) return;
  instruments.certificateExpiry.addCallback((result) => {
    notAfterMs.forEach((at, index) => result.observe((at - now()) / 1000, { certificate, index }));
  });
}
