import {
  findingLabel,
  type ExecutionRecord,
  type GuardrailFinding,
  type SessionOfJob,
  type ToolInvokeJob,
} from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import { addToSession, executionRecordId, readSession, type SessionEntry, type SessionView } from '@toolplane/queue';
import type { RedisClient } from '@toolplane/redis';

/**
 * What a result brings into its caller's session (ADR 0078, docs/governance.md "Rules that see the session"): the
 * labels the job declares (`rules.session.labels`: the tool's declaration, an admin's classification) and one per
 * guardrail finding on what left (`findingLabel`: personal data and secrets are `private`, an injection phrase
 * `untrusted`; enforced or log-only: the content reached the caller either way), written to every scope of the
 * session before the result leaves the worker, so the caller's next call, on any edge, is judged with them. A
 * withheld result brings nothing of its content; a call no upstream answered brings nothing at all.
 */

/** The sessions' labels in Redis, as the worker writes and reads them (the main Redis, where quotas live). */
export interface SessionStore {
  add(workspaceId: string, session: SessionOfJob, entry: SessionEntry): Promise<void>;
  read(workspaceId: string, scopes: readonly string[]): Promise<SessionView>;
}

export function redisSessionStore(redis: RedisClient, prefix: string): SessionStore {
  return {
    add: (workspaceId, session, entry) => addToSession(redis, { prefix, workspaceId, session }, entry),
    read: (workspaceId, scopes) => readSession(redis, { prefix, workspaceId, scopes }),
  };
}

/**
 * The session could not be told what a result brought: nothing of the result leaves (the caller's next call would be
 * judged without it), the caller may retry. Its execution record is already written (`failed`, saying why).
 */
export class SessionNotUpdated extends TransientError {
  constructor(cause: unknown) {
    super(
      'state.unavailable',
      'The session could not be updated; nothing about this result was returned; retry.',
      {},
      { cause },
    );
  }
}

/** Why the record of such a call failed. */
export const SESSION_NOT_UPDATED =
  "the caller's session could not be updated with what the result brought (Redis unavailable): " +
  'the result was not returned';

/** The labels a result brings: the job's declared ones (none of a withheld result) and its findings'. */
function broughtLabels(
  session: SessionOfJob,
  findings: readonly GuardrailFinding[],
  withheld: boolean,
): SessionEntry['labels'] {
  const labels: SessionEntry['labels'][number][] = withheld ? [] : [...(session.labels ?? [])];
  for (const f of findings) {
    const label = findingLabel(f.detector);
    if (label) labels.push({ label, source: 'guardrail', detector: f.detector });
  }
  return labels;
}

/** What the worker's writes need of the call: its job, whether an upstream answered, the clock. */
interface SessionCall {
  job: ToolInvokeJob;
  /** An upstream answered the call (a step of its record has a response). */
  answered: () => boolean;
  now: () => number;
}

/**
 * The result chain's session write for a job with `rules.session`: what the result brings (`found`: the findings on
 * what left), written before it leaves; nothing to write (no label, calls not counted): no command. Rejects when the
 * store cannot be written (or is missing).
 */
export function sessionWriter(
  sessions: SessionStore | undefined,
  call: SessionCall,
): (found: readonly GuardrailFinding[], withheld: boolean) => Promise<RecordLabels | undefined> {
  return async (found, withheld) => {
    const { job } = call;
    const session = job.rules!.session!;
    if (!call.answered()) return undefined;
    const labels = broughtLabels(session, found, withheld);
    const countCall = session.countCalls === true;
    if (labels.length === 0 && !countCall) return undefined;
    if (!sessions) throw new Error('no session store');
    await sessions.add(job.principal.workspaceId, session, {
      tool: job.tool,
      serverId: job.serverId,
      invocationId: executionRecordId(job.invocationId),
      at: call.now(),
      labels,
      countCall,
    });
    return labels.length > 0 ? recordLabels(labels) : undefined;
  };
}

/** What a call's execution record lists of the labels its result brought (ADR 0078). */
export type RecordLabels = NonNullable<ExecutionRecord['labels']>;

/** The labels as the record lists them: each label, source and detector once. */
export function recordLabels(labels: SessionEntry['labels']): RecordLabels {
  const seen = new Set<string>();
  const listed: RecordLabels = [];
  for (const l of labels) {
    const key = `${l.label}/${l.source}/${l.detector ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    listed.push({ label: l.label, source: l.source, ...(l.detector !== undefined ? { detector: l.detector } : {}) });
  }
  return listed;
}
