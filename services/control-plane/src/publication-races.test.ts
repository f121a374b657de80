import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { redisKeys, type Catalog } from '@toolplane/contracts';
import { Redis } from 'ioredis';
import { CatalogService } from './catalog/service.ts';
import { createDb, type Db } from './db/client.ts';
import { migratedTestDatabase } from './db/test-database.ts';
import { publishWorkspaceAccess } from './resources/access-policies/publish.ts';
import { createApiKey, republishApiKeys, syncApiKey } from './resources/api-keys/keys.ts';
import { PublicationLock } from './publication/publication-lock.ts';
import { RuntimePublisher } from './publication/publisher.ts';

/**
 * ADR 0017 on the real PostgreSQL and Redis: a republication that read PostgreSQL before a change
 * committed is paused right after its read (a gate on one model method); the change then publishes
 * from "another replica" (a second publisher, whose lock reports when it finds the lock taken). With
 * the publication lock the change's copy is the one left in Redis; without it the paused, older read
 * would overwrite it (a revoked key back, a policy lost, a deleted server's catalog resurrected).
 */

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) throw new Error('TEST_REDIS_URL must be set (jest globalSetup starts Redis)');
const redis = new Redis(redisUrl);
const prefix = `tpubrace${randomBytes(3).toString('hex')}`;
const keys = redisKeys(prefix);

let db: Db;
let workspaceId: string;

interface Gate {
  /** Resolves when the paused call made its read. */
  reached: Promise<void>;
  open(): void;
}

/** `db` whose `model.method` pauses (once) after its real call returned, until the gate opens. */
function pausedAfterRead(model: 'accessPolicy' | 'apiKey' | 'catalogVersion', method: string): { db: Db; gate: Gate } {
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  const opened = new Promise<void>((r) => (open = r));
  let used = false;
  const wrapped = new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (prop !== model) return value;
      return new Proxy(value as object, {
        get(m, p) {
          const fn: unknown = Reflect.get(m, p);
          if (p !== method || typeof fn !== 'function') return fn;
          return async (...args: unknown[]) => {
            const result: unknown = await (fn as (...a: unknown[]) => Promise<unknown>).apply(m, args);
            if (!used) {
              used = true;
              reach();
              await opened;
            }
            return result;
          };
        },
      });
    },
  });
  return { db: wrapped, gate: { reached, open } };
}

/** Another replica's publisher, and a promise that resolves once its lock found the resource taken. */
function otherReplica(): { publisher: RuntimePublisher; contended: Promise<void> } {
  let hit!: () => void;
  const contended = new Promise<void>((r) => (hit = r));
  return { publisher: new RuntimePublisher(redis, prefix, undefined, { onContended: () => hit() }), contended };
}

/** Resolves once `change` is seen waiting for the lock; fails at once if it published without waiting. */
function waiting(contended: Promise<void>, change: Promise<unknown>): Promise<void> {
  return Promise.race([
    contended,
    change.then(() => {
      throw new Error('the change published while the republication held its older read');
    }),
  ]);
}

beforeAll(async () => {
  db = createDb(await migratedTestDatabase('pubrace'));
  const org = await db.organization.create({ data: { name: 'org' } });
  workspaceId = (await db.workspace.create({ data: { organizationId: org.id, name: 'ws' } })).id;
}, 60_000);

afterAll(async () => {
  await db?.$disconnect();
  redis.disconnect();
});

describe('publication lock (ADR 0017)', () => {
  it("a policy created while a republication holds an older read is the workspace's document in the end", async () => {
    const publisher = new RuntimePublisher(redis, prefix);
    const paused = pausedAfterRead('accessPolicy', 'findMany');
    const republication = publishWorkspaceAccess(paused.db, publisher, workspaceId);
    await paused.gate.reached; // it read "no policies"

    const { row: key } = await createApiKey(db, publisher, { workspaceId, name: 'limited', scopes: ['runtime'] });
    const policy = await db.accessPolicy.create({
      data: {
        workspaceId,
        name: 'get-only',
        principals: [{ type: 'api_key', value: key.id }],
        servers: ['*'],
        tools: ['get_ticket'],
      },
    });
    const replica = otherReplica();
    const change = publishWorkspaceAccess(db, replica.publisher, workspaceId);
    await waiting(replica.contended, change); // the change waits for the republication's lock
    paused.gate.open();
    await Promise.all([republication, change]);

    const doc = JSON.parse((await redis.get(keys.access(workspaceId)))!) as { policies: { id: string }[] };
    expect(doc.policies.map((p) => p.id)).toEqual([policy.id]);
  });

  it('a key revoked while a republication holds an older read stays revoked', async () => {
    const publisher = new RuntimePublisher(redis, prefix);
    const { row: key } = await createApiKey(db, publisher, { workspaceId, name: 'doomed', scopes: ['runtime'] });
    expect(await redis.hget(keys.apiKeys, key.hash)).not.toBeNull();

    const paused = pausedAfterRead('apiKey', 'findMany');
    const republication = republishApiKeys(paused.db, publisher);
    await paused.gate.reached; // it read the key as active

    await db.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    const replica = otherReplica();
    const revocation = syncApiKey(db, replica.publisher, key.hash);
    await waiting(replica.contended, revocation);
    paused.gate.open();
    await Promise.all([republication, revocation]);

    expect(await redis.hget(keys.apiKeys, key.hash)).toBeNull();
  });

  it('a republication removes keys that are not active in PostgreSQL (a revocation whose removal failed)', async () => {
    const publisher = new RuntimePublisher(redis, prefix);
    const { row: key } = await createApiKey(db, publisher, { workspaceId, name: 'lost-removal', scopes: ['runtime'] });
    await db.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } }); // Redis not told
    expect(await redis.hget(keys.apiKeys, key.hash)).not.toBeNull();
    await republishApiKeys(db, publisher);
    expect(await redis.hget(keys.apiKeys, key.hash)).toBeNull();
    const active = await db.apiKey.findMany({ where: { workspaceId, revokedAt: null } });
    expect((await redis.hkeys(keys.apiKeys)).sort()).toEqual(active.map((k) => k.hash).sort());
  });

  it('a server deleted while a republication holds its older catalog is not resurrected in Redis', async () => {
    const publisher = new RuntimePublisher(redis, prefix);
    const serverId = randomUUID();
    const catalog: Catalog = {
      v: 1,
      serverId,
      workspaceId,
      version: 1,
      name: 'doomed',
      isPublic: false,
      mode: 'NORMAL',
      tools: [],
    };
    await db.mcpServer.create({
      data: { id: serverId, workspaceId, name: 'doomed', mode: 'NORMAL', catalogVersion: 1 },
    });
    await db.catalogVersion.create({ data: { serverId, version: 1, catalog: catalog as object } });
    await publisher.publishCatalog(catalog);

    const noSecrets = { delete: async () => true, list: async () => [] };
    const noExternal = async () => ({ v: 1 as const, taskId: '', ok: false, error: 'none here', tools: [] });
    const paused = pausedAfterRead('catalogVersion', 'findUnique');
    const keeper = new CatalogService({ db: paused.db, publisher, listExternal: noExternal, secrets: noSecrets });
    const republication = keeper.republishAll();
    await paused.gate.reached; // it read version 1

    const replica = otherReplica();
    const other = new CatalogService({
      db,
      publisher: replica.publisher,
      listExternal: noExternal,
      secrets: noSecrets,
    });
    const deletion = other.change({}, async (tx) => {
      await tx.mcpServer.delete({ where: { id: serverId } });
      return { result: serverId, removedServers: [{ id: serverId, workspaceId }] };
    });
    await waiting(replica.contended, deletion);
    paused.gate.open();
    await Promise.all([republication, deletion]);

    expect(await redis.get(keys.catalog(serverId))).toBeNull();
  });
});

describe('PublicationLock', () => {
  it('runs one holder at a time per resource in a process, others at once', async () => {
    const lock = new PublicationLock(redis, (r) => `${prefix}:lock:${r}`);
    const events: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = lock.run('a', async () => {
      events.push('first start');
      await held;
      events.push('first end');
    });
    const second = lock.run('a', async () => void events.push('second'));
    await lock.run('b', async () => void events.push('other resource')); // not queued behind "a"
    expect(events).toEqual(['first start', 'other resource']);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(['first start', 'other resource', 'first end', 'second']);
  });

  it('a holder that died (never released) keeps others out only until the lock expires', async () => {
    await redis.set(`${prefix}:lock:dead`, 'a crashed replica', 'PX', 300);
    let contended = 0;
    const lock = new PublicationLock(redis, (r) => `${prefix}:lock:${r}`, { onContended: () => contended++ });
    expect(await lock.run('dead', async () => 'ran')).toBe('ran');
    expect(contended).toBeGreaterThan(0);
    expect(await redis.exists(`${prefix}:lock:dead`)).toBe(0); // released
  });

  it('gives up with a transient error when the lock stays taken', async () => {
    await redis.set(`${prefix}:lock:stuck`, 'someone', 'PX', 60_000);
    const lock = new PublicationLock(redis, (r) => `${prefix}:lock:${r}`, { waitMs: 200 });
    await expect(lock.run('stuck', async () => 'ran')).rejects.toMatchObject({ code: 'state.unavailable' });
    expect(await redis.get(`${prefix}:lock:stuck`)).toBe('someone'); // another holder's lock is never deleted
  });
});
