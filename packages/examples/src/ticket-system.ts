import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The seed-001 descriptor text (YAML). */
export const ticketSystemDescriptorYaml = readFileSync(
  new URL('../ticket-system/descriptor.yaml', import.meta.url),
  'utf8',
);

interface Ticket {
  id: string;
  title: string;
  description: string;
  priority: string;
  status: 'open' | 'closed' | 'in_progress';
  assignee: string | null;
  comments: { author: string; text: string }[];
}

interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface TicketSystem {
  url: string;
  port: number;
  /** Every request received, in order (tests assert on it). Capped at `maxRecorded`. */
  requests: RecordedRequest[];
  tickets: Map<string, Ticket>;
  close(): Promise<void>;
}

function seedTickets(): Map<string, Ticket> {
  const t = (
    id: string,
    title: string,
    status: Ticket['status'],
    assignee: string | null,
    priority = 'medium',
  ): [string, Ticket] => [
    id,
    { id, title, description: `${title} (seeded)`, priority, status, assignee, comments: [] },
  ];
  return new Map([
    t('TCK-1', 'Login page returns 500', 'open', 'ada@example.com', 'high'),
    t('TCK-2', 'Export to CSV is slow', 'in_progress', 'grace@example.com'),
    t('TCK-3', 'Typo on pricing page', 'closed', 'ada@example.com', 'low'),
  ]);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * A small ticket-management API matching the seed-001 example: GET /api/v1/me, GET/POST
 * /api/v1/tickets, GET /api/v1/tickets/{id}. Every call needs `X-API-Key: <apiKey>`.
 */
export async function startTicketSystem(opts: {
  apiKey: string;
  port?: number;
  host?: string;
  record?: boolean;
  maxRecorded?: number;
  /** Every answer waits this long (ms), as a remote API would (the benchmark's `--upstream-delay-ms`). */
  delayMs?: number;
}): Promise<TicketSystem> {
  const tickets = seedTickets();
  const requests: RecordedRequest[] = [];
  const record = opts.record ?? true;
  const maxRecorded = opts.maxRecorded ?? 10_000;
  let next = tickets.size + 1;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' ? await readBody(req) : '';
      let body: unknown = undefined;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      if (record && requests.length < maxRecorded) {
        const query: Record<string, string | string[]> = {};
        for (const key of new Set(url.searchParams.keys())) {
          const all = url.searchParams.getAll(key);
          query[key] = all.length === 1 ? all[0]! : all;
        }
        requests.push({ method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, body });
      }
      const send = (status: number, payload: unknown) => {
        const text = JSON.stringify(payload);
        const write = () => {
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        };
        if (opts.delayMs) setTimeout(write, opts.delayMs);
        else write();
      };
      if (req.headers['x-api-key'] !== opts.apiKey) return send(401, { error: 'invalid or missing X-API-Key' });
      const path = url.pathname;
      if (req.method === 'GET' && path === '/api/v1/me')
        return send(200, { id: 'svc-toolplane', name: 'Toolplane service account' });
      if (path === '/api/v1/tickets' && req.method === 'GET') {
        const status = url.searchParams.get('status');
        const assignee = url.searchParams.get('assignee');
        const limit = Number(url.searchParams.get('limit') ?? '25');
        const items = [...tickets.values()]
          .filter((t) => (!status || t.status === status) && (!assignee || t.assignee === assignee))
          .slice(0, Number.isFinite(limit) ? limit : 25)
          .map(({ id, title, status: s, assignee: a }) => ({ id, title, status: s, assignee: a }));
        return send(200, { tickets: items, total: items.length });
      }
      if (path === '/api/v1/tickets' && req.method === 'POST') {
        const b = (body ?? {}) as Record<string, unknown>;
        if (typeof b.title !== 'string' || b.title === '') return send(400, { error: 'title is required' });
        const id = `TCK-${next++}`;
        const ticket: Ticket = {
          id,
          title: b.title,
          description: typeof b.description === 'string' ? b.description : '',
          priority: typeof b.priority === 'string' ? b.priority : 'medium',
          status: 'open',
          assignee: null,
          comments: [],
        };
        tickets.set(id, ticket);
        return send(201, ticket);
      }
      const m = /^\/api\/v1\/tickets\/([^/]+)$/.exec(path);
      if (m && req.method === 'GET') {
        const ticket = tickets.get(decodeURIComponent(m[1]!));
        return ticket ? send(200, ticket) : send(404, { error: `ticket ${m[1]} not found` });
      }
      return send(404, { error: 'not found' });
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    tickets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
