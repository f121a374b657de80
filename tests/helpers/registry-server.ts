import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local MCP Registry on 127.0.0.1: the v0.1 read paths over a list of `ServerDetail`s. */
export interface LocalRegistry {
  url: string;
  /** Every request's path and query, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * The registry API's read side over `servers` (each a `ServerDetail`, read again on every request): `GET
 * /v0.1/servers` (`search` a substring of the name, `cursor` an index, `limit`) and `GET
 * /v0.1/servers/{name}/versions/{version}` (`latest` or the server's own version), 404 otherwise.
 */
export async function startLocalRegistry(servers: () => Record<string, unknown>[]): Promise<LocalRegistry> {
  const requests: string[] = [];
  const answer = (res: ServerResponse, status: number, body: unknown) =>
    void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    requests.push(url.pathname + url.search);
    const wrap = (s: Record<string, unknown>) => ({ server: s, _meta: {} });
    if (url.pathname === '/v0.1/servers') {
      const search = url.searchParams.get('search') ?? '';
      const all = servers().filter((s) => String(s.name).includes(search));
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 30);
      const page = all.slice(start, start + limit);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      return answer(res, 200, {
        servers: page.map(wrap),
        metadata: { count: page.length, ...(next ? { nextCursor: next } : {}) },
      });
    }
    const m = /^\/v0\.1\/servers\/([^/]+)\/versions\/([^/]+)$/.exec(url.pathname);
    const found = m && servers().find((s) => s.name === decodeURIComponent(m[1]!));
    if (!found || (m[2] !== 'latest' && decodeURIComponent(m[2]!) !== found.version))
      return answer(res, 404, { error: 'Server not found' });
    answer(res, 200, wrap(found));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
