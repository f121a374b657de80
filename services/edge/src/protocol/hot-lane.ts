import { IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import type { Express, Request, Response } from 'express';

/** The MCP endpoint of one server, as the express routes name it (`/mcp/:serverId`, `/api/v1/mcp/:serverId`). */
const mcpPath = /^\/(?:api\/v1\/)?mcp\/([A-Za-z0-9_-]{1,128})$/;
/** What `express.json` parses without decoding: no type (it parses any), or JSON in UTF-8. */
const plainJsonType = /^application\/json\s*(?:;\s*charset=utf-8\s*)?$/i;
/** body-parser's strict mode: the body is an object or an array. */
const strictJsonStart = /^[ \t\n\r]*[[{]/;

export interface HotLaneOptions {
  app: Express;
  maxBodyBytes: number;
  /** What every request of the app gets first (the drain bookkeeping). */
  track: (res: Response) => void;
  /** The body's envelope check of the express route (`invalidEnvelope` answer), then the MCP handler. */
  serve: (req: Request, res: Response) => Promise<void>;
  /** The app's error handler (the same JSON-RPC errors as the express route's). */
  onError: (err: unknown, req: Request, res: Response) => void;
}

/**
 * The common MCP POST without express's router and body parser (about a tenth of the edge's CPU per call,
 * docs/benchmarks.md): a POST to a server's MCP endpoint, no `Origin` (so no CORS), a plain UTF-8 JSON
 * body of a declared length within the limit, no content or transfer coding, no query. It gets the
 * express request and response it would get on the route (the app's prototypes, `params.serverId`, the
 * parsed `body`) and the same handler; a body that is not JSON gets the error the route gives. Anything
 * else returns false and goes to express. `hot-lane.test.ts` sends the same requests both ways.
 */
export function hotLane(opts: HotLaneOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { app, maxBodyBytes } = opts;
  return (incoming, outgoing) => {
    const headers = incoming.headers;
    if (incoming.method !== 'POST' || headers.origin !== undefined) return false;
    if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
    const type = headers['content-type'];
    if (type !== undefined && !plainJsonType.test(type)) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= maxBodyBytes)) return false;
    const match = mcpPath.exec(incoming.url ?? '');
    if (!match) return false;
    // As express's `app.handle` sets them up.
    const req = asExpress<Request>(incoming, app, app.request as object);
    const res = asExpress<Response>(outgoing, app, app.response as object);
    req.res = res;
    res.req = req;
    res.locals = Object.create(null) as Response['locals'];
    req.params = { serverId: match[1]! };
    opts.track(res);
    readBody(incoming, length)
      .then((raw) => {
        // iconv-lite, body-parser's decoder, drops a byte order mark.
        const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
        if (!strictJsonStart.test(text)) throw parseFailed();
        try {
          req.body = JSON.parse(text);
        } catch {
          throw parseFailed();
        }
        return opts.serve(req, res);
      })
      .catch((err: unknown) => opts.onError(err, req, res));
    return true;
  };
}

/** On the prototypes `expressServerClasses` makes: the app whose request and response members they carry. */
const membersOf = Symbol('toolplane.expressMembers');

/**
 * The request and response classes of an HTTP server serving `app` (`createServer(options, listener)`): Node's own,
 * extended with the members express's prototypes give (express's `request` and `response`, then the app's `app`),
 * copied once. The hot lane takes its requests as they are; changing the prototype of both objects on every request
 * (what express's `app.handle` does) cost about a microsecond each, and the objects' later reads went through a chain
 * of express's prototypes (docs/benchmarks.md, 2026-11-28, `36e6065`). express's own routes still set `app.request`
 * and `app.response`: the same members.
 */
export function expressServerClasses(app: Express): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  class ExpressRequest extends IncomingMessage {}
  class ExpressResponse extends ServerResponse {}
  withMembers(ExpressRequest.prototype, app.request as object, IncomingMessage.prototype, app);
  withMembers(ExpressResponse.prototype, app.response as object, ServerResponse.prototype, app);
  return { IncomingMessage: ExpressRequest, ServerResponse: ExpressResponse as typeof ServerResponse };
}

/** Copies the members of `from`'s prototype chain, down to `base` (left out), onto `to`: the deepest first. */
function withMembers(to: object, from: object, base: object, app: Express): void {
  const chain: object[] = [];
  for (let p: object | null = from; p !== null && p !== base; p = Object.getPrototypeOf(p) as object | null)
    chain.unshift(p);
  for (const p of chain) Object.defineProperties(to, Object.getOwnPropertyDescriptors(p));
  Object.defineProperty(to, membersOf, { value: app });
}

/** The object, with the app's request or response prototype unless Node made it with those members already. */
function asExpress<T>(o: object, app: Express, proto: object): T {
  return ((o as { [membersOf]?: Express })[membersOf] === app ? o : Object.setPrototypeOf(o, proto)) as T;
}

/** body-parser's error for a body that is not JSON (the app's error handler maps its `type`). */
function parseFailed(): Error {
  return Object.assign(new SyntaxError('the body is not valid JSON'), { type: 'entity.parse.failed', status: 400 });
}

/** The whole body (its declared length; Node's parser ends it there), as UTF-8 text. */
function readBody(req: IncomingMessage, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    req.once('end', () => {
      if (size !== length) return reject(aborted());
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    });
    req.once('aborted', () => reject(aborted()));
    req.once('error', reject);
  });
}

function aborted(): Error {
  return Object.assign(new Error('request aborted'), { type: 'request.aborted', status: 400 });
}
