import { appendFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

// Local receivers of the audit exporters (ADR 0065): a syslog receiver (RFC 6587 octet counting, TCP or TLS), a
// Splunk HEC endpoint, and a front that takes a receiver up, down (port closed: connection refused) or hanging
// (connections accepted, never read nor answered). Used by tests/e2e/governance/audit-export.test.ts and
// bench/audit-export.ts.

/** Calls `onMessage` with each message body of the octet-counted syslog stream on `socket`. */
export function readSyslog(socket: net.Socket, onMessage: (body: string) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const space = buffered.indexOf(0x20);
      if (space < 0) return;
      const length = Number(buffered.subarray(0, space).toString());
      if (buffered.length < space + 1 + length) return;
      const message = buffered.subarray(space + 1, space + 1 + length).toString();
      buffered = buffered.subarray(space + 1 + length);
      // <pri>1 time host app procid msgid [sd] body
      onMessage(message.slice(message.indexOf('] ') + 2));
    }
  });
}

/** A syslog receiver (RFC 6587 octet counting): every message body, in the order received. */
export function syslogReceiver(secure?: { key: string; cert: string }) {
  const bodies: string[] = [];
  const onSocket = (socket: net.Socket) => readSyslog(socket, (body) => bodies.push(body));
  const server = secure ? tls.createServer(secure, onSocket) : net.createServer(onSocket);
  server.on('tlsClientError', () => undefined);
  return { server, bodies };
}

/**
 * HEC's event endpoint (`/services/collector/event`, `Authorization: Splunk <token>`): each request's body appended
 * to `file` as one line once taken; `other` answers any other path (404 when absent).
 */
export function hecServer(
  file: string,
  token: string,
  other?: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): HttpServer {
  return createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url !== '/services/collector/event') return other ? other(req, body, res) : void res.writeHead(404).end();
      if (req.headers.authorization !== `Splunk ${token}`) return void res.writeHead(401).end();
      appendFileSync(file, `${body}\n`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
  });
}

export function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function close(server: net.Server | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

export type ReceiverState = 'up' | 'down' | 'hanging';

/**
 * A receiver on `port` whose state can change: `up` hands each connection to `serve` (e.g. an HTTP server's
 * `connection` event, or `readSyslog`); `down` closes the port (connections refused) and drops every connection;
 * `hanging` accepts connections and neither reads nor answers them (a sender waits for its own timeout). Connections
 * held while hanging are handed to `serve` once up again (what they sent is still in the socket's buffer), and
 * dropped when it goes down.
 */
export function switchableReceiver(port: number, serve: (socket: net.Socket) => void) {
  let state: ReceiverState = 'down';
  let held: net.Socket[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    if (state === 'hanging') held.push(socket);
    else serve(resumed(socket));
  });
  const resumed = (socket: net.Socket) => {
    queueMicrotask(() => socket.resume());
    return socket;
  };
  return {
    port,
    get state() {
      return state;
    },
    /** Connections accepted while hanging, neither read nor answered yet. */
    get held() {
      return held.length;
    },
    async set(next: ReceiverState): Promise<void> {
      if (next === state) return;
      const was = state;
      state = next;
      if (next === 'down') {
        held = [];
        for (const s of open) s.destroy();
        if (server.listening) await new Promise<void>((r) => server.close(() => r()));
        return;
      }
      if (was === 'down') await listen(server, port);
      if (next === 'up') {
        for (const s of held) serve(resumed(s));
        held = [];
      }
    },
  };
}
