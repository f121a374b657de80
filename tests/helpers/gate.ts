import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of an upstream on 127.0.0.1: forwards every request; while `holding`, keeps them until
 * `release()` (so calls stay in flight as long as a test wants, whatever the machine's speed).
 */
export class Gate {
  holding = false;
  private readonly held: (() => void)[] = [];
  private readonly server: Server;
  private readonly upstream: string;
  url = '';

  constructor(upstream: string) {
    this.upstream = upstream;
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Lets every request held so far through. */
  release(): void {
    for (const forward of this.held.splice(0)) forward();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)),
        ) as Record<string, string>;
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        fetch(`${this.upstream}${req.url}`, { method: req.method ?? 'GET', headers, ...(body ? { body } : {}) }).then(
          async (r) => {
            const text = await r.text();
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(text);
          },
          (err: unknown) => res.writeHead(502).end(String(err)),
        );
      };
      if (this.holding) this.held.push(forward);
      else forward();
    });
  }

  async close(): Promise<void> {
    this.holding = false;
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
