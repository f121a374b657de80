import { describe, expect, it } from '@jest/globals';
import type { CatalogTool } from '@toolplane/contracts';
import { externalFeatures, uniqueUiUri, withPublishedUris } from './external-features.ts';

const app = 'ui://widget/app.html';
const configs = [
  { name: 'apps-a', url: 'http://a.test/mcp' },
  { name: 'apps-b', url: 'http://b.test/mcp' },
];
const listing = (resources: Record<string, unknown>[]) => ({ ok: true, resources, capabilities: { resources: {} } });

function mcpTool(server: string, name: string, meta: Record<string, unknown>): CatalogTool {
  return {
    tool: { name, description: '', inputSchema: { type: 'object' }, _meta: meta },
    plan: { kind: 'mcp', server, url: `http://${server}.test/mcp`, remoteTool: name },
  };
}

describe('externalFeatures: ui:// URIs of MCP Apps', () => {
  it('publishes a ui:// URI another server offers as ui://<server>__<rest>, keeping the URI its server knows', () => {
    const warnings: string[] = [];
    const meta = { ui: { prefersBorder: true } };
    const [a, b] = externalFeatures(
      configs,
      [
        listing([{ uri: app, name: 'A', mimeType: 'text/html;profile=mcp-app' }]),
        listing([{ uri: app, name: 'B', mimeType: 'text/html;profile=mcp-app', _meta: meta }]),
      ],
      warnings,
    );
    expect(a!.resources).toEqual([{ uri: app, name: 'A', mimeType: 'text/html;profile=mcp-app' }]);
    expect(a!.remoteUris).toBeUndefined();
    expect(b!.resources).toEqual([
      { uri: 'ui://apps-b__widget/app.html', name: 'B', mimeType: 'text/html;profile=mcp-app', _meta: meta },
    ]);
    expect(b!.remoteUris).toEqual({ 'ui://apps-b__widget/app.html': app });
    expect(warnings).toEqual([]);
    expect(uniqueUiUri('apps-b', app)).toBe('ui://apps-b__widget/app.html');
  });

  it('leaves out any other URI offered twice, and a ui:// URI whose unique form is taken too', () => {
    const warnings: string[] = [];
    const [, b] = externalFeatures(
      configs,
      [
        listing([
          { uri: 'file:///shared.txt', name: 'A' },
          { uri: app, name: 'A' },
          { uri: 'ui://apps-b__widget/app.html', name: 'A squatting' },
        ]),
        listing([
          { uri: 'file:///shared.txt', name: 'B' },
          { uri: app, name: 'B' },
          { uri: 'ui://b-only.html', name: 'B' },
        ]),
      ],
      warnings,
    );
    expect(b!.resources).toEqual([{ uri: 'ui://b-only.html', name: 'B' }]);
    expect(b!.remoteUris).toBeUndefined();
    expect(warnings).toEqual([
      'external MCP server "apps-b" offers file:///shared.txt, which "apps-a" offers already: left out',
      'external MCP server "apps-b" offers ui://apps-b__widget/app.html, which "apps-a" offers already: left out',
    ]);
  });
});

describe('withPublishedUris', () => {
  it("points a tool's _meta.ui.resourceUri and legacy ui/resourceUri at its server's unique URI, nothing else", () => {
    const both = { ui: { resourceUri: app, visibility: ['model'] }, 'ui/resourceUri': app, other: 1 };
    const external = [
      { server: 'apps-a', url: 'http://a.test/mcp', resources: [], resourceTemplates: [], prompts: [] },
      {
        server: 'apps-b',
        url: 'http://b.test/mcp',
        resources: [],
        resourceTemplates: [],
        prompts: [],
        remoteUris: { 'ui://apps-b__widget/app.html': app },
      },
    ];
    const [a, b] = withPublishedUris([mcpTool('apps-a', 'show', both), mcpTool('apps-b', 'show_b', both)], external);
    expect(a!.tool._meta).toEqual(both);
    expect(b!.tool._meta).toEqual({
      ui: { resourceUri: 'ui://apps-b__widget/app.html', visibility: ['model'] },
      'ui/resourceUri': 'ui://apps-b__widget/app.html',
      other: 1,
    });
  });
});
