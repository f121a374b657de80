import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConnectorDescriptor, type Catalog } from '@toolplane/contracts';
import { loadDocument } from '@toolplane/openapi';
import pg from 'pg';
import { createDb, type Db } from '../db/client.ts';
import { migratedTestDatabase } from '../db/test-database.ts';
import { credentialSecretName } from './secret-names.ts';
import { CatalogService, type CatalogPublisher } from './service.ts';

/**
 * The catalog service without HTTP: a real PostgreSQL (a fresh database on the test server started by
 * tests/setup/global-setup.js), a fake publisher that records what is published and checks, at that
 * moment, that the version is already committed (read through a connection of its own).
 */

const descriptor = (() => {
  const parsed = parseConnectorDescriptor(
    loadDocument(
      readFileSync(new URL('../../../../packages/examples/ticket-system/descriptor.yaml', import.meta.url), 'utf8'),
    ),
  );
  if (!parsed.ok) throw new Error('the example descriptor is invalid');
  return parsed.value;
})();

let db: Db;
let observer: pg.Client;
let workspaceId: string;
let connectorId: string;

class FakePublisher implements CatalogPublisher {
  readonly published: { serverId: string; version: number; committed: boolean; tools: string[] }[] = [];
  readonly removed: string[] = [];
  readonly inRedis = new Map<string, number>();
  exclusive<T>(_resource: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async publishCatalog(catalog: Catalog): Promise<void> {
    const seen = await observer.query('SELECT 1 FROM catalog_versions WHERE server_id = $1 AND version = $2', [
      catalog.serverId,
      catalog.version,
    ]);
    this.published.push({
      serverId: catalog.serverId,
      version: catalog.version,
      committed: seen.rowCount === 1,
      tools: catalog.tools.map((t) => t.tool.name),
    });
    this.inRedis.set(catalog.serverId, catalog.version);
  }
  async removeCatalog(serverId: string): Promise<void> {
    this.removed.push(serverId);
    this.inRedis.delete(serverId);
  }
  async secretsChanged(): Promise<void> {}
  async publishedCatalogVersion(serverId: string): Promise<number | undefined> {
    return this.inRedis.get(serverId);
  }
  async publishedCatalogServerIds(): Promise<string[]> {
    return [...this.inRedis.keys()];
  }
}

const fakeSecrets = { delete: async () => true, list: async () => [] };
const noExternal = async () => ({ v: 1 as const, taskId: '', ok: false, error: 'none in this test', tools: [] });

function service(publisher: CatalogPublisher): CatalogService {
  return new CatalogService({ db, publisher, listExternal: noExternal, secrets: fakeSecrets });
}

async function instance(name: string): Promise<string> {
  const id = crypto.randomUUID();
  await db.connectorInstance.create({
    data: { id, workspaceId, connectorId, name, baseUrl: 'http://127.0.0.1:1', credentialKeys: ['api_key'] },
  });
  return id;
}

/** A server created through the service, as the router does. */
async function server(
  catalog: CatalogService,
  data: { name: string; connectorInstanceId?: string; selectedTools?: string[] },
) {
  const id = crypto.randomUUID();
  const { catalogs } = await catalog.change({}, async (tx) => {
    await tx.mcpServer.create({ data: { id, workspaceId, mode: 'NORMAL', ...data } });
    return { result: id, serverIds: [id], strictServerIds: [id] };
  });
  return catalogs.get(id)!;
}

beforeAll(async () => {
  const url = await migratedTestDatabase('catalog_unit');
  db = createDb(url);
  observer = new pg.Client({ connectionString: url });
  await observer.connect();
  const org = await db.organization.create({ data: { name: 'org' } });
  workspaceId = (await db.workspace.create({ data: { organizationId: org.id, name: 'ws' } })).id;
  connectorId = (
    await db.connector.create({
      data: { workspaceId, slug: 'ticket-system', version: '1.0.0', name: 'Tickets', descriptor: descriptor as object },
    })
  ).id;
}, 60_000);

afterAll(async () => {
  await observer?.end();
  await db?.$disconnect();
});

describe('CatalogService', () => {
  it("compiles a bound server's catalog from the rows: the instance's tools, secret names, the instance id", async () => {
    const publisher = new FakePublisher();
    const inst = await instance('compile');
    const catalog = await server(service(publisher), { name: 'compiled', connectorInstanceId: inst });
    expect(catalog.version).toBe(1);
    expect(catalog.tools.map((t) => t.tool.name)).toEqual(['search_tickets', 'get_ticket', 'create_ticket']);
    const plan = catalog.tools[1]!.plan as { secrets: Record<string, string> };
    expect(plan.secrets).toEqual({ api_key: credentialSecretName(workspaceId, inst, 'api_key') });
    expect(catalog.tools[1]!.source).toEqual({ connector: 'ticket-system', instance: 'compile', instanceId: inst });
  });

  it('publishes only after the commit, nothing when the transaction fails after compiling, and never reuses a number', async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    const inst = await instance('versions');
    const first = await server(catalog, { name: 'versioned', connectorInstanceId: inst });
    expect(publisher.published).toEqual([
      {
        serverId: first.serverId,
        version: 1,
        committed: true,
        tools: ['search_tickets', 'get_ticket', 'create_ticket'],
      },
    ]);

    // Fails after the catalog was compiled and stored, inside the same transaction.
    await expect(
      catalog.change(
        { serverIds: [first.serverId] },
        async (tx) => {
          await tx.mcpServer.update({ where: { id: first.serverId }, data: { selectedTools: ['get_ticket'] } });
          return { result: undefined };
        },
        {
          finish: () => {
            throw new Error('injected failure after compilation');
          },
        },
      ),
    ).rejects.toThrow('injected failure after compilation');
    expect(publisher.published).toHaveLength(1);
    const row = await db.mcpServer.findUniqueOrThrow({ where: { id: first.serverId } });
    expect(row.catalogVersion).toBe(1);
    expect(row.selectedTools).toEqual([]);
    expect(await db.catalogVersion.count({ where: { serverId: first.serverId } })).toBe(1);

    const { catalogs } = await catalog.change({ serverIds: [first.serverId] }, async (tx) => {
      await tx.mcpServer.update({ where: { id: first.serverId }, data: { selectedTools: ['get_ticket'] } });
      return { result: undefined };
    });
    expect(catalogs.get(first.serverId)!.version).toBe(2);
    expect(publisher.published.map((p) => [p.version, p.committed, p.tools])).toEqual([
      [1, true, ['search_tickets', 'get_ticket', 'create_ticket']],
      [2, true, ['get_ticket']],
    ]);
  });

  it('a dry run compiles what the change would commit, then rolls it all back and publishes nothing', async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    const inst = await instance('dry-run');
    const first = await server(catalog, { name: 'previewed', connectorInstanceId: inst });
    const { result, catalogs } = await catalog.change(
      { instanceIds: [inst] },
      async (tx) => {
        await tx.connectorInstance.update({ where: { id: inst }, data: { name: 'dry-run-renamed' } });
        await tx.mcpServer.update({ where: { id: first.serverId }, data: { selectedTools: ['get_ticket'] } });
        return { result: 'would be saved' };
      },
      { dryRun: true },
    );
    expect(result).toBe('would be saved');
    const would = catalogs.get(first.serverId)!;
    expect(would.version).toBe(2);
    expect(would.tools.map((t) => [t.tool.name, t.source?.instance])).toEqual([['get_ticket', 'dry-run-renamed']]);
    // Nothing of it stayed: the rows, the counter, the versions; nothing published.
    expect(publisher.published.map((p) => p.version)).toEqual([1]);
    const row = await db.mcpServer.findUniqueOrThrow({ where: { id: first.serverId } });
    expect([row.catalogVersion, row.selectedTools]).toEqual([1, []]);
    expect((await db.connectorInstance.findUniqueOrThrow({ where: { id: inst } })).name).toBe('dry-run');
    expect(await db.catalogVersion.count({ where: { serverId: first.serverId } })).toBe(1);
    // The next real change takes the number the dry run did not keep.
    const { catalogs: real } = await catalog.change({ serverIds: [first.serverId] }, async (tx) => {
      await tx.mcpServer.update({ where: { id: first.serverId }, data: { selectedTools: ['get_ticket'] } });
      return { result: undefined };
    });
    expect(real.get(first.serverId)!.version).toBe(2);
  });

  it('concurrent changes of one server get distinct, consecutive numbers', async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    const s = await server(catalog, { name: 'concurrent', connectorInstanceId: await instance('concurrent') });
    await Promise.all(
      [1, 2, 3].map(() => catalog.change({ serverIds: [s.serverId] }, async () => ({ result: undefined }))),
    );
    const versions = publisher.published.map((p) => p.version).sort();
    expect(versions).toEqual([1, 2, 3, 4]);
    expect(publisher.published.every((p) => p.committed)).toBe(true);
  });

  it("detaches servers from a deleted instance: no tools, a warning, never another instance's tools", async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    const gone = await instance('gone');
    await instance('other');
    const bound = await server(catalog, { name: 'bound', connectorInstanceId: gone, selectedTools: ['get_ticket'] });
    const row = await db.connectorInstance.findUniqueOrThrow({ where: { id: gone } });
    const { catalogs } = await catalog.change({ instanceIds: [gone], workspaceId }, async (tx) => {
      const { serverIds } = await catalog.deleteInstancesWrites(tx, [row], 'was deleted');
      return { result: undefined, serverIds };
    });
    const after = catalogs.get(bound.serverId)!;
    expect(after.tools).toEqual([]);
    expect(after.warnings?.[0]).toMatch(/connector instance "gone" .* was deleted/);
  });

  it("keeps the names of a deleted instance's tools reserved on SMART servers: no name moves to another instance", async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    // A workspace of its own, so that the deleted instance is the first one (its tools have the bare names).
    const org = await db.organization.create({ data: { name: 'org-smart' } });
    const ws = (await db.workspace.create({ data: { organizationId: org.id, name: 'ws-smart' } })).id;
    const conn = await db.connector.create({
      data: {
        workspaceId: ws,
        slug: 'ticket-system',
        version: '1.0.0',
        name: 'Tickets',
        descriptor: descriptor as object,
      },
    });
    // Explicit creation times: the workspace's instances are ordered by them (then by id).
    const make = async (name: string, createdAt: Date) =>
      (
        await db.connectorInstance.create({
          data: { workspaceId: ws, connectorId: conn.id, name, credentialKeys: ['api_key'], createdAt },
        })
      ).id;
    const sandbox = await make('sandbox', new Date(Date.now() - 60_000));
    const prod = await make('prod', new Date());
    const id = crypto.randomUUID();
    const { catalogs } = await catalog.change({}, async (tx) => {
      await tx.mcpServer.create({ data: { id, workspaceId: ws, name: 'smart', mode: 'SMART' } });
      return { result: id, serverIds: [id] };
    });
    const owner = (c: Catalog) => new Map(c.tools.map((t) => [t.tool.name, t.source?.instanceId]));
    expect(owner(catalogs.get(id)!).get('get_ticket')).toBe(sandbox);
    expect(owner(catalogs.get(id)!).get('get_ticket__prod')).toBe(prod);
    const row = await db.connectorInstance.findUniqueOrThrow({ where: { id: sandbox } });
    const after = await catalog.change({ instanceIds: [sandbox], workspaceId: ws }, async (tx) => {
      const { serverIds } = await catalog.deleteInstancesWrites(tx, [row], 'was deleted');
      return { result: undefined, serverIds };
    });
    const names = owner(after.catalogs.get(id)!);
    expect([...names.keys()].sort()).toEqual(['create_ticket__prod', 'get_ticket__prod', 'search_tickets__prod']);
    // Later changes keep it so.
    const later = await catalog.change({ serverIds: [id] }, async () => ({ result: undefined }));
    expect(
      later.catalogs
        .get(id)!
        .tools.map((t) => t.tool.name)
        .sort(),
    ).toEqual([...names.keys()].sort());
  });

  it('reconcile() republishes the latest committed version of servers missing or older in Redis', async () => {
    const publisher = new FakePublisher();
    const catalog = service(publisher);
    const s = await server(catalog, { name: 'reconciled', connectorInstanceId: await instance('reconciled') });
    const servers = await db.mcpServer.count({ where: { catalogVersion: { gt: 0 } } });
    publisher.inRedis.clear();
    publisher.inRedis.set(s.serverId, 1);
    publisher.published.length = 0;
    // A server deleted while Redis was unreachable: still in Redis.
    publisher.inRedis.set('00000000-0000-4000-8000-00000000dead', 7);
    expect(await catalog.reconcile()).toBe(servers - 1);
    expect(publisher.published.map((p) => p.serverId)).not.toContain(s.serverId);
    expect(publisher.removed).toEqual(['00000000-0000-4000-8000-00000000dead']);
    expect(await catalog.reconcile()).toBe(0);
  });
});
