import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, InMemoryTransport, StreamableHTTPClientTransport, type Tool } from '@modelcontextprotocol/client';
import { App } from '@modelcontextprotocol/ext-apps';
import {
  AppBridge,
  getToolUiResourceUri,
  McpUiResourceMetaSchema,
  RESOURCE_MIME_TYPE,
} from '@modelcontextprotocol/ext-apps/app-bridge';
import { registerAppResource, registerAppTool } from '@modelcontextprotocol/ext-apps/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { repoRoot, type Stack } from '@toolplane/cli';
import { type components, type ManagementClient, unwrap } from '@toolplane/client';
import { freePort } from '@toolplane/embedded';
import { z } from 'zod';
import { startTestStack } from '../../helpers/stack.ts';

// MCP Apps (ADR 0058) through Toolplane: the published `@modelcontextprotocol/server-basic-vanillajs` (its own HTTP
// entry point, a process of its own) and a second app server offering the same `ui://` URI. A NORMAL server relays
// the app as the direct server gives it; a SMART server merging both makes the second's URI unique and points its
// tool at it. Equality below is of JSON values compared in canonical key order (`canonical`), taken from the raw
// JSON-RPC answers on the wire (`wire`), not from an SDK client's parsed view.

const APP_PACKAGE = join(repoRoot, 'tests/node_modules/@modelcontextprotocol/server-basic-vanillajs');
const APP_URI = 'ui://get-time/mcp-app.html';
const SECOND_HTML = '<!doctype html><html><body><p id="second">second app</p></body></html>';
const SECOND_UI = {
  csp: { connectDomains: ['https://api.example.com'], resourceDomains: ['https://cdn.example.com'] },
  domain: 'second-app.example.com',
  prefersBorder: true,
};

/** A JSON value with its object keys sorted at every level, as a string: equal strings are equal JSON. */
function canonical(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([k, x]) => [k, sort(x)]),
          )
        : v;
  return JSON.stringify(sort(value));
}

/**
 * A result's own `_meta` without the protocol's keys (`io.modelcontextprotocol/…`: the answering server's info, which
 * through Toolplane is Toolplane's, not the app server's).
 */
function resultMeta(result: Record<string, unknown>): Record<string, unknown> {
  const meta = (result._meta ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith('io.modelcontextprotocol/')));
}

/** A client whose fetch keeps each JSON-RPC answer's `result` as it came on the wire (JSON or SSE), by method. */
interface WireClient {
  client: Client;
  last(method: string): Promise<Record<string, unknown>>;
}

async function wire(url: string, headers: Record<string, string> = {}): Promise<WireClient> {
  const answers = new Map<string, Promise<Record<string, unknown>>>();
  const recording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    const sent = typeof init?.body === 'string' ? (JSON.parse(init.body) as { id?: unknown; method?: string }) : {};
    if (sent.method && sent.id !== undefined) {
      const raw = res.clone().text();
      answers.set(
        sent.method,
        raw.then((text) => {
          const messages = text.trimStart().startsWith('{')
            ? [text]
            : text.split('\n').flatMap((l) => (l.startsWith('data:') ? [l.slice(5)] : []));
          const reply = messages
            .map((m) => JSON.parse(m) as { id?: unknown; result?: Record<string, unknown> })
            .find((m) => m.id === sent.id && m.result);
          if (!reply?.result) throw new Error(`no result to ${sent.method} in ${text.slice(0, 200)}`);
          return reply.result;
        }),
      );
    }
    return res;
  };
  const client = new Client({ name: 'mcp-apps-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: recording as typeof fetch }),
  );
  return {
    client,
    last: (method) => answers.get(method) ?? Promise.reject(new Error(`no ${method} sent`)),
  };
}

/** The published example server, started as its package's bin does (Streamable HTTP on `PORT`). */
async function startPublishedApp(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(APP_PACKAGE, 'dist/index.js')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the app server exited (${code})`)));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) resolve();
    });
  });
  return { url: `http://127.0.0.1:${port}/mcp`, child };
}

/** A second app server with the ext-apps server helpers: the same tool name and `ui://` URI, its own HTML and CSP. */
async function startSecondApp(): Promise<{ url: string; http: HttpServer }> {
  const handler = toNodeHandler(
    createMcpHandler(() => {
      const server = new McpServer({ name: 'second-app', version: '1.0.0' });
      registerAppTool(
        server,
        'get-time',
        { description: 'The second app', inputSchema: z.object({}), _meta: { ui: { resourceUri: APP_URI } } },
        () => ({ content: [{ type: 'text', text: 'second' }] }),
      );
      registerAppResource(server, 'Second app', APP_URI, { _meta: { ui: SECOND_UI } }, () => ({
        contents: [{ uri: APP_URI, mimeType: RESOURCE_MIME_TYPE, text: SECOND_HTML, _meta: { ui: SECOND_UI } }],
        _meta: { ui: SECOND_UI },
      }));
      return server;
    }),
  );
  const port = await freePort();
  const http = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/mcp`, http };
}

let stack: Stack;
let api: ManagementClient;
let published: { url: string; child: ChildProcess };
let second: { url: string; http: HttpServer };
let normal: components['schemas']['McpServer'];
let smart: components['schemas']['McpServer'];
let key: Record<string, string>;

beforeAll(async () => {
  [published, second] = await Promise.all([startPublishedApp(), startSecondApp()]);
  ({ stack, api } = await startTestStack('mcp-apps'));
  key = { 'x-api-key': stack.bootstrapKey };
  normal = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'apps-normal',
        mode: 'NORMAL',
        selectedTools: [],
        externalMcpConfigs: [{ name: 'basic', url: published.url }],
      },
    }),
  );
  smart = await unwrap(
    api.POST('/mcp_manager', {
      body: {
        name: 'apps-smart',
        mode: 'SMART',
        externalMcpConfigs: [
          { name: 'basic', url: published.url },
          { name: 'second', url: second.url },
        ],
      },
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (published && published.child.exitCode === null) {
    const exited = new Promise((resolve) => published.child.once('exit', resolve));
    published.child.kill('SIGKILL');
    await exited;
  }
  second?.http.closeAllConnections();
  await new Promise((resolve) => (second ? second.http.close(resolve) : resolve(undefined)));
});

describe('an MCP App attached to a NORMAL server', () => {
  it('lists the tool with its _meta.ui and the ui:// resource with its MIME type and _meta, as the direct server does', async () => {
    const direct = await wire(published.url);
    const via = await wire(normal.url, key);
    try {
      await direct.client.listTools();
      await via.client.listTools();
      const tool = (r: Record<string, unknown>) => (r.tools as Tool[]).find((t) => t.name === 'get-time')!;
      const directTool = tool(await direct.last('tools/list'));
      const viaTool = tool(await via.last('tools/list'));
      expect(canonical(viaTool._meta)).toBe(canonical(directTool._meta));
      // registerAppTool writes both forms of the pointer; both come through.
      expect(viaTool._meta).toEqual({ ui: { resourceUri: APP_URI }, 'ui/resourceUri': APP_URI });
      expect(getToolUiResourceUri(viaTool)).toBe(APP_URI);

      await direct.client.listResources();
      await via.client.listResources();
      const resource = (r: Record<string, unknown>) =>
        (r.resources as Record<string, unknown>[]).find((x) => x.uri === APP_URI);
      const listed = resource(await via.last('resources/list'));
      expect(listed).toMatchObject({ uri: APP_URI, mimeType: RESOURCE_MIME_TYPE });
      expect(canonical(listed)).toBe(canonical(resource(await direct.last('resources/list'))));
    } finally {
      await Promise.all([direct.client.close(), via.client.close()]);
    }
  });

  it('reads the ui:// resource byte for byte as the direct server gives it (no guardrail configured)', async () => {
    const direct = await wire(published.url);
    const via = await wire(normal.url, key);
    try {
      await direct.client.readResource({ uri: APP_URI });
      await via.client.readResource({ uri: APP_URI });
      const [d, v] = [await direct.last('resources/read'), await via.last('resources/read')];
      expect(canonical(v.contents)).toBe(canonical(d.contents));
      expect(canonical(resultMeta(v))).toBe(canonical(resultMeta(d)));
      const [content] = v.contents as { uri: string; mimeType: string; text: string }[];
      expect(content!.mimeType).toBe(RESOURCE_MIME_TYPE);
      // The HTML the package ships, unchanged (the text of the single-file app, about 200 KB).
      expect(content!.text).toBe(readFileSync(join(APP_PACKAGE, 'dist/mcp-app.html'), 'utf8'));
    } finally {
      await Promise.all([direct.client.close(), via.client.close()]);
    }
  });

  it('is rendered-ready for an ext-apps host: its AppBridge serves the view, whose tool call runs through Toolplane', async () => {
    const client = new Client({ name: 'apps-host', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(normal.url), { requestInit: { headers: key } }));
    const bridge = new AppBridge(client, { name: 'apps-host', version: '1.0.0' }, { serverTools: {}, logging: {} });
    const app = new App({ name: 'get-time-view', version: '1.0.0' }, {}, { autoResize: false });
    try {
      // What a host does before it mounts the view: the tool's UI resource, read and checked as ext-apps defines it.
      const { tools } = await client.listTools();
      const uri = getToolUiResourceUri(tools.find((t) => t.name === 'get-time')!);
      const { contents } = await client.readResource({ uri: uri! });
      expect(contents[0]).toMatchObject({ uri: APP_URI, mimeType: RESOURCE_MIME_TYPE });
      expect((contents[0] as { text: string }).text).toContain('<html');

      const [hostSide, viewSide] = InMemoryTransport.createLinkedPair();
      const initialized = new Promise<void>((resolve) => (bridge.oninitialized = () => resolve()));
      await bridge.connect(hostSide);
      await app.connect(viewSide);
      await initialized;
      expect(app.getHostVersion()).toEqual({ name: 'apps-host', version: '1.0.0' });
      // The view calls its server's tool through the bridge: the host's client, the edge, a worker, the app server.
      const result = await app.callServerTool({ name: 'get-time', arguments: {} });
      expect(result.isError).toBeFalsy();
      expect((result.structuredContent as { time: string }).time).toMatch(/^\d{4}-\d\d-\d\dT/);
      await bridge.sendToolResult(result);
    } finally {
      await app.close();
      await bridge.close();
      await client.close();
    }
  });
});

describe('two MCP Apps with the same ui:// URI merged by a SMART server', () => {
  const renamed = 'ui://second__get-time/mcp-app.html';

  it('lists both resources, the second under its unique URI, and points the second tool at it', async () => {
    const via = await wire(smart.url, key);
    try {
      const { resources } = await via.client.listResources();
      const listed = new Map(resources.map((r) => [r.uri, r]));
      expect(listed.get(APP_URI)).toMatchObject({ mimeType: RESOURCE_MIME_TYPE });
      expect(listed.get(renamed)).toMatchObject({ mimeType: RESOURCE_MIME_TYPE, _meta: { ui: SECOND_UI } });
      expect(McpUiResourceMetaSchema.parse(listed.get(renamed)!._meta!.ui)).toEqual(SECOND_UI);

      // Both tools are named get-time: the second is `second__get-time`, its pointers follow its resource.
      const describe = async (name: string) => {
        const r = await via.client.callTool({ name: 'describe_tool', arguments: { name } });
        return r.structuredContent as Partial<Tool>;
      };
      const first = await describe('get-time');
      const other = await describe('second__get-time');
      expect(first._meta).toEqual({ ui: { resourceUri: APP_URI }, 'ui/resourceUri': APP_URI });
      expect(other._meta).toEqual({ ui: { resourceUri: renamed }, 'ui/resourceUri': renamed });
      expect(getToolUiResourceUri(other)).toBe(renamed);
    } finally {
      await via.client.close();
    }
  });

  it('reads each URI at its own server: the unique one gives the second app as it gives it, under the URI read', async () => {
    const direct = await wire(second.url);
    const via = await wire(smart.url, key);
    try {
      await direct.client.readResource({ uri: APP_URI });
      await via.client.readResource({ uri: renamed });
      const [d, v] = [await direct.last('resources/read'), await via.last('resources/read')];
      const contents = d.contents as Record<string, unknown>[];
      expect(canonical(v.contents)).toBe(canonical(contents.map((c) => ({ ...c, uri: renamed }))));
      expect(canonical(resultMeta(v))).toBe(canonical(resultMeta(d)));
      const [content] = v.contents as { text: string; _meta: { ui: unknown } }[];
      expect(content!.text).toBe(SECOND_HTML);
      expect(McpUiResourceMetaSchema.parse(content!._meta.ui)).toEqual(SECOND_UI);
      expect(resultMeta(v)).toEqual({ ui: SECOND_UI });

      const { contents: first } = await via.client.readResource({ uri: APP_URI });
      expect((first[0] as { text: string }).text).toBe(readFileSync(join(APP_PACKAGE, 'dist/mcp-app.html'), 'utf8'));
    } finally {
      await Promise.all([direct.client.close(), via.client.close()]);
    }
  });
});
