import {
  smartMetaTools,
  userSecrets,
  type CatalogTool,
  type ToolDefinition,
  type ToolResultPayload,
  tokenize,
} from '@toolplane/contracts';
import MiniSearch from 'minisearch';
import { toolDeclaration } from '../code-mode/code-declarations.ts';

/** The meta tools a SMART server shows instead of its catalog; the control plane shows the same in `/config`. */
export const metaTools: ToolDefinition[] = smartMetaTools;

/** What a call made for an external user needs connected for one catalog tool ("manage connections"). */
export interface NeededConnection {
  /** The marker the control plane keeps in the user's connection set (`instance:…`, `mcp:…`, `secret:…`). */
  marker: string;
  kind: 'connector_instance' | 'external_mcp' | 'workflow_secret' | 'oauth_account';
  /** Instance id, `serverId/external` or secret name. */
  id: string;
  /**
   * The management API call that adds it for `user` (placeholders where the application puts the values); none for
   * an `oauth_account`, which the person connects themselves with the link a call of the tool gives.
   */
  call?: (user: string) => { method: 'PUT'; path: string; body: Record<string, unknown> };
  /** `oauth_account`: the person's connection (its secret name's template, `{user}` for the user's id). */
  connection?: string;
}

/** A person's own account, by its connection's template (`{user}` for the user's id). */
function accountNeed(connection: string): NeededConnection[] {
  const id = userSecrets.parseOauth(connection)?.instanceId;
  return id ? [{ marker: `oauth:${id}`, kind: 'oauth_account', id, connection }] : [];
}

type WorkflowPlanOf = Extract<CatalogTool['plan'], { kind: 'workflow' }>;

/**
 * The people's own accounts a workflow's steps use: those of its sources bound to a connector instance whose operations
 * a step calls with a person's token, then those of the tools its steps call (docs/adr/0039); the worker's connect
 * link for the workflow connects the first.
 */
function workflowAccounts(plan: WorkflowPlanOf): NeededConnection[] {
  const out: NeededConnection[] = [];
  const add = (connection: string) => {
    for (const n of accountNeed(connection)) if (!out.some((o) => o.marker === n.marker)) out.push(n);
  };
  const workflows = (plan.ir as { workflows?: { steps?: { target?: Record<string, unknown> }[] }[] }).workflows ?? [];
  for (const wf of workflows)
    for (const step of wf.steps ?? []) {
      const target = step.target;
      const auth = (target?.credentials as { auth?: { kind?: string } } | undefined)?.auth;
      const bound = typeof target?.source === 'string' ? plan.connectors?.[target.source] : undefined;
      // The workspace, from the instance's own credential names (`ws/<workspace>/connector-instances/…`).
      const workspace = /^ws\/([^/]+)\//.exec(Object.values(bound?.secrets ?? {})[0] ?? '')?.[1];
      if (auth?.kind === 'oauth2_authorization_code' && bound && workspace)
        add(userSecrets.oauth(workspace, '{user}', bound.instanceId));
    }
  for (const step of Object.values(plan.tools ?? {}))
    if (step.plan.kind === 'http' && step.plan.auth?.kind === 'oauth2_authorization_code' && step.plan.auth.connection)
      add(step.plan.auth.connection);
  return out;
}

/** The connections a user needs for a tool: their credentials for each kind (none when the shared ones are not credentials). */
export function neededConnections(tool: CatalogTool, serverId: string): NeededConnection[] {
  const plan = tool.plan;
  const user = (name: string) => encodeURIComponent(name);
  if (plan.kind === 'mcp') {
    if (!plan.headersSecret) return [];
    const id = `${serverId}/${plan.server}`;
    return [
      {
        marker: `mcp:${id}`,
        kind: 'external_mcp',
        id,
        call: (u) => ({
          method: 'PUT',
          path: `/api/v1/external_users/${user(u)}/mcp_connections/${serverId}/${plan.server}`,
          body: { headers: { '<header name>': '<value>' } },
        }),
      },
    ];
  }
  if (plan.kind === 'workflow')
    return [
      ...Object.keys(plan.secretNames).map((name): NeededConnection => ({
        marker: `secret:${name}`,
        kind: 'workflow_secret',
        id: name,
        call: (u) => ({
          method: 'PUT',
          path: `/api/v1/external_users/${user(u)}/secrets/${name}`,
          body: { value: `<${name}>` },
        }),
      })),
      ...workflowAccounts(plan),
    ];
  // The person's own account (ADR 0027): connected with a connect link, not with credentials pushed by the app.
  if (plan.auth?.kind === 'oauth2_authorization_code' && plan.auth.connection) return accountNeed(plan.auth.connection);
  const template = Object.values(plan.userSecrets ?? {})[0];
  const instance = template ? /connector-instances\/([^/]+)\//.exec(template)?.[1] : undefined;
  if (!instance) return [];
  const fields = Object.keys(plan.secrets);
  return [
    {
      marker: `instance:${instance}`,
      kind: 'connector_instance',
      id: instance,
      call: (u) => ({
        method: 'PUT',
        path: `/api/v1/external_users/${user(u)}/connections/${instance}`,
        body: { credentials: Object.fromEntries(fields.map((f) => [f, `<${f}>`])) },
      }),
    },
  ];
}

/** A light English stemmer so "tickets", "ticketing" and "ticket" meet. */
function stem(word: string): string {
  if (word.length <= 3) return word;
  for (const suffix of ['ing', 'ies', 'es', 'ed', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3)
      return suffix === 'ies' ? `${word.slice(0, -3)}y` : word.slice(0, -suffix.length);
  }
  return word;
}

const stopWords = new Set([
  'a',
  'an',
  'the',
  'of',
  'to',
  'for',
  'in',
  'on',
  'by',
  'and',
  'or',
  'with',
  'my',
  'me',
  'i',
  'is',
  'it',
  'this',
  'that',
  'all',
  'from',
  'get',
]);

/**
 * Query expansion for words agents use that API descriptions rarely do (a lexical index cannot know
 * that a meeting is a calendar event). Applied to queries only; each group maps to extra terms.
 */
const synonyms: Record<string, string[]> = {
  meeting: ['calendar', 'event'],
  appointment: ['calendar', 'event'],
  schedule: ['calendar', 'event', 'create'],
  rain: ['weather', 'forecast'],
  temperature: ['weather', 'forecast'],
  sunny: ['weather', 'forecast'],
  bill: ['invoice'],
  charge: ['payment', 'invoice'],
  money: ['payment', 'refund'],
  mail: ['email'],
  bug: ['issue'],
  ticket: ['issue'],
  open: ['create'],
  add: ['create'],
  new: ['create'],
  make: ['create'],
  remove: ['delete'],
  erase: ['delete'],
  edit: ['update'],
  change: ['update'],
  modify: ['update'],
  show: ['list', 'get'],
  find: ['search', 'list'],
  lookup: ['get', 'search'],
  notify: ['send', 'message'],
  post: ['send', 'message'],
  tell: ['send', 'message'],
  pr: ['pull', 'request'],
  doc: ['file', 'document'],
  document: ['file'],
  member: ['user'],
  account: ['user'],
};

function expandQuery(query: string): string {
  const words = tokenize(query);
  const extra = words.flatMap((w) => synonyms[w] ?? synonyms[stem(w)] ?? []);
  return [...words, ...extra].join(' ');
}

export interface SearchHit {
  name: string;
  description: string;
  score: number;
  /** The tool as `run_code` programs call it (`tools.<declaration>`), with its argument types. */
  declaration: string;
  source?: { connector: string; instance: string };
}

/**
 * BM25 search (MiniSearch's BM25+) over tool names, titles, descriptions and parameter names and
 * descriptions. Titles (an operation's summary) weigh most, then names: tuned on GitHub's REST
 * catalog (smart-search-quality.test.ts). Built once per catalog version.
 */
export class ToolSearch {
  private readonly index: MiniSearch<{ id: number; name: string; title: string; description: string; params: string }>;
  private readonly tools: CatalogTool[];

  constructor(tools: CatalogTool[]) {
    this.tools = tools;
    this.index = new MiniSearch({
      fields: ['name', 'title', 'description', 'params'],
      tokenize,
      processTerm: (term) => (stopWords.has(term) ? null : stem(term)),
      searchOptions: {
        boost: { name: 2, title: 4, description: 1, params: 0.3 },
        prefix: (term) => term.length > 3,
        fuzzy: (term) => (term.length > 5 ? 0.2 : false),
        combineWith: 'OR',
      },
    });
    this.index.addAll(
      tools.map((t, id) => {
        const props = (t.tool.inputSchema.properties ?? {}) as Record<string, { description?: string }>;
        return {
          id,
          name: t.tool.name,
          title: t.tool.title ?? '',
          description: t.tool.description,
          params: Object.entries(props)
            .map(([k, v]) => `${k} ${v.description ?? ''}`)
            .join(' '),
        };
      }),
    );
  }

  search(query: string, limit: number): SearchHit[] {
    return this.index
      .search(expandQuery(query))
      .slice(0, limit)
      .map((r) => {
        const t = this.tools[r.id as number]!;
        return {
          name: t.tool.name,
          description: t.tool.description,
          score: Math.round(r.score * 1000) / 1000,
          declaration: toolDeclaration(t.tool),
          ...(t.source ? { source: t.source } : {}),
        };
      });
  }
}

export function structured(value: Record<string, unknown>): ToolResultPayload {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}
