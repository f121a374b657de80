import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import type { ServerLimitedAccess } from '../openapi/registry.ts';
import { apiRouter, installRouteAccess } from './route-access.ts';

/** An API like the control plane's: a router mounted with a parameter, and one without. */
function api() {
  const root = apiRouter();
  const servers = apiRouter();
  servers.post('/:id/deploy', (_req, res) => void res.status(201).json({ deployed: true }));
  servers.get('/:id', (req, res) => void res.json({ id: req.params.id }));
  const sessions = apiRouter({ mergeParams: true });
  sessions.delete('/:sessionId', (_req, res) => void res.status(204).end());
  root.use('/mcp_servers/:id/sessions', sessions);
  root.use('/mcp_servers', servers);
  return root;
}

const operations = [
  { method: 'post', path: '/mcp_servers/{id}/deploy', access: 'server_admin' as const },
  { method: 'get', path: '/mcp_servers/{id}', access: 'own_server' as const },
  { method: 'delete', path: '/mcp_servers/{id}/sessions/{sessionId}', access: 'own_server' as const },
];

async function serve(router: express.Router, fn: (url: string) => Promise<void>): Promise<void> {
  const app = express();
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.use('/api/v1', router);
  app.use((_req, res) => void res.status(404).json({ route: 'none' }));
  app.use(
    (err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) =>
      void res.status(403).json({ refused: err.message }),
  );
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('installRouteAccess', () => {
  it('decides on the route that matched, with its declaration and parameters, before any handler runs', async () => {
    const router = api();
    const decided: string[] = [];
    installRouteAccess(router, operations, async (access: ServerLimitedAccess, req) => {
      decided.push(`${access} ${req.params.id}`);
      if (access === 'server_admin') throw new Error('needs server_admin');
    });
    await serve(router, async (url) => {
      expect((await fetch(`${url}/mcp_servers/s1/deploy`, { method: 'POST' })).status).toBe(403);
      expect((await fetch(`${url}/mcp_servers/s1`)).status).toBe(200);
      expect((await fetch(`${url}/mcp_servers/s2/sessions/x`, { method: 'DELETE' })).status).toBe(204);
      // Another case, a trailing slash: no route, so no decision and no handler.
      expect((await fetch(`${url}/mcp_servers/s1/Deploy`, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${url}/mcp_servers/s1/deploy/`, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${url}/MCP_servers/s1`)).status).toBe(404);
    });
    expect(decided).toEqual(['server_admin s1', 'own_server s1', 'own_server s2']);
  });

  it('refuses to start when a route has no documented operation', () => {
    const router = api();
    expect(() => installRouteAccess(router, operations.slice(1), async () => undefined)).toThrow(
      'the route POST /mcp_servers/:id/deploy has no operation in the OpenAPI document',
    );
  });
});
