import { beforeAll, describe, expect, test } from '@jest/globals';
import { compileOpenApiTools, importOpenApi } from '@toolplane/openapi';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { curatedConnectors } from './index.ts';
import { checkAgainstProvider, type Problem } from './provider-check.ts';
import { allowances, providerDocument } from './provider-documents.ts';

type Json = Record<string, unknown>;

const connectors = curatedConnectors();

/** The management API's schema of the envelope (docs/openapi.json, generated from the control plane's zod schema). */
const apiDescription = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as Json;
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
ajv.addSchema({ $id: 'management-api', components: apiDescription.components }, 'management-api');
const validateEnvelope = ajv.getSchema('management-api#/components/schemas/OpenApiConnectorEnvelope');
if (!validateEnvelope) throw new Error('docs/openapi.json has no OpenApiConnectorEnvelope schema (renamed?)');

interface OptIn {
  scheme: string;
  scopes?: string[];
  authorization_url?: string;
  token_url?: string;
  revocation_url?: string;
}

type Mapping = { operation_id: string; mcp_tool_name: string; mcp_tool_description: string };
const mappingsOf = (envelope: Json): Mapping[] => (envelope.mcp_config as { route_mappings: Mapping[] }).route_mappings;

const httpMethods = ['get', 'put', 'post', 'delete', 'patch'];

/** Every operation of a curated document with its effective security requirements. */
function operationsOf(doc: Json): { operationId: string; security: Json[] }[] {
  const out: { operationId: string; security: Json[] }[] = [];
  for (const item of Object.values(doc.paths as Record<string, Json>))
    for (const m of httpMethods) {
      const op = item[m] as Json | undefined;
      if (op)
        out.push({
          operationId: String(op.operationId),
          security: (op.security ?? doc.security ?? []) as Json[],
        });
    }
  return out;
}

/** Imports and compiles an envelope the way `importOpenApiConnector` does (control plane, documents/openapi-connectors.ts). */
async function importEnvelope(envelope: Json) {
  const optIn = envelope.user_oauth as OptIn | undefined;
  const imported = await importOpenApi(JSON.stringify(envelope.document), optIn ? { userOAuth: optIn } : {});
  const tools = compileOpenApiTools(imported.document, {
    mappings: mappingsOf(envelope),
    binding: { secretNames: {} },
  });
  return { imported, tools };
}

test('the catalog holds at least eight curated connectors, one per slug', () => {
  expect(connectors.length).toBeGreaterThanOrEqual(8);
  expect(new Set(connectors.map((c) => c.slug)).size).toBe(connectors.length);
});

test('the envelope schema refuses what POST /api/v1/connectors refuses', () => {
  const envelope = connectors[0]!.document;
  expect(validateEnvelope(envelope)).toBe(true);
  expect(validateEnvelope({ ...envelope, mcp_confg: {} })).toBe(false);
  expect(validateEnvelope({ ...envelope, slug: 'Not a slug' })).toBe(false);
  expect(validateEnvelope({ ...envelope, user_oauth: { scheme: 'x', scope: ['typo'] } })).toBe(false);
});

describe.each(connectors.map((c) => [c.slug, c] as const))('%s', (slug, c) => {
  let provider: Json;
  beforeAll(async () => {
    provider = await providerDocument(c);
  }, 60_000);

  test('is an OpenAPI connector envelope as POST /api/v1/connectors takes it', () => {
    expect(c.document.kind).toBe('openapi');
    expect(c.document.slug).toBe(slug);
    const valid = validateEnvelope(c.document);
    expect(valid ? [] : validateEnvelope.errors).toEqual([]);
  });

  test('imports and compiles cleanly into 5-15 tools written for a model', async () => {
    const { imported, tools } = await importEnvelope(c.document);
    expect(imported.warnings).toEqual([]);
    expect(imported.userOAuthIssues).toEqual([]);
    expect(tools.length).toBeGreaterThanOrEqual(5);
    expect(tools.length).toBeLessThanOrEqual(15);
    // Every operation of the document is a tool (nothing shipped that no tool uses).
    const ops = operationsOf(c.document.document as Json);
    expect(ops.map((o) => o.operationId).sort()).toEqual(
      mappingsOf(c.document)
        .map((m) => m.operation_id)
        .sort(),
    );
    for (const { tool } of tools) {
      expect(tool.name).toMatch(/^[a-z][a-z0-9_]{2,63}$/);
      expect(tool.description.length).toBeGreaterThanOrEqual(60);
      expect(tool.description.length).toBeLessThanOrEqual(500);
      // Every argument is explained (on it, or on the schema it refers to).
      const defs = (tool.inputSchema.$defs ?? {}) as Record<string, Json>;
      const described = (s: Json): boolean =>
        (typeof s.description === 'string' && s.description.length > 0) ||
        (typeof s.$ref === 'string' && described(defs[s.$ref.replace('#/$defs/', '')] ?? {}));
      const undescribed = Object.entries(tool.inputSchema.properties ?? {})
        .filter(([, s]) => !described(s as Json))
        .map(([k]) => `${tool.name}.${k}`);
      expect(undescribed).toEqual([]);
    }
  });

  test('states its authentication: OAuth endpoints and the scopes each tool needs, or the provider token', async () => {
    const optIn = c.document.user_oauth as OptIn | undefined;
    const doc = c.document.document as Json;
    const schemes = (doc.components as Json).securitySchemes as Record<string, Json>;
    const { imported, tools } = await importEnvelope(c.document);
    if (!optIn) {
      // Token only (the provider offers no OAuth for people's own accounts).
      for (const { plan } of tools) expect(['bearer', 'basic']).toContain(plan.auth?.kind);
      expect(imported.credentialFields.length).toBeGreaterThan(0);
      return;
    }
    const scheme = schemes[optIn.scheme]!;
    const flow = (scheme.flows as Json).authorizationCode as Json;
    const declared = Object.keys(flow.scopes as Json);
    const requested = (optIn.scopes ?? []).flatMap((s) => s.split(','));
    // Each operation asks for scopes its scheme declares; one connection covers every tool (user_oauth.scopes is
    // their union, plus what the connection itself needs, e.g. offline_access, which the scheme declares too).
    const needed = new Set(
      operationsOf(doc).flatMap((o) => o.security.flatMap((r) => (r[optIn.scheme] as string[] | undefined) ?? [])),
    );
    for (const s of needed)
      expect({ scope: s, requested: requested.includes(s) }).toEqual({ scope: s, requested: true });
    for (const s of requested)
      expect({ scope: s, declared: declared.includes(s) }).toEqual({ scope: s, declared: true });
    if (declared.length > 0) expect(needed.size).toBeGreaterThan(0);
    expect(imported.credentialFields.map((f) => f.key).sort()).toEqual(['client_id', 'client_secret']);
    for (const { tool, plan } of tools) {
      expect({ tool: tool.name, kind: plan.auth?.kind }).toEqual({
        tool: tool.name,
        kind: 'oauth2_authorization_code',
      });
      if (plan.auth?.kind !== 'oauth2_authorization_code') continue;
      expect(plan.auth.authorizeUrl).toBe(optIn.authorization_url ?? flow.authorizationUrl);
      expect(plan.auth.tokenUrl).toBe(optIn.token_url ?? flow.tokenUrl);
      expect(plan.auth.revocationUrl).toBe(optIn.revocation_url);
      expect(plan.auth.scopes).toEqual(optIn.scopes ?? []);
    }
  });

  test('the token variant (the provider token held by the instance) imports cleanly too, where there is one', async () => {
    if (!c.tokenDocument) {
      // Only Google's APIs (OAuth only for people's data) and Stripe (token only) have no variant.
      expect(['gmail', 'google-calendar', 'google-drive', 'stripe']).toContain(slug);
      return;
    }
    expect(validateEnvelope(c.tokenDocument) ? [] : validateEnvelope.errors).toEqual([]);
    const { imported, tools } = await importEnvelope(c.tokenDocument);
    expect(imported.warnings).toEqual([]);
    expect(imported.credentialFields.map((f) => f.key)).not.toContain('client_id');
    for (const { plan } of tools) expect(['bearer', 'basic']).toContain(plan.auth?.kind);
  });

  test("every operation, parameter, body field and scope is in the provider's own document", () => {
    const mine = allowances.filter((a) => a.connector === slug);
    const checkedAs = Object.fromEntries(
      mine.filter((a) => a.code === 'checked-as').map((a) => [a.operation, a.subject]),
    );
    const result = checkAgainstProvider(c.document.document as Json, provider, { checkedAs });
    expect(result.operations).toBe(mappingsOf(c.document).length);
    const allowed = (p: Problem) =>
      mine.some(
        (a) => a.code === p.code && a.subject === p.subject && (a.operation === '*' || a.operation === p.operation),
      );
    expect(result.problems.filter((p) => !allowed(p))).toEqual([]);
    // No stale allowance: each one still matches a problem (or, for checked-as, was needed).
    const stale = mine.filter((a) =>
      a.code === 'checked-as'
        ? !result.usedCheckedAs.includes(a.operation)
        : !result.problems.some(
            (p) => p.code === a.code && p.subject === a.subject && (a.operation === '*' || a.operation === p.operation),
          ),
    );
    expect(stale).toEqual([]);
  });
});

describe('the provider check', () => {
  const github = connectors.find((c) => c.slug === 'github')!;
  let provider: Json;
  beforeAll(async () => {
    provider = await providerDocument(github);
  }, 60_000);

  const mutated = (change: (doc: Json) => void): Json => {
    const doc = structuredClone(github.document.document) as Json;
    change(doc);
    return doc;
  };
  const paths = (doc: Json) => doc.paths as Record<string, Record<string, Json>>;
  const codes = (doc: Json) => checkAgainstProvider(doc, provider).problems.map((p) => `${p.code} ${p.subject}`);

  test('finds an operation whose path the provider does not have', () => {
    const doc = mutated((d) => {
      const p = paths(d);
      p['/repos/{owner}/{repo}/issue/{issue_number}'] = p['/repos/{owner}/{repo}/issues/{issue_number}']!;
      delete p['/repos/{owner}/{repo}/issues/{issue_number}'];
    });
    expect(codes(doc)).toEqual([
      'no-operation https://api.github.com/repos/{owner}/{repo}/issue/{issue_number}',
      'no-operation https://api.github.com/repos/{owner}/{repo}/issue/{issue_number}',
    ]);
  });

  test('finds a body field, a parameter and a type the provider does not have', () => {
    const doc = mutated((d) => {
      const create = paths(d)['/repos/{owner}/{repo}/issues']!.post!;
      const schema = ((create.requestBody as Json).content as Record<string, Json>)['application/json']!.schema as Json;
      (schema.properties as Json).titel = { type: 'string', description: 'a typo' };
      (schema.properties as Json).labels = { type: 'array', items: { type: 'boolean' } };
      const search = paths(d)['/search/issues']!.get!;
      (search.parameters as Json[]).push({ name: 'limit', in: 'query', schema: { type: 'integer' } });
      ((search.parameters as Json[])[1]!.schema as Json).enum = ['comments', 'stars'];
    });
    expect(codes(doc).sort()).toEqual([
      'field-type /labels/items',
      'field-unknown /titel',
      'param-type query:sort',
      'param-unknown query:limit',
    ]);
  });

  test('finds a required field left out, and a structural path match that renames or fixes parameters', () => {
    const doc = mutated((d) => {
      const create = paths(d)['/repos/{owner}/{repo}/issues']!.post!;
      const schema = ((create.requestBody as Json).content as Record<string, Json>)['application/json']!.schema as Json;
      delete schema.required;
      // `{login}` for `{owner}` and a fixed repository name still match the provider's template.
      const p = paths(d);
      const get = p['/repos/{owner}/{repo}/issues/{issue_number}']!;
      delete p['/repos/{owner}/{repo}/issues/{issue_number}'];
      p['/repos/{login}/hello-world/issues/{issue_number}'] = {
        get: {
          ...get.get,
          parameters: [
            { name: 'login', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'issue_number', in: 'path', required: true, schema: { type: 'integer' } },
          ],
        },
      };
      delete get.get;
      if (Object.keys(get).length > 0) p['/repos/{owner}/{repo}/issues/{issue_number}'] = get;
    });
    expect(codes(doc)).toEqual(['field-required /title']);
  });
});
