import { judgeSession, sessionRulesFor, type SessionMatch } from '@toolplane/access';
import type {
  CatalogTool,
  DataLabel,
  LabelOrigin,
  ResultLabel,
  SessionRule,
  SessionSettings,
} from '@toolplane/contracts';

/**
 * Sessions replayed (ADR 0078, ADR 0080): what each recorded result brought into its caller's session (the record's
 * `labels`), kept per scope as the store keeps it (`@toolplane/queue` session-store: the latest origin of each label;
 * the scope forgotten `ttlSeconds` after its last write), in time order; a call of a tool labelled outbound is judged
 * by `judgeSession` against the union of its scopes' labels, as the edge's session stage judges it.
 */

/** What a recorded result brought into its session (`ExecutionRecord.labels`). */
export type RecordedLabel = { label: ResultLabel; source: LabelOrigin['source']; detector?: string | undefined };

interface Scope {
  readonly labels: Map<ResultLabel, LabelOrigin>;
  expiresAt: number;
}

/** One set of rules' sessions over a replay. */
export class SessionReplay {
  private readonly scopes = new Map<string, Scope>();
  /** Per tool entry: the rules that judge its calls (none for a tool that sends nothing out). */
  private readonly judging = new WeakMap<CatalogTool, readonly SessionRule[]>();

  private readonly settings: SessionSettings | undefined;

  constructor(settings: SessionSettings | undefined) {
    this.settings = settings;
  }

  private live(scope: string, at: number): Scope | undefined {
    const found = this.scopes.get(scope);
    if (found && found.expiresAt <= at) {
      this.scopes.delete(scope);
      return undefined;
    }
    return found;
  }

  /** The session rules on a call of `entry` at `at` in `scopes`: the enforced match, if any (log-only ones count nowhere). */
  judge(entry: CatalogTool, scopes: readonly string[], at: number): SessionMatch | undefined {
    if (!this.settings) return undefined;
    let rules = this.judging.get(entry);
    if (!rules) {
      const labels: DataLabel[] = (entry.labels ?? []).map((l) => l.label);
      this.judging.set(entry, (rules = sessionRulesFor(this.settings.rules, labels)));
    }
    if (rules.length === 0) return undefined;
    const labels = new Map<ResultLabel, LabelOrigin>();
    for (const scope of scopes)
      for (const [label, origin] of this.live(scope, at)?.labels ?? []) {
        const was = labels.get(label);
        if (!was || was.at < origin.at) labels.set(label, origin);
      }
    if (labels.size === 0) return undefined;
    return judgeSession(rules, labels).enforced;
  }

  /** A result's labels written to every scope of its session at `origin.at`; each scope's lifetime renewed. */
  add(
    scopes: readonly string[],
    labels: readonly RecordedLabel[],
    origin: Pick<LabelOrigin, 'tool' | 'serverId' | 'invocationId' | 'at'>,
  ): void {
    if (!this.settings || labels.length === 0) return;
    const expiresAt = origin.at + this.settings.ttlSeconds * 1000;
    for (const name of scopes) {
      let scope = this.live(name, origin.at);
      if (!scope) this.scopes.set(name, (scope = { labels: new Map(), expiresAt }));
      scope.expiresAt = expiresAt;
      for (const l of labels)
        scope.labels.set(l.label, {
          ...origin,
          label: l.label,
          source: l.source,
          ...(l.detector !== undefined ? { detector: l.detector } : {}),
        });
    }
  }
}
