import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';

/**
 * Malformed MCP and REST requests from a seeded PRNG: the same seed always yields the same
 * requests, so a failure found by `scripts/fuzz.ts` (many requests) or `tests/e2e/security/fuzz.test.ts`
 * (a few thousand) can be replayed. The only thing checked is the platform's own promise: no 5xx,
 * no crash, no request left hanging.
 */

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzTarget {
  edgeUrl: string;
  controlPlaneUrl: string;
  apiKey: string;
  /** A real server (so some requests get past authentication). */
  serverId: string;
}

interface FuzzRequest {
  /** Which generator made it (reported with 5xx answers). */
  label: string;
  base: string;
  method: string;
  /** Raw path and query, sent as is. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

type Rng = () => number;

const int = (rng: Rng, max: number) => Math.floor(rng() * max);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;
const chance = (rng: Rng, p: number) => rng() < p;

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => int(rng, 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function randomString(rng: Rng, max = 40): string {
  const alphabets = [
    'abcdefghijklmnopqrstuvwxyz0123456789-_',
    '\u0000\u0001\u001f\u007f"\\\'<>{}[]%&?#/\n\t ',
    'éßü漢字🙂\u200b\ud800\ufeff',
  ];
  const n = int(rng, max);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(rng, [...pick(rng, alphabets)]);
  return s;
}

function nested(rng: Rng, depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = chance(rng, 0.5) ? [v] : { [pick(rng, ['a', 'b', '$ref', 'type'])]: v };
  return v;
}

function randomValue(rng: Rng, depth = 0): unknown {
  switch (int(rng, depth > 3 ? 8 : 11)) {
    case 0:
      return null;
    case 1:
      return chance(rng, 0.5);
    case 2:
      return pick(rng, [0, -1, Number.NaN, 2 ** 53 + 1, -0, 1.5, 1e300, Number.MAX_SAFE_INTEGER]);
    case 3:
      return randomString(rng);
    case 4:
      return 'x'.repeat(pick(rng, [0, 1, 1000, 100_000]));
    case 5:
      return pick(rng, [
        'NORMAL',
        'SMART',
        'runtime',
        'management',
        '*',
        'http://127.0.0.1:9',
        '00000000-0000-0000-0000-000000000000',
      ]);
    case 6:
      return nested(rng, pick(rng, [10, 63, 65, 200]), randomString(rng, 5));
    case 7:
      return uuid(rng);
    case 8:
      return Array.from({ length: int(rng, 4) }, () => randomValue(rng, depth + 1));
    case 9:
    case 10:
      return randomObject(rng, depth + 1);
    default:
      return undefined;
  }
}

const fieldNames = [
  'name',
  'description',
  'mode',
  'connectorInstanceId',
  'connector_id',
  'base_url',
  'credentials',
  'scopes',
  'serverIds',
  'principals',
  'servers',
  'tools',
  'value',
  'isPublic',
  'jsonrpc',
  'method',
  'params',
  'id',
  '__proto__',
  'constructor',
  '',
];

function randomObject(rng: Rng, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = int(rng, 5); i > 0; i--) o[pick(rng, fieldNames)] = randomValue(rng, depth);
  return o;
}

/** A string that is almost JSON: truncated, a byte flipped, a stray token. */
function garble(rng: Rng, text: string): string {
  switch (int(rng, 5)) {
    case 0:
      return text.slice(0, int(rng, text.length));
    case 1: {
      const i = int(rng, text.length);
      return text.slice(0, i) + pick(rng, ['"', '{', ']', ',', '\\', '\u0000', 'NaN', '\ud800']) + text.slice(i + 1);
    }
    case 2:
      return text + pick(rng, ['}', ',', ' garbage', '\n{"a":1}']);
    case 3:
      return text.replace(/"/g, "'");
    default:
      return '\ufeff' + text;
  }
}

const mcpMethods = [
  'initialize',
  'notifications/initialized',
  'tools/list',
  'tools/call',
  'ping',
  'resources/list',
  'prompts/list',
  'logging/setLevel',
  'notifications/cancelled',
  'subscriptions/listen',
  'completion/complete',
  '',
  'rpc.discover',
];
const toolNames = [
  'search_tickets',
  'get_ticket',
  'create_ticket',
  'search_tools',
  'execute_tool',
  'run_code',
  'nope',
  '',
];

function jsonRpcMessage(rng: Rng): unknown {
  const msg: Record<string, unknown> = {};
  if (!chance(rng, 0.1)) msg.jsonrpc = chance(rng, 0.9) ? '2.0' : randomValue(rng);
  msg.method = chance(rng, 0.85) ? pick(rng, mcpMethods) : randomValue(rng);
  if (!chance(rng, 0.2))
    msg.id = pick(rng, [1, 0, -1, 'a', null, 1.5, 2 ** 64, randomValue(rng), nested(rng, int(rng, 500), 1)]);
  switch (msg.method) {
    case 'initialize':
      msg.params = chance(rng, 0.7)
        ? {
            protocolVersion: pick(rng, ['2025-06-18', '2025-03-26', '2024-11-05', '2026-07-28', 'x', randomValue(rng)]),
            capabilities: chance(rng, 0.8) ? {} : randomValue(rng),
            clientInfo: chance(rng, 0.8) ? { name: 'fuzz', version: '1' } : randomValue(rng),
          }
        : randomValue(rng);
      break;
    case 'tools/call':
      msg.params = chance(rng, 0.7)
        ? {
            name: chance(rng, 0.8) ? pick(rng, toolNames) : randomValue(rng),
            arguments: chance(rng, 0.7) ? randomObject(rng) : randomValue(rng),
            ...(chance(rng, 0.2) ? { _meta: randomValue(rng) } : {}),
          }
        : randomValue(rng);
      break;
    default:
      if (chance(rng, 0.5)) msg.params = randomValue(rng);
  }
  return msg;
}

const aliasBomb =
  'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' +
  Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(',')}]`).join('\n');

function documentBody(rng: Rng): string {
  switch (int(rng, 7)) {
    case 0:
      return aliasBomb;
    case 1:
      return 'openapi: 3.0.0\n' + aliasBomb;
    case 2:
      return 'openapi: 3.0.0\nx: ' + '['.repeat(pick(rng, [100, 3000])) + ']'.repeat(int(rng, 3000));
    case 3:
      return JSON.stringify({
        openapi: pick(rng, ['3.0.0', '3.1.0', '2.0', 3]),
        info: randomValue(rng),
        paths: chance(rng, 0.5) ? { '/x': { get: randomObject(rng) } } : randomValue(rng),
        components: { schemas: { A: nested(rng, pick(rng, [10, 100, 300]), {}) } },
      });
    case 4:
      return garble(rng, 'metadata:\n  slug: fuzz\n  version: "1"\n  name: Fuzz\noperations: []\n');
    case 5:
      return JSON.stringify({ kind: 'openapi', document: randomValue(rng), mappings: randomValue(rng) });
    default:
      return randomString(rng, 200);
  }
}

function encodeBody(rng: Rng, text: string, headers: Record<string, string>): Buffer {
  let body = Buffer.from(text, pick(rng, ['utf8', 'utf8', 'utf8', 'latin1', 'utf16le']));
  if (chance(rng, 0.08)) {
    const encoding = pick(rng, ['gzip', 'deflate', 'br', 'bogus', 'identity', 'gzip, gzip', 'GZIP']);
    headers['content-encoding'] = encoding;
    if (encoding === 'gzip' && chance(rng, 0.5)) body = gzipSync(body);
  }
  return body;
}

const oddIds = [
  '%ff',
  '%00',
  '%2e%2e%2f%2e%2e',
  '..',
  '%E0%A4%A',
  '%25',
  'a'.repeat(3000),
  '%F0%9F%99%82',
  '%u0041',
  '00000000-0000-0000-0000-000000000000',
  '<script>',
  '%0d%0aX-Injected:%201',
  '~',
];

function oddId(rng: Rng, real: string): string {
  const r = rng();
  if (r < 0.3) return real;
  if (r < 0.5) return uuid(rng);
  return pick(rng, oddIds);
}

const contentTypes = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=klingon',
  'application/yaml',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/json; charset=',
  '*/*',
];

function commonHeaders(rng: Rng, target: FuzzTarget, headers: Record<string, string>): void {
  const auth = rng();
  if (auth < 0.7) headers['x-api-key'] = target.apiKey;
  else if (auth < 0.8) headers['x-api-key'] = `tp_${Math.floor(rng() * 1e12).toString(36)}`;
  else if (auth < 0.85) headers['x-api-key'] = 'k'.repeat(8000);
  else if (auth < 0.9)
    headers.authorization = pick(rng, ['Bearer x.y.z', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer ' + 'a'.repeat(4000)]);
  if (chance(rng, 0.8)) headers['content-type'] = pick(rng, contentTypes);
  // Addresses for the per-address limits (the fuzz stacks trust X-Forwarded-For from loopback).
  headers['x-forwarded-for'] = chance(rng, 0.95)
    ? `198.18.0.${int(rng, 32)}`
    : pick(rng, ['not-an-ip', '::1', '2001:db8::1, 10.0.0.1', '']);
  if (chance(rng, 0.05)) headers.origin = pick(rng, ['http://evil.example', 'null', '']);
  if (chance(rng, 0.05)) headers['x-username'] = randomString(rng, 20).replace(/[^\x20-\x7e]/g, '');
  if (chance(rng, 0.05))
    headers.traceparent = pick(rng, ['00-zz-yy-01', '00-' + '0'.repeat(32) + '-' + '0'.repeat(16) + '-01', 'x']);
}

function mcpRequest(rng: Rng, target: FuzzTarget): FuzzRequest {
  const headers: Record<string, string> = {};
  commonHeaders(rng, target, headers);
  if (chance(rng, 0.8))
    headers.accept = pick(rng, ['application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*']);
  if (chance(rng, 0.3))
    headers['mcp-protocol-version'] = pick(rng, ['2025-06-18', '2025-03-26', '2026-07-28', '1999-01-01', 'x', '']);
  if (chance(rng, 0.1)) headers['mcp-session-id'] = randomString(rng, 30).replace(/[^\x21-\x7e]/g, 'a');
  const id = oddId(rng, target.serverId);
  const path = pick(rng, [
    `/mcp/${id}`,
    `/mcp/${id}`,
    `/api/v1/mcp/${id}`,
    `/api/v1/mcp/${id}/messages?sessionId=${pick(rng, ['%ff', 'x', uuid(rng)])}`,
    `/mcp/`,
    `/mcp/${id}/extra`,
    `/.well-known/oauth-protected-resource/mcp/${id}`,
    `/mcp/${id}?${pick(rng, ['a=%ff', 'a[b][c][d]=1', 'x'.repeat(2000)])}`,
  ]);
  const method = chance(rng, 0.8) ? 'POST' : pick(rng, ['GET', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD']);
  let text: string;
  const kind = rng();
  let label: string;
  if (kind < 0.45) {
    label = 'mcp:message';
    text = JSON.stringify(jsonRpcMessage(rng));
  } else if (kind < 0.55) {
    label = 'mcp:batch';
    text = JSON.stringify(Array.from({ length: int(rng, 5) }, () => jsonRpcMessage(rng)));
  } else if (kind < 0.8) {
    label = 'mcp:garbled';
    text = garble(rng, JSON.stringify(jsonRpcMessage(rng)));
  } else if (kind < 0.9) {
    label = 'mcp:deep';
    // Built as text: values this deep overflow JSON.stringify itself.
    const depth = pick(rng, [60, 70, 5000, 50_000]);
    text =
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket","arguments":{"ticket_id":' +
      '['.repeat(depth) +
      ']'.repeat(depth) +
      '}}}';
  } else {
    label = 'mcp:junk';
    text = pick(rng, ['', 'null', '[]', '1', '"x"', randomString(rng, 500), '{'.repeat(int(rng, 20_000))]);
  }
  return {
    label,
    base: target.edgeUrl,
    method,
    path,
    headers,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: encodeBody(rng, text, headers) }),
  };
}

const resources = [
  'connectors',
  'connector_instances',
  'mcp_manager',
  'mcp_servers',
  'external_users',
  'api_keys',
  'access_policies',
  'workspaces',
  'secrets',
  'execution_records',
];

function restRequest(rng: Rng, target: FuzzTarget): FuzzRequest {
  const headers: Record<string, string> = {};
  commonHeaders(rng, target, headers);
  const resource = pick(rng, resources);
  const method = pick(rng, ['GET', 'POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE']);
  // The real server id only for reads: the fuzz must not delete what it fuzzes.
  const id = method === 'GET' ? oddId(rng, target.serverId) : pick(rng, [...oddIds, uuid(rng)]);
  const path = pick(rng, [
    `/api/v1/${resource}`,
    `/api/v1/${resource}`,
    `/api/v1/${resource}/${id}`,
    `/api/v1/${resource}/${id}/${pick(rng, ['secrets', 'debug_sessions', 'tools', 'deploy', 'test', 'openapi.json', '%ff'])}`,
    `/api/v1/${resource}?${pick(rng, ['limit=-1', 'limit=1e309', 'cursor=%ff', 'server_id=%00', 'a[b][c]=1', 'limit=abc&limit=2'])}`,
    `/api/v1/%ff`,
    `/${pick(rng, ['healthz', 'readyz', 'metrics', '%2e%2e/etc/passwd'])}`,
  ]);
  let text: string;
  let label: string;
  const kind = rng();
  if (resource === 'connectors' && kind < 0.6) {
    label = 'rest:document';
    text = documentBody(rng);
  } else if (kind < 0.6) {
    label = 'rest:object';
    text = JSON.stringify(randomObject(rng));
  } else if (kind < 0.85) {
    label = 'rest:garbled';
    text = garble(rng, JSON.stringify(randomObject(rng)));
  } else {
    label = 'rest:junk';
    text = pick(rng, ['', 'null', '[]', '"x"', randomString(rng, 300), '{"name":"a\\u0000b"}']);
  }
  return {
    label,
    base: target.controlPlaneUrl,
    method,
    path,
    headers,
    ...(method === 'GET' || method === 'DELETE' ? {} : { body: encodeBody(rng, text, headers) }),
  };
}

function generateRequest(rng: Rng, target: FuzzTarget): FuzzRequest {
  return chance(rng, 0.6) ? mcpRequest(rng, target) : restRequest(rng, target);
}

export interface FuzzOutcome {
  /** Count per answer: the status code, or `timeout` / `error:<code>` when no answer came. */
  byStatus: Record<string, number>;
  /** Each 5xx and each request without an answer, with what was sent. */
  failures: { label: string; method: string; url: string; status: string; body: string }[];
  total: number;
  ms: number;
}

/** Sends `count` requests of the seed's sequence, `concurrency` at a time, each aborted after `timeoutMs`. */
export async function runFuzz(
  target: FuzzTarget,
  opts: { seed: number; count: number; concurrency?: number; timeoutMs?: number },
): Promise<FuzzOutcome> {
  const rng = prng(opts.seed);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 16 });
  const outcome: FuzzOutcome = { byStatus: {}, failures: [], total: 0, ms: 0 };
  const started = Date.now();
  let next = 0;
  // Requests are generated in order (deterministic), whatever order the answers come in.
  const requests = function* () {
    while (next < opts.count) {
      next++;
      yield generateRequest(rng, target);
    }
  };
  const queue = requests();
  const worker = async () => {
    for (let r = queue.next(); !r.done; r = queue.next()) {
      const status = await send(r.value, agent, opts.timeoutMs ?? 15_000);
      outcome.total++;
      outcome.byStatus[status.status] = (outcome.byStatus[status.status] ?? 0) + 1;
      if (!/^[1-4]\d\d$/.test(status.status) && status.status !== 'not-sent')
        outcome.failures.push({
          label: r.value.label,
          method: r.value.method,
          url: r.value.base + r.value.path.slice(0, 200),
          status: status.status,
          body: status.body,
        });
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, worker));
  agent.destroy();
  outcome.ms = Date.now() - started;
  return outcome;
}

function send(r: FuzzRequest, agent: Agent, timeoutMs: number): Promise<{ status: string; body: string }> {
  return new Promise((resolve) => {
    const url = new URL(r.base);
    let done = false;
    const finish = (status: string, body = '') => {
      if (done) return;
      done = true;
      resolve({ status, body: body.slice(0, 300) });
    };
    let req;
    try {
      req = request(
        {
          host: url.hostname,
          port: url.port,
          method: r.method,
          path: r.path,
          headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
          agent,
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 4 && chunks.push(c));
          res.on('end', () => finish(String(res.statusCode), Buffer.concat(chunks).toString('utf8')));
          res.on('error', (err) => finish(`error:${(err as NodeJS.ErrnoException).code ?? err.name}`));
          // An event stream stays open: its status and first bytes are the answer.
          if (/text\/event-stream/.test(String((res.headers as IncomingHttpHeaders)['content-type'])))
            res.once('data', () => {
              finish(String(res.statusCode));
              res.destroy();
            });
        },
      );
    } catch (err) {
      // The client refused to send it (an invalid header value): nothing reached a service.
      return finish('not-sent', (err as Error).message);
    }
    req.on('error', (err) =>
      finish(
        err.name === 'AbortError' || err.name === 'TimeoutError'
          ? 'timeout'
          : `error:${(err as NodeJS.ErrnoException).code ?? err.name}`,
      ),
    );
    req.end(r.body);
  });
}
