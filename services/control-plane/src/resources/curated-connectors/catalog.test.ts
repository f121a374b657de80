import { describe, expect, it } from '@jest/globals';
import { instanceTools } from '../../catalog/compile.ts';
import { importOpenApiConnector } from '../../documents/openapi-connectors.ts';
import { curatedCatalog } from './catalog.ts';

// Every curated connector (packages/connectors, ADR 0035) through the control plane's own import, the one
// `POST /connectors` and `POST /connectors/curated/{slug}` run: the package's check cannot call it (libraries never
// import services).
describe('curated connectors', () => {
  const catalog = curatedCatalog();

  it('lists the eight, each with tools and the authentication it offers', () => {
    expect(catalog.map((c) => c.slug)).toEqual([
      'github',
      'gmail',
      'google-calendar',
      'google-drive',
      'jira',
      'notion',
      'slack',
      'stripe',
    ]);
    expect(Object.fromEntries(catalog.map((c) => [c.slug, c.auth]))).toEqual({
      github: ['user_oauth', 'token'],
      gmail: ['user_oauth'],
      'google-calendar': ['user_oauth'],
      'google-drive': ['user_oauth'],
      jira: ['user_oauth', 'token'],
      notion: ['user_oauth', 'token'],
      slack: ['user_oauth', 'token'],
      stripe: ['token'],
    });
    for (const c of catalog) {
      expect(c.description).not.toBe('');
      for (const tool of c.tools) expect(tool.description).not.toBe('');
    }
  });

  const variants = catalog.flatMap((c) => c.auth.map((auth) => [c.slug, auth, c] as const));
  it.each(variants)('%s (%s) imports without a warning, one tool per route mapping', async (slug, auth, c) => {
    const envelope = c.envelopes[auth]!;
    const imported = await importOpenApiConnector(envelope, JSON.stringify(envelope));
    expect([imported.slug, imported.version, imported.name]).toEqual([slug, c.version, c.name]);
    expect(imported.descriptor.openapi.warnings).toEqual([]);
    expect(imported.descriptor.mcp_config.route_mappings.map((m) => m.mcp_tool_name)).toEqual(
      c.tools.map((t) => t.name),
    );
    // A token variant asks the instance for the provider's token, never for an OAuth app.
    const fields = imported.descriptor.authentication.flatMap((a) => a.fields.map((f) => f.key));
    if (auth === 'token') expect(fields).not.toContain('client_secret');
    else expect(fields).toEqual(expect.arrayContaining(['client_id', 'client_secret']));
  });

  // Their default data-flow labels (ADR 0078), declared on their route mappings, as a catalog of an instance has them.
  it('gives their tools sensible data-flow labels, declared by the connector', async () => {
    const labelsOf = async (slug: string): Promise<Record<string, string[]>> => {
      const c = catalog.find((x) => x.slug === slug)!;
      const envelope = c.envelopes[c.auth[0]!]!;
      const imported = await importOpenApiConnector(envelope, JSON.stringify(envelope));
      const tools = instanceTools('00000000-0000-4000-8000-000000000001', {
        id: '00000000-0000-4000-8000-000000000002',
        name: 'main',
        baseUrl: null,
        credentialKeys: [],
        connector: { slug, kind: 'openapi', descriptor: imported.descriptor, document: imported.document },
      });
      return Object.fromEntries(
        tools.map((t) => {
          for (const l of t.labels ?? []) expect(l.source).toBe('declared');
          return [t.tool.name, (t.labels ?? []).map((l) => l.label)];
        }),
      );
    };
    const github = await labelsOf('github');
    expect(github).toMatchObject({
      get_issue: ['untrusted'],
      list_issue_comments: ['untrusted'],
      get_file_contents: ['private', 'untrusted'],
      add_issue_comment: ['public_write'],
      create_issue: ['public_write'],
    });
    expect(await labelsOf('gmail')).toMatchObject({
      get_email: ['private', 'untrusted'],
      send_email: ['external_write'],
    });
    expect(await labelsOf('slack')).toMatchObject({
      read_channel_history: ['private', 'untrusted'],
      post_message: ['external_write'],
    });
    const stripe = await labelsOf('stripe');
    expect(stripe).toMatchObject({ get_customer: ['private'], list_customers: ['private'] });
    // A tool that neither brings nor sends such data declares nothing, and the method's annotations are no hint.
    expect(stripe.create_refund).toEqual([]);
    expect((await labelsOf('jira')).list_projects).toEqual([]);
  });
});
