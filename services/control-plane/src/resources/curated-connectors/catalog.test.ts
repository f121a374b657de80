import { describe, expect, it } from '@jest/globals';
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
});
