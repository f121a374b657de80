import type { ApiKeyRecord } from '@toolplane/contracts';

/** The credential a long-lived answer was opened with. */
export type StreamCredential =
  /**
   * An API key, by hash: the control plane announces each key change on `apiKeyChanged` with it. `expiresAt`: a
   * narrowed token of the key (ADR 0084), its `exp` in epoch ms: the stream ends then too.
   */
  | { kind: 'key'; keyHash: string; expiresAt?: number | undefined }
  /** An OAuth access token; `expiresAt`: its `exp` in epoch ms (none: the token has no `exp`). */
  | { kind: 'token'; expiresAt?: number | undefined }
  /** The unauthenticated caller of a public server. */
  | { kind: 'anonymous' };

/**
 * Whom a stream acts for besides its credential: a narrowed token's chain (any revoked ends it) and the person it acts
 * for (gone: it ends). Judged when a change of either is announced (`standingChanged`, ADR 0095).
 */
export interface StreamPrincipal {
  workspaceId: string;
  tokenChain?: string[] | undefined;
  username?: string | undefined;
  userId?: string | undefined;
}

export interface OpenStream {
  serverId: string;
  credential: StreamCredential;
  /** Absent: nothing to judge beyond the credential (a plain key, a token without a person, anonymous). */
  principal?: StreamPrincipal | undefined;
  /** Ends the stream (called once). */
  end(reason: string): void;
}

/** Why `record` (the key's record in Redis now; null: unknown or revoked) no longer reaches `serverId`, if so. */
export function keyRefusal(record: ApiKeyRecord | null, serverId: string): string | undefined {
  if (!record) return 'the API key was revoked';
  if (!record.scopes.includes('runtime')) return 'the API key has no "runtime" scope';
  if (record.serverIds && !record.serverIds.includes(serverId)) return 'the API key is limited to other MCP servers';
  return undefined;
}

interface Entry extends OpenStream {
  timer?: NodeJS.Timeout;
}

/**
 * The long-lived answers of this edge process (legacy HTTP+SSE streams, 2026-07-28 `subscriptions/listen`
 * streams) by the credential that opened them, so that none outlives its credential (docs/security.md,
 * "Long-lived answers"): a key's streams are checked again when the key's change is announced (revoked,
 * restricted to other servers: ended), a token's stream ends at the token's `exp`, a stream of a narrowed token or
 * acting for a person is judged again when a token's revocation or a person's leaving is announced, and every stream
 * ends when the announcements can no longer be heard (`endAll`: the pub/sub connection was lost).
 */
export class OpenStreams {
  private readonly entries = new Set<Entry>();
  private readonly readKey: (hash: string) => Promise<ApiKeyRecord | null>;
  private readonly onEnd: (stream: OpenStream, reason: string) => void;
  /** Why a stream's principal no longer stands on the server (undefined: it stands). */
  private readonly judge: (principal: StreamPrincipal, serverId: string) => Promise<string | undefined>;

  /**
   * `readKey`: the key's record as Redis has it now (past any cache); `judge`: a principal's standing, from Redis as it
   * is now (`credentialRefusal`). A throw of either ends the stream (fail closed).
   */
  constructor(
    readKey: (hash: string) => Promise<ApiKeyRecord | null>,
    onEnd: (stream: OpenStream, reason: string) => void = () => undefined,
    judge: (principal: StreamPrincipal, serverId: string) => Promise<string | undefined> = () =>
      Promise.resolve(undefined),
  ) {
    this.readKey = readKey;
    this.onEnd = onEnd;
    this.judge = judge;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Keeps `stream` until the returned function is called (when it closes). A key's stream is checked once
   * more now: a key changed between its authentication and this registration would otherwise keep it.
   */
  add(stream: OpenStream): () => void {
    const entry: Entry = { ...stream };
    this.entries.add(entry);
    const { credential } = stream;
    if (credential.kind !== 'anonymous' && credential.expiresAt !== undefined) {
      const ms = credential.expiresAt - Date.now();
      if (ms <= 0) this.finish(entry, 'the access token has expired');
      else {
        entry.timer = setTimeout(() => this.finish(entry, 'the access token has expired'), Math.min(ms, 2 ** 31 - 1));
        entry.timer.unref();
      }
    }
    if (credential.kind === 'key') void this.check([entry], credential.keyHash);
    if (stream.principal) void this.judgeAll([entry]);
    return () => this.remove(entry);
  }

  /**
   * A narrowed token was revoked or a person left (the announcement does not say whose streams: a token's
   * descendants name it in their chains): every stream with a principal is judged again; those refused end.
   */
  standingChanged(): Promise<void> {
    return this.judgeAll([...this.entries].filter((e) => e.principal));
  }

  /** The control plane announced a change of the key with this hash: its streams it no longer reaches end. */
  keyChanged(hash: string): Promise<void> {
    const affected = [...this.entries].filter((e) => e.credential.kind === 'key' && e.credential.keyHash === hash);
    return affected.length > 0 ? this.check(affected, hash) : Promise.resolve();
  }

  /** The whole state was published again (a restored database may know other keys): every key's streams checked. */
  keysRepublished(): Promise<void> {
    const hashes = new Set<string>();
    for (const e of this.entries) if (e.credential.kind === 'key') hashes.add(e.credential.keyHash);
    // People were published again too: the streams with a principal are judged again.
    const judged = [...[...hashes].map((hash) => this.keyChanged(hash)), this.standingChanged()];
    return Promise.all(judged).then(() => undefined);
  }

  /** Ends every stream (the announcements of key changes can no longer be heard); returns how many. */
  endAll(reason: string): number {
    const all = [...this.entries];
    for (const e of all) this.finish(e, reason);
    return all.length;
  }

  private async check(entries: Entry[], hash: string): Promise<void> {
    let record: ApiKeyRecord | null;
    try {
      record = await this.readKey(hash);
    } catch {
      for (const e of entries) this.finish(e, 'the API key could not be checked (Redis unreachable)');
      return;
    }
    for (const e of entries) {
      const refused = keyRefusal(record, e.serverId);
      if (refused) this.finish(e, refused);
    }
  }

  private async judgeAll(entries: Entry[]): Promise<void> {
    await Promise.all(
      entries.map(async (e) => {
        if (!e.principal) return;
        const refused = await this.judge(e.principal, e.serverId).catch(
          () => 'its credential could not be checked (Redis unreachable)',
        );
        if (refused) this.finish(e, refused);
      }),
    );
  }

  private remove(entry: Entry): void {
    clearTimeout(entry.timer);
    this.entries.delete(entry);
  }

  private finish(entry: Entry, reason: string): void {
    if (!this.entries.has(entry)) return;
    this.remove(entry);
    this.onEnd(entry, reason);
    entry.end(reason);
  }
}
