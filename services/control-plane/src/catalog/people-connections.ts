import { randomUUID } from 'node:crypto';
import { redisKeys, userSecrets, type ConnectLink, type OAuthRevokeResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { SecretsWriter } from '@toolplane/secrets';
import type { RedisClient } from '@toolplane/redis';
import { personAuthOf } from './compile.ts';
import { userCredentialSecretPrefix } from './secret-names.ts';
import type { Db } from '../db/client.ts';
import type { RuntimePublisher } from '../publication/publisher.ts';

/** How long ending a connection waits for a worker to revoke the token at the provider. */
const REVOKE_TIMEOUT_MS = 15_000;
/** How many connections of a deleted instance are ended at once (each may wait for a provider). */
const ENDING_AT_ONCE = 8;

/** How a connection's revocation at the provider went. */
type Revocation = Pick<OAuthRevokeResult, 'revocation' | 'error'>;
/** The OAuth app people connect to an instance with: its compiled auth and the secret names of its credentials. */
type InstanceApp = NonNullable<ReturnType<typeof personAuthOf>>;

/** The marker of a connection in the user's Redis set (what the edge's SMART tools see). */
export const connectionMarker = (kind: string, instanceId: string) =>
  `${kind === 'oauth' ? 'oauth' : 'instance'}:${instanceId}`;

/**
 * People's own-account connections (ADR 0027) from the control plane's side: made (a connect link's callback), and
 * ended as a disconnect ends them, also when their connector instance, its connector or the person is deleted:
 * the grant revoked at the provider by a worker (the control plane never reads tokens), then the tokens,
 * what is known of the connection, the person's marker and every pending link and state deleted, whatever the
 * worker or the provider answered.
 */
export class PeopleConnections {
  private readonly db: Db;
  private readonly secrets: SecretsWriter;
  private readonly publisher: RuntimePublisher;
  private readonly redis: RedisClient;
  private readonly keys: ReturnType<typeof redisKeys>;
  private readonly tasks: DataPlaneTaskClient;
  private readonly log: Pick<Logger, 'warn' | 'error'>;

  constructor(opts: {
    db: Db;
    secrets: SecretsWriter;
    publisher: RuntimePublisher;
    redis: RedisClient;
    prefix: string;
    tasks: DataPlaneTaskClient;
    log: Pick<Logger, 'warn' | 'error'>;
  }) {
    this.db = opts.db;
    this.secrets = opts.secrets;
    this.publisher = opts.publisher;
    this.redis = opts.redis;
    this.keys = redisKeys(opts.prefix);
    this.tasks = opts.tasks;
    this.log = opts.log;
  }

  /**
   * Cancels every pending connect link and opened link (state) of a connection: a link made before the connection
   * was made or ended connects nobody. The index is taken whole, so a link made meanwhile is in a new one.
   */
  async cancelPending(connection: string): Promise<void> {
    const index = this.keys.oauthConnectPending(connection);
    const taken = await this.redis.multi().smembers(index).del(index).exec();
    const pending = (taken?.[0]?.[1] as string[] | undefined) ?? [];
    if (pending.length === 0) return;
    // The links and states are in slots of their own in a cluster: one DEL each there (sent together).
    if (this.redis.isCluster) await Promise.all(pending.map((key) => this.redis.del(key)));
    else await this.redis.del(...pending);
  }

  /**
   * A connect link's flow stored the person's tokens (the callback page's `onConnected`): every other link and state
   * of the connection is cancelled (an older link cannot swap another account in), the connection is listed (the row
   * for the API and the dashboard, the marker for the edge's SMART tools), and credentials pushed for this person and
   * instance before are deleted: their own account replaces them.
   */
  async connected(link: ConnectLink): Promise<void> {
    const parts = userSecrets.parseOauth(link.connection);
    if (!parts || parts.userId !== link.userId || parts.workspaceId !== link.workspaceId) return;
    await this.cancelPending(link.connection);
    await this.db.userConnection.upsert({
      where: { userId_connectorInstanceId: { userId: parts.userId, connectorInstanceId: parts.instanceId } },
      create: { userId: parts.userId, connectorInstanceId: parts.instanceId, kind: 'oauth', credentialKeys: [] },
      update: { kind: 'oauth', credentialKeys: [] },
    });
    const pushed = userCredentialSecretPrefix(parts.workspaceId, parts.userId, parts.instanceId);
    const replaced = await this.secrets.list(pushed);
    for (const meta of replaced) await this.secrets.delete(meta.name);
    if (replaced.length > 0) await this.publisher.secretsChanged(pushed);
    const markers = this.keys.userConnections(parts.workspaceId, parts.userId);
    await this.redis.srem(markers, connectionMarker('credentials', parts.instanceId));
    await this.redis.sadd(markers, connectionMarker('oauth', parts.instanceId));
  }

  /** The OAuth app of each of these instances of the workspace (none: the instance has no person's-account auth). */
  async appsOf(workspaceId: string, instanceIds: string[]): Promise<Map<string, InstanceApp | undefined>> {
    const rows = instanceIds.length
      ? await this.db.connectorInstance.findMany({
          where: { id: { in: instanceIds }, workspaceId },
          include: { connector: true },
        })
      : [];
    return new Map(rows.map((row) => [row.id, personAuthOf(workspaceId, row)]));
  }

  /**
   * Ends a person's own-account connection as a disconnect does: its pending links and states first (no flow
   * finishes after this), then a worker revokes the grant at the provider with `app` (none: nothing to revoke with)
   * and deletes the tokens; the tokens, what is known of the connection and the person's marker are deleted here too,
   * so the end never depends on a worker or the provider answering. A failed revocation is logged and answered.
   */
  async endAccount(
    workspaceId: string,
    userId: string,
    instanceId: string,
    app: InstanceApp | undefined,
  ): Promise<Revocation> {
    const connection = userSecrets.oauth(workspaceId, userId, instanceId);
    await this.cancelPending(connection);
    let outcome: Revocation = { revocation: 'no_endpoint' };
    if (app)
      outcome = await this.tasks
        .revokeOAuthConnection({
          v: 1,
          taskId: randomUUID(),
          kind: 'oauth.revoke',
          workspaceId,
          connection,
          auth: app.auth,
          secrets: app.secrets,
          deadlineAt: Date.now() + REVOKE_TIMEOUT_MS,
          replyTo: this.tasks.clientId,
        })
        .catch(() => ({ revocation: 'failed' as const, error: 'no worker answered' }));
    await this.secrets.delete(connection);
    await this.redis.del(this.keys.oauthConnection(connection));
    await this.publisher.secretsChanged(connection);
    await this.redis.srem(this.keys.userConnections(workspaceId, userId), connectionMarker('oauth', instanceId));
    if (outcome.revocation === 'failed')
      this.log.warn(
        { connection, error: outcome.error },
        "a person's connection ended without a revocation at the provider",
      );
    return outcome;
  }

  /**
   * Ends every person's connection of instances being deleted: after the commit that deleted them and before their
   * credentials (the OAuth app a revocation needs; `apps`, read before the delete) go. Own accounts end as a
   * disconnect (`endAccount`): those listed (`connections`, the deleted rows) and any tokens the store holds for
   * these instances without a listing; every person's markers of these instances go too. The instances are already
   * gone, so this never throws: what fails is logged (with the connection's name) and the rest goes on, and the caller
   * deletes the instances' credentials after it either way.
   */
  async endForInstances(
    workspaceId: string,
    apps: Map<string, InstanceApp | undefined>,
    connections: { userId: string; connectorInstanceId: string; kind: string }[],
  ): Promise<void> {
    const accounts = new Map<string, { userId: string; instanceId: string }>();
    for (const c of connections)
      if (c.kind === 'oauth')
        accounts.set(userSecrets.oauth(workspaceId, c.userId, c.connectorInstanceId), {
          userId: c.userId,
          instanceId: c.connectorInstanceId,
        });
    try {
      for (const meta of await this.secrets.list(`ws/${workspaceId}/users/`)) {
        const named = userSecrets.parseOauth(meta.name);
        if (named?.workspaceId === workspaceId && apps.has(named.instanceId))
          accounts.set(meta.name, { userId: named.userId, instanceId: named.instanceId });
      }
    } catch (err) {
      this.log.error({ err, workspaceId }, "people's tokens of deleted connector instances could not be listed");
    }
    const queue = [...accounts.entries()];
    await Promise.all(
      Array.from({ length: Math.min(ENDING_AT_ONCE, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const [connection, { userId, instanceId }] = next;
          await this.endAccount(workspaceId, userId, instanceId, apps.get(instanceId)).catch((err: unknown) =>
            this.log.error({ err, connection }, "a person's connection of a deleted connector instance was not ended"),
          );
        }
      }),
    );
    for (const c of connections)
      await this.redis
        .srem(
          this.keys.userConnections(workspaceId, c.userId),
          connectionMarker('oauth', c.connectorInstanceId),
          connectionMarker('credentials', c.connectorInstanceId),
        )
        .catch((err: unknown) => this.log.error({ err }, "a person's marker of a deleted instance was not removed"));
  }
}
