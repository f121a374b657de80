import { randomBytes } from 'node:crypto';
import type { ApiKeyRecord } from '@toolplane/contracts';
import type { Db, Tx } from '../../db/client.ts';
import { hashApiKey, type Caller } from '../../http/auth.ts';
import { publicationResources, type RuntimePublisher } from '../../publication/publisher.ts';

/** A new key value: a recognisable prefix plus 32 random bytes. */
export function newApiKeyValue(): string {
  return `tp_${randomBytes(32).toString('base64url')}`;
}

export type KeyRow = {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  hash: string;
  scopes: string[];
  serverIds: string[];
  /** Absent in rows read before the column existed. */
  twin?: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

/** What the edge reads from Redis for a key (hash → record); a rename publishes it again (`changeApiKey`). */
function apiKeyRecord(
  row: Pick<KeyRow, 'id' | 'name' | 'workspaceId' | 'scopes' | 'serverIds' | 'twin'>,
): ApiKeyRecord {
  return {
    keyId: row.id,
    name: row.name,
    workspaceId: row.workspaceId,
    scopes: row.scopes,
    revoked: false,
    ...(row.serverIds.length > 0 ? { serverIds: row.serverIds } : {}),
    ...(row.twin ? { twin: true } : {}),
  };
}

/** Who created a key, as stored: the creating key or the signed-in person (a key never decides its creator's change). */
type KeyCreator = { type: 'api_key' | 'oauth_subject'; id: string };

/** A key's value seen only by its hash and prefix: a key whose creation waited for approval (four-eyes.ts). */
export interface SealedKey {
  hash: string;
  prefix: string;
}

/** The hash and prefix a key `value` is stored by. */
export const sealKey = (value: string): SealedKey => ({ hash: hashApiKey(value), prefix: value.slice(0, 10) });

export async function createApiKey(
  db: Db,
  publisher: RuntimePublisher,
  input: {
    workspaceId: string;
    name: string;
    scopes: string[];
    serverIds?: string[] | undefined;
    value?: string;
    /** Instead of a value: the one a held creation gave its requester (the answer then has none). */
    sealed?: SealedKey | undefined;
    createdBy?: KeyCreator | undefined;
  },
) {
  const value = input.sealed ? undefined : (input.value ?? newApiKeyValue());
  const { hash, prefix } = input.sealed ?? sealKey(value!);
  const row = await changeApiKey(db, publisher, (tx) =>
    tx.apiKey.create({
      data: {
        workspaceId: input.workspaceId,
        name: input.name,
        prefix,
        hash,
        scopes: input.scopes,
        serverIds: input.serverIds ?? [],
        ...(input.createdBy ? { createdBy: input.createdBy } : {}),
      },
    }),
  );
  return { row, value };
}

/** Who `caller` is as a key's creator. */
export function creatorOf(caller: Pick<Caller, 'keyId' | 'subject'>): KeyCreator | undefined {
  if (caller.keyId !== undefined) return { type: 'api_key', id: caller.keyId };
  return caller.subject !== undefined ? { type: 'oauth_subject', id: caller.subject } : undefined;
}

/**
 * One key's change, all or nothing: the row written in a transaction whose last step publishes the row as
 * written (Redis unreachable: the transaction rolls back, nothing is saved, the caller gets 503), then,
 * after the commit, published again from what PostgreSQL holds, under the publication lock (a
 * republication that read before the commit may have overwritten the first write; ADR 0017). A failure of
 * that second write marks the runtime state stale (the publisher's `onFailure`): the keeper republishes.
 */
export async function changeApiKey(
  db: Db,
  publisher: RuntimePublisher,
  write: (tx: Tx) => Promise<KeyRow>,
): Promise<KeyRow> {
  const row = await db.$transaction(async (tx) => {
    const written = await write(tx);
    await publisher.exclusive(publicationResources.apiKeys, () =>
      publisher.setApiKey(written.hash, written.revokedAt ? undefined : apiKeyRecord(written)),
    );
    return written;
  });
  await syncApiKey(db, publisher, row.hash).catch(() => undefined);
  return row;
}

/**
 * Publishes one key as PostgreSQL has it now (active: its record; revoked or missing: removed), under
 * the API keys' publication lock, so that it cannot interleave with a republication (ADR 0017).
 */
export function syncApiKey(db: Db, publisher: RuntimePublisher, hash: string): Promise<void> {
  return publisher.exclusive(publicationResources.apiKeys, async () => {
    const row = await db.apiKey.findUnique({ where: { hash } });
    await publisher.setApiKey(hash, row && !row.revokedAt ? apiKeyRecord(row) : undefined);
  });
}

/**
 * Re-publishes every active key and removes every other one (Redis may have restarted empty, as in the
 * embedded default, or a revocation's removal may have failed).
 */
export function republishApiKeys(db: Db, publisher: RuntimePublisher): Promise<number> {
  return publisher.exclusive(publicationResources.apiKeys, async () => {
    const keys = await db.apiKey.findMany({ where: { revokedAt: null } });
    await publisher.replaceApiKeys(new Map(keys.map((k) => [k.hash, apiKeyRecord(k)])));
    return keys.length;
  });
}
