import type { ConnectorTestJob, ConnectorTestResult } from '@toolplane/contracts';
import { sendRequest, type HttpLimits } from './http-operation.ts';
import type { SecretResolver } from './secret-resolver.ts';

function fill(template: string, values: Record<string, string | undefined>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, key: string) => values[key] ?? whole);
}

/** Runs a connector's `test_endpoint` with an instance's credentials and reports what it saw. */
export function createConnectorTestHandler(deps: { secrets: SecretResolver; limits: HttpLimits; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async (task: ConnectorTestJob): Promise<ConnectorTestResult> => {
    const started = now();
    const base = { v: 1 as const, taskId: task.taskId, expectedStatus: task.expectedStatus };
    const credentials: Record<string, string | undefined> = {};
    for (const [field, name] of Object.entries(task.secrets)) credentials[field] = await deps.secrets.resolve(name);
    const missing = Object.keys(task.secrets).filter((f) => credentials[f] === undefined);
    if (missing.length > 0)
      return {
        ...base,
        passed: false,
        durationMs: now() - started,
        error: `credentials not found: ${missing.join(', ')}`,
      };
    const headers = Object.fromEntries(
      Object.entries(task.headers).map(([k, v]) => [k.toLowerCase(), fill(v, credentials)]),
    );
    const timeoutMs = Math.max(1, Math.min(deps.limits.timeoutMs, task.deadlineAt - started));
    const outcome = await sendRequest({ method: task.method, url: task.url, headers }, { ...deps.limits, timeoutMs });
    const durationMs = now() - started;
    switch (outcome.kind) {
      case 'response':
        return outcome.status === task.expectedStatus
          ? { ...base, passed: true, status: outcome.status, durationMs }
          : {
              ...base,
              passed: false,
              status: outcome.status,
              durationMs,
              error: `expected HTTP ${task.expectedStatus}, got ${outcome.status}`,
            };
      case 'timeout':
        return { ...base, passed: false, durationMs, error: `no answer within ${timeoutMs} ms` };
      case 'too_large':
        return { ...base, passed: false, durationMs, error: 'the response exceeded the size limit' };
      case 'unreachable':
        return { ...base, passed: false, durationMs, error: `could not connect (${outcome.code})` };
      case 'cancelled':
        return { ...base, passed: false, durationMs, error: 'cancelled' };
    }
  };
}
