import type { GuardrailFinding } from '@toolplane/contracts';
import { QuotaReplay } from '@toolplane/queue';
import { judgeCall, type Judge, type RecordedCall, type Verdict } from './judge.ts';
import type { Rules } from './rules.ts';
import { SessionReplay } from './session.ts';
import { Counts, Tally, type CallValues } from './tally.ts';

/**
 * The replay (ADR 0080): the period's records read in pages in time order (keyset: `started_at`, then id), each call
 * judged by the current rules and by the proposed ones (each with its own quota counters), and the differences
 * tallied. Memory is bounded by a page and the tallies; the read stops at the call limit, or when `signal` aborts (the
 * client went away). The service runs it on a thread of its own at the lowest CPU priority (replay-thread.ts).
 */

/**
 * Records read per page. One page in flight, the next asked for once this one is judged: PostgreSQL works for the
 * replay only as fast as its (niced) thread judges, in short reads (ADR 0080, addendum).
 */
export const PAGE = 500;

/** One record of the period, its call ready to judge (undefined `call`: its tool is in no catalog: not replayed). */
export interface ReplayedRecord {
  readonly id: string;
  readonly at: Date;
  readonly values: CallValues;
  readonly call: RecordedCall | undefined;
}

/** Where the records come from: a page after a position (PostgreSQL in the service, a list in unit tests). */
export interface RecordSource {
  page(after: { at: Date; id: string } | undefined, limit: number): Promise<ReplayedRecord[]>;
}

const changeKinds = [
  'newlyRefused',
  'newlyHeld',
  'newlyAllowed',
  'newlyAskedToConfirm',
  'chargedDifferently',
  'newFindings',
  'unjudged',
] as const;
type ChangeKind = (typeof changeKinds)[number];

export interface ReplayOutcome {
  replayed: number;
  skipped: number;
  withoutArguments: number;
  truncated: boolean;
  cancelled: boolean;
  /**
   * A change through arguments was counted: the two sides' quota counters and sessions may differ from then on by what
   * arguments said, so a later change that reached those stages counts as through arguments too (ADR 0091).
   */
  diverged: boolean;
  changes: Record<ChangeKind, Tally>;
  reasons: Counts<{ change: string; code: string; rule: string | null }>;
  findings: Counts<{ guardrail: string; detector: string; action: string }>;
}

const judgeOf = (rules: Rules): Judge => ({
  rules,
  quotas: new QuotaReplay(),
  guardrails: new Map(),
  sessions: new SessionReplay(rules.access.session),
});
const findingKey = (f: GuardrailFinding) => `${f.guardrail}\n${f.detector}\n${f.path}\n${f.action}`;

/** The kinds of change from the current rules' verdict to the proposed rules' on one call (several at once: a new finding on a newly refused call). */
function changesOf(cur: Verdict, prop: Verdict): ChangeKind[] {
  const out: ChangeKind[] = [];
  if (prop.outcome === 'refused' && cur.outcome !== 'refused') out.push('newlyRefused');
  else if (prop.outcome === 'held' && cur.outcome === 'allowed') out.push('newlyHeld');
  else if (prop.outcome === 'allowed' && cur.outcome !== 'allowed') out.push('newlyAllowed');
  else if (cur.outcome === 'allowed' && prop.outcome === 'allowed' && cur.charged !== prop.charged)
    out.push('chargedDifferently');
  if (prop.confirm && !cur.confirm) out.push('newlyAskedToConfirm');
  const had = new Set(cur.findings.map(findingKey));
  if (prop.findings.some((f) => !had.has(findingKey(f)))) out.push('newFindings');
  return out;
}

/** The verdict came from (or passed) the stages that keep state across calls: the session rules and the quotas. */
const reachedState = (v: Verdict) =>
  v.outcome !== 'refused' || v.code === 'session.refused' || v.code === 'quota.exceeded';

/**
 * Whether a change depends on the recorded arguments (ADR 0091): a rule that reads them decided either side's outcome
 * (a guardrail's block, a condition's refusal or hold), the guardrails on arguments found something else, or the
 * change came from the session rules or the quotas after an earlier change through arguments. A condition that held
 * on both sides while a quota or an access grant made the change decided nothing: another value would have changed
 * nothing, so the call may be named.
 */
function throughArguments(o: ReplayOutcome, verdicts: { cur: Verdict; prop: Verdict }, changes: string[]): boolean {
  const { cur, prop } = verdicts;
  if (cur.byArguments || prop.byArguments || changes.includes('newFindings')) return true;
  return o.diverged && (reachedState(cur) || reachedState(prop));
}

function tallyCall(o: ReplayOutcome, r: ReplayedRecord, verdicts: { cur: Verdict; prop: Verdict }): void {
  const { cur, prop } = verdicts;
  const changes = changesOf(cur, prop);
  if (changes.length === 0) return;
  // A record that kept no arguments, judged differently by rules that read them: not known, counted apart.
  if (r.call!.args === undefined && (cur.readArguments || prop.readArguments)) {
    o.changes.unjudged.add(r.id, r.values);
    return;
  }
  const hidden = throughArguments(o, verdicts, changes);
  if (hidden) o.diverged = true;
  for (const change of changes) {
    o.changes[change].add(r.id, r.values, hidden);
    if (change === 'newlyRefused' || change === 'newlyHeld')
      o.reasons.add({ change, code: prop.code ?? '', rule: prop.rule ?? null }, hidden);
    if (change === 'newFindings') {
      const had = new Set(cur.findings.map(findingKey));
      for (const f of prop.findings.filter((x) => !had.has(findingKey(x))))
        o.findings.add({ guardrail: f.guardrail, detector: f.detector, action: f.action }, hidden);
    }
  }
}

/** Nothing replayed yet. */
export function emptyOutcome(): ReplayOutcome {
  return {
    replayed: 0,
    skipped: 0,
    withoutArguments: 0,
    truncated: false,
    cancelled: false,
    diverged: false,
    changes: Object.fromEntries(changeKinds.map((k) => [k, new Tally()])) as Record<ChangeKind, Tally>,
    reasons: new Counts(),
    findings: new Counts(),
  };
}

/** An outcome in the answer's form (plain data: what the replay's thread posts back). */
export function summarize(o: ReplayOutcome) {
  return {
    replayed: o.replayed,
    skipped: o.skipped,
    withoutArguments: o.withoutArguments,
    truncated: o.truncated,
    cancelled: o.cancelled,
    changes: Object.fromEntries(Object.entries(o.changes).map(([k, t]) => [k, t.toJSON()])) as Record<
      ChangeKind,
      ReturnType<Tally['toJSON']>
    >,
    reasons: o.reasons.toJSON(),
    findings: o.findings.toJSON(),
  };
}
export type ReplaySummary = ReturnType<typeof summarize>;

/**
 * Replays at most `maxCalls` records of `source` through both sets of rules; `onPage` hears the count after each page
 * (the log of a cancelled replay says how far it got).
 */
export async function replay(
  source: RecordSource,
  rules: { current: Rules; proposed: Rules },
  opts: { maxCalls: number; signal?: AbortSignal | undefined; onPage?: (replayed: number) => void },
): Promise<ReplayOutcome> {
  const o = emptyOutcome();
  const current = judgeOf(rules.current);
  const proposed = judgeOf(rules.proposed);
  let after: { at: Date; id: string } | undefined;
  for (;;) {
    if (opts.signal?.aborted) return { ...o, cancelled: true };
    const left = opts.maxCalls - o.replayed - o.skipped;
    const page = await source.page(after, Math.min(PAGE, left + 1));
    for (const r of page) {
      if (o.replayed + o.skipped >= opts.maxCalls) return { ...o, truncated: true };
      after = { at: r.at, id: r.id };
      if (!r.call) {
        o.skipped++;
        continue;
      }
      o.replayed++;
      if (r.call.args === undefined) o.withoutArguments++;
      tallyCall(o, r, { cur: judgeCall(current, r.call), prop: judgeCall(proposed, r.call) });
    }
    opts.onPage?.(o.replayed);
    if (page.length < Math.min(PAGE, left + 1)) return o;
  }
}
