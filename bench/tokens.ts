// bench/tokens: what an agent pays in tokens for a large workspace and for a multi-step task, in NORMAL mode, SMART
// mode and code mode (`run_code`, ADR 0068). Not a timing benchmark: every figure is a count of bytes or tokens, the
// same on every run. It prints a markdown table; copy it into docs/benchmarks.md ("Tokens per task").
//
//   pnpm bench:tokens
//
// The workspace: GitHub's REST API imported from its OpenAPI description (@octokit/openapi, api.github.com.json,
// 1,223 operations) pointed at a GitHub-like upstream on 127.0.0.1 (bench/github-like.ts), and the eight curated
// connectors (packages/connectors), each instance pointed at its provider's mock (tests/fixtures/provider-mocks.ts).
// One SMART server (the whole workspace behind search_tools / describe_tool / execute_tool / run_code) and one
// NORMAL server exposing every tool of the workspace. Code mode is the SMART server's `run_code`: a NORMAL server's
// `codeMode` option is not settable through the management API yet.
//
// Measured with the official MCP SDK client, whose transport's fetch records every JSON-RPC message as sent and as
// received (the data of each server-sent event, or the JSON body): `tools/list` once per server, then a scripted
// task (find an open issue, read its comments, post a summary as a comment) as an agent would do it in each mode.
// Tokens: gpt-tokenizer's o200k_base encoding (GPT-4o's and later OpenAI models'; Claude's tokenizer is not public,
// its counts differ by some per cent, the ratios much less).
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type FetchLike, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { startStack, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { curatedConnectors } from '@toolplane/connectors';
import { type ProviderMock, startProviderMock } from '../tests/fixtures/provider-mocks.ts';
import { type GithubLike, startGithubLike } from './github-like.ts';

type Json = Record<string, unknown>;

/** One POST of the transport: the message sent and the messages received in its answer. */
interface Exchange {
  sent: string;
  received: string[];
  done: Promise<void>;
}

/** The JSON-RPC messages of an answer: each server-sent event's data, or the JSON body. */
function messagesOf(body: string, contentType: string | null): string[] {
  if (!contentType?.includes('text/event-stream')) return body.trim() ? [body] : [];
  return body
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter((data) => data.length > 0);
}

/** A fetch that records each POST's messages (the GET event stream and DELETE pass through). */
function recordingFetch(log: Exchange[]): FetchLike {
  return async (url, init) => {
    const res = await fetch(url, init);
    if (init?.method !== 'POST') return res;
    const entry: Exchange = {
      sent: typeof init.body === 'string' ? init.body : '',
      received: [],
      done: Promise.resolve(),
    };
    entry.done = res
      .clone()
      .text()
      .then((text) => void (entry.received = messagesOf(text, res.headers.get('content-type'))));
    log.push(entry);
    return res;
  };
}

const bytes = (s: string) => Buffer.byteLength(s);
const n = (x: number) => x.toLocaleString('en-US');

interface Tally {
  roundTrips: number;
  sentBytes: number;
  receivedBytes: number;
  tokens: number;
}

/** Requests (messages with an id: notifications are no round trip), bytes each way, and tokens of all messages. */
async function tally(log: Exchange[]): Promise<Tally> {
  await Promise.all(log.map((e) => e.done));
  const received = log.flatMap((e) => e.received);
  return {
    roundTrips: log.filter((e) => e.sent && 'id' in (JSON.parse(e.sent) as Json)).length,
    sentBytes: log.reduce((n, e) => n + bytes(e.sent), 0),
    receivedBytes: received.reduce((n, m) => n + bytes(m), 0),
    tokens: log.reduce((n, e) => n + countTokens(e.sent), 0) + received.reduce((n, m) => n + countTokens(m), 0),
  };
}

interface Session {
  client: Client;
  log: Exchange[];
}

async function connect(url: string, apiKey: string): Promise<Session> {
  const log: Exchange[] = [];
  const client = new Client({ name: 'bench-tokens', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { 'x-api-key': apiKey } },
      fetch: recordingFetch(log),
    }),
  );
  return { client, log };
}

interface ListFigures {
  tools: number;
  bytes: number;
  tokens: number;
  /** The tools as a model's tool definitions carry them: name, description, input schema (no output schema). */
  modelTokens: number;
  runCodeTokens?: number;
}

/** `tools/list` once: the answer's bytes and tokens, and the tokens of the definitions a host hands its model. */
async function measureList(session: Session): Promise<ListFigures> {
  session.log.length = 0;
  const { tools } = await session.client.listTools();
  const t = await tally(session.log);
  const asModelSees = (x: (typeof tools)[number]) => ({
    name: x.name,
    description: x.description,
    input_schema: x.inputSchema,
  });
  const runCode = tools.find((x) => x.name === 'run_code');
  session.log.length = 0;
  return {
    tools: tools.length,
    bytes: t.receivedBytes,
    tokens: t.tokens,
    modelTokens: countTokens(JSON.stringify(tools.map(asModelSees))),
    ...(runCode ? { runCodeTokens: countTokens(JSON.stringify(asModelSees(runCode))) } : {}),
  };
}

const require = createRequire(import.meta.url);
const githubDocument = readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8');

/** GitHub's REST API imported from its description, its instance on the GitHub-like upstream (created first: its tool names stay unsuffixed). */
async function importGithub(api: ManagementClient, upstream: GithubLike): Promise<number> {
  const connector = await unwrap(
    api.POST('/connectors', { body: githubDocument as never, bodySerializer: (body: unknown) => body as string }),
  );
  await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'github-rest',
        base_url: upstream.url,
        credentials: {
          ...Object.fromEntries(
            ((connector as { credentialFields?: { key: string }[] }).credentialFields ?? []).map((f) => [
              f.key,
              'bench-token',
            ]),
          ),
        },
      },
    }),
  );
  return connector.tools.length;
}

/** The eight curated connectors, each with an instance on its provider's mock (the token variant where there is one). */
async function addCurated(api: ManagementClient, mocks: Map<string, ProviderMock>): Promise<string[]> {
  const added: string[] = [];
  for (const c of curatedConnectors()) {
    const auth = c.tokenDocument !== undefined || !c.document.user_oauth ? 'token' : 'user_oauth';
    const connector = await unwrap(
      api.POST('/connectors/curated/{slug}', { params: { path: { slug: c.slug } }, body: { auth } }),
    );
    const fields = ((connector as { credentialFields?: { key: string }[] }).credentialFields ?? []).map((f) => f.key);
    await unwrap(
      api.POST('/connector_instances', {
        body: {
          createServer: false,
          connector_id: connector.id,
          name: `${c.slug}-mock`,
          base_url: mocks.get(c.slug)!.url,
          credentials: Object.fromEntries(fields.map((f) => [f, `bench-${f}`])),
        },
      }),
    );
    added.push(`${c.slug} (${auth})`);
  }
  return added;
}

const owner = 'octo-org';
const repo = 'octo-repo';
const query = `repo:${owner}/${repo} is:issue is:open export 503`;
const tool = {
  search: 'search_issues-and-pull-requests',
  comments: 'issues_list-comments',
  post: 'issues_create-comment',
};

interface Issue {
  number: number;
  title: string;
  state: string;
}
interface Comment {
  body: string;
  user: { login: string };
}

/** The summary the agent posts: the same text in every mode (code mode runs this function's source in its program). */
function summarize(issue: Issue, comments: Comment[]) {
  const points = comments.map((c) => `${c.user.login}: ${c.body.split('. ')[0]!.replace(/\.$/, '')}`);
  return `Summary of the ${comments.length} comments on #${issue.number} (${issue.title}): ${points.join('; ')}.`;
}

type CallResult = Awaited<ReturnType<Client['callTool']>>;

/** A tool result's text as JSON (the upstream's answer as the worker passed it on); a failed call stops the bench. */
function parsed(result: CallResult, what: string): unknown {
  const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('');
  if (result.isError) throw new Error(`${what} failed: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

const firstOpen = (found: unknown) => (found as { items: Issue[] }).items.find((i) => i.state === 'open')!;
const issueArgs = (issue: Issue) => ({ owner, repo, issue_number: issue.number });

/** NORMAL: the three tools called directly. */
async function normalTask({ client }: Session): Promise<string> {
  const call = async (name: string, args: Json) => parsed(await client.callTool({ name, arguments: args }), name);
  const issue = firstOpen(await call(tool.search, { q: query, per_page: 10 }));
  const comments = (await call(tool.comments, issueArgs(issue))) as Comment[];
  const posted = (await call(tool.post, { ...issueArgs(issue), body: summarize(issue, comments) })) as Json;
  return String(posted.html_url);
}

/** SMART: for each step, search_tools, describe_tool (the arguments), then execute_tool, as search_tools tells. */
async function smartTask({ client }: Session): Promise<string> {
  const step = async (search: string, name: string, args: Json) => {
    const found = await client.callTool({ name: 'search_tools', arguments: { query: search } });
    const names = (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    if (!names.includes(name)) throw new Error(`search_tools "${search}" did not find ${name}: ${names.join(', ')}`);
    parsed(await client.callTool({ name: 'describe_tool', arguments: { name } }), `describe_tool ${name}`);
    return parsed(await client.callTool({ name: 'execute_tool', arguments: { name, arguments: args } }), name);
  };
  const issue = firstOpen(await step('search issues in a repository', tool.search, { q: query, per_page: 10 }));
  const comments = (await step('list comments on an issue', tool.comments, issueArgs(issue))) as Comment[];
  const body = summarize(issue, comments);
  const posted = (await step('create a comment on an issue', tool.post, { ...issueArgs(issue), body })) as Json;
  return String(posted.html_url);
}

/**
 * Code mode: run_code's description names no tools in a workspace this large, so the agent first finds each tool with
 * search_tools (each hit carries the tool's TypeScript declaration: its argument types), then one run_code program
 * makes the three calls; only its small result comes back.
 */
async function codeTask({ client }: Session): Promise<string> {
  for (const [search, name] of [
    ['search issues in a repository', tool.search],
    ['list comments on an issue', tool.comments],
    ['create a comment on an issue', tool.post],
  ] as const) {
    const found = await client.callTool({ name: 'search_tools', arguments: { query: search, limit: 3 } });
    const hits = (found.structuredContent as { results: { name: string; declaration?: string }[] }).results;
    if (!hits.some((h) => h.name === name && h.declaration?.includes('(args: {')))
      throw new Error(`search_tools "${search}" did not declare ${name}: ${JSON.stringify(hits).slice(0, 500)}`);
  }
  const code = `${summarize.toString()}
const found = await tools[${JSON.stringify(tool.search)}]({ q: ${JSON.stringify(query)}, per_page: 10 });
const issue = found.items.find((i) => i.state === 'open');
const where = { owner: ${JSON.stringify(owner)}, repo: ${JSON.stringify(repo)}, issue_number: issue.number };
const listed = await tools[${JSON.stringify(tool.comments)}](where);
const comments = Array.isArray(listed) ? listed : listed.result;
const posted = await tools[${JSON.stringify(tool.post)}]({ ...where, body: summarize(issue, comments) });
return { issue: issue.number, comments: comments.length, posted: posted.html_url };`;
  const result = await client.callTool({ name: 'run_code', arguments: { code } });
  if (result.isError) throw new Error(`run_code failed: ${JSON.stringify(result.content).slice(0, 500)}`);
  return String(((result.structuredContent as { result: Json }).result as Json).posted);
}

interface ModeRow {
  mode: string;
  list: ListFigures;
  task: Tally;
  steps: string[];
}

/** Each request of the task: its method (and tool), bytes sent and received, tokens. */
async function steps(mode: string, log: Exchange[]): Promise<string[]> {
  await Promise.all(log.map((e) => e.done));
  return log
    .filter((e) => e.sent && 'id' in (JSON.parse(e.sent) as Json))
    .map((e) => {
      const msg = JSON.parse(e.sent) as { method: string; params?: { name?: string; arguments?: { name?: string } } };
      const inner = msg.params?.arguments?.name;
      const what = `${msg.method} ${msg.params?.name ?? ''}${inner ? ` ${inner}` : ''}`.trim();
      const received = e.received.reduce((k, m) => k + bytes(m), 0);
      const tokens = countTokens(e.sent) + e.received.reduce((k, m) => k + countTokens(m), 0);
      return `| ${mode} | ${what} | ${n(bytes(e.sent))} | ${n(received)} | ${n(tokens)} |`;
    });
}

/** One mode: a fresh session, its tools/list, then the task; the upstream must have seen exactly its three requests. */
async function runMode(
  mode: string,
  url: string,
  apiKey: string,
  upstream: GithubLike,
  task: (s: Session) => Promise<string>,
): Promise<ModeRow> {
  const session = await connect(url, apiKey);
  try {
    const list = await measureList(session);
    const before = upstream.requests.length;
    const posted = await task(session);
    const seen = upstream.requests.slice(before).map((r) => r.split(/[ ?]/).slice(0, 2).join(' '));
    if (seen.length !== 3 || !posted.includes('#issuecomment-'))
      throw new Error(`${mode}: the upstream saw ${JSON.stringify(seen)}; posted ${posted}`);
    return { mode, list, task: await tally(session.log), steps: await steps(mode, session.log) };
  } finally {
    await session.client.close();
  }
}

function printTable(rows: ModeRow[]): void {
  console.log(
    '| mode | tools listed | `tools/list` bytes | `tools/list` tokens | tool definitions a model gets, tokens | ' +
      'task round trips | task bytes sent / received | task tokens (messages) | per task, uncached: definitions × (round trips + 1) + task |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const { mode, list, task } of rows) {
    const perTask = list.modelTokens * (task.roundTrips + 1) + task.tokens;
    console.log(
      `| ${mode} | ${n(list.tools)} | ${n(list.bytes)} | ${n(list.tokens)} | ${n(list.modelTokens)} | ` +
        `${task.roundTrips} | ${n(task.sentBytes)} / ${n(task.receivedBytes)} | ${n(task.tokens)} | ${n(perTask)} |`,
    );
  }
}

async function main(): Promise<void> {
  const upstream = await startGithubLike();
  const mocks = new Map<string, ProviderMock>();
  let stack: Stack | undefined;
  try {
    for (const c of curatedConnectors()) mocks.set(c.slug, await startProviderMock(c.slug));
    stack = await startStack({ dataDir: mkdtempSync(join(tmpdir(), 'toolplane-bench-')), logLevel: 'warn' });
    const api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
    const githubTools = await importGithub(api, upstream);
    const curated = await addCurated(api, mocks);
    const smart = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'bench-smart', mode: 'SMART', description: 'The whole workspace' } }),
    );
    const all = (await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: smart.id } } }))).data;
    const normal = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'bench-normal', mode: 'NORMAL', selectedTools: all.map((t) => t.name) },
      }),
    );
    const key = stack.bootstrapKey;
    const rows = [
      await runMode('NORMAL', normal.url, key, upstream, normalTask),
      await runMode('SMART', smart.url, key, upstream, smartTask),
      await runMode('code mode (run_code)', smart.url, key, upstream, codeTask),
    ];
    console.log(
      `workspace: ${n(all.length)} tools: GitHub REST import ${n(githubTools)} + curated ${curated.join(', ')}; ` +
        `tokens: gpt-tokenizer o200k_base\n`,
    );
    printTable(rows);
    const runCode = rows[1]!.list.runCodeTokens ?? 0;
    console.log(
      `\nrun_code's definition alone: ${n(runCode)} tokens; ` +
        `the other meta tools: ${n(rows[1]!.list.modelTokens - runCode)}\n`,
    );
    console.log('| mode | request | bytes sent | bytes received | tokens |');
    console.log('| --- | --- | ---: | ---: | ---: |');
    for (const row of rows) for (const line of row.steps) console.log(line);
  } finally {
    await stack?.stop();
    for (const m of mocks.values()) m.close();
    await upstream.close();
  }
}

await main();
